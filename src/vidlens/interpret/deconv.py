"""Deconvolution: project one activation of a layer back to pixel space (Zeiler & Fergus), as C3D did.

Zeiler, Fergus, "Visualizing and Understanding Convolutional Networks", ECCV 2014, section 2.1; used on
C3D's conv5b by Tran et al. 2015 (section 3.3, figure 4: what makes a unit fire, in space and time)::

    pixels = deconvolve(model, clip, "conv5b", channel=7)  # (N, 3, T, H, W): its strongest activation
    top = deconvolve(model, clip, "conv5b", top_k=9)  # (N, 9, 3, T, H, W): the 9 strongest of the layer

The deconvnet runs the network backwards from the kept activation: max-unpooling with the switches of the
forward pass, rectification (ReLU) of the back-projected signal, and the layer's filters transposed. That
is the backward pass of the network with one change: an ``nn.ReLU`` passes back ReLU(signal) instead of
the signal where its input was positive (max-pool backward routes through the switches and convolution
backward is the transposed convolution by themselves). Captum's ``NeuronDeconvolution`` works the same
way; :func:`deconvnet_relus` installs that rule for one block.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.hooks import RemovableHandle

from vidlens.interpret.core import check_clip, input_gradients_only
from vidlens.models.taps import FeatureTaps

__all__ = ["deconvnet_relus", "deconvolve"]


class _DeconvReLU(torch.autograd.Function):
    """ReLU forwards; backwards ReLU of the incoming signal, whatever the sign of the forward input."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x)

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> torch.Tensor:
        return F.relu(grad_output)


def _deconv_hook(module: nn.Module, args: tuple[Any, ...], output: torch.Tensor) -> torch.Tensor:
    """Forward hook: replace the ReLU's output by the same values computed by :class:`_DeconvReLU`."""
    return _DeconvReLU.apply(args[0])


@contextmanager
def deconvnet_relus(model: nn.Module) -> Iterator[None]:
    """Inside the block, every ``nn.ReLU`` of ``model`` back-propagates ReLU(grad_output) (the deconvnet
    rule of Zeiler & Fergus 2014); forward values are unchanged.

    Each ReLU gets a forward hook (run before any other hook of the module) that routes its output through
    an autograd function with that backward rule. In-place ReLUs are made out-of-place for the block (an
    in-place ReLU would apply its own gradient mask as well). Hooks and ``inplace`` flags are restored on
    exit, also when the block raises.

    Raises:
        ValueError: the model has no ``nn.ReLU`` module (a model calling ``F.relu`` in ``forward`` cannot
            be deconvolved: use ``nn.ReLU()`` modules).
    """
    relus = [m for m in model.modules() if isinstance(m, nn.ReLU)]
    if not relus:
        raise ValueError(
            f"{type(model).__name__} has no nn.ReLU modules: deconvolution changes the backward rule of "
            "nn.ReLU modules, so rectify with nn.ReLU() modules instead of torch.relu / F.relu in forward()"
        )
    inplace = [m.inplace for m in relus]
    handles: list[RemovableHandle] = []
    try:
        for m in relus:
            m.inplace = False
            handles.append(m.register_forward_hook(_deconv_hook, prepend=True))
        yield
    finally:
        for handle in handles:
            handle.remove()
        for m, flag in zip(relus, inplace, strict=True):
            m.inplace = flag


