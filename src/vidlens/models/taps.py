"""Feature taps: read the output of named layers during a forward pass.

A model names its public layers in its spec (``model.spec.feature_layers``: tap name -> module path), e.g.
C3D's ``"fc6": "relu6"``: the fc6 activation after its ReLU, as the original Caffe C3D tool extracted it.
Any dotted module path (``"conv5b"``, ``"layer4.1.conv2"``) works as well, on any ``nn.Module``::

    with FeatureTaps(model, ["conv5b", "fc6"]) as taps:
        logits = model(x)
    taps["fc6"]  # (N, 4096)

    feats = extract(model, x, "fc6")  # {"fc6": (N, 4096)}; stops before fc7 and fc8 are computed
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torch.utils.hooks import RemovableHandle

from vidlens.models.contract import model_spec
from vidlens.models.registry import unknown_name_error

__all__ = ["FeatureTaps", "extract", "get_layer", "list_layers"]


def list_layers(model: nn.Module) -> list[str]:
    """Names :func:`get_layer` accepts for ``model``: its tap names (``spec.feature_layers``), in data-flow
    order. For a model without a spec (a user's own), the dotted paths of all its submodules."""
    spec = model_spec(model)
    if spec is not None and spec.feature_layers:
        return spec.layers
    return [name for name, _ in model.named_modules() if name]


def get_layer(model: nn.Module, name: str) -> nn.Module:
    """The module whose output is the layer ``name``: a tap name of ``model.spec``, else a module path.

    Tap names take precedence over module paths spelled the same: C3D's ``"fc6"`` is the output of
    ``relu6``; the linear layer itself remains ``model.fc6``.
    """
    spec = model_spec(model)
    path = spec.feature_layers.get(name, name) if spec is not None else name
    try:
        return model.get_submodule(path)
    except AttributeError:
        raise unknown_name_error(
            f"{type(model).__name__} layer",
            name,
            list_layers(model),
            "list them with `vidlens models` or vidlens.models.list_layers(model); a dotted module path "
            "from model.named_modules() works as well",
        ) from None


class _StopForward(Exception):
    """Raised from a hook to end a forward pass once every requested layer has been recorded."""


class FeatureTaps:
    """Context manager recording the outputs of named layers while the model runs inside the block.

    Hooks are registered on entry and always removed on exit, also when the block raises (the exception
    propagates). Outputs are kept as the layers returned them (not detached: inside autograd, gradients
    flow through them, as Grad-CAM needs); each forward pass replaces the previous outputs, and a module
    that runs several times in one pass keeps its last output.

    Args:
        model: any ``nn.Module``.
        layers: one layer name or several; tap names (see :func:`list_layers`) or dotted module paths.
    """

    def __init__(self, model: nn.Module, layers: str | Sequence[str]) -> None:
        self.model = model
        self.layers: list[str] = [layers] if isinstance(layers, str) else list(layers)
        if not self.layers:
            raise ValueError(f"FeatureTaps needs at least one layer name; choose from {list_layers(model)}")
        # Resolve every name now, so that a typo fails before anything runs.
        self._modules = {name: get_layer(model, name) for name in self.layers}
        self.outputs: dict[str, Any] = {}
        self._handles: list[RemovableHandle] = []
        self._stop_when_complete = False

    def __enter__(self) -> FeatureTaps:
        if self._handles:
            raise RuntimeError("this FeatureTaps is already active; create a new one for a nested block")
        self.outputs = {}
        try:
            for name, module in self._modules.items():
                self._handles.append(module.register_forward_hook(self._make_hook(name)))
        except BaseException:
            self.remove()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.remove()  # returns None: exceptions raised in the block propagate

    def remove(self) -> None:
        """Remove the hooks (done automatically when the ``with`` block ends)."""
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def _make_hook(self, name: str):
        def hook(module: nn.Module, args: tuple[Any, ...], output: Any) -> None:
            self.outputs[name] = output
            if self._stop_when_complete and len(self.outputs) == len(self._modules):
                raise _StopForward

        return hook

    def run(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Run ``model(*args, **kwargs)`` only as far as needed to record every layer; return the outputs.

        Layers after the last requested one are not computed (the forward pass is cut short), so the
        model's own output is not available here.
        """
        if not self._handles:
            raise RuntimeError(
                "FeatureTaps.run() works inside the with block: `with FeatureTaps(...) as taps:`"
            )
        self.outputs = {}
        self._stop_when_complete = True
        try:
            self.model(*args, **kwargs)
        except _StopForward:
            pass
        finally:
            self._stop_when_complete = False
        missing = [name for name in self.layers if name not in self.outputs]
        if missing:
            raise RuntimeError(
                f"layers {missing} produced no output during the forward pass of {type(self.model).__name__}; "
                "they are not on its forward path"
            )
        return dict(self.outputs)

    def __getitem__(self, name: str) -> Any:
        try:
            return self.outputs[name]
        except KeyError:
            if name not in self._modules:
                raise KeyError(f"{name!r} is not tapped here; tapped layers: {self.layers}") from None
            raise KeyError(
                f"layer {name!r} has no output yet: run the model inside the `with FeatureTaps(...)` block"
            ) from None


def extract(
    model: nn.Module, x: torch.Tensor, layers: str | Sequence[str], **forward_kwargs: Any
) -> dict[str, torch.Tensor]:
    """Outputs of ``layers`` for input ``x``, computed under ``torch.inference_mode``.

    The forward pass stops as soon as the last requested layer has run (extracting fc6 of C3D does not
    compute fc7 or fc8). The model's train/eval mode is left as it is: call ``model.eval()`` first for
    deterministic features (dropout off). The returned tensors are inference tensors (no autograd).
    """
    with torch.inference_mode(), FeatureTaps(model, layers) as taps:
        return taps.run(x, **forward_kwargs)
