"""C3D: the 3D ConvNet of Tran et al. 2015, layer for layer.

Tran, Bourdev, Fergus, Torresani, Paluri, "Learning Spatiotemporal Features with 3D Convolutional
Networks", ICCV 2015 (arXiv:1412.0767).

Every module is a named top-level attribute (conv1, relu1, pool1, ..., fc8), so state dicts saved by the
c3d-pytorch port of the Caffe Sports-1M weights (keys ``conv1.weight`` ... ``fc8.bias``) load key for key,
and feature taps, Grad-CAM and deconvolution name layers the way the paper does.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from vidlens.models.contract import ModelSpec, VideoModel, post_relu_taps
from vidlens.models.layers import FCHead, check_clips, init_relu_net, output_size
from vidlens.models.registry import register_model
from vidlens.presets import PRESETS

__all__ = ["C3D", "c3d", "c3d_sports1m"]

# What pool5 must produce for fc6: 512 channels x 1 x 4 x 4 = 8192 features (from 16x112x112 clips).
_POOL5_SHAPE = (512, 1, 4, 4)
_FC6_IN = 512 * 1 * 4 * 4


class C3D(FCHead, VideoModel):
    """C3D of Tran et al. 2015: 8 3x3x3 convolutions, 5 max-pools and 3 fully connected layers.

    Tran, Bourdev, Fergus, Torresani, Paluri, "Learning Spatiotemporal Features with 3D Convolutional
    Networks", ICCV 2015, figure 3. Input: clips ``(N, 3, 16, 112, 112)``; output: logits
    ``(N, num_classes)``. pool1 pools space only (1x2x2) so that temporal information is not merged too
    early (section 3.2); pool5 pads H and W by one so that 7x7 maps give 4x4 and fc6 sees 512x1x4x4 = 8192
    features, as in the Caffe model (and its c3d-pytorch port).

    ReLUs are separate, non-in-place modules, so that hooks on a convolution see its output before the
    ReLU, and hooks on a ReLU (the ``conv*`` / ``fc6`` / ``fc7`` taps of ``spec.feature_layers``) see the
    activation the Caffe tool extracted (Caffe applied ReLU in place, so "fc6" meant relu(fc6)).

    Args:
        num_classes: outputs of fc8; 487 for Sports-1M, 101 for UCF101, 400 for Kinetics-400.
        dropout: dropout probability after relu6 and relu7 (0.5 in the paper).
    """

    spec = ModelSpec(
        # Tap name -> module whose output it is (see vidlens.models.taps): conv and fc taps are post-ReLU.
        feature_layers=post_relu_taps(
            "conv1 pool1 conv2 pool2 conv3a conv3b pool3 conv4a conv4b pool4 conv5a conv5b pool5 fc6 fc7 fc8",
            classifier="fc8",
        ),
        classifier="fc8",
        input_shape=(3, 16, 112, 112),  # what fc6 was sized for
        paper='Tran, Bourdev, Fergus, Torresani, Paluri, "Learning Spatiotemporal Features with 3D '
        'Convolutional Networks", ICCV 2015',
        # The published weights are the Sports-1M Caffe model (c3d-pytorch's port): BGR, 0-255, minus mean.
        published_preset="sports1m",
    )

    def __init__(self, *, num_classes: int = 487, dropout: float = 0.5) -> None:
        super().__init__()
        self.num_classes = num_classes
        # Modules are declared in data-flow order, so state_dict() lists keys as the c3d-pytorch port does.
        self.conv1 = nn.Conv3d(3, 64, kernel_size=(3, 3, 3), padding=(1, 1, 1))
        self.relu1 = nn.ReLU()
        self.pool1 = nn.MaxPool3d(kernel_size=(1, 2, 2), stride=(1, 2, 2))
        self.conv2 = nn.Conv3d(64, 128, kernel_size=(3, 3, 3), padding=(1, 1, 1))
        self.relu2 = nn.ReLU()
        self.pool2 = nn.MaxPool3d(kernel_size=(2, 2, 2), stride=(2, 2, 2))
        self.conv3a = nn.Conv3d(128, 256, kernel_size=(3, 3, 3), padding=(1, 1, 1))
        self.relu3a = nn.ReLU()
        self.conv3b = nn.Conv3d(256, 256, kernel_size=(3, 3, 3), padding=(1, 1, 1))
        self.relu3b = nn.ReLU()
        self.pool3 = nn.MaxPool3d(kernel_size=(2, 2, 2), stride=(2, 2, 2))
        self.conv4a = nn.Conv3d(256, 512, kernel_size=(3, 3, 3), padding=(1, 1, 1))
        self.relu4a = nn.ReLU()
        self.conv4b = nn.Conv3d(512, 512, kernel_size=(3, 3, 3), padding=(1, 1, 1))
        self.relu4b = nn.ReLU()
        self.pool4 = nn.MaxPool3d(kernel_size=(2, 2, 2), stride=(2, 2, 2))
        self.conv5a = nn.Conv3d(512, 512, kernel_size=(3, 3, 3), padding=(1, 1, 1))
        self.relu5a = nn.ReLU()
        self.conv5b = nn.Conv3d(512, 512, kernel_size=(3, 3, 3), padding=(1, 1, 1))
        self.relu5b = nn.ReLU()
        self.pool5 = nn.MaxPool3d(kernel_size=(2, 2, 2), stride=(2, 2, 2), padding=(0, 1, 1))
        self._add_fc_head(_FC6_IN, 4096, num_classes, dropout)  # fc6 (8192 -> 4096), fc7, fc8
        init_relu_net(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Clips ``(N, 3, 16, 112, 112)`` -> pool5 features flattened in (C, T, H, W) order, ``(N, 8192)``."""
        self._check_input(x)
        thw = tuple(x.shape[2:])
        x = self.relu1(self.conv1(x))  # (N, 64, 16, 112, 112)
        x = self.pool1(x)  # (N, 64, 16, 56, 56): space only
        x = self.relu2(self.conv2(x))  # (N, 128, 16, 56, 56)
        x = self.pool2(x)  # (N, 128, 8, 28, 28)
        x = self.relu3a(self.conv3a(x))  # (N, 256, 8, 28, 28)
        x = self.relu3b(self.conv3b(x))  # (N, 256, 8, 28, 28)
        x = self.pool3(x)  # (N, 256, 4, 14, 14)
        x = self.relu4a(self.conv4a(x))  # (N, 512, 4, 14, 14)
        x = self.relu4b(self.conv4b(x))  # (N, 512, 4, 14, 14)
        x = self.pool4(x)  # (N, 512, 2, 7, 7)
        x = self.relu5a(self.conv5a(x))  # (N, 512, 2, 7, 7)
        x = self.relu5b(self.conv5b(x))  # (N, 512, 2, 7, 7)
        x = self.pool5(x)  # (N, 512, 1, 4, 4): padding (0, 1, 1) takes 7x7 to 4x4
        if tuple(x.shape[1:]) != _POOL5_SHAPE:
            raise ValueError(_size_message(thw, tuple(x.shape[1:])))
        return x.flatten(1)  # (N, 8192), as c3d-pytorch's x.view(-1, 8192)

    def _check_input(self, x: torch.Tensor) -> None:
        """Fail early, saying how to fix it, on input that is not ``(N, 3, T, H, W)`` float clips."""
        expected = (
            "C3D expects float clips shaped (N, 3, T, H, W), with T x H x W = 16 x 112 x 112 as fc6 expects"
        )
        check_clips(x, expected, self.preset.name)
        # Catch clips too small for the pools here, before torch fails with a shape error mid-network.
        size = tuple(x.shape[2:])
        for pool in (self.pool1, self.pool2, self.pool3, self.pool4, self.pool5):
            size = output_size(size, pool)
            if min(size) < 1:
                raise ValueError(_size_message(tuple(x.shape[2:]), None))


