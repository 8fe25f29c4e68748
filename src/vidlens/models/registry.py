"""Model registry: a module-level dict of builder functions, filled by ``@register_model``.

A builder is a plain function named after the model that passes its keyword arguments to the model
class, as timm's are; the decorator adds ``weights=`` (a state dict to load, see
:func:`vidlens.models.load_weights`) to every builder, so no builder repeats it::

    @register_model
    def c3d_depth3(**kwargs: Any) -> C3DDepth:
        "C3D depth-3 (Tran et al. 2015, sec. 3.2): 3x3x3 kernels in all five convs."
        return C3DDepth((3, 3, 3, 3, 3), **kwargs)

    model = create_model("c3d_depth3", num_classes=4, width=16)
    model = create_model("c3d", weights="c3d.pickle")  # foreign weights: model.preset becomes sports1m
    list_models("c3d*")  # ['c3d', 'c3d_decreasing', 'c3d_depth1', ...]

To build the model a user means from a run directory, a vidlens export or a foreign file, with its
preset and class names, use :func:`vidlens.models.load_model`.
"""

from __future__ import annotations

import difflib
import fnmatch
import functools
import os
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from torch import nn

__all__ = [
    "UnknownNameError",
    "create_model",
    "list_models",
    "model_entrypoint",
    "register_model",
    "unknown_name_error",
]

# name -> builder; filled at import time by @register_model (importing vidlens.models registers all).
_model_entrypoints: dict[str, Callable[..., nn.Module]] = {}

BuilderT = TypeVar("BuilderT", bound=Callable[..., nn.Module])


class UnknownNameError(KeyError):
    """A ``KeyError`` for unknown model or layer names whose message prints as written.

    (A plain ``KeyError`` prints ``repr`` of its message, which turns line breaks into ``\\n``.)
    """

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def unknown_name_error(kind: str, name: str, choices: Iterable[str], hint: str = "") -> UnknownNameError:
    """Build the error for an unknown ``name``: the closest matches, every valid choice, how to list them."""
    choices = list(choices)
    message = f"unknown {kind} {name!r}"
    close = difflib.get_close_matches(name, choices, n=3, cutoff=0.5)
    if close:
        alternatives = ", ".join(repr(c) for c in close[:-1])
        alternatives = f"{alternatives} or {close[-1]!r}" if alternatives else repr(close[-1])
        message += f"; did you mean {alternatives}?"
    message += f"\nchoose from: {', '.join(choices) if choices else '(none registered)'}"
    if hint:
        message += f"\n{hint}"
    return UnknownNameError(message)


def register_model(fn: BuilderT) -> BuilderT:
    """Decorator: register the builder ``fn`` under its own name (``fn.__name__``).

    Returns ``fn`` with one keyword added, ``weights=None``: a state dict loaded strictly into the model
    once it is built (see :func:`vidlens.models.load_weights`, which also sets ``model.preset``).
    """
    name = fn.__name__
    existing = _model_entrypoints.get(name)
    if existing is not None and getattr(existing, "__wrapped__", None) is not fn:
        raise ValueError(
            f"a model called {name!r} is already registered (by {existing.__module__}.{existing.__qualname__}); "
            "give the new builder function a different name"
        )

    @functools.wraps(fn)
    def builder(*, weights: str | os.PathLike | None = None, **kwargs: Any) -> nn.Module:
        model = fn(**kwargs)
        if weights is not None:
            from vidlens.models.weights import load_weights

            load_weights(model, weights)
        return model

    _model_entrypoints[name] = builder
    return builder  # type: ignore[return-value]


def list_models(pattern: str | None = None) -> list[str]:
    """Sorted names of the registered models, optionally filtered by a shell-style ``pattern`` ("c3d*")."""
    names = sorted(_model_entrypoints)
    if pattern is not None:
        names = fnmatch.filter(names, pattern)
    return names


def model_entrypoint(name: str) -> Callable[..., nn.Module]:
    """The builder function registered as ``name``."""
    try:
        return _model_entrypoints[name]
    except KeyError:
        raise unknown_name_error(
            "model", name, list_models(), "list them with `vidlens models` or vidlens.models.list_models()"
        ) from None


def create_model(name: str, **kwargs: Any) -> nn.Module:
    """Build the registered model ``name``; keyword arguments go to its builder (e.g. ``num_classes=101``,
    ``weights="c3d.pickle"``)."""
    return model_entrypoint(name)(**kwargs)
