"""Fine-tuning: start from a checkpoint or foreign weights, keep the features, renew the classifier.

The C3D recipe (Tran et al. 2015, section 4): take a network trained on a large dataset (Sports-1M),
keep its convolutional (and fc6/fc7) weights, and re-initialise the last layer for the new label set
before training on the target dataset (UCF101). Every vidlens model names its final linear layer in its
spec (``model.spec.classifier``: "fc8" for C3D, "fc" for the video ResNets), which is what is renewed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TypeVar

import torch
from torch import nn

from vidlens.models.contract import VideoModel, model_spec
from vidlens.models.weights import WeightsMismatchError, _mismatch_report, adopt_record, read_weights

__all__ = ["PretrainedReport", "get_classifier", "load_pretrained", "reset_classifier"]

ModuleT = TypeVar("ModuleT", bound=nn.Module)


def _classifier_path(model: nn.Module) -> str:
    spec = model_spec(model)
    if spec is None or spec.classifier is None:
        raise AttributeError(
            f"{type(model).__name__} does not name its classifier: declare its contract as a class attribute "
            "spec = vidlens.models.ModelSpec(classifier='<dotted path of the final nn.Linear>', ...) "
            "(see vidlens.models.contract)"
        )
    return spec.classifier


def get_classifier(model: nn.Module) -> nn.Linear:
    """The final linear layer named by ``model.spec.classifier``."""
    layer = model.get_submodule(_classifier_path(model))
    if not isinstance(layer, nn.Linear):
        raise TypeError(
            f"{type(model).__name__}.spec.classifier names a {type(layer).__name__}, not an nn.Linear"
        )
    return layer


def reset_classifier(model: ModuleT, num_classes: int) -> ModuleT:
    """Replace the classifier by a freshly initialised ``nn.Linear`` with ``num_classes`` outputs (in place).

    The new layer has the old one's input size, device and dtype; its weights are drawn from N(0, 0.01)
    with zero bias, so that the first logits are near zero. ``model.num_classes`` is updated.
    """
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    path = _classifier_path(model)
    old = get_classifier(model)
    new = nn.Linear(old.in_features, num_classes, bias=old.bias is not None)
    new = new.to(device=old.weight.device, dtype=old.weight.dtype)
    nn.init.normal_(new.weight, std=0.01)
    if new.bias is not None:
        nn.init.zeros_(new.bias)
    parent_path, _, name = path.rpartition(".")
    parent = model.get_submodule(parent_path) if parent_path else model
    setattr(parent, name, new)
    if hasattr(model, "num_classes"):
        model.num_classes = num_classes
    if isinstance(model, VideoModel):
        model.class_names = None  # the old names belonged to the old classifier
    return model


@dataclass
class PretrainedReport:
    """What :func:`load_pretrained` did."""

    path: Path
    loaded: list[str] = field(default_factory=list)  # state-dict keys copied from the file
    reinitialised: list[str] = field(default_factory=list)  # classifier keys left freshly initialised

    def __str__(self) -> str:
        text = f"loaded {len(self.loaded)} tensors from {self.path}"
        if self.reinitialised:
            text += f"; re-initialised {', '.join(self.reinitialised)}"
        return text


def load_pretrained(
    model: nn.Module,
    path: str | os.PathLike,
    *,
    classifier: Literal["auto", "keep", "reset"] = "auto",
    map_location: str | torch.device = "cpu",
) -> PretrainedReport:
    """Initialise ``model`` from a checkpoint or foreign weights for fine-tuning.

    Every tensor outside the classifier must be in the file with the same shape (a file from another
    architecture is refused with a list of the differences). The classifier is handled by ``classifier``:

    * ``"auto"``: loaded when its shape matches (same number of classes), else re-initialised;
    * ``"reset"``: always re-initialised (a new label set that happens to have as many classes);
    * ``"keep"``: must match, like every other tensor.

    Build the model with the *new* number of classes first, e.g.
    ``load_pretrained(create_model("c3d", num_classes=101), "c3d_sports1m.pt")``.
    """
    path = Path(path)
    state_dict, record = read_weights(path, map_location)
    if classifier not in ("auto", "keep", "reset"):
        raise ValueError(f"classifier must be 'auto', 'keep' or 'reset', got {classifier!r}")
    prefix = _classifier_path(model) + "."
    expected = model.state_dict()
    head = {k for k in expected if k.startswith(prefix)}
    head_matches = all(k in state_dict and state_dict[k].shape == expected[k].shape for k in head)

    missing = [k for k in expected if k not in state_dict and (k not in head or classifier == "keep")]
    unexpected = [k for k in state_dict if k not in expected]
    wrong_shape = [
        (k, tuple(expected[k].shape), tuple(v.shape))
        for k, v in state_dict.items()
        if k in expected and v.shape != expected[k].shape and (k not in head or classifier == "keep")
    ]
    if missing or unexpected or wrong_shape:
        raise WeightsMismatchError(
            _mismatch_report(path, type(model).__name__, missing, unexpected, wrong_shape)
            + f"\nOnly the classifier ({prefix[:-1]}) may differ when fine-tuning; is this file from another "
            "architecture? (vidlens.models.load_weights(..., strict=False) loads whatever matches.)"
        )
    report = PretrainedReport(path)
    if classifier == "reset" or not head_matches:
        reset_classifier(model, get_classifier(model).out_features)
        report.reinitialised = sorted(head)
        state_dict = {k: v for k, v in state_dict.items() if k not in head}
    model.load_state_dict(state_dict, strict=False)
    adopt_record(model, record)  # the preprocessing these features were learnt with travels on
    if report.reinitialised:
        model.class_names = None  # a renewed classifier has a new label set
    report.loaded = [k for k in expected if k in state_dict]
    return report
