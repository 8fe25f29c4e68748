"""Building blocks shared by the clip models: input checks, layer output sizes, per-frame 2D layers.

Every model takes float clips ``(N, 3, T, H, W)``. Models built from 2D layers (the Karpathy fusion nets,
GRU-RCN) apply them to each frame with :class:`FrameConv2d` / :class:`FrameMaxPool2d`, which fold time
into the batch and unfold it again, so that every layer's output keeps one row per clip
``(N, C, T, H, W)``: what feature taps, Grad-CAM and the registry's conventions expect.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

__all__ = ["FrameConv2d", "FrameMaxPool2d", "check_clips", "output_size", "per_frame"]


def check_clips(x: torch.Tensor, expected: str, preset: str) -> None:
    """Raise, saying how to fix it, unless ``x`` is a float batch of RGB clips ``(N, 3, T, H, W)``.

    Args:
        x: the model input.
        expected: the start of the message, e.g. "C3DDepth expects float clips shaped (N, 3, T, H, W)".
        preset: the model's ``default_preset``, named in the hint for uint8 frames.

    Raises:
        ValueError: ``x`` is not 5-D with 3 channels (with a hint for a missing batch dimension and for
            channels-last frames).
        TypeError: ``x`` is not floating point (uint8 frames not yet normalised).
    """
    if x.ndim != 5 or x.shape[1] != 3:
        hint = ""
        if x.ndim == 4 and x.shape[0] == 3:
            hint = "; for a single clip (3, T, H, W) add the batch dimension with x.unsqueeze(0)"
        elif x.ndim >= 4 and x.shape[-1] == 3:
            hint = (
                "; this looks like channels-last frames (..., T, H, W, 3): convert them with "
                "vidlens.presets.get_preset(model.default_preset).normalize(frames)"
            )
        raise ValueError(f"{expected}; got shape {tuple(x.shape)}{hint}")
    if not x.is_floating_point():
        raise TypeError(
            f"{expected}; got dtype {x.dtype}: convert uint8 frames with "
            f"vidlens.presets.get_preset({preset!r}).normalize(frames)"
        )


def output_size(size: Sequence[int], layer: nn.Module) -> tuple[int, ...]:
    """Output size of a convolution or pooling ``layer`` (2D or 3D, no dilation) for input ``size``.

    ``size`` lists the trailing dimensions to follow, e.g. (T, H, W) or just (H, W); each becomes
    ``floor((d + 2 * padding - kernel) / stride) + 1`` with the layer's values for that dimension.
    """
    n = len(size)

    def trailing(v: int | Sequence[int]) -> tuple[int, ...]:
        return tuple(v)[-n:] if isinstance(v, Sequence) else (v,) * n

    kernel, stride, padding = (trailing(v) for v in (layer.kernel_size, layer.stride, layer.padding))
    return tuple((d + 2 * p - k) // s + 1 for d, k, s, p in zip(size, kernel, stride, padding, strict=True))


def per_frame(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """Apply a 2D operation ``fn`` to every frame of ``x``: ``(N, C, T, H, W)`` -> ``(N, C', T, H', W')``."""
    if x.ndim != 5:
        raise ValueError(f"expected frames shaped (N, C, T, H, W), got shape {tuple(x.shape)}")
    n, c, t, h, w = x.shape
    frames = x.transpose(1, 2).reshape(n * t, c, h, w)  # (N*T, C, H, W)
    out = fn(frames)  # (N*T, C', H', W')
    return out.reshape(n, t, *out.shape[1:]).transpose(1, 2).contiguous()  # (N, C', T, H', W')


class FrameConv2d(nn.Conv2d):
    """An ``nn.Conv2d`` applied to each frame of ``(N, C, T, H, W)`` clips; weights as any Conv2d."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return per_frame(super().forward, x)


class FrameMaxPool2d(nn.MaxPool2d):
    """An ``nn.MaxPool2d`` applied to each frame of ``(N, C, T, H, W)`` clips (time is never pooled)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return per_frame(super().forward, x)
