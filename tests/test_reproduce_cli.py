"""The train / evaluate / reproduce commands end to end on tiny synthetic data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vidlens.cli import main
from vidlens.data.synthetic import MotionConfig, make_motion_dataset
from vidlens.reproduce import EXPERIMENTS, reproduce


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("motion")
    config = MotionConfig(num_classes=2, videos_per_class=3, frames=16, height=112, width=112)
    return make_motion_dataset(root / "data", config, progress=False).root


def test_train_then_evaluate_from_the_cli(tiny_data, tmp_path, capsys):
    run = tmp_path / "run"
    args = ["train", str(tiny_data), "--model", "c3d_depth1", "--model-arg", "width=4", "--out", str(run)]
    args += ["--epochs", "1", "--batch-size", "2", "--size", "112x112", "--workers", "0", "--quiet"]
    assert main(args) == 0
    assert "vidlens evaluate" in capsys.readouterr().out
    assert (run / "model.pt").is_file() and (run / "log.jsonl").is_file()
    assert main(args) == 2  # an existing run is refused without --resume
    assert "--resume" in capsys.readouterr().err
    assert main(["train", str(tiny_data), "--out", str(run), "--resume", "--epochs", "2", "--quiet"]) == 0
    assert len((run / "log.jsonl").read_text().splitlines()) == 2  # resumed and extended by one epoch
    capsys.readouterr()
    assert main(["evaluate", str(run), "--workers", "0", "--clips-per-video", "1", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "Clip Hit@1" in out and "Video Hit@5" in out
    metrics = json.loads((run / "metrics.json").read_text())
    assert 0.0 <= metrics["clip_hit1"] <= 1.0 and metrics["n_videos"] == 2


def test_train_errors_are_messages(tmp_path, capsys):
    assert main(["train", str(tmp_path / "nowhere"), "--out", str(tmp_path / "run"), "--quiet"]) == 2
    assert "error" in capsys.readouterr().err
    assert main(["train", str(tmp_path), "--model", "c3d_nope", "--out", str(tmp_path / "r"), "--quiet"]) == 2


@pytest.mark.slow  # end to end: a few seconds or more on 2 cores
def test_reproduce_runs_every_model_of_an_experiment(tmp_path):
    result = reproduce("fusion", tmp_path, epochs=1, videos_per_class=2, workers=0, progress=False)
    assert [r.model for r in result.rows] == [m for _, m, _ in EXPERIMENTS["fusion"].models]
    for row in result.rows:
        assert 0.0 <= row.clip_hit1 <= 1.0 and row.params > 0 and row.macs > 0
    table = result.table()
    assert "Single-Frame" in table and "Clip Hit@1" in table
    assert (tmp_path / "fusion" / "results.json").is_file() and (
        tmp_path / "fusion" / "results.png"
    ).is_file()
    with pytest.raises(KeyError, match="choose from"):
        reproduce("nope", tmp_path)
    with pytest.raises(KeyError, match="unknown recipe 'sgd'; choose from scratch, paper"):
        reproduce("fusion", tmp_path, recipe="sgd")
    with pytest.raises(ValueError, match="must be among the fusion experiment's single_frame, early_fusion"):
        reproduce("fusion", tmp_path, models=["c3d_depth5"])
    # The printed table is the one results.json holds, row for row.
    saved = json.loads((tmp_path / "fusion" / "results.json").read_text())
    assert saved["table"] == table
    for row, line in zip(saved["rows"], table.splitlines()[3:], strict=True):
        assert line.split()[-7:-4] == [
            f"{100 * row[k]:.1f}" for k in ("clip_hit1", "video_hit1", "video_hit5")
        ]
        assert line.split()[-2] == str(row["epochs"]) == "1"  # a third of 1 epoch for the 3D net is still 1
    assert not list((tmp_path / "fusion").glob(".*.tmp"))  # written atomically
    # Every video of the synthetic data was decoded once, into the frame cache all runs share.
    assert saved["settings"]["budget"]["frame_cache"] == str(tmp_path / "frames")
    assert len(list((tmp_path / "frames").rglob("*.npy"))) == 8  # 2 videos x 4 classes


@pytest.mark.slow  # end to end: a few seconds or more on 2 cores
def test_reproduce_on_a_users_dataset_over_several_seeds(tiny_data, tmp_path, capsys):
    """--data takes any layout vidlens reads; --seeds trains every model N times: mean +- std per row."""
    argv = ["reproduce", "depth", "--data", str(tiny_data), "--seeds", "2", "--epochs", "1"]
    assert main([*argv, "--out", str(tmp_path), "--workers", "0", "--quiet"]) == 0
    printed = capsys.readouterr().out
    saved = json.loads((tmp_path / "depth" / "results.json").read_text())
    assert saved["table"] in printed and "mean +- standard deviation over seeds 0, 1" in printed
    assert saved["settings"]["data"] == {"root": str(tiny_data.resolve()), "num_classes": 2}
    assert saved["settings"]["seeds"] == [0, 1] and saved["settings"]["budget"]["flip_p"] == 0.5
    for row in saved["rows"]:
        assert [r["seed"] for r in row["runs"]] == [0, 1]
        hits = [r["clip_hit1"] for r in row["runs"]]
        assert row["clip_hit1"] == pytest.approx(sum(hits) / 2)
        assert row["clip_hit1_std"] == pytest.approx(abs(hits[0] - hits[1]) / 2)
        assert all(Path(r["run_dir"]).name.endswith(f"_seed{r['seed']}") for r in row["runs"])
    assert not (tmp_path / "data_32x4_seed0").exists()  # no synthetic data was made
    assert not (tmp_path / "frames").exists()  # and a real dataset's frames are not cached unless asked
    with pytest.raises(ValueError, match="seeds must be >= 1"):
        reproduce("depth", tmp_path, data=tiny_data, seeds=0)
    with pytest.raises(ValueError, match="videos_per_class sizes the synthetic data"):
        reproduce("depth", tmp_path, data=tiny_data, videos_per_class=3)


def test_the_3d_net_trains_for_a_third_of_the_scratch_recipes_epochs():
    fusion, depth = EXPERIMENTS["fusion"], EXPERIMENTS["depth"]
    assert (
        fusion.epochs("scratch", "c3d_depth3", 12) == 4 and fusion.epochs("scratch", "slow_fusion", 12) == 12
    )
    assert fusion.epochs("paper", "c3d_depth3", 36) == 36  # the paper's recipe trains every net alike
    assert fusion.epochs("scratch", "c3d_depth3", 1) == 1  # never 0
    assert {depth.epochs("scratch", m, 9) for _, m, _ in depth.models} == {9}


@pytest.mark.slow  # end to end: a few seconds or more on 2 cores
@pytest.mark.parametrize("recipe", ["scratch", "paper"])
def test_the_recipe_decides_how_every_model_is_trained(tiny_data, tmp_path, recipe):
    """scratch (the default): BatchNorm nets without dropout, AdamW, warm-up and cosine; paper: the nets as
    published, SGD with clipping and lr / 10 for the last third. --models keeps only some rows."""
    from vidlens.runs import load_config

    result = reproduce(
        "fusion", tmp_path, recipe=recipe, data=tiny_data, epochs=3, models=["late_fusion"], workers=0,
        progress=False,
    )  # fmt: skip
    assert [r.model for r in result.rows] == ["late_fusion"]
    (run,) = result.rows[0].runs
    config, _ = load_config(run.run_dir)
    assert run.seconds > 0 and result.rows[0].seconds == run.seconds  # training time, from the run's log
    if recipe == "scratch":
        assert config.model_kwargs == {"width": 24, "norm": "batch", "dropout": 0.0}
        assert (config.optimizer, config.lr, config.weight_decay) == ("adamw", 3e-4, 0.05)
        assert config.schedule == "cosine" and config.warmup_epochs == pytest.approx(0.15)
        assert Path(run.run_dir).name == "late_fusion_data_e3_scratch_seed0"
    else:
        assert config.model_kwargs == {"width": 24}
        assert (config.optimizer, config.lr, config.grad_clip) == ("sgd", 0.03, 1.0)
        assert config.schedule == "step" and config.lr_steps == (2,) and config.warmup_epochs == 0
        assert Path(run.run_dir).name == "late_fusion_data_e3_seed0"  # the names runs had before recipes
    saved = json.loads((tmp_path / "fusion" / "results.json").read_text())
    assert saved["settings"]["recipe"]["name"] == recipe
