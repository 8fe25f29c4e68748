"""Preprocessing presets: how frames must be prepared for a given set of weights.

A preset travels with the weights it belongs to, so that preprocessing can never drift away from them
(the most common mistake of C3D users is feeding RGB [0, 1] frames to the ported Caffe weights, which
expect BGR 0-255 frames minus a per-channel mean).

Shapes: a clip enters as uint8 ``(..., T, H, W, 3)`` RGB, as the decoder produces it, and leaves as
float ``(..., 3, T, H, W)``, as the models take it.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from vidlens.video import DEFAULT_SIZE

__all__ = [
    "FROM_PRESET",
    "PRESETS",
    "FromPreset",
    "Preset",
    "get_preset",
    "list_presets",
    "override",
    "resolve_preset",
]


@dataclass(frozen=True)
class Preset:
    """How to turn decoded uint8 RGB frames into a model's input, and back: the recipe of a set of weights.

    As torchvision's weights carry their transforms, every vidlens model carries its preset
    (``model.preset``): the size frames are decoded at, the crop, the channel order, the value scale and
    the per-channel mean and std. Training, evaluation, extraction and interpretation all read it from
    the model (see :func:`resolve_preset`), so the same weights always see the same preprocessing.
    """

    name: str
    # (H, W) frames are resized to when decoded; None keeps the video's own size. C3D: 128x171 (Tran et
    # al. 2015, section 3.3).
    size: tuple[int, int] | None = DEFAULT_SIZE
    # Side of the square crop taken from the resized frames (random while training, central otherwise);
    # None feeds whole frames. C3D: 112.
    crop: int | None = 112
    # Channel order the weights expect: "RGB" for models trained in vidlens, "BGR" for Caffe ports.
    channel_order: Literal["RGB", "BGR"] = "RGB"
    # Values 0-255 are multiplied by this first: 1/255 gives [0, 1]; 1.0 keeps Caffe's 0-255 range.
    scale: float = 1.0 / 255.0
    # Per-channel mean and std, in `channel_order` and after `scale`: out = (x * scale - mean) / std.
    mean: tuple[float, float, float] = (0.45, 0.45, 0.45)
    std: tuple[float, float, float] = (0.225, 0.225, 0.225)
    description: str = ""

    def __post_init__(self) -> None:
        # Normalise containers (JSON gives lists) so that equal recipes compare and hash equal.
        if self.size is not None:
            object.__setattr__(self, "size", tuple(int(v) for v in self.size))
            if len(self.size) != 2 or min(self.size) < 1:
                raise ValueError(f"preset {self.name!r}: size must be (height, width) > 0, got {self.size}")
        if self.crop is not None and self.crop < 1:
            raise ValueError(f"preset {self.name!r}: crop must be a positive side or None, got {self.crop}")
        if self.channel_order not in ("RGB", "BGR"):
            raise ValueError(f"preset {self.name!r}: channel_order must be 'RGB' or 'BGR'")
        object.__setattr__(self, "mean", tuple(float(v) for v in self.mean))
        object.__setattr__(self, "std", tuple(float(v) for v in self.std))
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            raise ValueError(f"preset {self.name!r}: mean and std need 3 values each, std > 0")

    def normalize(self, clip: torch.Tensor | np.ndarray) -> torch.Tensor:
        """Map uint8 frames ``(..., T, H, W, 3)`` RGB to float ``(..., 3, T, H, W)`` model input.

        Works on one clip ``(T, H, W, 3)`` or a batch ``(N, T, H, W, 3)``; no resizing or cropping
        happens here (decoding resizes to :attr:`size`, :class:`vidlens.data.ClipTransform` crops).
        """
        if isinstance(clip, np.ndarray) and min(clip.strides, default=0) < 0:
            clip = clip.copy()  # a reversed view (frames[..., ::-1], a flip): torch takes no negative strides
        x = torch.as_tensor(clip)
        if x.ndim < 4 or x.shape[-1] != 3:
            raise ValueError(
                f"preset {self.name!r} expects frames shaped (..., T, H, W, 3), got {tuple(x.shape)}; "
                "decode with vidlens.video, which yields RGB frames in that layout"
            )
        if self.channel_order == "BGR":
            x = x.flip(-1)
        a, b = self._affine(x.device)
        # Channels first while still 1 byte per value, then one float copy scaled in place: about twice as
        # fast as the affine map in (..., 3) layout followed by a float transpose (this runs for every clip).
        x = x.movedim(-1, -4).contiguous().float()  # (..., 3, T, H, W)
        return x.mul_(a.view(3, 1, 1, 1)).add_(b.view(3, 1, 1, 1))  # x * scale / std - mean / std

    def denormalize(self, x: torch.Tensor | np.ndarray) -> np.ndarray:
        """The inverse of :meth:`normalize`: model input ``(..., 3, T, H, W)`` -> uint8 RGB ``(..., T, H, W, 3)``.

        Values are rounded and clipped to 0-255, so ``denormalize(normalize(frames))`` returns ``frames``
        exactly, and a synthesised or attributed clip that leaves the data range becomes a viewable one.
        Gradients do not flow through it (it returns a numpy array for drawing).
        """
        x = torch.as_tensor(x).detach()
        if x.ndim < 4 or x.shape[-4] != 3:
            raise ValueError(
                f"preset {self.name!r}.denormalize expects model input shaped (..., 3, T, H, W), got "
                f"{tuple(x.shape)}"
            )
        a, b = self._affine(x.device)
        x = x.float().movedim(-4, -1)  # (..., T, H, W, 3)
        x = ((x - b) / a).round().clamp_(0, 255).to(torch.uint8)
        if self.channel_order == "BGR":
            x = x.flip(-1)
        return x.cpu().numpy()

    def replace(self, **changes: Any) -> Preset:
        """A copy with some fields changed, e.g. ``preset.replace(size=(64, 86), crop=56)``."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain values (JSON- and ``torch.load(weights_only=True)``-safe): what weight files record."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Preset:
        """The preset :meth:`to_dict` wrote (unknown keys are refused, with the known ones listed)."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown preset fields {unknown}; a preset has {sorted(known)}")
        return cls(**data)

    def _affine(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """``(a, b)`` with ``normalize(x) = x * a + b`` per channel (in ``channel_order``)."""
        mean = torch.tensor(self.mean, dtype=torch.float32, device=device)
        std = torch.tensor(self.std, dtype=torch.float32, device=device)
        return self.scale / std, -mean / std


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            name="sports1m",
            channel_order="BGR",
            scale=1.0,
            # Caffe C3D's Sports-1M mean, per channel in B, G, R order (c3d-pytorch's port uses it too).
            mean=(90.25, 97.66, 101.41),
            std=(1.0, 1.0, 1.0),
            description="C3D Sports-1M weights ported from Caffe: BGR, 0-255, minus the per-channel mean",
        ),
        Preset(
            name="plain",
            description="models trained in vidlens: RGB in [0, 1], mean 0.45, std 0.225",
        ),
        Preset(
            name="kinetics400",
            mean=(0.43216, 0.394666, 0.37645),
            std=(0.22803, 0.22145, 0.216989),
            description="video ResNets (R3D, MC3, R(2+1)D) trained on Kinetics-400 (Tran et al. 2018)",
        ),
    )
}


def get_preset(preset: str | Preset) -> Preset:
    """Return the preset called ``preset`` (or ``preset`` itself when it already is one)."""
    if isinstance(preset, Preset):
        return preset
    try:
        return PRESETS[preset]
    except KeyError:
        raise KeyError(
            f"unknown preset {preset!r}; available presets: {', '.join(sorted(PRESETS))}"
        ) from None


def list_presets() -> list[str]:
    """Names of the built-in presets."""
    return sorted(PRESETS)


class FromPreset(enum.Enum):
    """Type of :data:`FROM_PRESET`."""

    FROM_PRESET = "the preset's"

    def __repr__(self) -> str:
        return "FROM_PRESET"


#: Default of ``size=`` / ``crop=`` arguments that mean "the preset's value" (``None`` means "none").
FROM_PRESET = FromPreset.FROM_PRESET


def override(
    preset: str | Preset,
    *,
    size: tuple[int, int] | FromPreset | None = FROM_PRESET,
    crop: int | FromPreset | None = FROM_PRESET,
) -> Preset:
    """``preset`` with its frame ``size`` and/or ``crop`` replaced where they are given."""
    preset = get_preset(preset)
    changes = {k: v for k, v in (("size", size), ("crop", crop)) if v is not FROM_PRESET}
    return preset.replace(**changes) if changes else preset


def resolve_preset(model: nn.Module | None = None, preset: str | Preset | None = None) -> Preset:
    """The preprocessing for ``model``: the one rule every command and library entry point follows.

    An explicit ``preset`` always wins. Otherwise the model's own ``model.preset``, which records where
    its weights came from (see :func:`vidlens.models.load_model`): the recipe a vidlens run or export
    stored, the architecture's published recipe for a foreign state dict (``sports1m`` for C3D's ported
    Caffe weights, ``kinetics400`` for the video ResNets), ``plain`` for a randomly initialised model.
    A model that carries no preset (a user's own ``nn.Module``) gets ``plain``.
    """
    if preset is not None:
        return get_preset(preset)
    own = getattr(model, "preset", None) if model is not None else None
    if own is None:
        return PRESETS["plain"]
    if not isinstance(own, Preset):
        raise TypeError(
            f"{type(model).__name__}.preset is a {type(own).__name__}; it must be a vidlens.presets.Preset "
            "(set it with model.preset = vidlens.presets.get_preset('plain'))"
        )
    return own
