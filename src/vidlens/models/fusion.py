"""The time-fusion ConvNets of Karpathy et al. 2014: single frame, late, early and slow fusion.

Karpathy, Toderici, Shetty, Leung, Sukthankar, Fei-Fei, "Large-scale Video Classification with
Convolutional Neural Networks", CVPR 2014, section 2.1 and figure 1. The four models share one
AlexNet-like 2D trunk and differ only in where the frames of a clip meet:

    single_frame   one frame (the middle one) -> 2D trunk
    late_fusion    two frames 15 apart -> two trunks with shared weights -> concatenated at fc6
    early_fusion   10 frames stacked in conv1's input channels -> 2D trunk
    slow_fusion    16 frames -> conv1..conv3 extended in time merge them 16 -> 4 -> 2 -> 1 -> 2D trunk

What differs is a :class:`Fusion` object injected into one :class:`FusionNet` (as torchvision's video
ResNets inject their conv makers), so the layer stack is written once. Activations stay 5-D,
``(N, C, T', H, W)``, with T' the frames still apart (1 single/early, 2 late, 4 -> 2 -> 1 slow): the 2D
layers are :class:`FrameConv2d`, an ``nn.Conv2d`` applied to each frame on its own, so every feature tap
has one row per clip, as in the 3D nets.

    model = create_model("slow_fusion", num_classes=101)
    model.frames_seen(16)  # [0, 1, ..., 15]
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch
from torch import nn

from vidlens.models.contract import ModelSpec, VideoModel, post_relu_taps
from vidlens.models.layers import (
    FCHead,
    FrameConv2d,
    batch_norm,
    check_clips,
    init_relu_net,
    normed,
    output_size,
)
from vidlens.models.registry import register_model

__all__ = [
    "EarlyFusion",
    "Fusion",
    "FusionNet",
    "LateFusion",
    "SingleFrame",
    "SlowFusion",
    "early_fusion",
    "late_fusion",
    "single_frame",
    "slow_fusion",
]

# The paper's single-frame trunk, C(96,11,3)-N-P-C(256,5,1)-N-P-C(384,3,1)-C(384,3,1)-C(256,3,1)-P-
# FC(4096)-FC(4096): conv1..conv5 filters and fc6/fc7 outputs at width 96. Every count scales by width / 96.
_PAPER_WIDTH = 96
_PAPER_FILTERS = (96, 256, 384, 384, 256)
_PAPER_FC = 4096
# Spatial (kernel, stride, padding) of conv1..conv5 for 112x112 frames. The paper's conv1 is 11x11,
# stride 3, on 170x170 frames; 112 / 170 is about 2/3, which makes it 7x7, stride 2 (padded 3 to give
# 56x56). conv2..conv5 keep the paper's kernels, padded to keep their size.
_CONV_GEOMETRY = ((7, 2, 3), (5, 1, 2), (3, 1, 1), (3, 1, 1), (3, 1, 1))
# pool5's maps for 112x112 frames: 112 -> conv1 56 -> pool1 28 -> pool2 14 -> pool5 7.
_POOL5_HW = (7, 7)
# Frames of the clips every fusion model is sized for (slow fusion's temporal convs merge exactly these).
_CLIP_FRAMES = 16


class Fusion:
    """Where a fusion model merges time: the part of :class:`FusionNet` that differs between the models.

    :class:`FusionNet` builds conv1..conv3 with :meth:`conv`; its forward pass keeps the frames
    :meth:`frames` names and lets :meth:`arrange` shape them for conv1. The defaults are those of
    single-frame towers: 2D convolutions (:class:`FrameConv2d`), each frame seen apart.
    """

    # Single-frame towers whose pool5 features are concatenated into fc6's input (T' after conv3).
    towers: ClassVar[int] = 1

    def frames(self, t: int) -> list[int]:
        """Indices of the frames of a ``t``-frame clip the model sees; ValueError if ``t`` is too short."""
        raise NotImplementedError

    def conv(
        self, layer: int, in_channels: int, out_channels: int, kernel: int, stride: int, padding: int
    ) -> nn.Module:
        """conv``layer`` (1..3) with the trunk's spatial ``kernel``, ``stride`` and ``padding``: 2D here."""
        return FrameConv2d(in_channels, out_channels, kernel, stride=stride, padding=padding)

    def arrange(self, x: torch.Tensor) -> torch.Tensor:
        """Frames seen ``(N, 3, F, H, W)`` -> conv1 input; here unchanged: each frame goes through apart."""
        return x


