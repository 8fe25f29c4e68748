"""vidlens.runs: the typed training config and its file, the recipe a run records (TrainConfig.resolved),
and old run directories."""

from __future__ import annotations

import itertools
import json
import math

import pytest
import torch

from vidlens.models import create_model, load_model, save_weights
from vidlens.presets import PRESETS
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


# --------------------------------------------------------------------------------------------------------
# TrainConfig.resolved(): the preset, size and crop a run records
# --------------------------------------------------------------------------------------------------------


def test_resolved_without_init_is_plain_at_the_presets_size():
    config = TrainConfig(model="c3d_depth1").resolved()
    assert (config.preset, config.size, config.crop) == ("plain", (128, 171), 112)
    assert config.run_preset() == PRESETS["plain"]
    assert config.resolved() == config  # resolving twice changes nothing


def test_resolved_takes_the_recipe_a_vidlens_init_file_recorded(tmp_path):
    model = create_model("c3d_depth1", num_classes=3, width=2)
    model.preset = PRESETS["kinetics400"].replace(size=(64, 86), crop=56)
    init = save_weights(model, tmp_path / "init.pt")
    config = TrainConfig(model="c3d_depth1", model_kwargs={"width": 2}, init=str(init)).resolved()
    assert (config.preset, config.size, config.crop) == ("kinetics400", (64, 86), 56)
    assert config.run_preset() == model.preset
    # Explicit size or crop replace the file's; the rest of its recipe stays.
    resized = TrainConfig(model="c3d_depth1", init=str(init), size=(32, 40)).resolved()
    assert (resized.preset, resized.size, resized.crop) == ("kinetics400", (32, 40), 56)
    # An explicit preset wins over the file, at its own size and crop.
    explicit = TrainConfig(model="c3d_depth1", init=str(init), preset="sports1m").resolved()
    assert (explicit.preset, explicit.size, explicit.crop) == ("sports1m", (128, 171), 112)


def test_resolved_gives_a_foreign_init_file_its_architectures_published_preset(ported_model, tmp_path):
    ported = tmp_path / "ported.pickle"
    torch.save(create_model(ported_model, num_classes=5).state_dict(), ported)
    config = TrainConfig(model=ported_model, init=str(ported)).resolved()
    assert (config.preset, config.size, config.crop) == ("sports1m", (128, 171), 112)
    assert TrainConfig(model=ported_model, init=str(ported), preset="plain").resolved().preset == "plain"
    depth1 = tmp_path / "depth1.pickle"
    torch.save(create_model("c3d_depth1", num_classes=5, width=2).state_dict(), depth1)
    config = TrainConfig(model="c3d_depth1", model_kwargs={"width": 2}, init=str(depth1)).resolved()
    assert config.preset == "plain"  # no published weights for the depth nets


def test_resolved_refuses_an_init_recipe_it_cannot_record(tmp_path):
    model = create_model("c3d_depth1", num_classes=3, width=2)
    model.preset = PRESETS["plain"].replace(name="mine")
    init = save_weights(model, tmp_path / "init.pt")
    with pytest.raises(
        ValueError, match=r"a preset called 'mine', which is not built in; choose one with --preset"
    ):
        TrainConfig(model="c3d_depth1", init=str(init)).resolved()
    assert TrainConfig(model="c3d_depth1", init=str(init), preset="plain").resolved().preset == "plain"


@pytest.mark.parametrize(
    "changes, fields",
    [
        ({"mean": (0.5, 0.5, 0.5), "std": (0.5, 0.5, 0.5)}, "mean, std"),  # another normalisation, same name
        ({"size": None, "crop": None}, "size, crop"),  # whole frames: a run's size=None means the preset's
    ],
)
def test_resolved_refuses_an_init_recipe_that_differs_from_its_built_in_name(tmp_path, changes, fields):
    """A run would train with the built-in recipe and record it: not what the init weights learnt with."""
    model = create_model("c3d_depth1", num_classes=3, width=2)
    model.preset = PRESETS["plain"].replace(**changes, description="edited")
    init = save_weights(model, tmp_path / "init.pt")
    with pytest.raises(
        ValueError, match=rf"preset called 'plain' whose {fields} differ from the built-in one"
    ):
        TrainConfig(model="c3d_depth1", init=str(init)).resolved()
    assert TrainConfig(model="c3d_depth1", init=str(init), preset="plain").resolved().preset == "plain"
    # Only the description differs: nothing is lost.
    model.preset = PRESETS["plain"].replace(description="edited")
    init = save_weights(model, tmp_path / "init.pt")
    assert TrainConfig(model="c3d_depth1", init=str(init)).resolved().run_preset() == PRESETS["plain"]


# A config.json written before presets travelled with weights: every field explicit, the recipe included.
OLD_CONFIG = {
    "data": "/data/ucf101",
    "layout": "auto",
    "split": 1,
    "model": "c3d_depth1",
    "model_kwargs": {"width": 2},
    "init": None,
    "epochs": 16,
    "batch_size": 30,
    "lr": 0.003,
    "lr_steps": [4, 8, 12],
    "lr_gamma": 0.1,
    "momentum": 0.9,
    "weight_decay": 0.005,
    "grad_clip": None,
    "clip_len": 16,
    "size": [128, 171],
    "crop": 112,
    "flip_p": 0.5,
    "preset": "plain",
    "eval_clips": 10,
    "workers": 2,
    "device": "auto",
    "amp": True,
    "channels_last": True,
    "seed": 0,
}


