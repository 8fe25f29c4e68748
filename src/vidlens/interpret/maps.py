"""What a layer sees and what it looks for: feature maps, random-filter maps, learned filters.

    maps = feature_maps(model, clip, "conv2")  # (N, C, T', H', W'), the activations after relu2
    noise = random_filter_maps(clip, 64)  # (N, 64, T - 2, H - 2, W - 2): the same clip through random filters
    kernels = filters(model, "conv1")  # (C_out, 3, 3, 3, 3)
    pictures = filters_for_display(kernels)  # RGB in [0, 1], one tiny 3-frame animation per filter

Tran et al. 2015 (C3D, section 3.3 and figure 4) show conv5b feature maps of a clip next to those of the
same clip through random filters, to tell learned motion detectors from what any 3D filter responds to.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from vidlens.interpret.core import check_clip, minmax_per_sample
from vidlens.models.taps import FeatureTaps, get_layer

__all__ = ["feature_maps", "filters", "filters_for_display", "random_filter_maps", "random_filters"]


def feature_maps(model: nn.Module, clip: torch.Tensor, layer: str) -> torch.Tensor:
    """Activations of ``layer`` for ``clip``, ``(N, C, T', H', W')``.

    The forward pass stops at ``layer`` (:meth:`vidlens.models.FeatureTaps.run`) and runs without autograd;
    the model's mode is left as it is (call ``model.eval()`` first).

    Args:
        model: any ``nn.Module`` taking clips.
        clip: model input, float ``(N, 3, T, H, W)``, already normalised.
        layer: a tap name (``vidlens.models.list_layers(model)``) or a dotted module path whose output is
            5-D; for fully connected layers use :func:`vidlens.models.extract`.
    """
    check_clip(model, clip, "feature_maps")
    with torch.no_grad(), FeatureTaps(model, layer) as taps:
        maps = taps.run(clip)[layer]
    if not isinstance(maps, torch.Tensor) or maps.ndim != 5:
        shape = tuple(maps.shape) if isinstance(maps, torch.Tensor) else type(maps).__name__
        raise ValueError(
            f"layer {layer!r} gives {shape}, not feature maps (N, C, T', H', W'); choose a convolutional or "
            "pooling layer, or read vectors with vidlens.models.extract(model, clip, layer)"
        )
    return maps


def random_filters(
    num_filters: int, kernel: Sequence[int] = (3, 3, 3), *, in_channels: int = 3, seed: int = 0
) -> torch.Tensor:
    """Random 3D filters ``(num_filters, in_channels, t, h, w)``, float32 on the CPU.

    Weights are drawn from N(0, 1 / fan_in) (fan_in = in_channels * t * h * w) with a generator seeded by
    ``seed``, so the same seed gives the same filters on every machine and the maps keep the clip's scale.
    """
    kt, kh, kw = _kernel(kernel)
    if num_filters < 1:
        raise ValueError(f"num_filters must be >= 1, got {num_filters}")
    generator = torch.Generator().manual_seed(seed)
    weights = torch.randn(num_filters, in_channels, kt, kh, kw, generator=generator)
    return weights / math.sqrt(in_channels * kt * kh * kw)


def random_filter_maps(
    clip: torch.Tensor, num_filters: int, kernel: Sequence[int] = (3, 3, 3), seed: int = 0
) -> torch.Tensor:
    """``clip`` through ``num_filters`` random 3D filters (:func:`random_filters`), one ``conv3d``:
    ``(N, num_filters, T - t + 1, H - h + 1, W - w + 1)`` (stride 1, no padding, no bias).

    Args:
        clip: float ``(N, C, T, H, W)``, C = 3 for model input.
        num_filters: filters, one output map each.
        kernel: (t, h, w) extent of every filter.
        seed: seeds the filters; the same seed gives the same filters for any clip.
    """
    if clip.ndim != 5 or not clip.is_floating_point():
        raise ValueError(
            f"random_filter_maps expects float clips shaped (N, C, T, H, W); got {clip.dtype} of shape "
            f"{tuple(clip.shape)} (add a batch dimension with clip.unsqueeze(0))"
        )
    kt, kh, kw = _kernel(kernel)
    if any(k > d for k, d in zip((kt, kh, kw), clip.shape[2:], strict=True)):
        raise ValueError(f"kernel {kt}x{kh}x{kw} does not fit clips of T x H x W = {tuple(clip.shape[2:])}")
    weights = random_filters(num_filters, (kt, kh, kw), in_channels=clip.shape[1], seed=seed)
    return F.conv3d(clip, weights.to(clip))  # (N, num_filters, T', H', W')


def filters(model: nn.Module, layer: str = "conv1") -> torch.Tensor:
    """Learned kernels of the convolution ``layer``, ``(C_out, C_in, t, h, w)`` (a detached copy).

    ``layer`` is a tap name or a module path; where a tap names the ReLU after a convolution (C3D's
    ``"conv1"`` is the output of ``relu1``), the convolution of the same name is read. 2D convolutions
    (per-frame layers) give ``t = 1``.
    """
    candidates = [get_layer(model, layer)]  # raises, listing the valid names, for an unknown one
    with contextlib.suppress(AttributeError):
        candidates.append(model.get_submodule(layer))  # the conv itself where the tap names its ReLU
    conv = next((m for m in candidates if isinstance(m, (nn.Conv2d, nn.Conv3d))), None)
    if conv is None:
        convs = [name for name, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Conv3d))]
        raise ValueError(
            f"layer {layer!r} ({type(candidates[0]).__name__}) is not a convolution; filters() reads the "
            f"weights of nn.Conv3d / nn.Conv2d modules: choose from {', '.join(convs)}"
        )
    weight = conv.weight.detach().clone()
    return weight.unsqueeze(2) if weight.ndim == 4 else weight  # (C_out, C_in, t, h, w)


def filters_for_display(
    kernels: torch.Tensor, *, channel_order: Literal["RGB", "BGR"] = "RGB"
) -> torch.Tensor:
    """Kernels ``(C_out, C_in, t, h, w)`` (from :func:`filters`) scaled to [0, 1] for pictures.

    - ``C_in == 3`` (first layers, which see RGB): ``(C_out, 3, t, h, w)``, each filter min-max scaled over
      all its weights, so colours keep their balance: a tiny ``t``-frame RGB animation per filter. For
      weights that see BGR input (``model.preset.channel_order``) pass ``channel_order="BGR"``: channels
      are flipped to RGB.
    - otherwise (deeper layers): ``(C_out, t, h, w)``, the L2 norm over input channels of each kernel tap,
      min-max scaled per filter: where in space and time each filter looks.

    A constant filter becomes all zeros.
    """
    if kernels.ndim != 5:
        raise ValueError(
            f"expected kernels shaped (C_out, C_in, t, h, w) as filters() returns them, got {tuple(kernels.shape)}"
        )
    if channel_order not in ("RGB", "BGR"):
        raise ValueError(f"channel_order must be 'RGB' or 'BGR', got {channel_order!r}")
    kernels = kernels.detach().float()
    if kernels.shape[1] == 3:
        rgb = kernels.flip(1) if channel_order == "BGR" else kernels
        return minmax_per_sample(rgb)  # (C_out, 3, t, h, w)
    return minmax_per_sample(kernels.norm(dim=1))  # (C_out, t, h, w)


def _kernel(kernel: Sequence[int]) -> tuple[int, int, int]:
    kernel = tuple(kernel)
    if len(kernel) != 3 or min(kernel) < 1:
        raise ValueError(f"kernel is a (t, h, w) extent of positive sizes, e.g. (3, 3, 3); got {kernel}")
    return kernel  # type: ignore[return-value]
