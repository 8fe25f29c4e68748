"""``vidlens actmax``, end to end through vidlens.cli.main: the files of a sweep over the temporal weight, a
batch of class logits named by class, an objective string, natural clips from a training run's data, and
mistakes that end in a message with exit status 2.

One tiny model (c3d_depth3, width 2, random weights saved with class names) on its own 16 x 112 x 112 input,
and a few steps: these check the command, not what the optimisation finds (tests/test_actmax.py does that).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from vidlens.data.synthetic import MotionConfig, render_motion_video
from vidlens.runs import TrainConfig, save_config
from vidlens.video import write_video

from conftest import run_cli

CLASSES = MotionConfig(num_classes=4).class_names  # MoveDown, MoveLeft, MoveRight, MoveUp


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> Path:
    """A folder of two synthetic motion videos (20 frames, 112 x 112) in class folders."""
    root = tmp_path_factory.mktemp("actmax_natural")
    config = MotionConfig(frames=20, height=112, width=112)
    for label in (1, 3):
        frames = render_motion_video(label, 0, config)
        write_video(root / CLASSES[label] / f"v_{CLASSES[label]}_g01_c01.mp4", frames, 25)
    return root


def test_a_chi_sweep_writes_one_clip_per_temporal_weight(videos, tiny_model_args, tmp_path, capsys):
    status, files, out, err = run_cli(
        capsys, "actmax", *tiny_model_args, "--layer", "conv3", "--channel", "1", "--chi-sweep", "10,0",
        "--steps", "3", "--natural", videos, "--out", tmp_path, "--quiet",
    )  # fmt: skip
    assert status == 0, err
    stem = "actmax_conv3-1_chi-sweep"
    assert sorted(files) == sorted(
        [f"{stem}_chi{chi}.npy" for chi in (10, 0)]
        + [f"{stem}{suffix}" for suffix in (".gif", ".mp4", ".png", "_curve.png", ".json")]
    )
    for chi in (10, 0):
        assert np.load(files[f"{stem}_chi{chi}.npy"]).shape == (1, 3, 16, 112, 112)
    summary = json.loads(files[f"{stem}.json"].read_text())
    assert [r["label"] for r in summary["clips"]] == ["chi=10", "chi=0"]
    assert summary["settings"]["chi"] == [10.0, 0.0] and summary["settings"]["steps"] == 3
    assert summary["natural"]["clips"] == 2
    for row in summary["clips"]:
        assert row["natural_best"] >= row["natural_mean"] and row["ratio"] == pytest.approx(
            row["value"] / row["natural_best"]
        )
    assert "best natural clip" in out and "against 2 natural clips" in out


def test_class_logits_by_name_make_a_batch(tiny_model_args, tmp_path, capsys):
    status, files, out, err = run_cli(
        capsys, "actmax", *tiny_model_args, "--layer", "fc8", "--channel", "MoveLeft,MoveUp", "--steps", "2",
        "--chi", "5", "--out", tmp_path, "--quiet",
    )  # fmt: skip
    assert status == 0, err
    stem = "actmax_fc8-1-3_chi5"
    assert np.load(files[f"{stem}.npy"]).shape == (2, 3, 16, 112, 112)
    summary = json.loads(files[f"{stem}.json"].read_text())
    assert [r["label"] for r in summary["clips"]] == ["fc8:1 (MoveLeft)", "fc8:3 (MoveUp)"]
    assert summary["natural"] is None and summary["clips"][0]["natural_best"] is None
    assert "fc8:3 (MoveUp)" in out and "best natural" not in out


def test_an_objective_string_and_a_runs_own_data(videos, tiny_weights, tmp_path, capsys):
    run_dir = tmp_path / "run"
    config = TrainConfig(data=str(videos), model="c3d_depth3", model_kwargs={"width": 2})
    save_config(run_dir, config, list(CLASSES))
    (run_dir / "model.pt").write_bytes(tiny_weights.read_bytes())
    status, files, _, err = run_cli(
        capsys, "actmax", "--run", run_dir, "--objective", "conv3:1", "--steps", "2",
        "--natural-clips", "1", "--no-transforms", "--param", "pixels", "--out", tmp_path / "o", "--quiet",
    )  # fmt: skip
    assert status == 0, err
    summary = json.loads(files["actmax_conv3-1_chi30.json"].read_text())
    assert summary["natural"]["source"] == str(videos) and summary["natural"]["clips"] == 1
    assert summary["settings"]["transforms"] is False and summary["settings"]["param"] == "pixels"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "needs --layer .*conv1, pool1"),
        (["--layer", "conv3", "--objective", "conv3:1"], "not both"),
        (["--layer", "fc8", "--channel", "Jump"], "class name .*MoveDown"),
        (["--layer", "conv3", "--channel", "99"], "channel 99 is out of range .* 8 channels"),
        (["--layer", "conv3", "--position", "0,1,1"], "--position needs --channel"),
        (["--layer", "nope", "--channel", "1"], "nope"),
        (["--layer", "conv3", "--channel", "1", "--natural", "/no/such/folder"], "no such video or folder"),
    ],
)
def test_mistakes_are_messages(tiny_model_args, tmp_path, capsys, argv, message):
    status, files, _, err = run_cli(
        capsys, "actmax", *tiny_model_args, *argv, "--steps", "1", "--out", tmp_path, "--quiet"
    )
    assert status == 2 and not files
    assert "Traceback" not in err and re.search(message, err), err
