"""vidlens.runtime: device, precision, autocast and channels_last_3d, shared by every loop that runs a model."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

from vidlens.models import create_model
from vidlens.runtime import (
    PRECISIONS,
    Runtime,
    channels_last_3d,
    check_precision,
    precision_dtype,
    resolve_precision,
    select_device,
)

CUDA = torch.cuda.is_available()
CPU = torch.device("cpu")


class Mixed(nn.Module):
    """A Conv3d and a Conv2d, as the fusion nets and GRU-RCN mix them."""

    def __init__(self) -> None:
        super().__init__()
        self.conv3d = nn.Conv3d(3, 4, 3, padding=1)
        self.conv2d = nn.Conv2d(4, 4, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, 3, T, H, W)
        x = self.conv3d(x).mean(2)  # (N, 4, H, W)
        return self.conv2d(x)  # (N, 4, H, W)


# --------------------------------------------------------------------------------------------------------
# Device and precision
# --------------------------------------------------------------------------------------------------------


def test_select_device():
    assert select_device("auto") == torch.device("cuda" if CUDA else "cpu")
    assert select_device("cpu") == CPU and select_device(CPU) == CPU
    with pytest.raises(ValueError, match=r"unknown device 'gpu': use auto, cpu, cuda or cuda:N"):
        select_device("gpu")


@pytest.mark.skipif(CUDA, reason="checks the error where CUDA is missing")
def test_select_device_refuses_cuda_without_cuda():
    with pytest.raises(
        RuntimeError, match=r"'cuda:1' asked for, but CUDA is not available here; use --device cpu"
    ):
        select_device("cuda:1")
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        Runtime.create(torch.device("cuda"))


def test_precision_vocabulary_and_its_errors():
    assert PRECISIONS == ("auto", "fp32", "bf16", "fp16")
    assert [check_precision(p) for p in PRECISIONS] == list(PRECISIONS)
    with pytest.raises(ValueError, match=r"precision must be one of auto, fp32, bf16, fp16 .*got 'amp'"):
        check_precision("amp")
    with pytest.raises(ValueError, match="precision must be one of"):
        Runtime.create("cpu", "float16")
    with pytest.raises(ValueError, match="fp16 needs a CUDA device, this one is cpu; on the CPU use bf16"):
        Runtime.create("cpu", "fp16")
    assert precision_dtype("fp32") == torch.float32
    assert precision_dtype("bf16") == torch.bfloat16
    assert precision_dtype("fp16") == torch.float16
    with pytest.raises(ValueError, match="resolve it first"):
        precision_dtype("auto")


def test_auto_resolves_per_device(monkeypatch):
    assert resolve_precision("auto", CPU) == "fp32"
    assert resolve_precision("bf16", CPU) == "bf16"  # allowed on the CPU (torch's CPU autocast)
    cuda = torch.device("cuda", 0)
    monkeypatch.setattr(torch.version, "hip", None)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (8, 0))  # Ampere
    assert resolve_precision("auto", cuda) == "bf16"
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (7, 0))  # Volta
    assert resolve_precision("auto", cuda) == "fp16"
    assert resolve_precision("bf16", cuda) == "bf16"  # asked for explicitly: torch emulates it


def test_runtime_on_the_cpu_is_fp32_without_channels_last():
    runtime = Runtime.create("cpu")
    assert (runtime.device, runtime.precision, runtime.channels_last) == (CPU, "fp32", False)
    assert runtime.dtype == torch.float32 and runtime.scaler() is None and str(runtime) == "cpu"
    bf16 = Runtime.create("cpu", "bf16", channels_last=True)
    assert (bf16.precision, bf16.channels_last, str(bf16)) == ("bf16", False, "cpu, bf16 autocast")
    with pytest.raises(ValueError, match="channels_last_3d is used on CUDA only"):
        Runtime(CPU, "fp32", channels_last=True)
    with pytest.raises(ValueError, match="needs a resolved precision, got 'auto'"):
        Runtime(CPU, "auto")  # type: ignore[arg-type]


def test_only_fp16_gets_a_gradient_scaler():
    assert Runtime.create("cpu", "bf16").scaler() is None
    assert Runtime(torch.device("cuda"), "bf16").scaler() is None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # without CUDA the scaler says it disables itself
        assert isinstance(Runtime(torch.device("cuda"), "fp16").scaler(), torch.amp.GradScaler)


# --------------------------------------------------------------------------------------------------------
# Autocast
# --------------------------------------------------------------------------------------------------------


def test_bf16_autocast_on_the_cpu_computes_convolutions_in_bf16():
    torch.manual_seed(0)
    conv, x = nn.Conv3d(3, 4, 3), torch.randn(2, 3, 4, 8, 8)
    with Runtime.create("cpu", "bf16").autocast():
        y = conv(x)
    assert y.dtype == torch.bfloat16
    torch.testing.assert_close(y.float(), conv(x), rtol=5e-2, atol=5e-2)


def test_fp32_autocast_changes_nothing():
    torch.manual_seed(0)
    conv, x = nn.Conv3d(3, 4, 3), torch.randn(2, 3, 4, 8, 8)
    with Runtime.create("cpu", "fp32").autocast():
        y = conv(x)
    assert y.dtype == torch.float32 and torch.equal(y, conv(x))


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_gradients_flow_through_autocast(precision):
    """Interpretation (Grad-CAM, saliency, activation maximisation) needs gradients under the runtime."""
    torch.manual_seed(0)
    runtime = Runtime.create("cpu", precision).prepare(model := Mixed())
    x = runtime.input(torch.randn(2, 3, 4, 8, 8)).requires_grad_()
    with runtime.autocast():
        out = model(x)
    assert torch.is_grad_enabled() and out.requires_grad
    out.float().square().mean().backward()
    assert x.grad is not None and x.grad.dtype == torch.float32 and x.grad.abs().sum() > 0
    assert model.conv3d.weight.grad is not None and model.conv3d.weight.grad.dtype == torch.float32


# --------------------------------------------------------------------------------------------------------
# channels_last_3d
# --------------------------------------------------------------------------------------------------------


def test_channels_last_3d_converts_only_conv3d_weights():
    model = Mixed()
    assert channels_last_3d(model) is True
    assert model.conv3d.weight.is_contiguous(memory_format=torch.channels_last_3d)
    assert not model.conv3d.weight.is_contiguous()
    assert model.conv2d.weight.is_contiguous()  # 4-D: left as it was
    assert channels_last_3d(nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())) is False


def test_channels_last_3d_converts_conv3d_weights_of_mixed_models():
    """Slow fusion mixes Conv3d and 2D convs: model.to(channels_last_3d) fails on it, this must not."""
    model = create_model("slow_fusion", num_classes=3, width=8)
    assert channels_last_3d(model) is True
    assert model.conv1.weight.is_contiguous(memory_format=torch.channels_last_3d)
    x = torch.randn(1, 3, 16, 112, 112).contiguous(memory_format=torch.channels_last_3d)
    assert model.eval()(x).shape == (1, 3)
    assert channels_last_3d(create_model("gru_rcn", num_classes=3, width=8)) is False


def test_prepare_and_input_on_the_cpu_keep_the_default_layout():
    model = Mixed()
    runtime = Runtime.create("cpu").prepare(model)
    assert runtime.channels_last is False and model.conv3d.weight.is_contiguous()
    x = runtime.input(torch.randn(2, 3, 4, 8, 8))
    assert x.device == CPU and x.is_contiguous()


@pytest.mark.skipif(not CUDA, reason="needs CUDA")
def test_on_cuda_channels_last_follows_the_model_and_auto_autocasts():
    runtime = Runtime.create("cuda")
    assert runtime.channels_last is True and runtime.precision in ("bf16", "fp16")
    assert (runtime.scaler() is not None) == (runtime.precision == "fp16")
    fusion = create_model("slow_fusion", num_classes=3, width=8)
    prepared = runtime.prepare(fusion)
    assert prepared.channels_last is True and next(fusion.parameters()).is_cuda
    x = prepared.input(torch.randn(2, 3, 16, 112, 112))
    assert x.is_cuda and x.is_contiguous(memory_format=torch.channels_last_3d)
    with prepared.autocast():
        out = fusion.eval()(x)
    assert out.dtype == precision_dtype(prepared.precision)
    assert runtime.prepare(create_model("gru_rcn", num_classes=3, width=8)).channels_last is False
    assert prepared.input(torch.zeros(2, 5)).is_contiguous()  # only (N, C, T, H, W) batches are converted
