"""Training engine: run files, learning, exact resumption, fine-tuning, workers, corrupt videos, errors."""

from __future__ import annotations

import copy
import json
import math
import random
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vidlens.cli import build_parser, main
from vidlens.cli.training import _train_config
from vidlens.data.synthetic import MotionConfig, make_motion_dataset
from vidlens.models import WeightsMismatchError, create_model
from vidlens.runs import TrainConfig, load_config, load_run_model, save_config
from vidlens.runtime import Runtime
from vidlens.train import TrainResult, _rng_state, _set_rng_state, train, train_step

LOG_KEYS = {"epoch", "lr", "loss", "accuracy", "clips", "skipped", "seconds", "clips_per_s"}
TIMINGS = {"seconds", "clips_per_s"}


@pytest.fixture(scope="module")
def motion_root(tmp_path_factory) -> Path:
    """2 motion classes (MoveLeft, MoveRight), 4 training + 2 test videos each, 16 frames of 32x32."""
    root = tmp_path_factory.mktemp("motion2")
    config = MotionConfig(num_classes=2, videos_per_class=6, frames=16, height=32, width=32)
    make_motion_dataset(root, config, progress=False)
    return root


def small_config(root: Path, **changes) -> TrainConfig:
    """A tiny GRU-RCN on 8-frame 32x32 clips. No flips by default: a flipped MoveLeft video is MoveRight."""
    settings = {
        "data": str(root),
        "model": "gru_rcn",
        "model_kwargs": {"width": 4},
        "epochs": 2,
        "batch_size": 2,
        "lr": 0.01,
        "lr_steps": (),
        "clip_len": 8,
        "size": (32, 32),
        "crop": 32,
        "flip_p": 0.0,
        "workers": 0,
    }
    return TrainConfig(**{**settings, **changes})


def read_log(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]


def without_timings(history: list[dict]) -> list[dict]:
    return [{k: v for k, v in h.items() if k not in TIMINGS} for h in history]


def state_dicts_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def trained_run(motion_root, tmp_path_factory) -> Path:
    """One finished epoch; tests that change it work on a copy."""
    run = tmp_path_factory.mktemp("runs") / "one_epoch"
    train(small_config(motion_root, epochs=1), run, progress=False)
    return run


# --------------------------------------------------------------------------------------------------------
# The step
# --------------------------------------------------------------------------------------------------------


def test_train_step_is_one_sgd_step_on_the_mean_loss():
    torch.manual_seed(0)
    model = create_model("gru_rcn", num_classes=2, width=4, dropout=0.0)
    reference = copy.deepcopy(model)
    clips, labels = torch.randn(4, 3, 8, 32, 32), torch.tensor([0, 1, 1, 0])

    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    loss_sum, correct = train_step(model, optimizer, clips, labels)

    ref_optimizer = torch.optim.SGD(reference.parameters(), lr=0.1)
    logits = reference(clips)
    loss = F.cross_entropy(logits, labels)
    loss.backward()
    ref_optimizer.step()
    assert loss_sum.item() == pytest.approx(4 * loss.item(), rel=1e-5)
    assert correct.item() == (logits.argmax(1) == labels).sum().item()
    for p, q in zip(model.parameters(), reference.parameters(), strict=True):
        torch.testing.assert_close(p, q)


def test_train_step_normalizer_scales_the_gradient():
    torch.manual_seed(0)
    model = create_model("gru_rcn", num_classes=2, width=4, dropout=0.0)
    halved = copy.deepcopy(model)
    clips, labels = torch.randn(4, 3, 8, 32, 32), torch.tensor([0, 1, 1, 0])
    start = [p.detach().clone() for p in model.parameters()]
    train_step(model, torch.optim.SGD(model.parameters(), lr=0.1), clips, labels)
    train_step(halved, torch.optim.SGD(halved.parameters(), lr=0.1), clips, labels, normalizer=8)
    for p0, p, q in zip(start, model.parameters(), halved.parameters(), strict=True):
        torch.testing.assert_close(q - p0, (p - p0) / 2)


