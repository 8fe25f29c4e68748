"""vidlens.models.load_model: a run, a vidlens export and a foreign state dict each load with the preset and
class names that travel with them; an explicit preset wins; the number of classes comes from the file; and
what cannot be loaded is refused with errors that say why."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from vidlens.data.synthetic import MotionConfig, make_motion_dataset
from vidlens.evaluate import evaluate_run
from vidlens.features.extract import ClipRecipe
from vidlens.models import (
    WeightsMismatchError,
    create_model,
    get_classifier,
    load_model,
    read_weights,
    save_weights,
)
from vidlens.presets import PRESETS, get_preset
from vidlens.runs import TrainConfig, load_config, load_run_model
from vidlens.train import train

# The run's recipe: a preset other than the default, at a frame size and crop other than the preset's.
RUN_PRESET, RUN_SIZE, RUN_CROP = "kinetics400", (36, 40), 32
# A recipe no default produces, for exports.
EXPORT_PRESET = get_preset("kinetics400").replace(size=(64, 86), crop=56)


def same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """One epoch of a tiny GRU-RCN on 2 motion classes, with the run's own preset, size and crop."""
    root = tmp_path_factory.mktemp("motion")
    make_motion_dataset(
        root, MotionConfig(num_classes=2, videos_per_class=3, frames=16, height=32, width=32), progress=False
    )
    config = TrainConfig(
        data=str(root),
        model="gru_rcn",
        model_kwargs={"width": 4},
        epochs=1,
        batch_size=2,
        lr_steps=(),
        clip_len=8,
        size=RUN_SIZE,
        crop=RUN_CROP,
        flip_p=0.0,
        preset=RUN_PRESET,
        eval_clips=2,
        workers=0,
        device="cpu",
    )
    out = tmp_path_factory.mktemp("runs") / "run"
    train(config, out, progress=False)
    return out


@pytest.fixture()
def export(ported_model, tmp_path) -> torch.nn.Module:
    """A tiny model with a recipe and class names of its own, as a user would export it."""
    torch.manual_seed(1)
    model = create_model(ported_model, num_classes=3)
    model.preset, model.class_names = EXPORT_PRESET, ["jump", "run", "swim"]
    return model


# --------------------------------------------------------------------------------------------------------
# A training run
# --------------------------------------------------------------------------------------------------------


def test_a_run_reloads_with_its_recipe_and_class_names(run):
    config, classes = load_config(run)
    assert (config.preset, config.size, config.crop) == (RUN_PRESET, RUN_SIZE, RUN_CROP)  # resolved, recorded
    expected = get_preset(RUN_PRESET).replace(size=RUN_SIZE, crop=RUN_CROP)
    assert config.run_preset() == expected
    assert classes == ["MoveLeft", "MoveRight"]

    by_run = load_model(run=run)
    loaded = {
        "run=": by_run,
        "weights=model.pt": load_model(weights=run / "model.pt"),
        "weights=checkpoint.pt": load_model(weights=run / "checkpoint.pt"),
        "name and run=": load_model("gru_rcn", run=run, width=4, num_classes=2),
        "load_run_model": load_run_model(run)[0],
    }
    for how, model in loaded.items():
        assert model.preset == expected, how
        assert model.class_names == classes, how
        assert not model.training, how
        assert type(model).__name__ == "GRURCN" and model.num_classes == 2, how
        assert same_weights(model, by_run), how
    # load_model gives each model its own list: changing one does not change another.
    assert by_run.class_names is not loaded["load_run_model"].class_names


def test_a_runs_weight_files_carry_the_recipe_themselves(run, tmp_path):
    """model.pt and checkpoint.pt record the preset and classes: a copy outside the run still has them."""
    config, classes = load_config(run)
    for name in ("model.pt", "checkpoint.pt"):
        _, record = read_weights(run / name)
        assert record is not None and record.preset == config.run_preset() and record.class_names == classes
    copy = tmp_path / "exported.pt"
    shutil.copy(run / "model.pt", copy)
    model = load_model("gru_rcn", weights=copy, width=4)  # num_classes from the file: 2 (the builder's: 101)
    assert model.preset == config.run_preset() and model.class_names == classes
    assert get_classifier(model).out_features == 2
    assert same_weights(model, load_model(run=run))


def test_a_runs_size_and_crop_reach_extraction_and_evaluation(run):
    model = load_model(run=run)
    transform = ClipRecipe().transform(model)
    assert (transform.preset.size, transform.crop) == (RUN_SIZE, RUN_CROP)
    assert transform.preset.mean == PRESETS[RUN_PRESET].mean
    result = evaluate_run(run, progress=False, write=False)
    assert result.settings["preset"] == RUN_PRESET
    assert (result.settings["size"], result.settings["crop"]) == (list(RUN_SIZE), RUN_CROP)


