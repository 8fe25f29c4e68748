"""``vidlens redundancy | dependence | units``, end to end through vidlens.cli.main: the files each writes, what
their tables hold, a run's own data as the natural clips, a user's own layers, and mistakes that end in a
message with exit status 2.

One tiny model (c3d_depth3, width 2, random weights saved with class names) on its own 16 x 112 x 112 input,
and two short synthetic videos: these check the commands, not what trained models show.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import pytest

from vidlens.cli import main
from vidlens.data.synthetic import MotionConfig, render_motion_video
from vidlens.runs import TrainConfig, save_config
from vidlens.video import write_video

from conftest import run_cli

CLASSES = MotionConfig(num_classes=4).class_names
CONVS = ["conv1", "conv2", "conv3", "conv4", "conv5"]
# Cheap tuning: 4 directions, 2 speeds, 1 frequency, 1 phase.
FAST_TUNING = ["--directions", "4", "--speeds", "1,2", "--frequencies", "0.08", "--stimulus", "grating",
               "--phases", "1"]  # fmt: skip


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> Path:
    """A folder of two synthetic motion videos (18 frames, 112 x 112) in class folders."""
    root = tmp_path_factory.mktemp("units_natural")
    config = MotionConfig(frames=18, height=112, width=112)
    for label in (1, 2):
        frames = render_motion_video(label, label, config)
        write_video(root / CLASSES[label] / f"v_{CLASSES[label]}_g01_c01.mp4", frames, 25)
    return root


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_redundancy_writes_tables_curves_and_dendrograms(tiny_model_args, tmp_path, capsys):
    status, files, out, err = run_cli(capsys, "redundancy", *tiny_model_args, "--out", tmp_path, "--quiet")
    assert status == 0, err
    expected = ["redundancy.csv", "redundancy.md", "redundancy_curve.csv", "redundancy_curve.png"]
    assert sorted(files) == sorted(expected + [f"dendrogram_{c}.png" for c in CONVS])
    rows = read_csv(files["redundancy.csv"])
    assert [r["layer"] for r in rows] == CONVS
    assert rows[2]["filters"] == "8" and rows[2]["kernel"] == "4x3x3x3" and rows[2]["tau"] == "0.54"
    for r in rows:
        assert int(r["redundant"]) == int(r["filters"]) - int(r["clusters"])
    curve = read_csv(files["redundancy_curve.csv"])
    assert len(curve) == 5 * 51 and {r["layer"] for r in curve} == set(CONVS)
    markdown = files["redundancy.md"].read_text()
    assert "| conv3" in markdown and "tau = 0.54" in markdown
    assert "filters redundant at tau = 0.54" in out and "conv5" in out


def test_redundancy_of_some_layers_at_another_tau(tiny_model_args, tmp_path, capsys):
    status, files, _, err = run_cli(
        capsys, "redundancy", *tiny_model_args, "--layers", "conv2,conv4", "--tau", "0.1", "--linkage", "average",
        "--taus", "0,0.5,1", "--out", tmp_path, "--quiet",
    )  # fmt: skip
    assert status == 0, err
    rows = read_csv(files["redundancy.csv"])
    assert [(r["layer"], r["tau"], r["linkage"]) for r in rows] == [
        ("conv2", "0.1", "average"),
        ("conv4", "0.1", "average"),
    ]
    assert [r["tau"] for r in read_csv(files["redundancy_curve.csv"])] == ["0.0", "0.5", "1.0"] * 2


def test_dependence_writes_heat_maps_pairs_and_a_summary(videos, tiny_model_args, tmp_path, capsys):
    status, files, out, err = run_cli(
        capsys, "dependence", *tiny_model_args, "--natural", videos, "--layers", "conv2,conv5", "--positions", "16",
        "--max-units", "6", "--out", tmp_path, "--quiet",
    )  # fmt: skip
    assert status == 0, err
    per_layer = ["{}.png", "{}_pairs.csv", "{}_correlation.npy", "{}_mi.npy"]
    expected = ["dependence.csv", "dependence.md"] + [
        p.format(f"dependence_{c}") for c in ("conv2", "conv5") for p in per_layer
    ]
    assert sorted(files) == sorted(expected)
    rows = {r["layer"]: r for r in read_csv(files["dependence.csv"])}
    assert (
        rows["conv2"]["units"] == "4"
        and rows["conv2"]["units_mi"] == "4"
        and rows["conv2"]["samples"] == "32"
    )
    assert rows["conv5"]["units"] == "8" and rows["conv5"]["units_mi"] == "6"
    assert "between 6 of 8 units drawn at random" in err  # wide layers: said so
    mi = np.load(files["dependence_conv5_mi.npy"])
    assert mi.shape == (8, 8) and np.isfinite(mi).sum() == 6 * 5
    np.testing.assert_array_equal(np.isnan(np.load(files["dependence_conv2_correlation.npy"])).any(), False)
    assert "2 clips from" in out and "MI by knn" in out


def test_dependence_takes_a_runs_data_and_the_binned_estimator(videos, tiny_weights, tmp_path, capsys):
    run_dir = tmp_path / "run"
    config = TrainConfig(data=str(videos), model="c3d_depth3", model_kwargs={"width": 2})
    save_config(run_dir, config, list(CLASSES))
    (run_dir / "model.pt").write_bytes(tiny_weights.read_bytes())
    status, files, out, err = run_cli(
        capsys, "dependence", "--run", run_dir, "--layers", "conv3", "--method", "binned", "--bins", "4",
        "--positions", "12", "--out", tmp_path / "o", "--quiet",
    )  # fmt: skip
    assert status == 0, err
    assert read_csv(files["dependence.csv"])[0]["samples"] == "24"
    assert str(videos) in out and "MI by binned" in out


def test_units_writes_tables_and_pictures(videos, tiny_model_args, tmp_path, capsys):
    status, files, out, err = run_cli(
        capsys, "units", *tiny_model_args, "--natural", videos, "--layers", "conv1,conv3", "--held-frames", "2",
        *FAST_TUNING, "--polar-units", "3", "--out", tmp_path, "--quiet",
    )  # fmt: skip
    assert status == 0, err
    expected = ["units.csv", "units_layers.csv", "units_layers.md", "temporal_sensitivity.png", "dsi.png",
                "preferred_speeds.png", "tuning_conv1.png", "tuning_conv3.png"]  # fmt: skip
    assert sorted(files) == sorted(expected)
    units = read_csv(files["units.csv"])
    assert [(u["layer"], u["unit"]) for u in units] == [("conv1", "0"), ("conv1", "1")] + [
        ("conv3", str(c)) for c in range(8)
    ]
    for u in units:
        if u["temporal_sensitivity"]:
            assert 0.0 <= float(u["temporal_sensitivity"]) <= 1.0
            assert float(u["temporal_sensitivity"]) == pytest.approx(
                (float(u["ts_shuffle"]) + float(u["ts_repeat"])) / 2, abs=1e-3
            )
        if u["dsi"]:
            assert 0.0 <= float(u["dsi"]) <= 1.0
            assert float(u["preferred_direction"]) in (0.0, 90.0, 180.0, 270.0)
            assert (
                float(u["preferred_speed"]) in (1.0, 2.0) and u["preferred_stimulus"] == "grating 0.08 c/px"
            )
    layers = read_csv(files["units_layers.csv"])
    assert [row["layer"] for row in layers] == ["conv1", "conv3"]
    assert sorted(row["temporal_rank"] for row in layers) == ["1", "2"]
    assert "temporal sensitivity over 2 clips" in files["units_layers.md"].read_text()
    assert "median DSI" in out


def test_units_without_clips_measures_tuning_only(tiny_model_args, tmp_path, capsys):
    status, files, _, err = run_cli(
        capsys, "units", *tiny_model_args, "--no-temporal", *FAST_TUNING, "--stimulus", "dots", "--polar-units", "2",
        "--out", tmp_path, "--quiet",
    )  # fmt: skip
    assert status == 0, err
    assert "temporal_sensitivity.png" not in files
    layers = read_csv(files["units_layers.csv"])
    assert [row["layer"] for row in layers] == CONVS  # the default: every convolutional feature map
    assert all(row["temporal_sensitivity"] == "" and row["temporal_rank"] == "" for row in layers)
    assert {u["preferred_stimulus"] for u in read_csv(files["units.csv"])} <= {"dots", ""}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["dependence", "--layers", "conv3"], "needs clips for the activations: give --natural PATH"),
        (["units", *FAST_TUNING], "needs clips for temporal sensitivity"),
        (["dependence", "--natural", "/no/such/folder"], "no such video or folder"),
        (["redundancy", "--tau", "1.5"], "tau is a cosine similarity in"),
        (["redundancy", "--layers", "nope"], "nope"),
        (["units", "--no-temporal", "--layers", "conv9", *FAST_TUNING], "conv9"),
        (["units", "--no-temporal", "--speeds", "4,8", "--frequencies", "0.1"], "motion aliases"),
        (["units", "--no-temporal", "--directions", "5"], "even number"),
        (
            ["units", "--no-temporal", "--layers", "fc6", "--shape", "8,32,32", *FAST_TUNING],
            "feed 16x112x112",
        ),
        (
            ["dependence", "--natural", "{videos}", "--layers", "conv5", "--positions", "99"],
            "only 98 positions",
        ),
    ],
)
def test_mistakes_are_messages(videos, tiny_model_args, tmp_path, capsys, argv, message):
    argv = [str(videos) if a == "{videos}" else a for a in argv]
    status, files, _, err = run_cli(
        capsys, *argv[:1], *tiny_model_args, *argv[1:], "--out", tmp_path, "--quiet"
    )
    assert status == 2 and not files
    assert "Traceback" not in err and re.search(message, err), err


def test_option_mistakes_are_usage_errors(tiny_model_args, capsys):
    for argv in (["dependence", "--positions", "some"], ["units", "--speeds", "fast"]):
        with pytest.raises(SystemExit) as exit_info:
            main([*argv, *tiny_model_args])
        assert exit_info.value.code == 2
        assert "expected" in capsys.readouterr().err
