"""Colour maps on float maps and heat maps blended onto video frames.

Maps (saliency, Grad-CAM, feature-map channels) are floats in [0, 1]; frames are uint8 RGB. :func:`colorize`
turns maps into uint8 colours through a matplotlib colour map; :func:`overlay` resizes a heat map to the
frames (trilinear interpolation, which stays within the range of its input, unlike a cubic spline) and
blends its colours onto them:

    cam = cam / cam.max()                              # (T', H', W') in [0, 1]
    shown = overlay(clip, cam, alpha=0.4)              # (T, H, W, 3) uint8, clip: (T, H, W, 3) uint8
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F

if TYPE_CHECKING:
    from matplotlib.colors import Colormap

__all__ = ["colorize", "overlay"]


def _colormap(cmap: str | Colormap) -> Colormap:
    import matplotlib

    if not isinstance(cmap, str):
        return cmap
    try:
        return matplotlib.colormaps[cmap]
    except KeyError:
        raise ValueError(
            f"unknown colour map {cmap!r}: use one of matplotlib's, e.g. 'jet', 'viridis', 'inferno', 'gray' "
            f"(all: sorted(matplotlib.colormaps))"
        ) from None


def _as_float_maps(maps: np.ndarray, name: str) -> np.ndarray:
    maps = np.asarray(maps)
    if not np.issubdtype(maps.dtype, np.floating):
        raise TypeError(
            f"{name} must be floating point in [0, 1], got {maps.dtype}: scale it first (e.g. x / 255 for "
            f"uint8, or (x - x.min()) / (x.max() - x.min()))"
        )
    return maps


def colorize(maps: np.ndarray, cmap: str | Colormap = "jet") -> np.ndarray:
    """Colours of float ``maps`` (any shape ``S``) in [0, 1] through a matplotlib colour map: uint8 ``(*S, 3)``.

    Values outside [0, 1] are clipped and NaN counts as 0, so every input gives a colour. ``cmap`` is a name
    from ``matplotlib.colormaps`` or a ``Colormap``; the colour of ``v`` is ``cmap(v, bytes=True)`` without
    its alpha channel.
    """
    maps = _as_float_maps(maps, "maps")
    values = np.clip(np.nan_to_num(maps, nan=0.0, posinf=1.0, neginf=0.0), 0.0, 1.0)
    return np.ascontiguousarray(_colormap(cmap)(values, bytes=True)[..., :3])  # (*S, 3) uint8


def _resize(heat: np.ndarray, size: tuple[int, ...]) -> np.ndarray:
    """Linear interpolation of a 2-D or 3-D map to ``size`` (bilinear or trilinear, corners not aligned)."""
    if heat.shape == size:
        return heat
    mode = "bilinear" if len(size) == 2 else "trilinear"
    x = torch.from_numpy(np.ascontiguousarray(heat, dtype=np.float32))[None, None]  # (1, 1, *S')
    return F.interpolate(x, size=size, mode=mode, align_corners=False)[0, 0].numpy()  # (*S)


def overlay(
    frames: np.ndarray, heat: np.ndarray, *, alpha: float = 0.5, cmap: str | Colormap = "jet"
) -> np.ndarray:
    """Blend the colours of ``heat`` onto ``frames``: ``(1 - alpha) * frames + alpha * colorize(heat)``.

    ``frames`` are uint8 RGB, a clip ``(T, H, W, 3)`` or one frame ``(H, W, 3)``; ``heat`` is float in
    [0, 1], ``(T', H', W')`` for a clip or ``(H', W')`` for a frame. A heat map of another size is resized to
    ``(T, H, W)`` (``(H, W)``) by trilinear (bilinear) interpolation, which never leaves the range of its
    input; NaN counts as 0 and values outside [0, 1] are clipped, as in :func:`colorize`. Returns uint8 of the
    frames' shape, rounded to the nearest integer (``alpha=0`` gives the frames back, ``alpha=1`` the colours).
    """
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim not in (3, 4) or frames.shape[-1] != 3 or 0 in frames.shape:
        raise ValueError(
            f"frames must be non-empty uint8 RGB, (T, H, W, 3) for a clip or (H, W, 3) for one frame, got "
            f"{frames.dtype} {frames.shape}"
        )
    heat = _as_float_maps(heat, "heat")
    if heat.ndim != frames.ndim - 1:
        want = "(T', H', W')" if frames.ndim == 4 else "(H', W')"
        raise ValueError(
            f"heat must be shaped {want} for frames {frames.shape}, got {heat.shape}"
            + (": drop its channel axis (e.g. heat[0] or heat.mean(0))" if heat.ndim == frames.ndim else "")
        )
    if 0 in heat.shape:
        raise ValueError(f"heat must not be empty, got {heat.shape}")
    alpha = float(alpha)
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1] (0: frames only, 1: heat colours only), got {alpha}")
    heat = _resize(np.nan_to_num(heat, nan=0.0), frames.shape[:-1])  # (T, H, W) or (H, W)
    colours = colorize(heat, cmap)  # (..., 3) uint8
    blend = (1.0 - alpha) * frames.astype(np.float32) + alpha * colours.astype(np.float32)
    return np.clip(np.rint(blend), 0, 255).astype(np.uint8)
