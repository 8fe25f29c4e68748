"""vidlens.runs: the typed training config and its file, the recipe a run records (TrainConfig.resolved),
and old run directories."""

from __future__ import annotations

import json

import pytest

from vidlens.runs import TrainConfig, load_config, save_config


def test_precision_replaces_amp_and_old_configs_still_load(tmp_path):
    """Runs written before `precision` existed saved `"amp": true/false`: they load, mapped onto precision."""
    assert TrainConfig().precision == "auto"
    assert TrainConfig.from_dict({"amp": True}).precision == "auto"
    assert TrainConfig.from_dict({"amp": False}).precision == "fp32"
    assert "amp" not in TrainConfig().to_dict()

    save_config(tmp_path, TrainConfig(data="D", epochs=3), ["a", "b"])
    payload = json.loads((tmp_path / "config.json").read_text())
    del payload["config"]["precision"]
    payload["config"]["amp"] = False
    (tmp_path / "config.json").write_text(json.dumps(payload))
    config, classes = load_config(tmp_path)
    assert (config.precision, config.epochs, classes) == ("fp32", 3, ["a", "b"])


def test_an_unknown_precision_says_which_exist():
    with pytest.raises(ValueError, match=r"precision must be one of auto, fp32, bf16, fp16.*'fp8'"):
        TrainConfig(precision="fp8")