def test_train_step_clips_the_global_gradient_norm():
    torch.manual_seed(0)
    model = create_model("gru_rcn", num_classes=2, width=4, dropout=0.0)
    clipped = copy.deepcopy(model)
    clips, labels = torch.randn(4, 3, 8, 32, 32), torch.tensor([0, 1, 1, 0])
    start = [p.detach().clone() for p in model.parameters()]
    train_step(model, torch.optim.SGD(model.parameters(), lr=1.0), clips, labels)
    full = [p0 - p for p0, p in zip(start, model.parameters(), strict=True)]  # = the gradient (lr 1)
    norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in full])).item()
    assert norm > 0.01
    train_step(clipped, torch.optim.SGD(clipped.parameters(), lr=1.0), clips, labels, grad_clip=norm / 4)
    for p0, g, q in zip(start, full, clipped.parameters(), strict=True):
        torch.testing.assert_close(
            p0 - q, g / 4, rtol=1e-4, atol=1e-7
        )  # same direction, a quarter of the norm
    with pytest.raises(ValueError, match="grad_clip must be positive"):
        TrainConfig(grad_clip=0.0)


def test_mixed_precision_is_off_on_the_cpu():
    runtime = Runtime.create("cpu", "auto")
    assert (runtime.precision, runtime.scaler()) == ("fp32", None)


def test_random_states_survive_a_weights_only_checkpoint(tmp_path):
    torch.manual_seed(1)
    np.random.seed(2)
    random.seed(3)
    np.random.standard_normal()  # leaves a cached Gaussian in numpy's state
    torch.save(_rng_state(torch.device("cpu")), tmp_path / "rng.pt")
    expected = (torch.rand(3), np.random.standard_normal(3), random.random())
    torch.manual_seed(9)
    np.random.seed(9)
    random.seed(9)
    _set_rng_state(torch.load(tmp_path / "rng.pt", weights_only=True), torch.device("cpu"))
    got = (torch.rand(3), np.random.standard_normal(3), random.random())
    assert torch.equal(got[0], expected[0])
    assert np.array_equal(got[1], expected[1])
    assert got[2] == expected[2]


# --------------------------------------------------------------------------------------------------------
# A run
# --------------------------------------------------------------------------------------------------------


