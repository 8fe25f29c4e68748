"""The model contract: what vidlens needs to know about a video model, declared in one typed place.

Every built-in model class derives from :class:`VideoModel` (a plain ``nn.Module``) and declares a
:class:`ModelSpec` as its class attribute ``spec``::

    class C3D(FCHead, VideoModel):
        spec = ModelSpec(
            feature_layers={"conv1": "relu1", ..., "fc6": "relu6", "fc7": "relu7", "fc8": "fc8"},
            classifier="fc8",
            input_shape=(3, 16, 112, 112),
            paper='Tran et al., "Learning Spatiotemporal Features with 3D Convolutional Networks", ICCV 2015',
            published_preset="sports1m",
        )

and every instance carries what travels with its weights: ``model.preset`` (a
:class:`vidlens.presets.Preset`; ``plain`` for a freshly initialised model) and ``model.class_names``
(the names of its outputs, or ``None``). Feature taps, fine-tuning, complexity counts, extraction and
interpretation read models through :func:`model_spec` only; a user's own ``nn.Module`` without a spec
still works wherever the spec is not essential (taps then take dotted module paths).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from torch import nn

from vidlens.presets import PRESETS, Preset

__all__ = ["ModelSpec", "VideoModel", "model_spec", "post_relu_taps"]


@dataclass(frozen=True)
class ModelSpec:
    """What a model class promises the rest of vidlens.

    Built-in models fill every field (the registry sweep checks it); a user's own model declares what it
    wants to take part in: ``ModelSpec(classifier="head.fc")`` is enough for fine-tuning,
    ``ModelSpec(feature_layers={"conv5": "block5.relu"})`` for named taps.
    """

    # Dotted path of the final nn.Linear: what fine-tuning re-initialises for a new label set; None: the
    # model does not name one (fine-tuning then says how to add it).
    classifier: str | None = None
    # Public tap name -> dotted path of the module whose output it is, in data-flow order. Conv taps point
    # at the ReLU after the convolution (post-activation, as the Caffe C3D tool extracted them). Empty:
    # taps are the model's dotted module paths.
    feature_layers: Mapping[str, str] = field(default_factory=dict)
    # One clip, (C, T, H, W), as the model's first fully connected layer (or its training) expects it.
    input_shape: tuple[int, int, int, int] = (3, 16, 112, 112)
    # The paper the architecture comes from: authors, title, venue.
    paper: str = ""
    # Preset of the architecture's published weights: what a foreign state dict (c3d-pytorch's
    # c3d.pickle, torchvision's Kinetics weights) is assumed to expect. "plain" where none were published.
    published_preset: str = "plain"
    # True when any clip size runs (global pooling before the classifier), False when fc6 fixes it.
    size_agnostic: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "feature_layers", dict(self.feature_layers))  # a copy: the spec owns it
        object.__setattr__(self, "input_shape", tuple(self.input_shape))
        if self.classifier == "":
            raise ValueError("classifier is the dotted path of the final nn.Linear (or None), not ''")
        if len(self.input_shape) != 4 or self.input_shape[0] != 3:
            raise ValueError(f"input_shape is one RGB clip (3, T, H, W), got {self.input_shape}")
        if self.published_preset not in PRESETS:
            raise ValueError(
                f"published_preset {self.published_preset!r} is not a built-in preset ({', '.join(PRESETS)})"
            )

    @property
    def layers(self) -> list[str]:
        """Tap names in data-flow order."""
        return list(self.feature_layers)


class VideoModel(nn.Module):
    """Base of every vidlens model: a plain ``nn.Module`` with a :class:`ModelSpec` and what travels with
    its weights (``preset``, ``class_names``).

    Subclasses call ``super().__init__()`` and declare ``spec``; a subclass without one fails at class
    creation, so a model cannot forget part of the contract.
    """

    spec: ClassVar[ModelSpec]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not isinstance(cls.__dict__.get("spec", getattr(cls, "spec", None)), ModelSpec):
            raise TypeError(
                f"{cls.__name__} must declare spec = ModelSpec(...) (see vidlens.models.contract)"
            )

    def __init__(self) -> None:
        super().__init__()
        # How input is prepared for these weights; "plain" until weights say otherwise (load_model).
        self.preset: Preset = PRESETS["plain"]
        # Names of the outputs (classes), when the weights came with them (a vidlens run or export).
        self.class_names: list[str] | None = None


def model_spec(model: nn.Module) -> ModelSpec | None:
    """The :class:`ModelSpec` of ``model``, or ``None`` for a model without one (a user's own).

    A model whose taps depend on its arguments (GRU-RCN's levels) sets its own ``self.spec`` in
    ``__init__``, derived from the class's with :func:`dataclasses.replace`; that one is returned.
    """
    spec = getattr(model, "spec", None)
    return spec if isinstance(spec, ModelSpec) else None


def post_relu_taps(layers: str | Sequence[str], classifier: str) -> dict[str, str]:
    """Tap name -> module path for nets built as the papers' are: ``convX`` and ``fcX`` are read after their
    ReLU (``reluX``, as Caffe's C3D tool extracted them), the classifier as raw logits, anything else
    (pools, recurrent states) from the module of that name; in the order given (``layers`` may be one
    string of names separated by spaces)."""
    taps = {}
    for name in layers.split() if isinstance(layers, str) else layers:
        kind = next((k for k in ("conv", "fc") if name.startswith(k)), None)
        taps[name] = "relu" + name[len(kind) :] if kind and name != classifier else name
    return taps
