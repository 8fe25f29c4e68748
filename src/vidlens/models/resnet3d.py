"""Video ResNets of Tran et al. 2018: R3D, MC3 and R(2+1)D, 18 layers deep.

Tran, Wang, Torresani, Ray, LeCun, Paluri, "A Closer Look at Spatiotemporal Convolutions for Action
Recognition", CVPR 2018 (arXiv:1711.11248).

The three networks share one residual skeleton (a stem, four stages of two BasicBlocks, global average
pooling and a linear classifier) and differ only in the convolution each block is built from, which is
injected (``conv_makers``), not subclassed:

- ``r3d_18``: full 3x3x3 convolutions everywhere (:class:`Conv3DSimple`).
- ``mc3_18``: "mixed convolutions": 3x3x3 in layer1, then spatial-only 1x3x3 (:class:`Conv3DNoTemporal`),
  so time is never downsampled after the stem.
- ``r2plus1d_18``: every 3x3x3 convolution factorised into a 1x3x3 spatial convolution, batch norm, ReLU
  and a 3x1x1 temporal convolution (:class:`Conv2Plus1D`), with as many parameters as the 3x3x3 one.

Module names and parameter/buffer shapes are those of ``torchvision.models.video`` (``stem``,
``layer1``..``layer4``, ``avgpool``, ``fc``; ``layer2.0.conv1.0.weight`` ...), so a state dict saved from
torchvision's Kinetics-400 models loads key for key::

    # once, where torchvision is installed:
    torch.save(torchvision.models.video.r3d_18(weights="KINETICS400_V1").state_dict(), "r3d_18.pt")
    model = create_model("r3d_18", weights="r3d_18.pt")

vidlens downloads nothing. The ReLUs are non-in-place modules (torchvision's are in place), so hooks see
the tensors as they were produced; ReLUs have no parameters, so state dicts are unaffected.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from vidlens.models.contract import ModelSpec, VideoModel
from vidlens.models.layers import check_clips
from vidlens.models.registry import register_model

__all__ = [
    "BasicBlock",
    "BasicStem",
    "Conv2Plus1D",
    "Conv3DNoTemporal",
    "Conv3DSimple",
    "R2Plus1dStem",
    "VideoResNet",
    "mc3_18",
    "r2plus1d_18",
    "r3d_18",
]


# --- convolution builders: (in_planes, out_planes, midplanes, stride) -> module -----------------------------


class Conv3DSimple(nn.Conv3d):
    """A full 3x3x3 convolution without bias; ``stride`` applies to time and space (R3D, MC3's layer1).

    ``midplanes`` is unused: all convolution builders share :class:`Conv2Plus1D`'s signature.
    """

    def __init__(
        self, in_planes: int, out_planes: int, midplanes: int | None = None, stride: int = 1
    ) -> None:
        super().__init__(in_planes, out_planes, kernel_size=(3, 3, 3), stride=stride, padding=1, bias=False)

    @staticmethod
    def get_downsample_stride(stride: int) -> tuple[int, int, int]:
        """(T, H, W) stride of the 1x1x1 shortcut convolution of a block whose convolution has ``stride``."""
        return (stride, stride, stride)


class Conv3DNoTemporal(nn.Conv3d):
    """A spatial-only 1x3x3 convolution without bias; ``stride`` applies to space only (MC3's layers 2-4)."""

    def __init__(
        self, in_planes: int, out_planes: int, midplanes: int | None = None, stride: int = 1
    ) -> None:
        super().__init__(
            in_planes,
            out_planes,
            kernel_size=(1, 3, 3),
            stride=(1, stride, stride),
            padding=(0, 1, 1),
            bias=False,
        )

    @staticmethod
    def get_downsample_stride(stride: int) -> tuple[int, int, int]:
        """(T, H, W) stride of the shortcut: space only, as the convolution itself keeps every frame."""
        return (1, stride, stride)


class Conv2Plus1D(nn.Sequential):
    """A (2+1)D convolution: 1x3x3 in space to ``midplanes`` channels, batch norm, ReLU, 3x1x1 in time.

    Indices 0..3 are torchvision's (``0``: spatial conv, ``1``: BatchNorm3d, ``2``: ReLU, ``3``: temporal
    conv). ``midplanes`` is chosen by :class:`BasicBlock` so that the pair has about as many parameters as
    a 3x3x3 convolution (Tran et al. 2018, section 3.5); ``stride`` applies to space in the first
    convolution and to time in the second.
    """

    def __init__(self, in_planes: int, out_planes: int, midplanes: int, stride: int = 1) -> None:
        super().__init__(
            nn.Conv3d(
                in_planes,
                midplanes,
                kernel_size=(1, 3, 3),
                stride=(1, stride, stride),
                padding=(0, 1, 1),
                bias=False,
            ),
            nn.BatchNorm3d(midplanes),
            nn.ReLU(),
            nn.Conv3d(
                midplanes,
                out_planes,
                kernel_size=(3, 1, 1),
                stride=(stride, 1, 1),
                padding=(1, 0, 0),
                bias=False,
            ),
        )

    @staticmethod
    def get_downsample_stride(stride: int) -> tuple[int, int, int]:
        """(T, H, W) stride of the shortcut: time and space, as the factorised pair downsamples both."""
        return (stride, stride, stride)


ConvBuilder = type[Conv3DSimple] | type[Conv3DNoTemporal] | type[Conv2Plus1D]


# --- stems -------------------------------------------------------------------------------------------------


class BasicStem(nn.Sequential):
    """R3D/MC3 stem: 3x7x7 convolution to 64 channels, stride 1x2x2, batch norm, ReLU."""

    def __init__(self) -> None:
        super().__init__(
            nn.Conv3d(3, 64, kernel_size=(3, 7, 7), stride=(1, 2, 2), padding=(1, 3, 3), bias=False),
            nn.BatchNorm3d(64),
            nn.ReLU(),
        )


class R2Plus1dStem(nn.Sequential):
    """R(2+1)D stem: 1x7x7 convolution to 45 channels (stride 1x2x2), BN, ReLU, 3x1x1 to 64, BN, ReLU."""

    def __init__(self) -> None:
        super().__init__(
            nn.Conv3d(3, 45, kernel_size=(1, 7, 7), stride=(1, 2, 2), padding=(0, 3, 3), bias=False),
            nn.BatchNorm3d(45),
            nn.ReLU(),
            nn.Conv3d(45, 64, kernel_size=(3, 1, 1), stride=(1, 1, 1), padding=(1, 0, 0), bias=False),
            nn.BatchNorm3d(64),
            nn.ReLU(),
        )


# --- residual block and network ----------------------------------------------------------------------------


def midplanes_for(in_planes: int, out_planes: int) -> int:
    """Channels between the spatial and temporal halves of a (2+1)D convolution replacing a 3x3x3 one.

    Chosen so that ``in*mid*3*3 + mid*out*3`` is about ``in*out*3*3*3`` (Tran et al. 2018, section 3.5):
    64 -> 64 gives 144, 64 -> 128 gives 230, 512 -> 512 gives 1152.
    """
    return (in_planes * out_planes * 3 * 3 * 3) // (in_planes * 3 * 3 + 3 * out_planes)


class BasicBlock(nn.Module):
    """Two convolutions with a residual connection: relu(conv2(conv1(x)) + shortcut(x)).

    ``conv1`` = (conv, BatchNorm3d, ReLU) with ``stride``; ``conv2`` = (conv, BatchNorm3d); ``downsample``
    (a strided 1x1x1 convolution and BatchNorm3d) replaces the identity shortcut when the shape changes.
    Both convolutions of a (2+1)D block use the ``midplanes`` of its first one (``in_planes`` -> ``planes``),
    as torchvision does, so that state dicts match.
    """

    def __init__(
        self,
        in_planes: int,
        planes: int,
        conv_builder: ConvBuilder,
        stride: int = 1,
        downsample: nn.Module | None = None,
    ) -> None:
        super().__init__()
        midplanes = midplanes_for(in_planes, planes)
        self.conv1 = nn.Sequential(
            conv_builder(in_planes, planes, midplanes, stride), nn.BatchNorm3d(planes), nn.ReLU()
        )
        self.conv2 = nn.Sequential(conv_builder(planes, planes, midplanes), nn.BatchNorm3d(planes))
        self.relu = nn.ReLU()
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.conv2(self.conv1(x))
        return self.relu(out + shortcut)  # not in place: hooks on conv2 keep their output


class VideoResNet(VideoModel):
    """Residual 3D ConvNet of Tran et al. 2018 (R3D, MC3, R(2+1)D), with torchvision's module layout.

    Tran, Wang, Torresani, Ray, LeCun, Paluri, "A Closer Look at Spatiotemporal Convolutions for Action
    Recognition", CVPR 2018, table 1. Input: float clips ``(N, 3, T, H, W)``, natively 16x112x112;
    output: logits ``(N, num_classes)``. Global average pooling makes the network accept any clip size.

    Shapes for a 16x112x112 clip (R3D and R(2+1)D; MC3 keeps T = 16 after the stem):
    stem (64, 16, 56, 56), layer1 (64, 16, 56, 56), layer2 (128, 8, 28, 28), layer3 (256, 4, 14, 14),
    layer4 (512, 2, 7, 7), avgpool (512, 1, 1, 1), fc (num_classes,).

    Args:
        stem: builds the stem (:class:`BasicStem` or :class:`R2Plus1dStem`).
        conv_makers: convolution builder of each of the four stages.
        layers: BasicBlocks per stage; (2, 2, 2, 2) is the 18-layer network.
        num_classes: outputs of fc; 400 for Kinetics-400.
    """

    spec = ModelSpec(
        # Tap name -> module whose output it is; stages end with a ReLU, so these are activations.
        feature_layers={
            "stem": "stem",
            "layer1": "layer1",
            "layer2": "layer2",
            "layer3": "layer3",
            "layer4": "layer4",
            "avgpool": "avgpool",
            "fc": "fc",
        },
        classifier="fc",
        input_shape=(3, 16, 112, 112),  # as trained on Kinetics-400
        paper='Tran, Wang, Torresani, Ray, LeCun, Paluri, "A Closer Look at Spatiotemporal Convolutions for '
        'Action Recognition", CVPR 2018',
        # torchvision's Kinetics-400 weights: RGB in [0, 1], Kinetics mean/std.
        published_preset="kinetics400",
        # Adaptive average pooling before fc: clips of any T x H x W give logits.
        size_agnostic=True,
    )

    def __init__(
        self,
        *,
        stem: Callable[[], nn.Module],
        conv_makers: Sequence[ConvBuilder],
        layers: Sequence[int] = (2, 2, 2, 2),
        num_classes: int = 400,
    ) -> None:
        super().__init__()
        if len(conv_makers) != 4 or len(layers) != 4:
            raise ValueError(
                f"VideoResNet has four stages: give four conv_makers and four block counts, got "
                f"{len(conv_makers)} and {len(layers)}"
            )
        self.num_classes = num_classes
        self.stem = stem()
        self._in_planes = 64  # channels entering the next stage built by _make_layer
        self.layer1 = self._make_layer(conv_makers[0], 64, layers[0], stride=1)
        self.layer2 = self._make_layer(conv_makers[1], 128, layers[1], stride=2)
        self.layer3 = self._make_layer(conv_makers[2], 256, layers[2], stride=2)
        self.layer4 = self._make_layer(conv_makers[3], 512, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool3d((1, 1, 1))
        self.fc = nn.Linear(512, num_classes)
        self._init_weights()

    def _make_layer(self, conv_builder: ConvBuilder, planes: int, blocks: int, stride: int) -> nn.Sequential:
        """One stage: ``blocks`` BasicBlocks, the first with ``stride`` and a projection shortcut if needed."""
        downsample = None
        if stride != 1 or self._in_planes != planes:
            downsample = nn.Sequential(
                nn.Conv3d(
                    self._in_planes,
                    planes,
                    kernel_size=1,
                    stride=conv_builder.get_downsample_stride(stride),
                    bias=False,
                ),
                nn.BatchNorm3d(planes),
            )
        stage = [BasicBlock(self._in_planes, planes, conv_builder, stride, downsample)]
        self._in_planes = planes
        stage += [BasicBlock(planes, planes, conv_builder) for _ in range(1, blocks)]
        return nn.Sequential(*stage)

    def _init_weights(self) -> None:
        """As torchvision: Kaiming normal (fan_out) convolutions, BN weight 1 and bias 0, fc from N(0, 0.01)."""
        for m in self.modules():
            if isinstance(m, nn.Conv3d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm3d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, std=0.01)
                nn.init.zeros_(m.bias)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Clips ``(N, 3, T, H, W)`` -> layer4 activations, ``(N, 512, T', H', W')`` (2x7x7 for 16x112x112)."""
        self._check_input(x)
        x = self.stem(x)  # (N, 64, T, H/2, W/2)
        x = self.layer1(x)  # (N, 64, T, H/2, W/2)
        x = self.layer2(x)  # (N, 128, T/2, H/4, W/4); MC3: T
        x = self.layer3(x)  # (N, 256, T/4, H/8, W/8); MC3: T
        return self.layer4(x)  # (N, 512, T/8, H/16, W/16); MC3: T

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """layer4 activations ``(N, 512, T', H', W')`` -> logits ``(N, num_classes)``, or pooled ``(N, 512)``."""
        x = self.avgpool(x)  # (N, 512, 1, 1, 1)
        x = x.flatten(1)  # (N, 512)
        if pre_logits:
            return x
        return self.fc(x)  # (N, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Clips ``(N, 3, T, H, W)`` -> logits ``(N, num_classes)``."""
        return self.forward_head(self.forward_features(x))

    def _check_input(self, x: torch.Tensor) -> None:
        """Fail early, saying how to fix it, on input that is not ``(N, 3, T, H, W)`` float clips."""
        expected = (
            f"{type(self).__name__} expects float clips shaped (N, 3, T, H, W) (trained on 16x112x112; "
            "any T, H, W >= 1 run)"
        )
        check_clips(x, expected, self.preset.name)
        if min(x.shape[2:]) < 1:
            raise ValueError(f"{expected}; got an empty clip of shape {tuple(x.shape)}")


# --- builders ----------------------------------------------------------------------------------------------


@register_model
def r3d_18(**kwargs: Any) -> VideoResNet:
    """R3D-18 (Tran et al. 2018): 18-layer ResNet of 3x3x3 convolutions; 33.4 M parameters, 40.7 G MACs.

    Kinetics-400 recipe of torchvision's weights: frames resized to 128x171, centre crop 112, 16-frame clips,
    RGB in [0, 1] normalised with the Kinetics mean/std of the "kinetics400" preset. vidlens downloads
    nothing: pass a state dict saved from torchvision as ``weights`` (else: random initialisation).
    ``num_classes``: outputs of fc (400: Kinetics-400).
    """
    return VideoResNet(stem=BasicStem, conv_makers=[Conv3DSimple] * 4, **kwargs)


@register_model
def mc3_18(**kwargs: Any) -> VideoResNet:
    """MC3-18 (Tran et al. 2018): 3x3x3 convolutions in layer1, 1x3x3 after; 11.7 M parameters, 43.3 G MACs.

    Mixed convolutions: motion is modelled early (stem and layer1), layers 2-4 convolve space only and
    never downsample time.

    Kinetics-400 recipe of torchvision's weights: frames resized to 128x171, centre crop 112, 16-frame clips,
    RGB in [0, 1] normalised with the Kinetics mean/std of the "kinetics400" preset. vidlens downloads
    nothing: pass a state dict saved from torchvision as ``weights`` (else: random initialisation).
    ``num_classes``: outputs of fc (400: Kinetics-400).
    """
    return VideoResNet(stem=BasicStem, conv_makers=[Conv3DSimple] + [Conv3DNoTemporal] * 3, **kwargs)


@register_model
def r2plus1d_18(**kwargs: Any) -> VideoResNet:
    """R(2+1)D-18 (Tran et al. 2018): each 3x3x3 convolution split into 1x3x3 + 3x1x1; 31.5 M parameters.

    The factorisation doubles the non-linearities at the same parameter count and eases optimisation
    (section 3.5); 40.5 G MACs per 16x112x112 clip.

    Kinetics-400 recipe of torchvision's weights: frames resized to 128x171, centre crop 112, 16-frame clips,
    RGB in [0, 1] normalised with the Kinetics mean/std of the "kinetics400" preset. vidlens downloads
    nothing: pass a state dict saved from torchvision as ``weights`` (else: random initialisation).
    ``num_classes``: outputs of fc (400: Kinetics-400).
    """
    return VideoResNet(stem=R2Plus1dStem, conv_makers=[Conv2Plus1D] * 4, **kwargs)
