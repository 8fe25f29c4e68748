"""Clip transforms: spatial jitter for training, centre crops for evaluation, and normalisation.

C3D's recipe (Tran et al. 2015, section 3.3): frames resized to 128x171, random 112x112 crops and
horizontal flips with probability 0.5 while training; a centre crop at test time. Cropping happens on the
uint8 frames, before normalisation, so that only the pixels that are kept are converted to float.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from vidlens.presets import FROM_PRESET, FromPreset, Preset, override

__all__ = ["ClipTransform", "center_crop", "hflip", "random_crop"]


def _crop_origin_check(clip: np.ndarray, size: int) -> tuple[int, int]:
    if clip.ndim != 4 or clip.shape[-1] != 3:
        raise ValueError(f"expected a clip shaped (T, H, W, 3), got {clip.shape}")
    height, width = clip.shape[1:3]
    if size > height or size > width:
        raise ValueError(
            f"cannot crop {size}x{size} from {height}x{width} frames; decode at a larger size "
            "(C3D: resize to 128x171, crop 112)"
        )
    return height, width


def center_crop(clip: np.ndarray, size: int) -> np.ndarray:
    """The central ``size x size`` window of every frame: ``(T, H, W, 3) -> (T, size, size, 3)`` (a view)."""
    height, width = _crop_origin_check(clip, size)
    top, left = (height - size) // 2, (width - size) // 2
    return clip[:, top : top + size, left : left + size]


def random_crop(clip: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """The same random ``size x size`` window of every frame (spatial jitter), as a view."""
    height, width = _crop_origin_check(clip, size)
    top = int(rng.integers(0, height - size + 1))
    left = int(rng.integers(0, width - size + 1))
    return clip[:, top : top + size, left : left + size]


def hflip(clip: np.ndarray) -> np.ndarray:
    """Mirror every frame left-right: ``(T, H, W, 3)`` (a view)."""
    return clip[:, :, ::-1]


@dataclass
class ClipTransform:
    """uint8 ``(T, H, W, 3)`` RGB frames -> float ``(3, T, crop, crop)`` model input.

    The preset says how values are scaled and normalised, which channel order the model expects and the
    crop; ``crop=`` overrides the preset's (``None``: whole frames).
    """

    # How values are scaled and normalised, the channel order and the crop (vidlens.presets).
    preset: Preset | str = "plain"
    # Side of the square crop; default: the preset's (C3D takes 112x112 crops from 128x171 frames).
    crop: int | FromPreset | None = FROM_PRESET
    # Random crop + flip (training) or centre crop (evaluation).
    train: bool = False
    # Probability of a horizontal flip while training; 0.5 in C3D.
    flip_p: float = 0.5

    def __post_init__(self) -> None:
        self.preset = override(self.preset, crop=self.crop)
        self.crop = self.preset.crop
        if not 0.0 <= self.flip_p <= 1.0:
            raise ValueError(f"flip_p must be in [0, 1], got {self.flip_p}")

    def __call__(self, clip: np.ndarray, rng: np.random.Generator | None = None) -> torch.Tensor:
        clip = np.asarray(clip)
        if self.crop is not None:
            if self.train:
                rng = rng if rng is not None else np.random.default_rng()
                clip = random_crop(clip, self.crop, rng)
            else:
                clip = center_crop(clip, self.crop)
        if self.train and self.flip_p > 0:
            rng = rng if rng is not None else np.random.default_rng()
            if rng.random() < self.flip_p:
                clip = hflip(clip)
        return self.preset.normalize(np.ascontiguousarray(clip))  # (3, T, crop, crop)