def test_an_explicit_preset_wins_over_a_run(run):
    assert load_model(run=run, preset="sports1m").preset is PRESETS["sports1m"]
    assert load_model(weights=run / "model.pt", preset="plain").preset is PRESETS["plain"]


# --------------------------------------------------------------------------------------------------------
# Files written by vidlens, and foreign ones
# --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".pt", ".pth", ".safetensors"])
def test_save_weights_round_trips_preset_and_class_names(ported_model, export, tmp_path, suffix):
    path = save_weights(export, tmp_path / f"export{suffix}")
    _, record = read_weights(path)
    assert record is not None and record.preset == EXPORT_PRESET and record.class_names == export.class_names
    model = load_model(ported_model, weights=path)  # num_classes from the 3 class names (the builder's: 101)
    assert model.preset == EXPORT_PRESET and model.class_names == ["jump", "run", "swim"]
    assert get_classifier(model).out_features == 3 and same_weights(model, export)
    assert load_model(ported_model, weights=path, preset="plain").preset is PRESETS["plain"]


def test_save_weights_without_class_names(ported_model, tmp_path):
    model = create_model(ported_model, num_classes=4)  # fresh: plain, no class names
    path = save_weights(model, tmp_path / "fresh.safetensors")
    loaded = load_model(ported_model, weights=path)
    # A vidlens file says plain: the architecture's published preset (sports1m) is for foreign files only.
    assert loaded.preset is not PRESETS["sports1m"] and loaded.preset == PRESETS["plain"]
    assert loaded.class_names is None and get_classifier(loaded).out_features == 4  # from the classifier


@pytest.mark.parametrize("wrap", ["plain", "checkpoint", "data_parallel"])
def test_a_foreign_state_dict_gets_the_published_preset(ported_model, tmp_path, wrap):
    torch.manual_seed(2)
    source = create_model(ported_model, num_classes=5)
    state = source.state_dict()
    if wrap == "checkpoint":
        state = {"epoch": 3, "state_dict": state}
    elif wrap == "data_parallel":
        state = {f"module.{k}": v for k, v in state.items()}
    path = tmp_path / "foreign.pth"
    torch.save(state, path)
    assert read_weights(path)[1] is None  # nothing recorded
    model = load_model(ported_model, weights=path)
    assert model.preset is PRESETS["sports1m"] and model.class_names is None
    assert get_classifier(model).out_features == 5 and same_weights(model, source)  # 5 rows in fc8
    assert load_model(ported_model, weights=path, preset="plain").preset is PRESETS["plain"]
    custom = get_preset("sports1m").replace(name="mine", crop=100)
    assert load_model(ported_model, weights=path, preset=custom).preset is custom
    # The registry builder's weights= adopts the same way.
    assert create_model(ported_model, num_classes=5, weights=path).preset is PRESETS["sports1m"]


def test_a_foreign_file_next_to_another_projects_config_json_is_not_a_run(ported_model, tmp_path):
    """Foreign weights often come in a folder with a config.json of their own (Hugging Face models do)."""
    (tmp_path / "config.json").write_text(json.dumps({"architectures": ["C3D"], "num_labels": 5}))
    path = tmp_path / "pytorch_model.pt"
    torch.save(create_model(ported_model, num_classes=5).state_dict(), path)
    model = load_model(ported_model, weights=path)
    assert model.preset is PRESETS["sports1m"] and get_classifier(model).out_features == 5
    with pytest.raises(
        ValueError, match="is not a vidlens run: its config.json was not written by `vidlens train`"
    ):
        load_model(run=tmp_path)


def test_a_foreign_file_of_an_architecture_without_published_weights_stays_plain(tmp_path):
    path = tmp_path / "depth1.pickle"
    torch.save(create_model("c3d_depth1", num_classes=3, width=2).state_dict(), path)
    model = load_model("c3d_depth1", weights=path, width=2)
    assert model.preset is PRESETS["plain"] and get_classifier(model).out_features == 3


def test_no_weights_is_a_fresh_model(ported_model):
    model = load_model(ported_model, num_classes=6)
    assert model.preset is PRESETS["plain"] and model.class_names is None and not model.training
    assert get_classifier(model).out_features == 6
    with torch.device("meta"):  # C3D's 80 M parameters: no memory, no initialisation
        assert load_model("c3d_sports1m", num_classes=2).preset is PRESETS["sports1m"]  # the builder's own


