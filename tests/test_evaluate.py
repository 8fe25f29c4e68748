"""Evaluation: the metrics on hand-made scores, a planted model whose every answer is known, and whole runs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import vidlens.evaluate as ev
from vidlens.cli import main
from vidlens.data.datasets import ClipDataset, load_videos
from vidlens.data.synthetic import MotionConfig, make_motion_dataset
from vidlens.evaluate import (
    EvalResult,
    evaluate,
    evaluate_run,
    format_table,
    plot_confusion,
)
from vidlens.models import create_model, save_weights
from vidlens.presets import get_preset
from vidlens.runs import TrainConfig, load_run_model, save_config
from vidlens.video import write_video

# --------------------------------------------------------------------------------------------------------
# Results: the table and the confusion figure (the metrics themselves: test_metrics.py)
# --------------------------------------------------------------------------------------------------------


def _result(clip: float, v1: float, v5: float) -> EvalResult:
    return EvalResult(clip, v1, v5, 10, 5, 0, [], np.zeros((2, 2), np.int64), ["a", "b"], {}, 0.0)


def test_table_has_the_papers_columns():
    table = format_table(
        {"Single-Frame": _result(0.411, 0.593, 0.777), "Slow Fusion": _result(0.419, 0.609, 1.0)}
    )
    lines = table.splitlines()
    assert lines[0].split() == ["Model", "Clip", "Hit@1", "Video", "Hit@1", "Video", "Hit@5"]
    assert set(lines[1]) <= {"-", " "}
    assert lines[2].split() == ["Single-Frame", "41.1", "59.3", "77.7"]
    assert lines[3].split() == ["Slow", "Fusion", "41.9", "60.9", "100.0"]
    assert len({len(line) for line in lines}) == 1  # aligned columns
    assert _result(0.5, 0.25, 1.0).table("x").splitlines()[2].split() == ["x", "50.0", "25.0", "100.0"]


def test_confusion_figure_stays_readable_with_101_classes():
    names = [f"Class{i:03d}" for i in range(101)]
    cm = np.diag(np.full(101, 3))
    cm[0, 1] = 3
    fig = plot_confusion(cm, names, title="UCF101-sized")
    ax = fig.axes[0]
    labels = ax.get_yticklabels()
    assert [t.get_text() for t in labels] == names
    assert labels[0].get_fontsize() >= 4
    image = ax.get_images()[0].get_array()
    assert image[0, 0] == pytest.approx(0.5) and image[0, 1] == pytest.approx(0.5)  # rows normalised
    many = plot_confusion(np.eye(400, dtype=np.int64), [f"c{i}" for i in range(400)])
    assert len(many.axes[0].get_yticklabels()) <= 25  # too many names to print: indices every few rows
    with pytest.raises(ValueError, match=r"shaped \(3, 3\)"):
        plot_confusion(cm, names[:3])


# --------------------------------------------------------------------------------------------------------
# A planted model: each clip's grey level says which class the model answers
# --------------------------------------------------------------------------------------------------------

CLASSES = ["A", "B", "C"]
CLIP_LEN = 16
# Per test video: (class, what the model answers for each of its 3 clips); None = a corrupt file.
PLANTED = {
    "A/a1": (0, [0, 0, 1]),  # 2 of 3 clips right, video right
    "A/a2": (0, [1, 1, 0]),  # 1 of 3 clips right, video wrong (predicted B)
    "B/b1": (1, [1, 1, 1]),  # 3 of 3, video right
    "B/b2": (1, None),  # undecodable: 3 skipped clips, a missing video
    "C/c1": (2, [2, 2, 0]),  # 2 of 3, video right
}


def _grey(c: int) -> int:
    return 30 + 60 * c


class GreyOracle(nn.Module):
    """Answers class c for a clip of grey level 30 + 60 c (logit 10 for it, 0 for the others)."""

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.preset = get_preset("plain")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = self.preset
        level = (x[:, 0].mean(dim=(1, 2, 3)) * p.std[0] + p.mean[0]) / p.scale  # (N,) 0-255
        c = ((level - 30) / 60).round().long().clamp(0, self.num_classes - 1)  # (N,)
        return 10.0 * nn.functional.one_hot(c, self.num_classes).float()  # (N, C)


@pytest.fixture(scope="module")
def planted_root(tmp_path_factory) -> Path:
    """A UCF101-layout dataset whose test videos are grey, one level per 16-frame third (see PLANTED)."""
    root = tmp_path_factory.mktemp("planted")
    for vid, (_, answers) in PLANTED.items():
        path = root / f"{vid}.mp4"
        path.parent.mkdir(parents=True, exist_ok=True)
        if answers is None:
            path.write_text("this is not a video")
            continue
        frames = np.concatenate([np.full((CLIP_LEN, 32, 32, 3), _grey(c), np.uint8) for c in answers])
        write_video(path, frames)  # 48 frames: 3 evenly spaced clips are exactly the thirds
    splits = root / "splits"
    splits.mkdir()
    (splits / "classInd.txt").write_text("".join(f"{i + 1} {c}\n" for i, c in enumerate(CLASSES)))
    (splits / "trainlist01.txt").write_text("A/a1.mp4 1\n")
    (splits / "testlist01.txt").write_text("".join(f"{vid}.mp4\n" for vid in PLANTED))
    return root


def _planted_settings() -> dict:
    return dict(clips_per_video=3, clip_len=CLIP_LEN, size=(32, 32), crop=32, workers=0, progress=False)


def _check_planted(result: EvalResult) -> None:
    assert result.clip_hit1 == pytest.approx(8 / 12)
    assert result.video_hit1 == pytest.approx(3 / 4)
    assert result.video_hit5 == 1.0  # k clipped to the 3 classes
    assert (result.n_clips, result.n_videos, result.skipped_clips) == (12, 4, 3)
    assert result.missing_videos == ["B/b2"]
    assert result.confusion.tolist() == [[1, 1, 0], [0, 1, 0], [0, 0, 1]]
    assert result.per_class == {"A": 0.5, "B": 1.0, "C": 1.0}
    assert result.video_ids == ["A/a1", "A/a2", "B/b1", "C/c1"]
    assert result.video_labels.tolist() == [0, 0, 1, 2]
    assert np.allclose(result.video_scores.sum(1), 1.0)


def test_planted_model_gives_known_clip_and_video_accuracy(planted_root):
    videos = load_videos(planted_root, subset="test")
    with pytest.warns(RuntimeWarning, match="skipping a clip.*b2.mp4"):
        result = evaluate(GreyOracle(3), videos, classes=CLASSES, batch_size=4, **_planted_settings())
    _check_planted(result)
    assert result.settings == {
        "clips_per_video": 3,
        "clip_len": 16,
        "size": [32, 32],
        "crop": 32,
        "preset": "plain",
        "reduce": "mean_prob",
        "batch_size": 4,
        "device": "cpu",
        "precision": "fp32",
    }
    assert result.table().splitlines()[2].split() == ["GreyOracle", "66.7", "75.0", "100.0"]
    assert json.loads(json.dumps(result.to_dict()))["confusion"] == [[1, 1, 0], [0, 1, 0], [0, 0, 1]]


def test_evaluate_accepts_a_clip_dataset_and_checks_it(planted_root):
    videos = load_videos(planted_root, subset="test")
    ds = ClipDataset(
        videos,
        train=False,
        clips_per_video=3,
        clip_len=16,
        size=(32, 32),
        crop=32,
        return_index=True,
        on_error="skip",
    )
    with pytest.warns(RuntimeWarning, match="skipping a clip"):
        _check_planted(evaluate(GreyOracle(3), ds, batch_size=5, workers=0, progress=False))
    train_ds = ClipDataset(videos, train=True, size=(32, 32), crop=32, return_index=True)
    with pytest.raises(ValueError, match="train=False"):
        evaluate(GreyOracle(3), train_ds, progress=False)
    with pytest.raises(ValueError, match=r"trained on classes \['X', 'Y', 'Z'\] but the dataset"):
        evaluate(GreyOracle(3), videos, classes=["X", "Y", "Z"], progress=False)
    with pytest.raises(ValueError, match=r"returned \(3, 2\) for 3 clips.*\(3, 3\)"):  # one video's clips
        evaluate(GreyOracle(2), videos, classes=CLASSES, batch_size=2, **_planted_settings())


def test_evaluate_run_writes_metrics_and_figure(planted_root, tmp_path, monkeypatch):
    run = tmp_path / "run"
    config = TrainConfig(
        data=str(planted_root), model="grey_oracle", size=(32, 32), crop=32, eval_clips=3, workers=0
    )
    save_config(run, config, CLASSES)
    # The oracle is not in the registry: hand it to evaluate_run in place of the trained weights.
    monkeypatch.setattr(ev, "load_run_model", lambda run_dir: (GreyOracle(3).eval(), config, CLASSES))
    with pytest.warns(RuntimeWarning, match="skipping a clip"):
        result = evaluate_run(run, progress=False)
    _check_planted(result)
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["clip_hit1"] == pytest.approx(8 / 12) and metrics["video_hit1"] == 0.75
    assert metrics["model"] == "grey_oracle" and metrics["data"] == str(planted_root)
    assert (metrics["layout"], metrics["split"], metrics["subset"]) == ("ucf101", 1, "test")
    assert metrics["missing_videos"] == ["B/b2"] and metrics["skipped_clips"] == 3
    assert metrics["settings"]["clips_per_video"] == 3 and metrics["classes"] == CLASSES
    assert (run / "confusion.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(run.glob(".*.tmp"))  # atomic writes leave no temporary files behind


def test_no_decodable_clip_is_an_error(tmp_path):
    for c in CLASSES[:2]:
        (tmp_path / c).mkdir()
        (tmp_path / c / "v.mp4").write_text("garbage")
    videos = load_videos(tmp_path, layout="folders")
    with pytest.raises(RuntimeError, match="none of the 2 clips"), pytest.warns(RuntimeWarning):
        evaluate(GreyOracle(2), videos, clips_per_video=1, workers=0, progress=False)


# --------------------------------------------------------------------------------------------------------
# Whole runs: a tiny untrained C3D on the synthetic motion dataset
# --------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def motion_root(tmp_path_factory) -> Path:
    config = MotionConfig(
        num_classes=2, videos_per_class=4, frames=32, height=112, width=112, test_fraction=0.5
    )
    return make_motion_dataset(tmp_path_factory.mktemp("motion"), config, progress=False).root


def _make_run(run: Path, data: Path, classes: list[str] | None = None) -> Path:
    config = TrainConfig(
        data=str(data),
        model="c3d_depth1",
        model_kwargs={"width": 4},
        size=(112, 112),
        crop=112,
        eval_clips=2,
        batch_size=3,  # batches of 3 clips straddle videos of 2 clips
        workers=2,
        device="cpu",
    )
    classes = classes or load_videos(data, subset="test").classes
    save_config(run, config, classes)
    torch.manual_seed(0)
    save_weights(create_model("c3d_depth1", num_classes=len(classes), width=4), run / "model.pt")
    return run


def test_evaluate_run_matches_a_direct_computation(motion_root, tmp_path):
    run = _make_run(tmp_path / "run", motion_root)
    result = evaluate_run(run, progress=False)
    assert (result.n_clips, result.n_videos, result.skipped_clips, result.missing_videos) == (8, 4, 0, [])
    for value in (result.clip_hit1, result.video_hit1, result.video_hit5):
        assert 0.0 <= value <= 1.0
    assert result.video_hit5 == 1.0 and result.confusion.sum() == 4

    # The same clips, by hand: every clip of every test video, its logits, then mean probabilities.
    model, _, _ = load_run_model(run)
    videos = load_videos(motion_root, subset="test")
    ds = ClipDataset(videos, train=False, clips_per_video=2, clip_len=16, size=(112, 112), crop=112)
    clips = torch.stack([ds[i][0] for i in range(len(ds))])  # (8, 3, 16, 112, 112)
    labels = torch.tensor([ds[i][1] for i in range(len(ds))])  # (8,)
    with torch.inference_mode():
        logits = model(clips)  # (8, 2)
    probs = logits.softmax(1).reshape(4, 2, 2).mean(1)  # (V, K, C) -> (V, C)
    video_labels = torch.tensor(videos.labels)
    assert result.clip_hit1 == pytest.approx((logits.argmax(1) == labels).double().mean().item())
    assert result.video_hit1 == pytest.approx((probs.argmax(1) == video_labels).double().mean().item())
    assert np.allclose(result.video_scores, probs.numpy(), atol=1e-5)

    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["video_hit1"] == result.video_hit1 and metrics["n_videos"] == 4
    assert metrics["model"] == "c3d_depth1" and metrics["model_kwargs"] == {"width": 4}
    assert sum(map(sum, metrics["confusion"])) == 4
    assert (run / "confusion.png").stat().st_size > 1000


def test_evaluate_in_bf16_on_the_cpu_is_close_to_fp32(motion_root, tmp_path, capsys):
    run = _make_run(tmp_path / "run", motion_root)
    exact = evaluate_run(run, precision="fp32", progress=False, write=False)
    assert main(["evaluate", str(run), "--precision", "bf16", "--quiet"]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert (exact.settings["precision"], metrics["settings"]["precision"]) == ("fp32", "bf16")
    fast = evaluate(
        load_run_model(run)[0], load_videos(motion_root, subset="test"), clips_per_video=2, clip_len=16,
        size=(112, 112), crop=112, batch_size=3, workers=0, device="cpu", precision="bf16", progress=False,
    )  # fmt: skip
    assert fast.settings["precision"] == "bf16"
    np.testing.assert_allclose(fast.video_scores, exact.video_scores, atol=2e-2)
    assert not np.array_equal(fast.video_scores, exact.video_scores)  # bf16 did run
    with pytest.raises(ValueError, match="fp16 needs a CUDA device"):
        evaluate_run(run, precision="fp16", progress=False, write=False)


def test_bad_runs_and_datasets_give_clear_errors(motion_root, tmp_path):
    with pytest.raises(FileNotFoundError, match="is not a vidlens run"):
        evaluate_run(tmp_path / "nothing", motion_root)
    run = _make_run(tmp_path / "run", motion_root)
    with pytest.raises(FileNotFoundError, match="testlist02.txt not found"):
        evaluate_run(run, split=2, progress=False, write=False)

    empty = tmp_path / "empty"
    shutil.copytree(motion_root, empty)
    (empty / "splits" / "testlist01.txt").write_text("")
    with pytest.raises(ValueError, match="lists no test videos"):
        evaluate_run(run, empty, progress=False, write=False)

    folders = tmp_path / "folders"
    shutil.copytree(motion_root, folders, ignore=shutil.ignore_patterns("splits"))
    with pytest.raises(ValueError, match="no test split.*subset='all'"):
        evaluate_run(run, folders, progress=False, write=False)

    other = _make_run(tmp_path / "other", motion_root, classes=["Jump", "Run"])
    with pytest.raises(
        ValueError, match=r"trained on classes \['Jump', 'Run'\] but .* has \['MoveLeft', 'MoveRight'\]"
    ):
        evaluate_run(other, progress=False, write=False)
    assert not (other / "metrics.json").exists()
