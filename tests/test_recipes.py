"""Issue 9, "recipes travel with weights": one weights file gives one set of descriptors, whichever entry
point prepares the clips -- the library (extract_features on load_model), the CLI (vidlens extract) and
evaluation (evaluate's clip dataset) -- and all of them use the preset the weights came with."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from vidlens.cli import main
from vidlens.data.datasets import load_videos
from vidlens.evaluate import evaluate
from vidlens.features.extract import ClipRecipe, extract_features
from vidlens.features.store import load_features
from vidlens.models import create_model, get_layer, load_model
from vidlens.presets import PRESETS
from vidlens.video import write_video

from conftest import indexed_frames

FRAMES = 24  # extraction cuts clips at 0 and 8 (stride 8); evaluation's 2 evenly spaced clips start there too
CLASSES = ["A", "B", "C"]


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> Path:
    """One 24-frame video per class folder, each with other colours (seeds)."""
    root = tmp_path_factory.mktemp("recipes")
    for k, name in enumerate(CLASSES):
        (root / name).mkdir()
        write_video(root / name / f"v{k}.mp4", indexed_frames(FRAMES, 64, 96, seed=k), options={"qp": "0"})
    return root


@pytest.fixture(scope="module")
def foreign_weights(ported_model, tmp_path_factory) -> Path:
    """A foreign state dict (tensors only, no vidlens record), as c3d-pytorch's c3d.pickle is."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "ported.pickle"
    torch.save(create_model(ported_model, num_classes=len(CLASSES)).state_dict(), path)
    return path


def evaluation_fc6(model: torch.nn.Module, root: Path) -> np.ndarray:
    """The fc6 activations of the clips ``evaluate`` builds and runs, captured as they pass: ``(6, D)``."""
    captured: list[torch.Tensor] = []
    hook = get_layer(model, "fc6").register_forward_hook(lambda m, i, out: captured.append(out.clone()))
    try:
        result = evaluate(
            model,
            load_videos(root, layout="folders"),
            clips_per_video=2,
            batch_size=2,  # one video per batch, as extraction runs one video's 2 clips
            workers=0,
            device="cpu",
            progress=False,
        )
    finally:
        hook.remove()
    assert result.settings["preset"] == "sports1m" and result.n_clips == 2 * len(CLASSES)
    return torch.cat(captured).numpy()  # (videos * 2 clips, D), in video order


def extract_argv(inputs: Path, out: Path, model: str, weights: Path, *extra: str) -> list[str]:
    """`vidlens extract` of ``inputs`` into ``out`` with ``model`` and foreign ``weights``, small and on the CPU."""
    argv = ["extract", str(inputs), "--out", str(out), "--model", model, "--weights", str(weights), *extra]
    return [*argv, "--batch-size", "2", "--workers", "0", "--device", "cpu", "--quiet"]


def l2_mean(clips: np.ndarray) -> np.ndarray:
    mean = clips.astype(np.float64).mean(0)
    return (mean / np.linalg.norm(mean)).astype(np.float32)


