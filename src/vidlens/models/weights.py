"""Load and save model weights (state dicts) safely.

Checkpoints are read with ``torch.load(..., weights_only=True)``: a file can hold tensors, numbers, strings
and containers of them, never pickled code, so a downloaded checkpoint cannot run anything. ``.safetensors``
files are read with the ``safetensors`` package (``pip install safetensors``).

Files written by other projects load as they are: a state dict wrapped in a checkpoint dict (under
``"state_dict"``, ``"model"`` or ``"model_state_dict"``) is unwrapped, and the ``"module."`` prefix that
``nn.DataParallel`` adds (and ``"_orig_mod."`` from ``torch.compile``) is stripped. The C3D Sports-1M
weights of the c3d-pytorch port (``c3d.pickle``, keys ``conv1.weight`` ... ``fc8.bias``) load into
:class:`vidlens.models.C3D` key for key.
"""

from __future__ import annotations

import os
import pickle
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TypeVar

import torch
from torch import nn

__all__ = ["UnsafeCheckpointError", "WeightsMismatchError", "load_weights", "save_weights"]

ModuleT = TypeVar("ModuleT", bound=nn.Module)

_TORCH_SUFFIXES = (".pt", ".pth", ".pickle", ".pkl")
_SAFETENSORS_SUFFIX = ".safetensors"
# Keys under which training scripts commonly nest the state dict inside a checkpoint dict.
_WRAPPER_KEYS = ("state_dict", "model", "model_state_dict")
# Prefixes added by wrappers around the model: nn.DataParallel / DistributedDataParallel, torch.compile.
_WRAPPER_PREFIXES = ("module.", "_orig_mod.")
# Longest list of keys an error message spells out; the rest are counted.
_MAX_LISTED = 20


class WeightsMismatchError(RuntimeError):
    """The keys or shapes in a weights file do not match the model."""


class UnsafeCheckpointError(RuntimeError):
    """A checkpoint that cannot be read without unpickling arbitrary objects (i.e. running code)."""


def load_weights(
    model: ModuleT,
    path: str | os.PathLike,
    *,
    strict: bool = True,
    map_location: str | torch.device = "cpu",
) -> ModuleT:
    """Load the state dict stored at ``path`` into ``model`` (in place) and return ``model``.

    Args:
        model: the module to fill.
        path: a ``.pt``, ``.pth``, ``.pickle`` or ``.pkl`` file written by ``torch.save`` (a state dict,
            possibly wrapped in a checkpoint dict), or a ``.safetensors`` file.
        strict: if True, every key of the model must be in the file with the same shape and the file
            must have no other keys; otherwise a :class:`WeightsMismatchError` lists the differences. If
            False, matching tensors are loaded, the rest is skipped and a warning lists what was skipped
            (e.g. to keep a freshly initialised classifier for a different number of classes).
        map_location: device the tensors are read onto before being copied into the model.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        UnsafeCheckpointError: the file holds pickled objects other than tensors and plain containers.
        WeightsMismatchError: ``strict`` is True and keys or shapes differ.
    """
    path = Path(path)
    state_dict = _read_state_dict(path, map_location)
    expected = model.state_dict()
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    wrong_shape = [
        (k, tuple(expected[k].shape), tuple(v.shape))
        for k, v in state_dict.items()
        if k in expected and v.shape != expected[k].shape
    ]
    if missing or unexpected or wrong_shape:
        report = _mismatch_report(path, type(model).__name__, missing, unexpected, wrong_shape)
        if strict:
            raise WeightsMismatchError(
                report + "\nTo load only the tensors that match, pass strict=False (the others keep their "
                "current values); e.g. for a different number of classes, build the model with the new "
                "num_classes and load with strict=False so the classifier (fc8) stays freshly initialised."
            )
        warnings.warn(report + "\nstrict=False: loaded the matching tensors only.", stacklevel=2)
        skipped = set(unexpected) | {k for k, _, _ in wrong_shape}
        state_dict = {k: v for k, v in state_dict.items() if k not in skipped}
    model.load_state_dict(state_dict, strict=strict)
    return model


def save_weights(model: nn.Module, path: str | os.PathLike) -> Path:
    """Write ``model.state_dict()`` to ``path`` (``.pt``/``.pth`` via ``torch.save``, or ``.safetensors``)."""
    path = Path(path)
    suffix = path.suffix.lower()
    state_dict = model.state_dict()
    if suffix == _SAFETENSORS_SUFFIX:
        save_file = _safetensors_torch().save_file
        save_file({k: v.detach().contiguous() for k, v in state_dict.items()}, str(path))
    elif suffix in (".pt", ".pth"):
        torch.save(state_dict, path)
    else:
        raise ValueError(f"cannot save weights to {str(path)!r}: use a .pt, .pth or .safetensors file name")
    return path


