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

__all__ = [
    "NORMS",
    "FCHead",
    "FrameConv2d",
    "FrameMaxPool2d",
    "batch_norm",
    "check_clips",
    "init_relu_net",
    "normed",
    "output_size",
    "per_frame",
]


#: Normalisation layers a trunk can add: "none" (the papers' C3D nets) or "batch" (batch normalisation after
#: every convolution and fc6/fc7, before the ReLU: a documented deviation that lets these nets train from
#: scratch on small data; Ioffe & Szegedy 2015).
NORMS = ("none", "batch")


def batch_norm(norm: str, channels: int, dims: int = 3) -> nn.Module | None:
    """``nn.BatchNorm3d`` (``dims=3``, for ``(N, C, T, H, W)`` maps) or ``nn.BatchNorm1d`` (``dims=1``, for
    ``(N, C)`` features) when ``norm == "batch"``; else ``None``, so that the paper network keeps exactly its
    own modules and state-dict keys (apply it with :func:`normed`)."""
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {', '.join(map(repr, NORMS))}, got {norm!r}")
    if norm == "none":
        return None
    return nn.BatchNorm3d(channels) if dims == 3 else nn.BatchNorm1d(channels)


def normed(norm: nn.Module | None, x: torch.Tensor) -> torch.Tensor:
    """``norm(x)``, or ``x`` where the net has no normalisation layer there (``norm is None``)."""
    return x if norm is None else norm(x)


def check_clips(x: torch.Tensor, expected: str, preset: str) -> None:
    """Raise, saying how to fix it, unless ``x`` is a float batch of RGB clips ``(N, 3, T, H, W)``.

    Args:
        x: the model input.
        expected: the start of the message, e.g. "C3DDepth expects float clips shaped (N, 3, T, H, W)".
        preset: the name of the model's preset (``model.preset.name``), named in the hint for uint8 frames.

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
                "model.preset.normalize(frames)"
            )
        raise ValueError(f"{expected}; got shape {tuple(x.shape)}{hint}")
    if not x.is_floating_point():
        raise TypeError(
            f"{expected}; got dtype {x.dtype}: convert uint8 frames with model.preset.normalize(frames) "
            f"(this model's preset: vidlens.presets.get_preset({preset!r}).normalize(frames))"
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


def init_relu_net(model: nn.Module) -> None:
    """He et al. 2015 (Kaiming) init for conv and linear layers followed by ReLUs, with zero biases; the
    classifier named by ``model.spec.classifier`` gets N(0, 0.01), so that the first logits are near zero and the
    initial loss is about log(num_classes)."""
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Conv3d)):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.Linear):
            nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
        else:
            continue
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    nn.init.normal_(model.get_submodule(model.spec.classifier).weight, std=0.01)


class FCHead:
    """Mixin for nets that end as AlexNet and C3D do: fc6 -> relu6 -> drop6 -> fc7 -> relu7 -> drop7 -> fc8.

    The layers are top-level attributes, so state-dict keys read ``fc6.weight`` ... ``fc8.bias`` as in the
    papers' ports. A subclass (also an ``nn.Module``) defines ``forward_features`` (clips -> flattened pool5
    features) and calls :meth:`_add_fc_head` once its conv layers exist.
    """

    def _add_fc_head(
        self, in_features: int, hidden: int, num_classes: int, dropout: float, norm: str = "none"
    ) -> None:
        self.fc6 = nn.Linear(in_features, hidden)
        self.bn6 = batch_norm(norm, hidden, dims=1)
        self.relu6 = nn.ReLU()
        self.drop6 = nn.Dropout(dropout)
        self.fc7 = nn.Linear(hidden, hidden)
        self.bn7 = batch_norm(norm, hidden, dims=1)
        self.relu7 = nn.ReLU()
        self.drop7 = nn.Dropout(dropout)
        self.fc8 = nn.Linear(hidden, num_classes)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """pool5 features ``(N, D)`` -> logits ``(N, num_classes)``, or fc7 activations with ``pre_logits``."""
        x = self.drop6(self.relu6(normed(self.bn6, self.fc6(x))))  # (N, hidden)
        x = self.drop7(self.relu7(normed(self.bn7, self.fc7(x))))  # (N, hidden)
        if pre_logits:
            return x
        return self.fc8(x)  # (N, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Clips ``(N, 3, T, H, W)`` -> logits ``(N, num_classes)``."""
        return self.forward_head(self.forward_features(x))  # type: ignore[attr-defined]
