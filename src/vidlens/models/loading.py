"""Load the model a user means, with what travels with its weights: one call for every source.

    load_model("c3d", weights="c3d.pickle")       # c3d-pytorch's Sports-1M port: preset sports1m, 487 outputs
    load_model(run="runs/d3")                     # a vidlens run: its architecture, weights, preset, classes
    load_model(weights="runs/d3/model.pt")        # the same, from the run's weights file
    load_model("c3d_depth3", weights="d3.safetensors")  # a vidlens export: its preset and class names
    load_model("r3d_18", num_classes=4)           # random initialisation: preset plain

The returned model is in eval mode and carries ``model.preset`` (how to prepare its input, see
:func:`vidlens.presets.resolve_preset`) and ``model.class_names``. Where they come from:

* a vidlens run (``run=`` or its ``model.pt`` / ``checkpoint.pt``): the run's recipe (preset, frame size,
  crop) and class names, from its ``config.json``;
* a file written by vidlens (:func:`vidlens.models.save_weights`): the preset and class names it recorded;
* a foreign state dict (c3d-pytorch's ``c3d.pickle``, torchvision's weights): the preset of the
  architecture's published weights (``model.spec.published_preset``) and no class names;
* no weights: ``plain`` (a builder made for published weights, such as ``c3d_sports1m``, sets its own);
* an explicit ``preset=`` always wins.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vidlens.models.contract import model_spec
from vidlens.models.finetune import load_pretrained
from vidlens.models.registry import create_model
from vidlens.models.weights import load_state, read_weights
from vidlens.presets import Preset, get_preset

__all__ = ["load_model"]


def load_model(
    name: str | None = None,
    *,
    weights: str | os.PathLike | None = None,
    run: str | os.PathLike | None = None,
    num_classes: int | None = None,
    preset: str | Preset | None = None,
    map_location: str | torch.device = "cpu",
    **model_kwargs: Any,
) -> nn.Module:
    """Build and load the model a user means; see the module docstring for the sources and their presets.

    Args:
        name: registry name (``vidlens models`` lists them); optional for a run, where the run names it.
        weights: a weights file: a run's ``model.pt``/``checkpoint.pt``, a vidlens export, or a foreign
            state dict (``.pt``, ``.pth``, ``.pickle``, ``.safetensors``), loaded strictly.
        run: a vidlens run directory (``vidlens train --out RUN``).
        num_classes: outputs of the classifier. Default: the file's (its class names, else the shape of its
            classifier), else the builder's. A different number than the file's renews the classifier
            for fine-tuning (:func:`vidlens.models.load_pretrained`).
        preset: a preset name or :class:`~vidlens.presets.Preset` that replaces the one the weights bring.
        map_location: where tensors are read to before being copied into the model (built on the CPU).
        **model_kwargs: builder arguments (e.g. ``width=16``); a run fixes its own.

    Raises:
        ValueError: nothing to build from, or arguments that contradict a run.
        KeyError: an unknown model name (the message suggests close names).
        FileNotFoundError: a missing weights file or run.
        WeightsMismatchError: a weights file of another architecture (the differing keys are listed).
    """
    if run is not None and weights is not None:
        raise ValueError("give run= or weights=, not both: a run directory names its own weights file")
    run_dir = Path(run) if run is not None else _run_of(weights)
    if run_dir is not None:
        model = _from_run(run_dir, weights, name, num_classes, model_kwargs, map_location)
    elif name is None:
        raise ValueError(
            "load_model needs a registry name (e.g. load_model('c3d', weights='c3d.pickle')), a run "
            "directory (run='runs/d3') or a run's model.pt; list the names with `vidlens models`"
        )
    else:
        model = _from_name(name, weights, num_classes, model_kwargs, map_location)
    if preset is not None:
        model.preset = get_preset(preset)
    return model.eval()


def _run_of(weights: str | os.PathLike | None) -> Path | None:
    """The run directory a weights file belongs to (``RUN/model.pt`` next to ``RUN/config.json``), if any."""
    from vidlens.runs import is_run

    if weights is None:
        return None
    parent = Path(weights).parent
    return parent if is_run(parent) else None


def _from_run(
    run_dir: Path,
    weights: str | os.PathLike | None,
    name: str | None,
    num_classes: int | None,
    model_kwargs: dict[str, Any],
    map_location: str | torch.device,
) -> nn.Module:
    from vidlens.runs import load_config, run_weights

    config, classes = load_config(run_dir)
    if name is not None and name != config.model:
        raise ValueError(f"{run_dir} is a run of {config.model!r}, not {name!r}; leave the name out")
    if num_classes is not None and num_classes != len(classes):
        raise ValueError(
            f"{run_dir} was trained on {len(classes)} classes, not {num_classes}; to fine-tune it on another "
            f"label set, use load_model({config.model!r}, weights=..., num_classes={num_classes}) on a copy of "
            "its model.pt outside the run directory, or `vidlens train --init`"
        )
    if model_kwargs and model_kwargs != config.model_kwargs:
        raise ValueError(
            f"{run_dir} fixes the architecture's arguments ({config.model_kwargs}); got {model_kwargs}: leave "
            "them out"
        )
    path = Path(weights) if weights is not None else run_weights(run_dir)
    model = create_model(config.model, num_classes=len(classes), **config.model_kwargs)
    state_dict, record = read_weights(path, map_location)
    load_state(model, state_dict, record, source=path)
    model.preset = config.run_preset()  # the recipe the run trained with, whatever the file says
    model.class_names = list(classes)
    return model


def _from_name(
    name: str,
    weights: str | os.PathLike | None,
    num_classes: int | None,
    model_kwargs: dict[str, Any],
    map_location: str | torch.device,
) -> nn.Module:
    if num_classes is not None:
        model_kwargs = {**model_kwargs, "num_classes": num_classes}
    if weights is None:
        return create_model(name, **model_kwargs)
    state_dict, record = read_weights(weights, map_location)
    in_file = _file_classes(name, model_kwargs, state_dict, record)
    if num_classes is not None and in_file is not None and num_classes != in_file:
        model = create_model(name, **model_kwargs)
        load_pretrained(model, weights, classifier="auto", map_location=map_location)  # renews the classifier
        return model
    if in_file is not None:
        model_kwargs.setdefault("num_classes", in_file)
    model = create_model(name, **model_kwargs)
    return load_state(model, state_dict, record, source=weights)


def _file_classes(
    name: str, model_kwargs: dict[str, Any], state_dict: dict[str, torch.Tensor], record: Any
) -> int | None:
    """How many classes the weights were trained on: their class names, else their classifier's rows."""
    if record is not None and record.class_names is not None:
        return len(record.class_names)
    with torch.device("meta"):  # the spec only: no memory, no initialisation
        spec = model_spec(create_model(name, **model_kwargs))
    weight = state_dict.get(f"{spec.classifier}.weight") if spec is not None and spec.classifier else None
    return int(weight.shape[0]) if weight is not None and weight.ndim == 2 else None
