"""What every interpretation method shares: clip checks, targets, and gradients that reach only the input.

Nothing here is specific to one method; :mod:`vidlens.interpret.gradients`, :mod:`~vidlens.interpret.occlusion`
and :mod:`~vidlens.interpret.deconv` all read clips, targets and the model through these helpers.
"""

from __future__ import annotations

import operator
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import nn

from vidlens.models.layers import check_clips

__all__ = ["Target", "check_clip", "input_gradients_only", "minmax_per_sample", "resolve_targets"]

#: Which logit an attribution explains: one class index for every sample, one index per sample (a list or
#: a 1-D tensor), or None for each sample's predicted class (the arg-max of its logits).
Target = int | Sequence[int] | torch.Tensor | None


def check_clip(model: nn.Module, clip: torch.Tensor, method: str) -> None:
    """Raise, saying how to fix it, unless ``clip`` is a float batch of clips ``(N, 3, T, H, W)``; warn
    (for the caller of ``method``) when the model is in training mode."""
    preset = getattr(model, "preset", None)
    check_clips(
        clip,
        f"{method} expects the model's input: float clips shaped (N, 3, T, H, W), already normalised",
        getattr(preset, "name", "plain"),
    )
    if model.training:
        warnings.warn(
            f"{type(model).__name__} is in training mode: dropout makes {method} random and batch norm mixes "
            "the samples of a batch and updates its statistics; call model.eval() first",
            stacklevel=3,
        )


def resolve_targets(logits: torch.Tensor, target: Target) -> torch.Tensor:
    """Class index of each sample, ``(N,)`` int64 on the logits' device.

    Args:
        logits: the model's output, ``(N, num_classes)``.
        target: see :data:`Target`.
    """
    if not isinstance(logits, torch.Tensor) or logits.ndim != 2:
        got = f"shape {tuple(logits.shape)}" if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise ValueError(
            f"attribution needs a model that returns logits shaped (N, num_classes); this one returned {got}: "
            "wrap it so that forward() returns the class scores"
        )
    n, num_classes = logits.shape
    if target is None:
        return logits.detach().argmax(dim=1)  # (N,): each sample's predicted class
    if isinstance(target, torch.Tensor) and target.ndim == 0:
        target = int(target)
    if isinstance(target, torch.Tensor):
        indices = target.to(device=logits.device, dtype=torch.long)
    else:
        try:
            indices = torch.full((n,), operator.index(target), dtype=torch.long, device=logits.device)
        except TypeError:
            indices = torch.tensor(
                [operator.index(t) for t in target], dtype=torch.long, device=logits.device
            )
    if indices.shape != (n,):
        raise ValueError(
            f"target must be one class index, one per sample ({n} here) or None; got {indices.numel()} values"
        )
    bad = (indices < 0) | (indices >= num_classes)
    if bad.any():
        raise IndexError(
            f"target {indices[bad].tolist()} out of range: the model has {num_classes} classes "
            f"(indices 0..{num_classes - 1})"
        )
    return indices


@contextmanager
def input_gradients_only(model: nn.Module) -> Iterator[None]:
    """Inside the block the model's parameters do not require gradients, so that backward passes compute
    gradients of inputs and activations only (and no parameter's ``.grad`` changes); every ``requires_grad``
    flag is put back on exit, also when the block raises. The train/eval mode is left alone.
    """
    flags = [(p, p.requires_grad) for p in model.parameters()]
    try:
        for p, _ in flags:
            p.requires_grad_(False)
        yield
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)


def minmax_per_sample(x: torch.Tensor) -> torch.Tensor:
    """``x`` ``(N, ...)`` scaled to [0, 1] sample by sample: ``(x - min) / (max - min)``; a constant sample
    becomes all zeros (never NaN)."""
    flat = x.flatten(1)  # (N, D)
    low = flat.amin(dim=1, keepdim=True)
    span = flat.amax(dim=1, keepdim=True) - low
    scaled = (flat - low) / torch.where(span > 0, span, torch.ones_like(span))
    return scaled.reshape(x.shape)