def deconvolve(
    model: nn.Module,
    clip: torch.Tensor,
    layer: str,
    *,
    channel: int | None = None,
    position: Sequence[int] | None = None,
    top_k: int = 1,
) -> torch.Tensor:
    """Deconvnet projection of one activation of ``layer`` to pixel space: ``(N, 3, T, H, W)``, or
    ``(N, top_k, 3, T, H, W)`` for ``top_k > 1`` (strongest first).

    Zeiler & Fergus 2014, as Tran et al. 2015 used it on C3D: keep one activation of ``layer``, set all others
    to zero, and project back through the network in reverse (max-unpooling with the forward pass's
    switches, the transposed filters, ReLU on the back-projected signal; see :func:`deconvnet_relus`). The
    kept activation keeps its value, so the projection is that value times Captum's
    ``NeuronDeconvolution`` of the same unit (the deconvnet is positively homogeneous).

    Which activation: each sample's strongest among those ``channel`` and ``position`` allow: the whole
    layer when both are None, one channel's map with ``channel``, every channel at one place with
    ``position``, a single unit with both. ``top_k`` projects the ``k`` strongest separately.

    Args:
        model: any ``nn.Module`` built with ``nn.ReLU`` modules; call ``model.eval()`` first.
        clip: model input, float ``(N, 3, T, H, W)``, already normalised.
        layer: tap name or dotted module path; its output is ``(N, C, *S)``, usually ``(N, C, T', H', W')``.
        channel: channel index in ``0..C-1``, or None.
        position: an index into the layer's trailing dimensions S, e.g. ``(t, y, x)``, or None.
        top_k: how many activations to project, strongest first.
    """
    check_clip(model, clip, "deconvolve")
    if top_k < 1:
        raise ValueError(f"top_k must be >= 1, got {top_k}")
    with input_gradients_only(model), deconvnet_relus(model), FeatureTaps(model, layer) as taps:
        x = clip.detach().requires_grad_(True)
        acts = taps.run(x)[layer]  # (N, C, *S); the forward pass stops at the layer
        if not isinstance(acts, torch.Tensor) or acts.ndim < 2 or not acts.requires_grad:
            shape = tuple(acts.shape) if isinstance(acts, torch.Tensor) else type(acts).__name__
            raise ValueError(
                f"deconvolve needs a layer whose output is one tensor (N, C, ...) computed from the clip; "
                f"{layer!r} gives {shape}"
            )
        values, flat_index = _strongest(acts.detach(), layer, channel, position, top_k)  # (N, k), (N, k)
        projections = []
        for j in range(top_k):
            seed = torch.zeros_like(acts).flatten(1)  # (N, C * prod(S))
            seed.scatter_(1, flat_index[:, j : j + 1], values[:, j : j + 1])
            (pixels,) = torch.autograd.grad(acts, x, seed.view_as(acts), retain_graph=j < top_k - 1)
            projections.append(pixels)  # (N, 3, T, H, W)
    return projections[0] if top_k == 1 else torch.stack(projections, dim=1)  # (N, k, 3, T, H, W)


def _strongest(
    acts: torch.Tensor, layer: str, channel: int | None, position: Sequence[int] | None, top_k: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Values and flat indices (into ``acts[n].flatten()``) of each sample's ``top_k`` strongest
    activations among those ``channel`` and ``position`` allow, both ``(N, top_k)``, strongest first."""
    c, *trailing = acts.shape[1:]
    allowed = torch.ones(acts.shape[1:], dtype=torch.bool, device=acts.device)  # (C, *S)
    if channel is not None:
        if not 0 <= channel < c:
            raise IndexError(f"channel {channel} out of range: layer {layer!r} has {c} channels (0..{c - 1})")
        allowed = torch.zeros_like(allowed)
        allowed[channel] = True
    if position is not None:
        position = tuple(int(p) for p in position)
        if len(position) != len(trailing) or not all(
            0 <= p < d for p, d in zip(position, trailing, strict=True)
        ):
            raise IndexError(
                f"position {position} is not an index into layer {layer!r}'s maps of size {tuple(trailing)}: "
                f"give {len(trailing)} indices, each in 0..size - 1"
            )
        at_position = torch.zeros_like(allowed)
        at_position[(slice(None), *position)] = True
        allowed &= at_position
    candidates = int(allowed.sum())
    if top_k > candidates:
        raise ValueError(
            f"top_k={top_k}, but channel and position leave {candidates} activation(s) to choose from"
        )
    scores = acts.masked_fill(~allowed, float("-inf")).flatten(1)  # (N, C * prod(S))
    index = scores.topk(top_k, dim=1).indices  # (N, k)
    return acts.flatten(1).gather(1, index), index
