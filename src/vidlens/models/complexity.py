"""Model size and cost: parameters, multiply-adds per clip, and a summary of every registered model.

Multiply-adds (MACs) count the convolutions and fully connected layers, which hold nearly all the work of
a 3D ConvNet; pooling, activations and normalisation are left out. They are counted with forward hooks on
a ``meta``-device forward pass, which computes shapes only: no memory for activations, no arithmetic.
For C3D on one 3x16x112x112 clip: about 38.5 G multiply-adds and 80.0 M parameters (487 classes).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.func import functional_call

from vidlens.models.contract import model_spec
from vidlens.models.registry import list_models, model_entrypoint
from vidlens.models.taps import list_layers

__all__ = ["ModelInfo", "count_macs", "count_parameters", "describe_model", "describe_models"]

_CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)


@dataclass(frozen=True)
class ModelInfo:
    """What ``vidlens models`` shows about a registered model, built with its default arguments."""

    name: str
    # One clip, (C, T, H, W), as the model's first fully connected layer expects it.
    input_shape: tuple[int, ...]
    # Number of parameters.
    params: int
    # Multiply-adds for one clip of input_shape.
    macs: int
    # Tap names for feature extraction and interpretation (vidlens.models.list_layers).
    layers: tuple[str, ...]
    # First line of the builder's docstring.
    description: str
    # The paper the architecture comes from.
    paper: str
    # vidlens.presets preset of the architecture's published weights (spec.published_preset): what a
    # foreign state dict loaded into it is prepared with. Randomly initialised models use "plain".
    preset: str


def count_parameters(model: nn.Module, *, trainable_only: bool = False) -> int:
    """Number of parameters of ``model`` (shared parameters counted once)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def count_macs(model: nn.Module, input_shape: tuple[int, ...] = (1, 3, 16, 112, 112)) -> int:
    """Multiply-adds of ``model`` for one input of ``input_shape`` (batch included), from its convs and linears.

    A convolution costs kernel volume x in_channels / groups per output element; a linear layer costs
    in_features per output element. The model runs on the ``meta`` device, with meta copies of its
    parameters: nothing is computed and the model itself is not touched. A model that cannot run on
    ``meta`` (data-dependent control flow, ``.item()``) is run once for real on a zero input. It runs in
    eval mode (a BatchNorm in training mode refuses a batch of one), and each module's mode is put back.
    """
    total = 0
    modes = {m: m.training for m in model.modules()}

    def hook(module: nn.Module, args: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        nonlocal total
        if isinstance(module, nn.Linear):
            total += output.numel() * module.in_features
        else:
            total += output.numel() * (module.in_channels // module.groups) * math.prod(module.kernel_size)

    tensors = dict(itertools.chain(model.named_parameters(), model.named_buffers()))
    dtype = next(iter(tensors.values())).dtype if tensors else torch.get_default_dtype()
    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (*_CONVS, nn.Linear))]
    model.eval()
    try:
        meta_tensors = {name: torch.empty_like(t, device="meta") for name, t in tensors.items()}
        try:
            with torch.no_grad():
                functional_call(model, meta_tensors, (torch.empty(input_shape, dtype=dtype, device="meta"),))
        except (NotImplementedError, RuntimeError):
            if any(t.is_meta for t in tensors.values()):
                raise
            total = 0
            device = next(iter(tensors.values())).device if tensors else torch.device("cpu")
            with torch.inference_mode():
                model(torch.zeros(input_shape, dtype=dtype, device=device))
    finally:
        for handle in handles:
            handle.remove()
        for module, training in modes.items():
            module.train(training)
    return total


def describe_model(name: str) -> ModelInfo:
    """Summary of the registered model ``name`` with its default arguments (built on ``meta``: instant)."""
    builder = model_entrypoint(name)
    with torch.device("meta"):
        model = builder()
    spec = model_spec(model)
    if spec is None:
        raise AttributeError(
            f"model {name!r} ({type(model).__name__}) declares no contract; give its class a "
            "spec = vidlens.models.ModelSpec(...) (see vidlens.models.contract)"
        )
    doc = (builder.__doc__ or type(model).__doc__ or "").strip()
    return ModelInfo(
        name=name,
        input_shape=spec.input_shape,
        params=count_parameters(model),
        macs=count_macs(model, (1, *spec.input_shape)),
        layers=tuple(list_layers(model)),
        description=doc.splitlines()[0] if doc else "",
        paper=spec.paper,
        preset=spec.published_preset,
    )


def describe_models(pattern: str | None = None) -> list[ModelInfo]:
    """:func:`describe_model` for every registered model (optionally those matching ``pattern``)."""
    return [describe_model(name) for name in list_models(pattern)]
