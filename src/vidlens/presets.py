"""Preprocessing presets: how frames must be prepared for a given set of weights.

A preset travels with the weights it belongs to, so that preprocessing can never drift away from them
(the most common mistake of C3D users is feeding RGB [0, 1] frames to the ported Caffe weights, which
expect BGR 0-255 frames minus a per-channel mean).

Shapes: a clip enters as uint8 ``(..., T, H, W, 3)`` RGB, as the decoder produces it, and leaves as
float ``(..., 3, T, H, W)``, as the models take it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

__all__ = ["PRESETS", "Preset", "get_preset", "list_presets"]


@dataclass(frozen=True)
class Preset:
    """How to turn decoded uint8 RGB frames into a model's float input."""

    name: str
    # (H, W) frames are resized to when decoded; C3D: 128x171 (Tran et al. 2015, section 3.3).
    resize: tuple[int, int] = (128, 171)
    # Side of the square crop taken from the resized frames; C3D: 112.
    crop: int = 112
    # Channel order the weights expect: "RGB" for models trained in vidlens, "BGR" for Caffe ports.
    channel_order: Literal["RGB", "BGR"] = "RGB"
    # Values 0-255 are multiplied by this first: 1/255 gives [0, 1]; 1.0 keeps Caffe's 0-255 range.
    scale: float = 1.0 / 255.0
    # Per-channel mean and std, in `channel_order` and after `scale`: out = (x * scale - mean) / std.
    mean: tuple[float, float, float] = (0.45, 0.45, 0.45)
    std: tuple[float, float, float] = (0.225, 0.225, 0.225)
    description: str = ""

    def normalize(self, clip: torch.Tensor | np.ndarray) -> torch.Tensor:
        """Map uint8 frames ``(..., T, H, W, 3)`` RGB to float ``(..., 3, T, H, W)`` model input.

        Works on one clip ``(T, H, W, 3)`` or a batch ``(N, T, H, W, 3)``; no resizing or cropping
        happens here (see :mod:`vidlens.data.transforms`).
        """
        x = torch.as_tensor(clip)
        if x.ndim < 4 or x.shape[-1] != 3:
            raise ValueError(
                f"preset {self.name!r} expects frames shaped (..., T, H, W, 3), got {tuple(x.shape)}; "
                "decode with vidlens.video, which yields RGB frames in that layout"
            )
        if self.channel_order == "BGR":
            x = x.flip(-1)
        mean = torch.tensor(self.mean, dtype=torch.float32)
        std = torch.tensor(self.std, dtype=torch.float32)
        # (x * scale - mean) / std == x * a + b, one fused pass over the clip.
        a = self.scale / std
        b = -mean / std
        x = torch.addcmul(b, x.float(), a)  # (..., T, H, W, 3)
        return x.movedim(-1, -4).contiguous()  # (..., 3, T, H, W)


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
