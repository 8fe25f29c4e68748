"""The kernel-temporal-depth family of Tran et al. 2015: five 3D convolutions of depth d_i, one network each.

Tran, Bourdev, Fergus, Torresani, Paluri, "Learning Spatiotemporal Features with 3D Convolutional
Networks", ICCV 2015 (arXiv:1412.0767), section 3.2: before settling on C3D's 3x3x3 kernels, the paper
trains on UCF101 a family of nets that differ only in the temporal depth d_i of their five conv kernels
(d_i x 3 x 3): homogeneous depth-1, depth-3, depth-5, depth-7, and varying 3-3-5-5-7 (increasing) and
7-5-5-3-3 (decreasing). depth-3 wins; depth-1, a frame-by-frame 2D ConvNet, is the worst.

    model = create_model("c3d_depth3", num_classes=101)
    model = create_model("c3d_depth1", width=16)  # 16-32-64-64-64 filters: small, for tests

"""

from __future__ import annotations

import math
from typing import Any, Literal

import torch
from torch import nn

from vidlens.models.c3d import C3D
from vidlens.models.contract import ModelSpec, VideoModel, post_relu_taps
from vidlens.models.layers import FCHead, batch_norm, check_clips, init_relu_net, normed, output_size
from vidlens.models.registry import register_model

__all__ = [
    "C3DDepth",
    "c3d_decreasing",
    "c3d_depth1",
    "c3d_depth3",
    "c3d_depth5",
    "c3d_depth7",
    "c3d_increasing",
]

# Filters of conv1..conv5 per unit of `width` (section 3.2: 64, 128, 256, 256, 256 at width 64).
_FILTERS_PER_64 = (64, 128, 256, 256, 256)
# Outputs of fc6 and fc7 (section 3.2: "the two fully connected layers have 2048 outputs").
_FC_WIDTH = 2048
# pool5's output volume (T, H, W) for a 16x112x112 clip: fc6 sees 4 * width x 1 x 4 x 4 features.
_POOL5_THW = (1, 4, 4)