@pytest.mark.slow  # end to end: a few seconds or more on 2 cores
def test_train_writes_the_run_and_lowers_the_loss(motion_root, tmp_path, capsys):
    run = tmp_path / "run"
    seen = []
    config = small_config(
        motion_root, model_kwargs={"width": 8, "dropout": 0.0}, epochs=8, lr=0.03, lr_steps=(5,)
    )
    result = train(config, run, progress=False, on_epoch=seen.append)

    assert isinstance(result, TrainResult)
    assert result.run_dir == run and result.epochs == 8 and result.rank == 0
    assert {p.name for p in run.iterdir()} == {
        "config.json",
        "log.jsonl",
        "curves.png",
        "checkpoint.pt",
        "model.pt",
    }  # and no temporary file left behind
    log = read_log(run)
    assert log == result.history == seen
    assert all(set(h) == LOG_KEYS for h in log)
    assert [h["epoch"] for h in log] == list(range(1, 9))
    assert all(h["clips"] == 8 and h["skipped"] == 0 and h["clips_per_s"] > 0 for h in log)
    assert [h["lr"] for h in log] == pytest.approx([0.03] * 5 + [0.003] * 3)
    # Frames alone say nothing of the class; memorising 8 videos or seeing their motion both lower the loss.
    assert log[-1]["loss"] < min(log[0]["loss"], math.log(2))
    assert result.loss == log[-1]["loss"] and result.accuracy == log[-1]["accuracy"]
    assert result.clips_per_s == [h["clips_per_s"] for h in log]
    assert (run / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    saved, classes = load_config(run)
    assert saved.data == str(motion_root.resolve()) and classes == ["MoveLeft", "MoveRight"]
    checkpoint = torch.load(run / "checkpoint.pt", weights_only=True)
    assert checkpoint["epoch"] == 8 and checkpoint["history"] == log
    assert {"model", "optimizer", "rng"} <= set(checkpoint)
    model, _, _ = load_run_model(run)
    assert state_dicts_equal(
        model.state_dict(), torch.load(run / "model.pt", weights_only=True)["state_dict"]
    )
    assert state_dicts_equal(model.state_dict(), checkpoint["model"])

    out = capsys.readouterr().out
    assert "training gru_rcn on 8 videos of 2 classes" in out
    assert "epoch 8/8" in out and "clips/s" in out


@pytest.mark.slow  # end to end: a few seconds or more on 2 cores
def test_resumed_run_ends_exactly_as_an_uninterrupted_one(motion_root, tmp_path, capsys):
    # Random crops, flips, dropout and a learning-rate step: every random stream and the schedule matter.
    config = small_config(
        motion_root, epochs=3, crop=28, flip_p=0.5, lr_steps=(2,), model_kwargs={"width": 4, "dropout": 0.5}
    )
    straight = train(config, tmp_path / "straight", progress=False)

    stopped = tmp_path / "stopped"
    train(replace(config, epochs=2), stopped, progress=False)
    torch.manual_seed(123)  # whatever happened in between, the checkpoint's random states take over
    np.random.seed(123)
    random.seed(123)
    resumed = train(config, stopped, resume=True, progress=False)
    assert "epochs: 2 in the run, 3 now" in capsys.readouterr().out

    assert resumed.epochs == 3
    assert without_timings(resumed.history) == without_timings(straight.history)
    assert without_timings(read_log(stopped)) == without_timings(read_log(tmp_path / "straight"))
    a = torch.load(tmp_path / "straight" / "model.pt", weights_only=True)["state_dict"]
    b = torch.load(stopped / "model.pt", weights_only=True)["state_dict"]
    assert state_dicts_equal(a, b)
    opt_a = torch.load(tmp_path / "straight" / "checkpoint.pt", weights_only=True)["optimizer"]
    opt_b = torch.load(stopped / "checkpoint.pt", weights_only=True)["optimizer"]
    assert all(
        torch.equal(opt_a["state"][i]["momentum_buffer"], opt_b["state"][i]["momentum_buffer"])
        for i in opt_a["state"]
    )

    # Resuming a finished run changes nothing.
    weights = (stopped / "model.pt").read_bytes()
    again = train(config, stopped, resume=True, progress=False)
    assert "has finished its 3 epochs" in capsys.readouterr().out
    assert again.history == resumed.history and (stopped / "model.pt").read_bytes() == weights


@pytest.mark.slow  # end to end: a few seconds on 2 cores
def test_the_from_scratch_schedule_sets_every_steps_rate_and_resumes_exactly(motion_root, tmp_path):
    """AdamW with a warm-up and a per-step cosine: each step's rate is lr_factor's, the log holds each epoch's
    first, and a run stopped after an epoch (its optimiser state saved) ends as an uninterrupted one."""
    from vidlens.runs import lr_factor

    config = small_config(
        motion_root,
        epochs=3,
        optimizer="adamw",
        lr=3e-3,
        weight_decay=0.05,
        schedule="cosine",
        warmup_epochs=1,
    )
    rates = []
    real_step = torch.optim.AdamW.step

    def spy(self, *args, **kwargs):
        rates.append(self.param_groups[0]["lr"])
        return real_step(self, *args, **kwargs)

    torch.optim.AdamW.step = spy
    try:
        straight = train(config, tmp_path / "straight", progress=False)
    finally:
        torch.optim.AdamW.step = real_step
    steps = 4  # 8 videos, 2 clips a batch
    assert rates == pytest.approx(
        [3e-3 * lr_factor(config, e, s, steps) for e in range(3) for s in range(steps)]
    )
    assert rates[:4] == sorted(rates[:4]) and rates[4:] == sorted(rates[4:], reverse=True)
    assert [h["lr"] for h in straight.history] == pytest.approx([rates[0], rates[4], rates[8]])

    class Stop(Exception):
        pass

    def stop(record):  # called once the epoch's checkpoint is on disk, as a kill would find it
        raise Stop

    stopped = tmp_path / "stopped"
    with pytest.raises(Stop):
        train(config, stopped, progress=False, on_epoch=stop)
    resumed = train(config, stopped, resume=True, progress=False)
    assert without_timings(resumed.history) == without_timings(straight.history)
    a = torch.load(tmp_path / "straight" / "model.pt", weights_only=True)["state_dict"]
    assert state_dicts_equal(a, torch.load(stopped / "model.pt", weights_only=True)["state_dict"])


def test_a_run_saved_before_precision_existed_resumes(trained_run, tmp_path, capsys):
    """Runs of earlier versions saved `"amp": true` in config.json and the checkpoint: `vidlens train
    --resume` continues them, in the precision "auto" that amp true meant."""
    old = tmp_path / "old"
    shutil.copytree(trained_run, old)
    payload = json.loads((old / "config.json").read_text())
    checkpoint = torch.load(old / "checkpoint.pt", weights_only=True)
    for saved in (payload["config"], checkpoint["config"]):
        assert saved.pop("precision") == "auto"
        saved["amp"] = True
    (old / "config.json").write_text(json.dumps(payload))
    torch.save(checkpoint, old / "checkpoint.pt")
    capsys.readouterr()

    assert (
        main(["train", payload["config"]["data"], "--out", str(old), "--resume", "--epochs", "2", "--quiet"])
        == 0
    )
    out = capsys.readouterr().out
    assert "epochs: 1 in the run, 2 now" in out and "precision" not in out  # amp true is precision auto
    assert [h["epoch"] for h in read_log(old)] == [1, 2]
    assert load_config(old)[0].precision == "auto"
    assert torch.load(old / "checkpoint.pt", weights_only=True)["config"]["precision"] == "auto"


def test_cli_precision_flags(motion_root):
    def precision(*flags: str) -> str:
        args = build_parser().parse_args(["train", str(motion_root), "--out", "run", *flags])
        return _train_config(args).precision

    assert precision() == "auto"
    assert precision("--precision", "bf16") == "bf16"
    assert precision("--no-amp") == "fp32"  # the flag of earlier versions, kept as an alias
    with pytest.raises(SystemExit):
        precision("--precision", "fp8")


def test_precision_may_change_between_sessions_of_a_run(motion_root, trained_run, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    capsys.readouterr()
    result = train(small_config(motion_root, precision="bf16"), run, resume=True, progress=False)
    assert result.epochs == 2
    assert "precision: 'auto' in the run, 'bf16' now" in capsys.readouterr().out
    assert load_config(run)[0].precision == "bf16"
    with pytest.raises(ValueError, match="fp16 needs a CUDA device"):
        train(
            small_config(motion_root, precision="fp16", device="cpu", epochs=3),
            run,
            resume=True,
            progress=False,
        )


def test_worker_processes_load_the_same_clips(motion_root, tmp_path):
    config = small_config(motion_root, epochs=2, crop=28, flip_p=0.5)
    in_process = train(config, tmp_path / "w0", progress=False)
    workers = train(replace(config, workers=2), tmp_path / "w2", progress=False)
    assert without_timings(workers.history) == without_timings(in_process.history)
    a = torch.load(tmp_path / "w0" / "model.pt", weights_only=True)["state_dict"]
    b = torch.load(tmp_path / "w2" / "model.pt", weights_only=True)["state_dict"]
    assert state_dicts_equal(a, b)


@pytest.mark.parametrize("batch_size", [1, 3])  # 1: a batch left empty; 3: a batch one clip short
def test_corrupt_video_is_skipped_and_counted(motion_root, tmp_path, batch_size):
    root = tmp_path / "data"
    shutil.copytree(motion_root, root)
    first = (root / "splits" / "trainlist01.txt").read_text().split()[0]
    (root / first).write_bytes(b"not a video" * 100)
    with pytest.warns(RuntimeWarning, match="skipping a clip"):
        result = train(small_config(root, epochs=1, batch_size=batch_size), tmp_path / "run", progress=False)
    assert result.skipped_clips == 1
    assert read_log(tmp_path / "run") == result.history
    assert result.history[0]["skipped"] == 1 and result.history[0]["clips"] == 7


def test_fine_tuning_from_a_run_with_another_class_count(trained_run, tmp_path_factory, tmp_path, capsys):
    root = tmp_path_factory.mktemp("motion3")
    make_motion_dataset(
        root, MotionConfig(num_classes=3, videos_per_class=3, frames=16, height=32, width=32), progress=False
    )
    init = trained_run / "checkpoint.pt"
    result = train(small_config(root, epochs=1, init=str(init)), tmp_path / "tuned", progress=False)
    out = capsys.readouterr().out
    assert "fine-tuning: loaded" in out and "re-initialised fc.bias, fc.weight" in out
    weights = torch.load(tmp_path / "tuned" / "model.pt", weights_only=True)["state_dict"]
    assert weights["fc.weight"].shape[0] == 3 and result.history[0]["clips"] == 6

    wider = small_config(root, epochs=1, init=str(init), model_kwargs={"width": 8})
    with pytest.raises(WeightsMismatchError, match="another architecture"):
        train(wider, tmp_path / "wider", progress=False)


# --------------------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------------------


def test_one_class_is_refused(motion_root, tmp_path):
    shutil.copytree(motion_root / "MoveLeft", tmp_path / "data" / "MoveLeft")
    with pytest.raises(ValueError, match="needs at least 2 classes"):
        train(small_config(tmp_path / "data"), tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


def test_empty_and_missing_splits_are_refused(motion_root, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(motion_root, root)
    with pytest.raises(FileNotFoundError, match="trainlist02.txt not found"):
        train(small_config(root, split=2), tmp_path / "run", progress=False)
    (root / "splits" / "trainlist01.txt").write_text("")
    with pytest.raises(ValueError, match="lists no train videos"):
        train(small_config(root), tmp_path / "run", progress=False)


def test_an_existing_run_is_not_overwritten(motion_root, trained_run):
    before = (trained_run / "log.jsonl").read_text()
    with pytest.raises(FileExistsError, match="pass --resume to continue it, or choose another --out"):
        train(small_config(motion_root, epochs=1), trained_run, progress=False)
    assert (trained_run / "log.jsonl").read_text() == before


def test_resume_needs_a_run(motion_root, tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing to resume"):
        train(small_config(motion_root), tmp_path / "nothing", resume=True, progress=False)


def test_resume_with_another_model_or_recipe_is_refused(motion_root, trained_run):
    other = small_config(motion_root, model_kwargs={"width": 8})
    with pytest.raises(ValueError, match=r"model_kwargs: \{'width': 4\} in the run, \{'width': 8\} now"):
        train(other, trained_run, resume=True, progress=False)
    with pytest.raises(ValueError, match="(?s)lr: 0.01 in the run, 0.1 now.*--init"):
        train(small_config(motion_root, lr=0.1), trained_run, resume=True, progress=False)


def test_checkpoint_of_another_model_is_refused(motion_root, trained_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    checkpoint = torch.load(run / "checkpoint.pt", weights_only=True)
    checkpoint["model"] = create_model("gru_rcn", num_classes=2, width=8).state_dict()
    torch.save(checkpoint, run / "checkpoint.pt")
    with pytest.raises(ValueError, match="does not hold the weights of a gru_rcn"):
        train(small_config(motion_root), run, resume=True, progress=False)


def test_a_run_stopped_in_its_first_epoch_starts_again(motion_root, tmp_path):
    run = tmp_path / "run"
    config = small_config(motion_root, epochs=1)
    save_config(run, replace(config, data=str(motion_root.resolve())), ["MoveLeft", "MoveRight"])
    assert train(config, run, resume=True, progress=False).epochs == 1


def test_a_last_batch_of_one_clip_is_skipped_for_a_batch_norm_model(motion_root, tmp_path):
    # 8 training videos in batches of 7: the last batch holds one clip, which BatchNorm refuses to train on.
    config = small_config(
        motion_root,
        model="c3d_depth1",
        model_kwargs={"width": 2, "norm": "batch"},  # bn6 after fc6 sees (clips, 128) alone
        batch_size=7,
        epochs=1,
        clip_len=16,
        size=(112, 112),
        crop=112,
    )
    result = train(config, tmp_path / "run", progress=False)
    assert result.history[0]["clips"] == 7 and result.history[0]["skipped"] == 0