# --------------------------------------------------------------------------------------------------------
# The number of classes
# --------------------------------------------------------------------------------------------------------


def test_the_files_number_of_classes_keeps_its_names(ported_model, export, tmp_path):
    path = save_weights(export, tmp_path / "export.pt")
    model = load_model(ported_model, weights=path, num_classes=3)
    assert model.class_names == ["jump", "run", "swim"] and same_weights(model, export)


@pytest.mark.parametrize("recorded", [True, False], ids=["vidlens_file", "foreign_file"])
def test_another_number_of_classes_renews_the_classifier(ported_model, export, tmp_path, recorded):
    if recorded:
        path = save_weights(export, tmp_path / "export.pt")
    else:
        path = tmp_path / "foreign.pt"
        torch.save(export.state_dict(), path)
    model = load_model(ported_model, weights=path, num_classes=7)
    assert get_classifier(model).out_features == 7 and model.num_classes == 7
    assert model.class_names is None  # the names belonged to the old classifier
    assert model.preset == (EXPORT_PRESET if recorded else PRESETS["sports1m"])  # the features' recipe stays
    assert not model.training
    kept, renewed = model.state_dict(), export.state_dict()
    for key, value in renewed.items():
        if key.startswith("fc8."):
            assert kept[key].shape[0] == 7
        else:
            assert torch.equal(kept[key], value), key


# --------------------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------------------


def test_nothing_to_build_from(ported_model, export, tmp_path):
    with pytest.raises(
        ValueError, match=r"load_model needs a registry name .* list the names with `vidlens models`"
    ):
        load_model()
    path = save_weights(export, tmp_path / "export.pt")  # not in a run: the file does not name its model
    with pytest.raises(ValueError, match="load_model needs a registry name"):
        load_model(weights=path)


def test_an_unknown_name_suggests_close_ones():
    with pytest.raises(KeyError, match=r"unknown model 'c3d_dept1'; did you mean .*'c3d_depth1'") as info:
        load_model("c3d_dept1")
    assert "choose from: " in str(info.value) and "vidlens models" in str(info.value)


def test_missing_files_and_runs(tmp_path):
    with pytest.raises(FileNotFoundError, match="weights file not found"):
        load_model("c3d_depth1", weights=tmp_path / "nothing.pt")
    with pytest.raises(FileNotFoundError, match="is not a vidlens run: config.json is missing"):
        load_model(run=tmp_path)


def test_arguments_that_contradict_a_run_are_refused(run):
    with pytest.raises(ValueError, match="give run= or weights=, not both"):
        load_model(run=run, weights=run / "model.pt")
    with pytest.raises(ValueError, match=r"is a run of 'gru_rcn', not 'c3d_depth1'; leave the name out"):
        load_model("c3d_depth1", run=run)
    with pytest.raises(ValueError, match=r"is a run of 'gru_rcn', not 'c3d'"):
        load_model("c3d", weights=run / "model.pt")  # the run's file: the run's rules
    with pytest.raises(ValueError, match=r"was trained on 2 classes, not 5; to fine-tune it"):
        load_model(run=run, num_classes=5)
    with pytest.raises(
        ValueError, match=r"fixes the architecture's arguments \(\{'width': 4\}\); got \{'width': 8\}"
    ):
        load_model(run=run, width=8)


def test_weights_of_another_architecture_list_the_differences(tmp_path):
    depth1 = save_weights(create_model("c3d_depth1", num_classes=3, width=2), tmp_path / "depth1.pt")
    depth3 = create_model("c3d_depth3", num_classes=3, width=2).state_dict()
    with pytest.raises(WeightsMismatchError) as info:
        load_model("c3d_depth3", weights=depth1, width=2)
    text = str(info.value)
    assert "do not match C3DDepth" in text and "shape mismatches (5):" in text
    conv1 = f"conv1.weight: model expects {list(depth3['conv1.weight'].shape)}, file has [2, 3, 1, 3, 3]"
    assert conv1 in text
    gru = save_weights(create_model("gru_rcn", num_classes=3, width=4), tmp_path / "gru.pt")
    with pytest.raises(WeightsMismatchError) as info:
        load_model("c3d_depth1", weights=gru, width=2)
    text = str(info.value)
    assert "missing from the file (8): conv5.weight, conv5.bias, fc6.weight" in text
    assert "unexpected in the file (20): gru3.cell.w_z.weight" in text
    with pytest.raises(WeightsMismatchError, match="Only the classifier"):  # renewing does not excuse it
        load_model("c3d_depth3", weights=depth1, width=2, num_classes=4)
