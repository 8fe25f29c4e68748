"""Occlusion: hide part of the clip and see how much the target logit drops.

Zeiler, Fergus, "Visualizing and Understanding Convolutional Networks", ECCV 2014, section 4.2, with a
window that slides in time as well as in space::

    heat = occlusion(model, clip, window=(4, 16, 16), stride=(2, 8, 8))  # (N, T, H, W)

Windows start at 0, stride, 2 * stride, ... along each axis until one reaches the end, the last one cut at
the clip's border (``ceil((D - window) / stride) + 1`` positions for an axis of size D), as Captum's
``Occlusion`` places them; a voxel gets the mean drop over the windows that cover it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn
from tqdm.auto import tqdm

from vidlens.interpret.core import Target, check_clip, resolve_targets

__all__ = ["occlusion"]


def occlusion(
    model: nn.Module,
    clip: torch.Tensor,
    target: Target = None,
    *,
    window: Sequence[int] = (4, 16, 16),
    stride: Sequence[int] = (2, 8, 8),
    baseline: float | torch.Tensor = 0.0,
    batch_size: int = 16,
    progress: bool = False,
) -> torch.Tensor:
    """Occlusion sensitivity ``(N, T, H, W)``: for each voxel, the mean over the windows that cover it of
    ``logit(clip) - logit(clip with the window set to baseline)`` for the target class.

    Positive where hiding the voxel lowers the target logit (evidence for the class). All colour channels
    of a window are occluded together.

    Args:
        model: any ``nn.Module`` returning logits ``(N, num_classes)``; call ``model.eval()`` first (in
            training mode batch norm would mix the occluded clips of a batch).
        clip: model input, float ``(N, 3, T, H, W)``, already normalised.
        target: class index, one per sample, or None for each sample's predicted class on the whole clip.
        window: (t, h, w) extent of the occluder; a side longer than the clip is cut to it.
        stride: (t, h, w) step between window positions, at most the window (else voxels go uncovered).
        baseline: what occluded voxels become: a number, or a tensor broadcastable to ``clip`` (e.g. a
            per-channel ``(3, 1, 1, 1)`` mean, or a blurred copy of the clip). 0 is the mean of
            normalised input.
        batch_size: occluded clips per forward pass (the windows of one sample share a batch).
        progress: show a tqdm progress bar over the batches.
    """
    check_clip(model, clip, "occlusion")
    size = tuple(clip.shape[2:])  # (T, H, W)
    window = tuple(min(w, d) for w, d in zip(_triple(window, "window"), size, strict=True))
    stride = _triple(stride, "stride")
    if any(s > w for s, w, d in zip(stride, window, size, strict=True) if w < d):
        raise ValueError(
            f"stride {stride} is larger than the window {window} along some axis, which leaves voxels no "
            "window covers; use a stride at most the window"
        )
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    # covers[a]: (D_a, P_a) bool, True where window position p along axis a covers index d.
    covers = [_coverage(d, w, s, clip.device) for d, w, s in zip(size, window, stride, strict=True)]
    positions = [c.shape[1] for c in covers]  # (P_t, P_h, P_w)
    n, num_windows = clip.shape[0], math.prod(positions)
    base = torch.as_tensor(baseline, dtype=clip.dtype, device=clip.device)
    try:
        base = base.broadcast_to(clip.shape)  # (N, 3, T, H, W), a view
    except RuntimeError:
        raise ValueError(
            f"baseline of shape {tuple(base.shape)} does not broadcast to the clip's {tuple(clip.shape)}: give a "
            "number, a per-channel (3, 1, 1, 1) tensor or a tensor shaped like the clip"
        ) from None

    drops = clip.new_empty(n, num_windows)
    batches = [(i, start) for i in range(n) for start in range(0, num_windows, batch_size)]
    with torch.no_grad():
        logits = model(clip)  # (N, num_classes)
        indices = resolve_targets(logits, target)  # (N,)
        scores = logits.gather(1, indices[:, None])[:, 0]  # (N,)
        for i, start in tqdm(batches, desc="occlusion", unit="batch", disable=not progress):
            w = torch.arange(start, min(start + batch_size, num_windows), device=clip.device)  # (B,)
            pt, ph, pw = (
                w // (positions[1] * positions[2]),
                w // positions[2] % positions[1],
                w % positions[2],
            )
            mask = (
                covers[0].T[pt][:, None, :, None, None]  # (B, 1, T, 1, 1)
                & covers[1].T[ph][:, None, None, :, None]  # (B, 1, 1, H, 1)
                & covers[2].T[pw][:, None, None, None, :]  # (B, 1, 1, 1, W)
            )  # (B, 1, T, H, W)
            occluded = torch.where(mask, base[i : i + 1], clip[i : i + 1])  # (B, 3, T, H, W)
            drop = scores[i] - model(occluded)[:, indices[i]]  # (B,)
            # A window that changes no voxel (the clip already equals the baseline there) drops exactly 0,
            # not the last bits by which a batch of B and the clip alone round differently.
            unchanged = (occluded == clip[i : i + 1]).flatten(1).all(dim=1)  # (B,)
            drops[i, start : start + len(w)] = torch.where(unchanged, torch.zeros_like(drop), drop)
    # Per voxel: the sum of the drops of the windows covering it over their number (both separable).
    cover_t, cover_h, cover_w = (c.to(clip.dtype) for c in covers)
    drops = drops.view(n, *positions)  # (N, P_t, P_h, P_w)
    total = torch.einsum("nabc,ta,hb,wc->nthw", drops, cover_t, cover_h, cover_w)  # (N, T, H, W)
    count = torch.einsum("ta,hb,wc->thw", cover_t, cover_h, cover_w)  # (T, H, W), >= 1 everywhere
    return total / count


def _coverage(size: int, window: int, stride: int, device: torch.device) -> torch.Tensor:
    """``(size, P)`` bool: window ``p`` (starting at ``p * stride``, cut at the border) covers index ``d``."""
    count = -(-(size - window) // stride) + 1  # ceil((size - window) / stride) + 1
    starts = torch.arange(count, device=device) * stride  # (P,)
    index = torch.arange(size, device=device)[:, None]  # (size, 1)
    return (index >= starts) & (index < starts + window)  # (size, P)


def _triple(value: Sequence[int], name: str) -> tuple[int, int, int]:
    value = tuple(int(v) for v in value)
    if len(value) != 3 or min(value) < 1:
        raise ValueError(f"{name} is a (t, h, w) triple of positive sizes, e.g. (4, 16, 16); got {value}")
    return value  # type: ignore[return-value]
