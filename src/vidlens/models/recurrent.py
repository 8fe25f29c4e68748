"""GRU-RCN: convolutional GRUs over the feature maps of a per-frame 2D ConvNet (Ballas et al. 2016).

Ballas, Yao, Pal, Courville, "Delving Deeper into Convolutional Networks for Learning Video
Representations", ICLR 2016 (arXiv:1511.06432).

Instead of convolving in time (C3D), a 2D ConvNet looks at each frame on its own, and recurrent units
carry information from frame to frame. To keep the spatial layout of the feature maps (and with it fine
motion), the GRU's fully connected products are replaced by 2D convolutions, so each unit sees only a
3x3 neighbourhood and shares its weights across positions::

    z_t = sigmoid(W_z * x_t + U_z * h_{t-1})          update gate
    r_t = sigmoid(W_r * x_t + U_r * h_{t-1})          reset gate
    h~_t = tanh(W * x_t + U * (r_t . h_{t-1}))        candidate
    h_t = (1 - z_t) . h_{t-1} + z_t . h~_t            with h_0 = 0

(``*``: 2D convolution, ``.``: element-wise product). Only 2D convolutions are used: no Conv3d anywhere.

- :class:`ConvGRUCell`: one time step of these equations.
- :class:`ConvGRU`: the cell run over a sequence of maps ``(N, C, T, H, W)``.
- :class:`GRURCN`: the full network, registered as ``gru_rcn``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from vidlens.models.contract import ModelSpec, VideoModel, post_relu_taps
from vidlens.models.layers import FrameConv2d, FrameMaxPool2d, check_clips
from vidlens.models.registry import register_model

__all__ = ["GRURCN", "ConvGRU", "ConvGRUCell", "gru_rcn"]

# Trunk stages that exist: stage k = conv k (3x3) -> relu k -> pool k (2x2), as VGG's blocks.
_MAX_STAGES = 4


class ConvGRUCell(nn.Module):
    """One step of the convolutional GRU of Ballas et al. 2016, section 3 (equations above).

    Input-to-hidden convolutions ``w_z``, ``w_r``, ``w_h`` (the paper's W_z, W_r, W; with bias) and
    hidden-to-hidden convolutions ``u_z``, ``u_r``, ``u_h`` (U_z, U_r, U; without bias, so that U * 0 = 0)
    are separate ``nn.Conv2d`` modules, to be inspected one by one. Padding keeps the map size.

    Args:
        in_channels: channels of the input maps x_t.
        hidden_channels: channels of the hidden state h_t.
        kernel_size: odd side of the square kernels (3 in vidlens' GRU-RCN).
    """

    def __init__(self, in_channels: int, hidden_channels: int, kernel_size: int = 3) -> None:
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd so that padding keeps the map size, got {kernel_size}")
        self.in_channels = in_channels
        self.hidden_channels = hidden_channels
        pad = kernel_size // 2
        self.w_z = nn.Conv2d(in_channels, hidden_channels, kernel_size, padding=pad)
        self.w_r = nn.Conv2d(in_channels, hidden_channels, kernel_size, padding=pad)
        self.w_h = nn.Conv2d(in_channels, hidden_channels, kernel_size, padding=pad)
        self.u_z = nn.Conv2d(hidden_channels, hidden_channels, kernel_size, padding=pad, bias=False)
        self.u_r = nn.Conv2d(hidden_channels, hidden_channels, kernel_size, padding=pad, bias=False)
        self.u_h = nn.Conv2d(hidden_channels, hidden_channels, kernel_size, padding=pad, bias=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Glorot (Xavier) uniform weights, suited to the sigmoid and tanh they feed; zero biases."""
        for conv in (self.w_z, self.w_r, self.w_h, self.u_z, self.u_r, self.u_h):
            nn.init.xavier_uniform_(conv.weight)
            if conv.bias is not None:
                nn.init.zeros_(conv.bias)

    def forward(self, x: torch.Tensor, h: torch.Tensor | None = None) -> torch.Tensor:
        """Input ``x`` ``(N, C_in, H, W)`` and state ``h`` ``(N, C_h, H, W)`` (None: h_0 = 0) -> next state."""
        if h is None:
            h = x.new_zeros(x.shape[0], self.hidden_channels, *x.shape[2:])  # h_0 = 0
        z = torch.sigmoid(self.w_z(x) + self.u_z(h))  # (N, C_h, H, W) update gate
        r = torch.sigmoid(self.w_r(x) + self.u_r(h))  # (N, C_h, H, W) reset gate
        candidate = torch.tanh(self.w_h(x) + self.u_h(r * h))  # (N, C_h, H, W) h~_t
        return (1 - z) * h + z * candidate  # (N, C_h, H, W) h_t

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.hidden_channels}"


class ConvGRU(nn.Module):
    """A :class:`ConvGRUCell` run over time: maps ``(N, C_in, T, H, W)`` -> hidden states ``(N, C_h, T, H, W)``.

    The output holds h_1 .. h_T, so it is causal: ``out[:, :, t]`` depends on frames 0..t only. The last
    state h_T is ``out[:, :, -1]``.

    Args:
        in_channels, hidden_channels, kernel_size: as :class:`ConvGRUCell`.
    """

    def __init__(self, in_channels: int, hidden_channels: int, kernel_size: int = 3) -> None:
        super().__init__()
        self.cell = ConvGRUCell(in_channels, hidden_channels, kernel_size)

    @property
    def hidden_channels(self) -> int:
        return self.cell.hidden_channels

    def forward(self, x: torch.Tensor, h0: torch.Tensor | None = None) -> torch.Tensor:
        """Maps ``(N, C_in, T, H, W)`` (and an optional first state ``(N, C_h, H, W)``; default 0) ->
        hidden states ``(N, C_h, T, H, W)``."""
        if x.ndim != 5 or x.shape[1] != self.cell.in_channels or x.shape[2] < 1:
            raise ValueError(
                f"ConvGRU expects maps shaped (N, {self.cell.in_channels}, T, H, W) with T >= 1, got shape "
                f"{tuple(x.shape)}"
            )
        h = h0
        states = []
        for t in range(x.shape[2]):
            h = self.cell(x[:, :, t], h)  # (N, C_h, H, W)
            states.append(h)
        return torch.stack(states, dim=2)  # (N, C_h, T, H, W)


class GRURCN(VideoModel):
    """GRU-RCN of Ballas et al. 2016: a per-frame 2D ConvNet with convolutional GRUs on its feature maps.

    Ballas, Yao, Pal, Courville, "Delving Deeper into Convolutional Networks for Learning Video
    Representations", ICLR 2016, section 3 and figure 2. Input: float clips ``(N, 3, T, H, W)``; output:
    logits ``(N, num_classes)``.

    Trunk (applied to every frame, 2D convolutions only): a small VGG-like network of up to four stages,
    stage k = ``conv{k}`` (3x3, ``width * 2**(k-1)`` channels) -> ``relu{k}`` -> ``pool{k}`` (2x2 max,
    space only). With width 64 the channels are VGG's 64, 128, 256, 512, and a 112x112 frame gives maps of
    56, 28, 14 and 7 pixels after pool1..pool4. The paper uses an ImageNet-trained VGG-16; vidlens' trunk is
    a smaller stand-in trained with the rest.

    Recurrent levels: for each k in ``levels``, a :class:`ConvGRU` ``gru{k}`` reads the pool{k} maps of the
    T frames in order (the paper's GRU-RCN reads VGG's pool2..pool5 maps, each with its own recurrent
    network). The last hidden state of each level is averaged over space and the levels are concatenated,
    then dropout and one linear layer ``fc``. (The paper puts one linear + softmax classifier on each level
    and averages their probabilities; one linear layer on the concatenation sums per-level logits instead.)

    Stacked variant (``stacked=True``, the paper's Stacked GRU-RCN): each level above the first also reads
    the hidden states of the level below, max-pooled to its resolution: its input is the channel
    concatenation [pool{k}, maxpool(h^{k-1})], which equals separate kernels W * x + W_l * h^{k-1} in the
    paper's equations.

    The model is causal (the state at time t depends on frames 0..t only) and accepts any T >= 1 and any
    H, W of at least 2**max(levels) pixels (global average pooling before fc).

    Args:
        num_classes: outputs of fc; 101 for UCF101.
        width: channels of conv1; stage k has ``width * 2**(k-1)``.
        levels: trunk stages (1..4, increasing) whose pooled maps get a ConvGRU; the trunk stops at the last.
        hidden_channels: hidden channels of each level's ConvGRU (one int for all levels, or one per level);
            None: as many as the maps it reads.
        stacked: add bottom-up connections between consecutive levels (Stacked GRU-RCN).
        dropout: dropout probability before fc.
    """

    # The taps of the default levels (3, 4); each instance derives its own spec for the levels it builds.
    spec = ModelSpec(
        feature_layers=post_relu_taps(
            "conv1 pool1 conv2 pool2 conv3 pool3 conv4 pool4 gru3 gru4 fc",
            classifier="fc",
        ),
        classifier="fc",
        # Any T >= 1 and H, W >= 2**max(levels) run (global average pooling before fc).
        input_shape=(3, 16, 112, 112),
        paper='Ballas, Yao, Pal, Courville, "Delving Deeper into Convolutional Networks for Learning Video '
        'Representations", ICLR 2016',
        published_preset="plain",
        size_agnostic=True,
    )

    def __init__(
        self,
        *,
        num_classes: int = 101,
        width: int = 64,
        levels: Sequence[int] = (3, 4),
        hidden_channels: int | Sequence[int] | None = None,
        stacked: bool = False,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        levels = tuple(levels)
        if (
            not levels
            or list(levels) != sorted(set(levels))
            or not 1 <= levels[0] <= levels[-1] <= _MAX_STAGES
        ):
            raise ValueError(
                f"levels must be distinct trunk stages in increasing order, each in 1..{_MAX_STAGES} (the "
                f"ConvGRU of level k reads the pool{{k}} maps), e.g. (3, 4); got {levels}"
            )
        if width < 1:
            raise ValueError(f"width must be >= 1, got {width}")
        stage_channels = [width * 2**k for k in range(levels[-1])]  # conv1 .. conv{last level}
        if hidden_channels is None:
            hidden = tuple(stage_channels[k - 1] for k in levels)
        elif isinstance(hidden_channels, int):
            hidden = (hidden_channels,) * len(levels)
        else:
            hidden = tuple(hidden_channels)
        if len(hidden) != len(levels) or min(hidden) < 1:
            raise ValueError(
                f"hidden_channels must be one positive int or one per level ({len(levels)} for levels "
                f"{levels}), got {hidden_channels}"
            )
        self.num_classes = num_classes
        self.levels = levels
        self.hidden_channels = hidden
        self.stacked = stacked

        # Modules are declared in data-flow order: trunk, recurrent levels, head.
        in_channels = 3
        for k, out_channels in enumerate(stage_channels, start=1):
            self.add_module(f"conv{k}", FrameConv2d(in_channels, out_channels, kernel_size=3, padding=1))
            self.add_module(f"relu{k}", nn.ReLU())
            self.add_module(f"pool{k}", FrameMaxPool2d(kernel_size=2, stride=2))
            in_channels = out_channels
        for i, k in enumerate(levels):
            gru_in = stage_channels[k - 1]
            if stacked and i > 0:
                # Bottom-up link: the states of the level below, max-pooled to this level's map size.
                self.add_module(f"bottomup{k}", FrameMaxPool2d(kernel_size=2 ** (k - levels[i - 1])))
                gru_in += hidden[i - 1]
            self.add_module(f"gru{k}", ConvGRU(gru_in, hidden[i]))
        self.drop = nn.Dropout(dropout)
        self.fc = nn.Linear(sum(hidden), num_classes)

        taps: dict[str, str] = {}
        for k in range(1, len(stage_channels) + 1):
            taps |= {f"conv{k}": f"relu{k}", f"pool{k}": f"pool{k}"}  # 5D, after the ReLU
        taps |= {f"gru{k}": f"gru{k}" for k in levels}  # hidden states (N, C_h, T, H, W)
        taps["fc"] = "fc"
        self.spec = dataclasses.replace(type(self).spec, feature_layers=taps)
        self._init_weights()

    def _init_weights(self) -> None:
        """Kaiming init for the trunk (followed by ReLUs), N(0, 0.01) for fc; the GRU cells init themselves."""
        for m in self.modules():
            if isinstance(m, FrameConv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)
        nn.init.normal_(self.fc.weight, std=0.01)  # near-zero logits: initial loss about log(num_classes)
        nn.init.zeros_(self.fc.bias)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Clips ``(N, 3, T, H, W)`` -> last hidden state of each level averaged over space, concatenated,
        ``(N, sum(hidden_channels))``."""
        self._check_input(x)
        maps = {}
        for k in range(1, self.levels[-1] + 1):
            x = self.get_submodule(f"relu{k}")(self.get_submodule(f"conv{k}")(x))  # (N, C_k, T, H_k, W_k)
            x = self.get_submodule(f"pool{k}")(x)  # (N, C_k, T, H_k / 2, W_k / 2)
            maps[k] = x
        pooled = []
        below = None  # hidden states of the level below, for the stacked variant
        for k in self.levels:
            gru_in = maps[k]  # (N, C_k, T, H', W')
            if self.stacked and below is not None:
                below = self.get_submodule(f"bottomup{k}")(below)  # (N, C_h below, T, H', W')
                gru_in = torch.cat([gru_in, below], dim=1)  # (N, C_k + C_h below, T, H', W')
            states = self.get_submodule(f"gru{k}")(gru_in)  # (N, C_h, T, H', W')
            pooled.append(states[:, :, -1].mean(dim=(2, 3)))  # (N, C_h): h_T averaged over space
            below = states
        return torch.cat(pooled, dim=1)  # (N, sum(hidden_channels))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Pooled states ``(N, sum(hidden_channels))`` -> logits ``(N, num_classes)`` (or the dropped-out input)."""
        x = self.drop(x)
        if pre_logits:
            return x
        return self.fc(x)  # (N, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Clips ``(N, 3, T, H, W)`` -> logits ``(N, num_classes)``."""
        return self.forward_head(self.forward_features(x))

    def _check_input(self, x: torch.Tensor) -> None:
        """Fail early, saying how to fix it, on input that is not ``(N, 3, T, H, W)`` float clips."""
        min_side = 2 ** self.levels[-1]
        expected = (
            f"GRU-RCN expects float clips shaped (N, 3, T, H, W) with T >= 1 and H, W >= {min_side} "
            f"(pool{self.levels[-1]} halves the frames {self.levels[-1]} times; native 16x112x112)"
        )
        check_clips(x, expected, self.preset.name)
        t, h, w = x.shape[2:]
        if t < 1 or min(h, w) < min_side:
            raise ValueError(
                f"{expected}; got T x H x W = {t}x{h}x{w}: use longer clips or larger frames, or fewer "
                "levels (e.g. levels=(2, 3))"
            )


@register_model
def gru_rcn(**kwargs: Any) -> GRURCN:
    """GRU-RCN (Ballas et al. 2016): per-frame 2D ConvNet, convolutional GRUs on its pool3 and pool4 maps.

    Arguments as for :class:`GRURCN` (``num_classes``, ``width``, ``levels``, ``hidden_channels``,
    ``stacked``, ``dropout``).
    """
    return GRURCN(**kwargs)