class C3DDepth(FCHead, VideoModel):
    """A net of the temporal-depth study (Tran et al. 2015, section 3.2): 5 convs of depth d_i, 5 pools, 3 fc.

    Tran, Bourdev, Fergus, Torresani, Paluri, "Learning Spatiotemporal Features with 3D Convolutional
    Networks", ICCV 2015, section 3.2 ("Common network settings", "Varying network architectures").
    Input: clips ``(N, 3, 16, 112, 112)``; output: logits ``(N, num_classes)``.

    Layers: conv_i is a ``d_i x 3 x 3`` convolution, stride 1, padded ``(d_i // 2, 1, 1)`` so that it keeps
    T, H and W, followed by a ReLU and a max pool. pool1 is 1x2x2 (space only: time is not merged too
    early); pool2..pool5 are 2x2x2, stride 2. fc6 and fc7 have 2048 outputs, with ReLU and dropout; fc8
    is the classifier. Sizes for a 16x112x112 clip: pool1 16x56x56, pool2 8x28x28, pool3 4x14x14, pool4
    2x7x7, pool5 1x4x4.

    pool5 pads H and W by one, as C3D's pool5 does (:class:`vidlens.models.C3D`, the same Caffe code
    base), so 7x7 maps give 4x4 rather than 3x3, and fc6 sees ``4 * width x 1 x 4 x 4`` features (4096 at
    width 64). The paper does not give pool5's padding for these nets, but it does give their size:
    about 17.5 M parameters each, which is what depth-3 has with the padded pool5 (17.44 M for 101
    classes; 13.77 M with an unpadded pool5 giving 1x3x3). (The paper's "17K parameters per 2 of depth"
    counts conv weights as if each filter had a single input channel, 9 x 2 x (64 + 128 + 3 x 256) =
    17,280; with the input channels counted it is 3.1 M. Only the convs differ; fc6..fc8 are shared.)

    What "depth-1 is a 2D ConvNet" means (paper: "depth-1 net is equivalent to applying 2D convolutions
    on separate frames"): with ``depths = (1, 1, 1, 1, 1)`` no convolution mixes frames, so every conv
    output at frame t depends on input frames only through the pools; pool1 keeps frames apart, and
    pool2..pool5 are 2x2x2 and do merge them (conv2 at frame t sees input frame t alone, conv3 at frame t
    sees input frames 2t and 2t + 1, and so on), as in the paper's setting. So depth-1 is a per-frame 2D
    ConvNet whose max pools also pool over time; with depth d, conv1 at frame t sees frames
    ``t - d // 2 .. t + d // 2``.

    Args:
        depths: temporal depth d_i of conv1..conv5, each odd (so that padding d_i // 2 keeps T).
        num_classes: outputs of fc8; 101 for UCF101, the dataset of the study.
        dropout: dropout probability after relu6 and relu7.
        width: filters of conv1; conv2..conv5 have 2x, 4x, 4x and 4x that (the paper's 64-128-256-256-256
            at 64; 16 gives 16-32-64-64-64 for quick tests). fc6 and fc7 stay at 2048 outputs.
        norm: "none" (the paper's nets) or "batch": batch normalisation after every conv and fc6/fc7,
            before the ReLU (new modules bn1..bn7; the taps stay the ReLUs' outputs). A documented deviation
            that makes these nets train from scratch on small data (see benchmarks/RESULTS.md, issue 10).
    """

    spec = ModelSpec(
        # Tap name -> module whose output it is (see vidlens.models.taps); conv taps are post-ReLU.
        feature_layers=post_relu_taps(
            "conv1 pool1 conv2 pool2 conv3 pool3 conv4 pool4 conv5 pool5 fc6 fc7 fc8", classifier="fc8"
        ),
        classifier="fc8",
        input_shape=(3, 16, 112, 112),  # what fc6 is sized for
        paper=C3D.spec.paper,  # the same paper, section 3.2
        # No weights of these nets were published: "plain", as for models trained in vidlens.
        published_preset="plain",
    )

    def __init__(
        self,
        depths: tuple[int, int, int, int, int],
        *,
        num_classes: int = 101,
        dropout: float = 0.5,
        width: int = 64,
        norm: Literal["none", "batch"] = "none",
    ) -> None:
        super().__init__()
        depths = tuple(depths)
        if len(depths) != 5 or not all(isinstance(d, int) and d >= 1 and d % 2 == 1 for d in depths):
            raise ValueError(
                f"depths must be 5 odd temporal kernel depths, one per conv layer (e.g. (3, 3, 3, 3, 3)); "
                f"got {depths}: an even depth d cannot keep T with padding d // 2"
            )
        if width < 1:
            raise ValueError(
                f"width must be a positive number of conv1 filters (64 in the paper); got {width}"
            )
        self.depths = depths
        self.width = width
        self.num_classes = num_classes
        c1, c2, c3, c4, c5 = (f * width // 64 for f in _FILTERS_PER_64)
        d1, d2, d3, d4, d5 = depths
        self.conv1 = _conv(3, c1, d1)
        self.bn1 = batch_norm(norm, c1)
        self.relu1 = nn.ReLU()
        self.pool1 = nn.MaxPool3d(kernel_size=(1, 2, 2), stride=(1, 2, 2))
        self.conv2 = _conv(c1, c2, d2)
        self.bn2 = batch_norm(norm, c2)
        self.relu2 = nn.ReLU()
        self.pool2 = nn.MaxPool3d(kernel_size=(2, 2, 2), stride=(2, 2, 2))
        self.conv3 = _conv(c2, c3, d3)
        self.bn3 = batch_norm(norm, c3)
        self.relu3 = nn.ReLU()
        self.pool3 = nn.MaxPool3d(kernel_size=(2, 2, 2), stride=(2, 2, 2))
        self.conv4 = _conv(c3, c4, d4)
        self.bn4 = batch_norm(norm, c4)
        self.relu4 = nn.ReLU()
        self.pool4 = nn.MaxPool3d(kernel_size=(2, 2, 2), stride=(2, 2, 2))
        self.conv5 = _conv(c4, c5, d5)
        self.bn5 = batch_norm(norm, c5)
        self.relu5 = nn.ReLU()
        self.pool5 = nn.MaxPool3d(kernel_size=(2, 2, 2), stride=(2, 2, 2), padding=(0, 1, 1))
        self.pool5_shape = (c5, *_POOL5_THW)
        self._add_fc_head(math.prod(self.pool5_shape), _FC_WIDTH, num_classes, dropout, norm)
        self.norm = norm
        init_relu_net(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Clips ``(N, 3, 16, 112, 112)`` -> pool5 features, (C, T, H, W) flattened: ``(N, 64 * width)``."""
        self._check_input(x)
        thw = tuple(x.shape[2:])
        # Shapes for width 64; channels scale with width.
        x = self.relu1(normed(self.bn1, self.conv1(x)))  # (N, 64, 16, 112, 112)
        x = self.pool1(x)  # (N, 64, 16, 56, 56): space only
        x = self.relu2(normed(self.bn2, self.conv2(x)))  # (N, 128, 16, 56, 56)
        x = self.pool2(x)  # (N, 128, 8, 28, 28)
        x = self.relu3(normed(self.bn3, self.conv3(x)))  # (N, 256, 8, 28, 28)
        x = self.pool3(x)  # (N, 256, 4, 14, 14)
        x = self.relu4(normed(self.bn4, self.conv4(x)))  # (N, 256, 4, 14, 14)
        x = self.pool4(x)  # (N, 256, 2, 7, 7)
        x = self.relu5(normed(self.bn5, self.conv5(x)))  # (N, 256, 2, 7, 7)
        x = self.pool5(x)  # (N, 256, 1, 4, 4): padding (0, 1, 1) takes 7x7 to 4x4
        if tuple(x.shape[1:]) != self.pool5_shape:
            raise ValueError(self._size_message(thw, tuple(x.shape[1:])))
        return x.flatten(1)  # (N, 4096)

    def extra_repr(self) -> str:
        return f"depths={self.depths}, width={self.width}, norm={self.norm!r}"

    def _check_input(self, x: torch.Tensor) -> None:
        """Fail early, saying how to fix it, on input that is not ``(N, 3, T, H, W)`` float clips."""
        check_clips(
            x,
            f"{type(self).__name__} expects float clips shaped (N, 3, T, H, W), with T x H x W = "
            "16 x 112 x 112 as fc6 expects",
            self.preset.name,
        )
        # Catch clips too small for the pools here, before torch fails with a shape error mid-network.
        size = tuple(x.shape[2:])
        for pool in (self.pool1, self.pool2, self.pool3, self.pool4, self.pool5):
            size = output_size(size, pool)
            if min(size) < 1:
                raise ValueError(self._size_message(tuple(x.shape[2:]), None))

    def _size_message(self, thw: tuple[int, ...], pool5: tuple[int, ...] | None) -> str:
        """Why clips of ``thw`` = (T, H, W) do not fit fc6, given the pool5 shape they give (None: none)."""
        t, h, w = thw
        if pool5 is None:
            outcome = "is too small to reach pool5"
        else:
            outcome = f"produced pool5 features of {'x'.join(map(str, pool5))} = {math.prod(pool5)}"
        need = f"{'x'.join(map(str, self.pool5_shape))} = {math.prod(self.pool5_shape)}"
        return (
            f"{type(self).__name__} input of T x H x W = {t}x{h}x{w} {outcome}, but fc6 expects {need}: "
            "feed 16x112x112 clips (T in 16..31 and H, W in 96..127 also give 1x4x4). For features of "
            "other sizes, tap a convolutional layer instead, e.g. vidlens.models.extract(model, x, 'conv5')."
        )


def _conv(in_channels: int, out_channels: int, depth: int) -> nn.Conv3d:
    """A ``depth x 3 x 3`` convolution, stride 1, padded so that T, H and W are kept (depth is odd)."""
    return nn.Conv3d(in_channels, out_channels, kernel_size=(depth, 3, 3), padding=(depth // 2, 1, 1))


@register_model
def c3d_depth1(**kwargs: Any) -> C3DDepth:
    """C3D depth-1 (Tran et al. 2015, sec. 3.2): 1x3x3 kernels, a per-frame 2D ConvNet with 3D max pools.

    Arguments as for :class:`C3DDepth` (``num_classes``, ``dropout``, ``width``).
    """
    return C3DDepth((1, 1, 1, 1, 1), **kwargs)


@register_model
def c3d_depth3(**kwargs: Any) -> C3DDepth:
    """C3D depth-3 (Tran et al. 2015, sec. 3.2): 3x3x3 kernels in all five convs, the best of the study."""
    return C3DDepth((3, 3, 3, 3, 3), **kwargs)


@register_model
def c3d_depth5(**kwargs: Any) -> C3DDepth:
    """C3D depth-5 (Tran et al. 2015, sec. 3.2): 5x3x3 kernels in all five convs."""
    return C3DDepth((5, 5, 5, 5, 5), **kwargs)


@register_model
def c3d_depth7(**kwargs: Any) -> C3DDepth:
    """C3D depth-7 (Tran et al. 2015, sec. 3.2): 7x3x3 kernels in all five convs."""
    return C3DDepth((7, 7, 7, 7, 7), **kwargs)


@register_model
def c3d_increasing(**kwargs: Any) -> C3DDepth:
    """C3D increasing (Tran et al. 2015, sec. 3.2): temporal depths 3-3-5-5-7 from conv1 to conv5."""
    return C3DDepth((3, 3, 5, 5, 7), **kwargs)


@register_model
def c3d_decreasing(**kwargs: Any) -> C3DDepth:
    """C3D decreasing (Tran et al. 2015, sec. 3.2): temporal depths 7-5-5-3-3 from conv1 to conv5."""
    return C3DDepth((7, 5, 5, 3, 3), **kwargs)
