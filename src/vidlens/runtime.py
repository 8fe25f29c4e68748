"""Where and how a model runs: the device, the precision, autocast and channels_last_3d, in one place.

Training, evaluation, extraction and interpretation all hold one :class:`Runtime`::

    runtime = Runtime.create(device="auto", precision="auto").prepare(model)  # model moved (in place)
    with torch.inference_mode(), runtime.autocast():  # inference_mode is the caller's choice
        scores = model(runtime.input(clips))

Precision, one vocabulary everywhere (``--precision`` on the command line, ``TrainConfig.precision``):

* ``"auto"``: bf16 autocast on a CUDA device with native bf16 (compute capability 8.0 and later), fp16
  autocast on older CUDA devices (training adds a gradient scaler, :meth:`Runtime.scaler`), fp32 on the CPU.
* ``"fp32"``: no autocast.
* ``"bf16"``: bf16 autocast, on CUDA and on the CPU alike. On the CPU it is there for correctness, not speed
  (CPUs without bf16 instructions run it far slower than fp32): it lets CI run the reduced-precision paths,
  such as extraction's calibration of bf16 against fp32.
* ``"fp16"``: fp16 autocast, on CUDA only. The CPU is refused: torch's CPU fp16 kernels are no faster than
  its bf16 ones there, and fp16's narrow range (at most 65504) can overflow activations and needs loss
  scaling in training, which bf16 does not.

Autocast leaves autograd alone: gradients flow through :meth:`Runtime.autocast` (interpretation needs them),
so inference-only callers add ``torch.inference_mode()`` themselves.

``channels_last_3d`` (the memory format cuDNN's fastest 3D convolutions use) is applied on CUDA only, and
only to ``Conv3d`` weights (:func:`channels_last_3d`); inputs are converted only for models that have some.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from typing import Literal, get_args

import torch
from torch import nn

__all__ = [
    "PRECISIONS",
    "Precision",
    "Resolved",
    "Runtime",
    "channels_last_3d",
    "check_precision",
    "precision_dtype",
    "resolve_precision",
    "select_device",
]

#: What a caller may ask for; ``"auto"`` is resolved per device by :func:`resolve_precision`.
Precision = Literal["auto", "fp32", "bf16", "fp16"]
#: What a :class:`Runtime` runs with: a resolved precision.
Resolved = Literal["fp32", "bf16", "fp16"]
PRECISIONS: tuple[str, ...] = get_args(Precision)

_DTYPES: dict[str, torch.dtype] = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def select_device(name: str | torch.device = "auto") -> torch.device:
    """``"auto"``: the first CUDA device if there is one, else the CPU; otherwise ``torch.device(name)``.

    Raises:
        ValueError: ``name`` is not a device name torch knows.
        RuntimeError: a CUDA device is asked for where CUDA is not available.
    """
    if isinstance(name, str) and name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"unknown device {name!r}: use auto, cpu, cuda or cuda:N ({err})") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            f"device {str(name)!r} asked for, but CUDA is not available here; use --device cpu"
        )
    return device


def check_precision(precision: str) -> Precision:
    """``precision`` itself when it is one of :data:`PRECISIONS`, else a ValueError naming them."""
    if precision not in PRECISIONS:
        raise ValueError(
            f"precision must be one of {', '.join(PRECISIONS)} (auto: bf16 or fp16 autocast on CUDA, fp32 on "
            f"the CPU), got {precision!r}"
        )
    return precision  # type: ignore[return-value]


def _native_bf16(device: torch.device) -> bool:
    """Whether ``device`` (CUDA) computes in bf16 natively: ROCm devices and NVIDIA sm_80 and later. (Not
    ``torch.cuda.is_bf16_supported()``, which recent torch also answers True for emulated, slow bf16.)"""
    if torch.version.hip:
        return True
    return torch.cuda.get_device_capability(device)[0] >= 8


def resolve_precision(precision: str, device: torch.device) -> Resolved:
    """The precision ``precision`` means on ``device``: ``"auto"`` becomes bf16 on CUDA with native bf16,
    fp16 on older CUDA and fp32 elsewhere; the others stay as they are.

    Raises:
        ValueError: an unknown precision, or fp16 off CUDA (see the module docstring).
    """
    precision = check_precision(precision)
    if precision == "auto":
        if device.type != "cuda":
            return "fp32"
        return "bf16" if _native_bf16(device) else "fp16"
    if precision == "fp16" and device.type != "cuda":
        raise ValueError(
            f"precision fp16 needs a CUDA device, this one is {device}; on the CPU use bf16 (reduced "
            "precision with fp32's range) or fp32"
        )
    return precision


def precision_dtype(precision: str) -> torch.dtype:
    """The dtype a resolved precision computes in: fp32 -> float32, bf16 -> bfloat16, fp16 -> float16."""
    if precision == "auto":
        raise ValueError("precision 'auto' has no dtype of its own: resolve it first (resolve_precision)")
    return _DTYPES[check_precision(precision)]


def channels_last_3d(model: nn.Module) -> bool:
    """Put the 5-D weights of every ``Conv3d`` into ``channels_last_3d`` (in place); True if there were any.

    Only Conv3d weights are converted: ``model.to(memory_format=torch.channels_last_3d)`` fails on the 4-D
    weights of the 2D layers that the fusion nets and GRU-RCN mix in. Inputs are worth converting only when
    this returns True.
    """
    found = False
    for module in model.modules():
        if isinstance(module, nn.Conv3d):
            module.to(memory_format=torch.channels_last_3d)
            found = True
    return found


@dataclass(frozen=True)
class Runtime:
    """A device, a resolved precision and whether inputs go into ``channels_last_3d``: build it with
    :meth:`create`, which resolves ``"auto"`` and applies the rules of the module docstring."""

    # Where the model and its inputs live.
    device: torch.device
    # The autocast precision: "fp32" (no autocast), "bf16" or "fp16" (CUDA only).
    precision: Resolved = "fp32"
    # Convert 5-D inputs to channels_last_3d (CUDA only). Runtime.prepare keeps it for models with Conv3d.
    channels_last: bool = False

    def __post_init__(self) -> None:
        if resolve_precision(self.precision, self.device) != self.precision:  # also checks fp16 off CUDA
            raise ValueError(
                f"Runtime needs a resolved precision, got {self.precision!r}: use Runtime.create"
            )
        if self.channels_last and self.device.type != "cuda":
            raise ValueError(
                f"channels_last_3d is used on CUDA only, the device is {self.device}; use Runtime.create, "
                "which turns it off elsewhere"
            )

    @classmethod
    def create(
        cls,
        device: str | torch.device = "auto",
        precision: str = "auto",
        *,
        channels_last: bool = True,
    ) -> Runtime:
        """The runtime for ``device`` (:func:`select_device`) and ``precision`` (:func:`resolve_precision`);
        ``channels_last`` is honoured on CUDA only."""
        device = select_device(device)
        return cls(device, resolve_precision(precision, device), channels_last and device.type == "cuda")

    @property
    def dtype(self) -> torch.dtype:
        """The dtype autocast computes in (float32: no autocast)."""
        return precision_dtype(self.precision)

    def autocast(self) -> AbstractContextManager:
        """``torch.autocast`` for this device and precision (turned off for fp32). Gradients flow through it;
        it adds no ``inference_mode``."""
        enabled = self.precision != "fp32"
        return torch.autocast(self.device.type, dtype=self.dtype if enabled else None, enabled=enabled)

    def prepare(self, model: nn.Module) -> Runtime:
        """Move ``model`` to the device and, with ``channels_last``, its Conv3d weights into
        ``channels_last_3d`` (both in place). Returns the runtime for that model: ``channels_last`` stays on
        only if the model has Conv3d weights, so that :meth:`input` converts batches only where it helps."""
        model.to(self.device)
        converted = self.channels_last and channels_last_3d(model)
        return replace(self, channels_last=converted)

    def input(self, x: torch.Tensor) -> torch.Tensor:
        """A batch on the device (copied without blocking from pinned memory), ``(N, C, T, H, W)`` batches in
        ``channels_last_3d`` when ``channels_last``."""
        if self.channels_last and x.dim() == 5:
            return x.to(self.device, non_blocking=True, memory_format=torch.channels_last_3d)
        return x.to(self.device, non_blocking=True)

    def scaler(self) -> torch.amp.GradScaler | None:
        """A new gradient scaler for training in fp16 (which only runs on CUDA); None otherwise: fp32 and
        bf16 need no loss scaling."""
        return torch.amp.GradScaler("cuda") if self.precision == "fp16" else None

    def __str__(self) -> str:
        parts = [str(self.device)]
        if self.precision != "fp32":
            parts.append(f"{self.precision} autocast")
        if self.channels_last:
            parts.append("channels_last_3d")
        return ", ".join(parts)