def _size_message(thw: tuple[int, ...], pool5: tuple[int, ...] | None) -> str:
    """Why clips of ``thw`` = (T, H, W) do not fit fc6, given the pool5 shape they produce (None: none)."""
    t, h, w = thw
    if pool5 is None:
        outcome = "is too small to reach pool5"
    else:
        outcome = f"produced pool5 features of {'x'.join(map(str, pool5))} = {math.prod(pool5)}"
    return (
        f"C3D input of T x H x W = {t}x{h}x{w} {outcome}, but fc6 expects 512x1x4x4 = {_FC6_IN}: feed "
        "16x112x112 clips (frames resized to 128x171 and centre-cropped to 112, as in the paper; "
        "T in 16..31 and H, W in 96..127 also give 1x4x4). For features of other sizes, tap a "
        "convolutional layer instead, e.g. vidlens.models.extract(model, x, 'conv5b')."
    )


@register_model
def c3d(**kwargs: Any) -> C3D:
    """C3D (Tran et al. 2015) for 16x112x112 clips; arguments as for :class:`C3D` (487 Sports-1M classes)."""
    return C3D(**kwargs)


@register_model
def c3d_sports1m(**kwargs: Any) -> C3D:
    """C3D for the Sports-1M weights ported from Caffe: input BGR 0-255 minus the mean (preset "sports1m").

    vidlens downloads nothing: pass the ported file (e.g. c3d-pytorch's ``c3d.pickle``) as ``weights``.
    Without it the network is randomly initialised, which is only good for shapes and tests.
    """
    model = C3D(**kwargs)
    model.preset = PRESETS["sports1m"]
    return model