def test_an_old_run_still_loads(tmp_path):
    """An old run: its config.json as above, its model.pt a bare state dict (no record)."""
    run = tmp_path / "old"
    run.mkdir()
    payload = {"vidlens": "0.1.0", "config": OLD_CONFIG, "classes": ["a", "b", "c"]}
    (run / "config.json").write_text(json.dumps(payload))
    model = create_model("c3d_depth1", num_classes=3, width=2)
    torch.save(model.state_dict(), run / "model.pt")

    config, classes = load_config(run)
    assert classes == ["a", "b", "c"]
    assert (config.preset, config.size, config.crop, config.lr_steps) == (
        "plain",
        (128, 171),
        112,
        (4, 8, 12),
    )
    assert config.resolved() == config and config.run_preset() == PRESETS["plain"]
    loaded = load_model(run=run)
    assert loaded.preset == PRESETS["plain"] and loaded.class_names == ["a", "b", "c"]
    assert all(torch.equal(v, loaded.state_dict()[k]) for k, v in model.state_dict().items())


def test_a_runs_config_overrides_what_its_weights_file_says(tmp_path):
    """The run's config.json is the run's recipe, even over a foreign file's published preset."""
    run = tmp_path / "run"
    run.mkdir()
    config = {**OLD_CONFIG, "preset": "kinetics400", "size": [36, 40], "crop": 32}
    (run / "config.json").write_text(
        json.dumps({"vidlens": "0.1.0", "config": config, "classes": ["a", "b"]})
    )
    torch.save(create_model("c3d_depth1", num_classes=2, width=2).state_dict(), run / "model.pt")
    assert load_model(run=run).preset == PRESETS["kinetics400"].replace(size=(36, 40), crop=32)


def test_unknown_config_fields_are_refused():
    with pytest.raises(ValueError, match=r"unknown TrainConfig fields \['colour'\]"):
        TrainConfig.from_dict({**OLD_CONFIG, "colour": "red"})


def test_the_optimizer_is_sgd_by_default_and_adamw_on_request():
    """C3D's solver by default; AdamW (momentum as its beta1) for the from-scratch recipe; others refused."""
    from vidlens.runs import build_optimizer

    model = create_model("c3d_depth1", num_classes=2, width=2)
    sgd = build_optimizer(TrainConfig(lr=0.03), model)
    assert isinstance(sgd, torch.optim.SGD) and sgd.defaults["momentum"] == 0.9
    assert sgd.defaults["weight_decay"] == 0.005 and sgd.defaults["lr"] == 0.03
    adamw = build_optimizer(TrainConfig(optimizer="adamw", lr=3e-4, weight_decay=0.05), model)
    assert isinstance(adamw, torch.optim.AdamW) and adamw.defaults["betas"] == (0.9, 0.999)
    assert adamw.defaults["weight_decay"] == 0.05 and adamw.defaults["lr"] == 3e-4
    assert TrainConfig.from_dict({"data": "D"}).optimizer == "sgd"  # configs written before the option
    with pytest.raises(ValueError, match="optimizer must be one of sgd, adamw, got 'lion'"):
        TrainConfig(optimizer="lion")


def test_the_step_schedule_is_c3ds_multistep_lr_per_epoch():
    from vidlens.runs import lr_factor

    config = TrainConfig(lr=0.1, lr_steps=(2, 4), lr_gamma=0.5, epochs=6)
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    reference = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[2, 4], gamma=0.5)
    for epoch in range(6):
        for step in range(3):  # constant within an epoch
            assert config.lr * lr_factor(config, epoch, step, 3) == pytest.approx(
                optimizer.param_groups[0]["lr"]
            )
        optimizer.step()
        reference.step()


def test_the_cosine_schedule_falls_from_lr_to_zero_after_a_linear_warm_up():
    from vidlens.runs import lr_factor

    config = TrainConfig(schedule="cosine", epochs=4, warmup_epochs=1.0)
    steps = 4
    factors = [lr_factor(config, e, s, steps) for e in range(4) for s in range(steps)]
    assert factors[:4] == pytest.approx(
        [0.25 * (i + 1) * 0.5 * (1 + math.cos(math.pi * i / 16)) for i in range(4)]
    )
    assert factors[8] == pytest.approx(0.5)  # half-way: cos(pi / 2)
    assert all(a > b for a, b in itertools.pairwise(factors[3:]))  # falls after the warm-up
    assert 0 < factors[-1] < 0.01  # the last step is just above 0
    # Without warm-up the first step uses the full rate; the cosine ignores lr_steps.
    assert lr_factor(TrainConfig(schedule="cosine", epochs=4), 0, 0, steps) == 1.0
    # Warm-up works on the step schedule as well.
    assert lr_factor(TrainConfig(warmup_epochs=0.5), 0, 0, 4) == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"schedule": "linear"}, "schedule must be one of step, cosine, got 'linear'"),
        ({"warmup_epochs": -1.0}, r"warmup_epochs must be in \[0, epochs = 16\], got -1.0"),
        ({"warmup_epochs": 20.0}, r"warmup_epochs must be in \[0, epochs = 16\], got 20.0"),
    ],
)
def test_bad_schedules_are_refused(fields, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**fields)
    assert TrainConfig.from_dict({"data": "D"}).schedule == "step"  # configs written before the option