def _read_state_dict(path: Path, map_location: str | torch.device) -> dict[str, torch.Tensor]:
    """The state dict stored at ``path``: unwrapped from a checkpoint dict, wrapper prefixes stripped."""
    if not path.is_file():
        raise FileNotFoundError(f"weights file not found: {str(path)!r}")
    suffix = path.suffix.lower()
    if suffix == _SAFETENSORS_SUFFIX:
        load_file = _safetensors_torch().load_file
        obj = load_file(str(path), device=str(torch.device(map_location)))
    elif suffix in _TORCH_SUFFIXES:
        try:
            obj = torch.load(path, map_location=map_location, weights_only=True)
        except pickle.UnpicklingError as e:
            raise UnsafeCheckpointError(
                f"refusing to load {str(path)!r}: it is not a plain state dict that torch.load(..., "
                f"weights_only=True) can read ({_unpickler_reason(e)}). vidlens never unpickles code from "
                "a weights file. If the file is yours, re-save just the weights: "
                "torch.save(model.state_dict(), 'weights.pt') or vidlens.models.save_weights(model, path)."
            ) from e
    else:
        raise ValueError(
            f"cannot read weights from {str(path)!r}: unknown file type {suffix!r}; "
            f"supported: {', '.join((*_TORCH_SUFFIXES, _SAFETENSORS_SUFFIX))}"
        )
    return _strip_prefixes(_unwrap(obj, path))


def _unwrap(obj: object, path: Path) -> dict[str, torch.Tensor]:
    """Find the state dict in what a weights file held: the dict itself or one nested under a common key."""
    if isinstance(obj, Mapping):
        if all(isinstance(v, torch.Tensor) for v in obj.values()):
            return dict(obj)
        for key in _WRAPPER_KEYS:
            if isinstance(obj.get(key), Mapping):
                return _unwrap(obj[key], path)
        found = f"a dict with keys {sorted(map(str, obj))[:_MAX_LISTED]}"
    else:
        found = f"a {type(obj).__name__}"
    raise ValueError(
        f"no state dict found in {str(path)!r}: it holds {found}; expected a dict of tensors, or one "
        f"nested under one of {list(_WRAPPER_KEYS)}"
    )


def _strip_prefixes(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Remove prefixes (``module.``, ``_orig_mod.``) that every key shares, as wrappers add them."""
    stripped = True
    while stripped and state_dict:
        stripped = False
        for prefix in _WRAPPER_PREFIXES:
            if all(k.startswith(prefix) for k in state_dict):
                state_dict = {k[len(prefix) :]: v for k, v in state_dict.items()}
                stripped = True
    return state_dict


def _mismatch_report(
    path: Path,
    model_name: str,
    missing: list[str],
    unexpected: list[str],
    wrong_shape: list[tuple[str, tuple[int, ...], tuple[int, ...]]],
) -> str:
    """A readable list of the differences between a weights file and a model."""
    lines = [f"weights in {str(path)!r} do not match {model_name}:"]
    if missing:
        lines.append(f"  missing from the file ({len(missing)}): {_listing(missing)}")
    if unexpected:
        lines.append(f"  unexpected in the file ({len(unexpected)}): {_listing(unexpected)}")
    if wrong_shape:
        lines.append(f"  shape mismatches ({len(wrong_shape)}):")
        lines.extend(
            f"    {k}: model expects {list(want)}, file has {list(got)}"
            for k, want, got in wrong_shape[:_MAX_LISTED]
        )
        if len(wrong_shape) > _MAX_LISTED:
            lines.append(f"    ... and {len(wrong_shape) - _MAX_LISTED} more")
    return "\n".join(lines)


def _listing(keys: list[str]) -> str:
    shown = ", ".join(keys[:_MAX_LISTED])
    return shown + (f", ... and {len(keys) - _MAX_LISTED} more" if len(keys) > _MAX_LISTED else "")


def _unpickler_reason(error: pickle.UnpicklingError) -> str:
    """The useful part of torch's weights-only error ("Unsupported global: GLOBAL ... was not allowed")."""
    text = str(error)
    marker = "WeightsUnpickler error:"
    if marker in text:
        text = text.split(marker, 1)[1].split("Check the documentation", 1)[0]
        text = text.strip().split(". ", 1)[0]
    return " ".join(text.split()).rstrip(".") or "unreadable pickle"


def _safetensors_torch():
    """The optional ``safetensors.torch`` module, or an error saying how to install it."""
    try:
        import safetensors.torch
    except ImportError:
        raise ImportError(
            "reading or writing .safetensors files needs the safetensors package: pip install safetensors "
            "(or pip install 'vidlens[safetensors]'); .pt files work without it"
        ) from None
    return safetensors.torch