def test_one_weights_file_gives_one_descriptor_everywhere(ported_model, foreign_weights, videos, tmp_path):
    model = load_model(ported_model, weights=foreign_weights)
    assert model.preset is PRESETS["sports1m"] and model.class_names is None  # the published recipe
    paths = [videos / name / f"v{k}.mp4" for k, name in enumerate(CLASSES)]

    # (a) the library: extract_features on the loaded model, preset left to the model.
    library = [extract_features(model, p, "fc6", batch_size=2) for p in paths]
    assert all(f.starts == [0, 8] for f in library)
    assert all((f.clips > 0).mean() > 0.1 for f in library)  # a live fc6: equality below means something

    # (b) the CLI, from the same file, read back from its feature store.
    out = tmp_path / "store"
    assert main(extract_argv(videos, out, ported_model, foreign_weights, "--precision", "fp32")) == 0
    store = load_features(out)
    assert store.ids == [f"{name}__v{k}" for k, name in enumerate(CLASSES)]
    assert {r["preset"] for r in store.records} == {"sports1m"}
    assert {(r["clip_len"], r["stride"]) for r in store.records} == {(16, 8)}

    # (c) evaluation's preprocessing: the clips evaluate builds for the model, through its fc6 tap.
    evaluation = evaluation_fc6(model, videos)

    for k, features in enumerate(library):
        np.testing.assert_allclose(store.clips(k), features.clips, rtol=0, atol=1e-6)
        np.testing.assert_allclose(store.descriptors[k], features.descriptor, rtol=0, atol=1e-6)
        np.testing.assert_allclose(evaluation[2 * k : 2 * k + 2], features.clips, rtol=0, atol=1e-6)
        np.testing.assert_allclose(l2_mean(evaluation[2 * k : 2 * k + 2]), features.descriptor, atol=1e-6)

    # The preset matters: the same weights fed plain RGB [0, 1] frames (the classic C3D mistake) give
    # other activations and descriptors (by far more than the tolerances above), so the equalities above
    # are not the plain recipe's by accident.
    for path, features in zip(paths, library, strict=True):
        plain = extract_features(model, path, "fc6", batch_size=2, preset="plain")
        assert np.abs(plain.clips - features.clips).max() > 1.0
        assert np.linalg.norm(plain.descriptor - features.descriptor) > 1e-2


def test_an_explicit_preset_overrides_the_weights_everywhere(ported_model, foreign_weights, videos, tmp_path):
    """--preset / preset= replace the recipe the weights bring, in the CLI as in the library."""
    model = load_model(ported_model, weights=foreign_weights)
    path = videos / "A" / "v0.mp4"
    library = extract_features(model, path, "fc6", batch_size=2, preset="kinetics400")
    loaded = extract_features(
        load_model(ported_model, weights=foreign_weights, preset="kinetics400"), path, "fc6", batch_size=2
    )
    np.testing.assert_array_equal(loaded.clips, library.clips)
    out = tmp_path / "store"
    assert main(extract_argv(path, out, ported_model, foreign_weights, "--preset", "kinetics400")) == 0
    store = load_features(out)
    assert store.records[0]["preset"] == "kinetics400"
    np.testing.assert_allclose(store.clips(0), library.clips, rtol=0, atol=1e-6)
    own = extract_features(model, path, "fc6", batch_size=2)  # sports1m
    assert np.linalg.norm(own.descriptor - library.descriptor) > 1e-2


def test_clip_recipe_takes_the_models_preset_and_overrides_size_and_crop(ported_model, foreign_weights):
    model = load_model(ported_model, weights=foreign_weights)
    assert ClipRecipe().transform(model).preset is PRESETS["sports1m"]
    small = ClipRecipe(size=(64, 86), crop=56).transform(model)
    assert small.preset == PRESETS["sports1m"].replace(size=(64, 86), crop=56) and small.crop == 56
    assert ClipRecipe(preset="plain").transform(model).preset is PRESETS["plain"]


def test_evaluate_checks_the_dataset_against_the_class_names_the_weights_carry(
    ported_model, foreign_weights, videos, tmp_path
):
    """Class names travel with weights: a model whose outputs are in another order than the dataset's
    classes would score swapped labels, so evaluate refuses it without being told the names."""
    model = load_model(ported_model, weights=foreign_weights)
    model.class_names = ["B", "A", "C"]
    data = load_videos(videos, layout="folders")
    with pytest.raises(
        ValueError, match=r"the model was trained on classes \['B', 'A', 'C'\] but .* another order"
    ):
        evaluate(model, data, clips_per_video=1, workers=0, device="cpu", progress=False)
    model.class_names = list(CLASSES)
    result = evaluate(model, data, clips_per_video=1, workers=0, device="cpu", progress=False)
    assert result.classes == CLASSES and result.n_videos == len(CLASSES)
