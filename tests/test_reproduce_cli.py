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
    # The printed table is the one results.json holds, row for row.
    saved = json.loads((tmp_path / "fusion" / "results.json").read_text())
    assert saved["table"] == table
    for row, line in zip(saved["rows"], table.splitlines()[3:], strict=True):
        assert line.split()[-5:-2] == [
            f"{100 * row[k]:.1f}" for k in ("clip_hit1", "video_hit1", "video_hit5")
        ]
    assert not list((tmp_path / "fusion").glob(".*.tmp"))  # written atomically


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
    with pytest.raises(ValueError, match="seeds must be >= 1"):
        reproduce("depth", tmp_path, data=tiny_data, seeds=0)
    with pytest.raises(ValueError, match="videos_per_class sizes the synthetic data"):
        reproduce("depth", tmp_path, data=tiny_data, videos_per_class=3)