@dataclass(frozen=True)
class SingleFrame(Fusion):
    """Single frame: the middle frame, ``T // 2`` (frame 8 of 16), through the 2D trunk."""

    def frames(self, t: int) -> list[int]:
        _need_frames(t, 1, "single_frame sees the middle frame, T // 2")
        return [t // 2]


@dataclass(frozen=True)
class LateFusion(Fusion):
    """Late fusion: frames 0 and ``T - 1`` through two towers with shared weights, merged at fc6.

    The paper places the two frames 15 frames apart: the first and last frames of a 16-frame clip.
    """

    towers: ClassVar[int] = 2

    def frames(self, t: int) -> list[int]:
        _need_frames(t, 2, "late_fusion sees the first and the last frame (0 and T - 1)")
        return [0, t - 1]


@dataclass(frozen=True)
class EarlyFusion(Fusion):
    """Early fusion: ``window`` consecutive frames in the middle of the clip, stacked in conv1's channels.

    conv1 has ``3 * window`` input channels, ordered frame by frame (channel ``3 * f + c`` is colour ``c``
    of the ``f``-th frame of the window): the paper's 11x11x3xT filters, T = 10. The window starts at
    ``(T - window) // 2``: frames 3..12 of 16. From conv1 on, one "frame" (T' = 1) remains.
    """

    window: int = 10

    def __post_init__(self) -> None:
        if self.window < 1:
            raise ValueError(
                f"early fusion needs a window of at least 1 frame (10 in the paper); got {self.window}"
            )

    def frames(self, t: int) -> list[int]:
        _need_frames(t, self.window, f"early_fusion sees a window of {self.window} frames in the middle")
        start = (t - self.window) // 2
        return list(range(start, start + self.window))

    def conv(
        self, layer: int, in_channels: int, out_channels: int, kernel: int, stride: int, padding: int
    ) -> nn.Module:
        if layer == 1:  # the frames of the window arrive as channels
            in_channels *= self.window
        return super().conv(layer, in_channels, out_channels, kernel, stride, padding)

    def arrange(self, x: torch.Tensor) -> torch.Tensor:
        """Window ``(N, 3, F, H, W)`` -> frames stacked in channels, ``(N, F * 3, 1, H, W)``."""
        return x.transpose(1, 2).flatten(1, 2).unsqueeze(2)  # (N, F * 3, 1, H, W): channel 3 * f + c


@dataclass(frozen=True)
class SlowFusion(Fusion):
    """Slow fusion: all 16 frames; conv1..conv3 are 3D and merge time 16 -> 4 -> 2 -> 1, then 2D.

    The paper's conv1 applies filters of temporal extent 4 with stride 2 to 10 frames (4 responses),
    and conv2 and conv3 filters of extent 2 and stride 2 (2 responses, then 1), so conv3 sees all 10
    frames. For 16 frames: conv1 extent 4, stride 4 (16 -> 4, each frame in exactly one response), conv2
    extent 2, stride 2 (4 -> 2), conv3 extent 2 (2 -> 1), all without temporal padding; so conv3 sees
    all 16 frames, and the model needs clips of exactly 16. conv4 and conv5 are 2D, on the one remaining
    time step.
    """

    # Temporal (extent, stride) of conv1, conv2 and conv3.
    temporal: ClassVar[tuple[tuple[int, int], ...]] = ((4, 4), (2, 2), (2, 1))

    def frames(self, t: int) -> list[int]:
        if t != _CLIP_FRAMES:
            raise ValueError(
                f"slow_fusion merges exactly {_CLIP_FRAMES} frames (conv1..conv3 take time "
                f"16 -> 4 -> 2 -> 1): got clips of T = {t}; feed (N, 3, {_CLIP_FRAMES}, 112, 112) clips"
            )
        return list(range(t))

    def conv(
        self, layer: int, in_channels: int, out_channels: int, kernel: int, stride: int, padding: int
    ) -> nn.Module:
        extent, step = self.temporal[layer - 1]
        return nn.Conv3d(
            in_channels,
            out_channels,
            kernel_size=(extent, kernel, kernel),
            stride=(step, stride, stride),
            padding=(0, padding, padding),
        )


class FusionNet(FCHead, VideoModel):
    """The ConvNets of Karpathy et al. 2014: one AlexNet-like 2D trunk, time merged where ``fusion`` says.

    Karpathy, Toderici, Shetty, Leung, Sukthankar, Fei-Fei, "Large-scale Video Classification with
    Convolutional Neural Networks", CVPR 2014, section 2.1. Input: clips ``(N, 3, 16, 112, 112)``; output:
    logits ``(N, num_classes)``. Which frames the model sees is the ``fusion``'s (see
    :meth:`frames_seen`): :class:`SingleFrame`, :class:`LateFusion`, :class:`EarlyFusion`,
    :class:`SlowFusion`.

    The paper's trunk is C(96,11,3)-N-P-C(256,5,1)-N-P-C(384,3,1)-C(384,3,1)-C(256,3,1)-P-FC(4096)-FC(4096)
    on 170x170 frames (C(d, f, s): d filters f x f, stride s; N: local response normalisation; P: 2x2
    max pool). Adapted to 112x112 frames, about 2/3 of 170: conv1 is 7x7, stride 2, padding 3 instead of
    11x11, stride 3, and conv2..conv5 are padded to keep their size; so 112 -> conv1 56 -> pool1 28 ->
    pool2 14 -> pool5 7, and fc6 sees ``towers x conv5 filters x 7 x 7`` features. Every ReLU follows its
    conv (conv taps are post-ReLU), N is ``nn.LocalResponseNorm`` across channels with AlexNet's constants
    (size 5, alpha 1e-4, beta 0.75, k 2; kept rather than BatchNorm, to stay the paper's network), the
    pools are 2x2 in space and never pool time (``nn.MaxPool3d`` 1x2x2), fc6 and fc7 have ReLU and
    dropout, fc8 is the classifier.

    ``width`` scales every layer: filters ``96, 256, 384, 384, 256`` and fc units 4096 times
    ``width / 96`` (rounded), so width 96 is the paper's size; the default 48 halves it (48-128-192-192-128,
    fc 2048) to keep the models light.

    Taps: conv and pool taps are 5-D, ``(N, C, T', H', W')``, T' the frames still apart: 1 for single
    frame and early fusion, 2 for late fusion (its two towers: frame 0, then frame T - 1), and for slow
    fusion 4 at conv1 and pool1, 2 at conv2 and pool2, 1 from conv3 on. fc taps are ``(N, units)``.

    Args:
        fusion: where time is merged.
        num_classes: outputs of fc8 (487 for Sports-1M as in the paper, 101 for UCF101).
        dropout: dropout probability after relu6 and relu7.
        width: conv1 filters at the paper's proportions (96: the paper's sizes).
        norm: "lrn" (the paper's local response normalisation after relu1 and relu2), "batch" (batch
            normalisation after every conv and fc6/fc7, before the ReLU, and no LRN: a documented deviation
            that lets these nets train from scratch on small data, see benchmarks/RESULTS.md, issue 10), or
            "none".
    """

    spec = ModelSpec(
        # Tap name -> module whose output it is (see vidlens.models.taps); conv taps are post-ReLU.
        feature_layers=post_relu_taps(
            "conv1 pool1 conv2 pool2 conv3 conv4 conv5 pool5 fc6 fc7 fc8",
            classifier="fc8",
        ),
        classifier="fc8",
        # 16 frames of 112x112 (single, late and early fusion use some of them).
        input_shape=(3, _CLIP_FRAMES, 112, 112),
        paper='Karpathy, Toderici, Shetty, Leung, Sukthankar, Fei-Fei, "Large-scale Video Classification '
        'with Convolutional Neural Networks", CVPR 2014',
        # No weights of these nets were published: "plain", as for models trained in vidlens.
        published_preset="plain",
    )

    def __init__(
        self,
        fusion: Fusion,
        *,
        num_classes: int = 101,
        dropout: float = 0.5,
        width: int = 48,
        norm: Literal["lrn", "batch", "none"] = "lrn",
    ) -> None:
        super().__init__()
        if norm not in ("lrn", "batch", "none"):
            raise ValueError(f"norm must be 'lrn' (the paper's), 'batch' or 'none', got {norm!r}")
        self.norm = norm
        conv_norm = "batch" if norm == "batch" else "none"
        if width < 1:
            raise ValueError(
                f"width must be a positive number of conv1 filters (96 in the paper); got {width}"
            )
        self.fusion = fusion
        self.width = width
        self.num_classes = num_classes
        c1, c2, c3, c4, c5 = (_scaled(c, width) for c in _PAPER_FILTERS)
        fc = _scaled(_PAPER_FC, width)
        (k1, s1, p1), (k2, s2, p2), (k3, s3, p3), (k4, s4, p4), (k5, s5, p5) = _CONV_GEOMETRY
        self.conv1 = fusion.conv(1, 3, c1, k1, s1, p1)
        self.bn1 = batch_norm(conv_norm, c1)
        self.relu1 = nn.ReLU()
        self.norm1 = _local_response_norm() if norm == "lrn" else nn.Identity()
        self.pool1 = _spatial_pool()
        self.conv2 = fusion.conv(2, c1, c2, k2, s2, p2)
        self.bn2 = batch_norm(conv_norm, c2)
        self.relu2 = nn.ReLU()
        self.norm2 = _local_response_norm() if norm == "lrn" else nn.Identity()
        self.pool2 = _spatial_pool()
        self.conv3 = fusion.conv(3, c2, c3, k3, s3, p3)
        self.bn3 = batch_norm(conv_norm, c3)
        self.relu3 = nn.ReLU()
        self.conv4 = FrameConv2d(c3, c4, k4, stride=s4, padding=p4)
        self.bn4 = batch_norm(conv_norm, c4)
        self.relu4 = nn.ReLU()
        self.conv5 = FrameConv2d(c4, c5, k5, stride=s5, padding=p5)
        self.bn5 = batch_norm(conv_norm, c5)
        self.relu5 = nn.ReLU()
        self.pool5 = _spatial_pool()
        self._add_fc_head(fusion.towers * c5 * math.prod(_POOL5_HW), fc, num_classes, dropout, conv_norm)
        init_relu_net(self)

    def frames_seen(self, t: int = _CLIP_FRAMES) -> list[int]:
        """Indices of the frames of a ``t``-frame clip that reach the logits (ValueError if too few)."""
        return self.fusion.frames(t)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Clips ``(N, 3, 16, 112, 112)`` -> pool5 features, ``(N, towers * 49 * conv5 filters)``.

        Shapes are for width 48. T' is the number of frames still apart: 1 (single frame, early fusion)
        or 2 (late fusion) throughout; slow fusion's goes 16 -> 4 -> 2 -> 1, as its shapes show.
        """
        frames = self._check_input(x)
        x = x[:, :, frames]  # (N, 3, F, H, W): the F frames this model sees
        x = self.fusion.arrange(x)  # (N, 3, T', 112, 112); early: (N, 30, 1, 112, 112); slow: T' = 16
        x = self.relu1(normed(self.bn1, self.conv1(x)))  # (N, 48, T', 56, 56); slow: (N, 48, 4, 56, 56)
        x = self.pool1(self.norm1(x))  # (N, 48, T', 28, 28); slow: (N, 48, 4, 28, 28)
        x = self.relu2(normed(self.bn2, self.conv2(x)))  # (N, 128, T', 28, 28); slow: (N, 128, 2, 28, 28)
        x = self.pool2(self.norm2(x))  # (N, 128, T', 14, 14); slow: (N, 128, 2, 14, 14)
        x = self.relu3(normed(self.bn3, self.conv3(x)))  # (N, 192, T', 14, 14); slow: (N, 192, 1, 14, 14)
        x = self.relu4(normed(self.bn4, self.conv4(x)))  # (N, 192, T', 14, 14)
        x = self.relu5(normed(self.bn5, self.conv5(x)))  # (N, 128, T', 14, 14)
        x = self.pool5(x)  # (N, 128, T', 7, 7)
        # Frame-major, so late fusion's two towers sit side by side (frame 0's features first).
        return x.transpose(1, 2).flatten(1)  # (N, T' * 6272), T' = towers

    def extra_repr(self) -> str:
        return f"fusion={self.fusion!r}, width={self.width}, norm={self.norm!r}"

    def _check_input(self, x: torch.Tensor) -> list[int]:
        """The frames to keep, after failing early, saying how to fix it, on input the model cannot take."""
        name = type(self.fusion).__name__
        check_clips(
            x,
            f"FusionNet ({name}) expects float clips shaped (N, 3, T, H, W), with T x H x W = 16 x 112 x 112",
            self.preset.name,
        )
        frames = self.frames_seen(x.shape[2])
        # Follow H and W through the trunk (pure arithmetic, so it also runs on the meta device).
        hw = tuple(x.shape[3:])
        for layer in (
            self.conv1,
            self.pool1,
            self.conv2,
            self.pool2,
            self.conv3,
            self.conv4,
            self.conv5,
            self.pool5,
        ):
            hw = output_size(hw, layer)
            if min(hw) < 1:
                break
        if hw != _POOL5_HW:
            h, w = x.shape[3:]
            outcome = (
                f"gives pool5 maps of {hw[0]}x{hw[1]}" if min(hw) >= 1 else "is too small to reach pool5"
            )
            raise ValueError(
                f"FusionNet ({name}) input of H x W = {h}x{w} {outcome}, but fc6 expects "
                f"{_POOL5_HW[0]}x{_POOL5_HW[1]}: feed 112x112 frames (H, W in 111..126 also give 7x7). "
                "For features of other sizes, tap a convolutional layer instead, e.g. "
                "vidlens.models.extract(model, x, 'conv5')."
            )
        return frames


def _scaled(count: int, width: int) -> int:
    """The paper's ``count`` (filters or fc units at width 96) at ``width``, rounded, at least 1."""
    return max(1, round(count * width / _PAPER_WIDTH))


def _spatial_pool() -> nn.MaxPool3d:
    """The paper's P layer: non-overlapping 2x2 max pooling in space, each frame (time step) apart."""
    return nn.MaxPool3d(kernel_size=(1, 2, 2), stride=(1, 2, 2))


def _local_response_norm() -> nn.LocalResponseNorm:
    """The paper's N layer: local response normalisation across channels, with AlexNet's constants."""
    return nn.LocalResponseNorm(size=5, alpha=1e-4, beta=0.75, k=2.0)


def _need_frames(t: int, needed: int, what: str) -> None:
    """ValueError unless a clip of ``t`` frames has the ``needed`` frames the model sees (``what``)."""
    if t < needed:
        raise ValueError(
            f"{what}, so it needs clips of at least {needed} frame{'s' if needed > 1 else ''}; got T = {t}: "
            f"feed (N, 3, {_CLIP_FRAMES}, 112, 112) clips"
        )


@register_model
def single_frame(**kwargs: Any) -> FusionNet:
    """Single-frame ConvNet (Karpathy et al. 2014): the middle frame (8 of 16) through an AlexNet-like trunk.

    Arguments as for :class:`FusionNet` (``num_classes``, ``dropout``, ``width``).
    """
    return FusionNet(SingleFrame(), **kwargs)


@register_model
def late_fusion(**kwargs: Any) -> FusionNet:
    """Late fusion (Karpathy et al. 2014): frames 0 and 15, two shared-weight towers merged at fc6."""
    return FusionNet(LateFusion(), **kwargs)


@register_model
def early_fusion(*, window: int = 10, **kwargs: Any) -> FusionNet:
    """Early fusion (Karpathy et al. 2014): frames 3..12 stacked in conv1's channels, 2D afterwards.

    ``window``: frames stacked, centred in the clip (10 in the paper; 16 takes the whole clip).
    """
    return FusionNet(EarlyFusion(window), **kwargs)


@register_model
def slow_fusion(**kwargs: Any) -> FusionNet:
    """Slow fusion (Karpathy et al. 2014): all 16 frames, merged 16 -> 4 -> 2 -> 1 by 3D conv1..conv3."""
    return FusionNet(SlowFusion(), **kwargs)
