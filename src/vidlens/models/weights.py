"""Load and save model weights (state dicts) safely.

Checkpoints are read with ``torch.load(..., weights_only=True)``: a file can hold tensors, numbers, strings
and containers of them, never pickled code, so a downloaded checkpoint cannot run anything. ``.safetensors``
files are read with the ``safetensors`` package (``pip install safetensors``).

Files written by other projects load as they are: a state dict wrapped in a checkpoint dict (under
``"state_dict"``, ``"model"`` or ``"model_state_dict"``) is unwrapped, and the ``"module."`` prefix that
``nn.DataParallel`` adds (and ``"_orig_mod."`` from ``torch.compile``) is stripped. The C3D Sports-1M
weights of the c3d-pytorch port (``c3d.pickle``, keys ``conv1.weight`` ... ``fc8.bias``) load into
:class:`vidlens.models.C3D` key for key.

What travels with the weights. Files vidlens writes (:func:`save_weights`, a run's ``model.pt`` and
``checkpoint.pt``) record the model's preprocessing recipe (``model.preset``) and class names next to the
tensors: ``.pt`` files hold ``{"state_dict": ..., "vidlens": {"preset": ..., "class_names": ...}}``, and
``.safetensors`` files keep the same record as JSON in their metadata. Loading such a file gives both back
to the model. A foreign state dict records nothing; the model then gets the recipe of its architecture's
published weights (``model.spec.published_preset``: ``sports1m`` for C3D, ``kinetics400`` for the video
ResNets), which is what such files were trained with.
"""

from __future__ import annotations

import json
import os
import pickle
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import torch
from torch import nn

from vidlens.models.contract import model_spec
from vidlens.presets import PRESETS, Preset, resolve_preset

__all__ = [
    "UnsafeCheckpointError",
    "WeightsMismatchError",
    "WeightsRecord",
    "adopt_record",
    "load_state",
    "load_weights",
    "read_weights",
    "save_weights",
    "weights_payload",
]

ModuleT = TypeVar("ModuleT", bound=nn.Module)

_TORCH_SUFFIXES = (".pt", ".pth", ".pickle", ".pkl")
_SAFETENSORS_SUFFIX = ".safetensors"
# Keys under which training scripts commonly nest the state dict inside a checkpoint dict.
_WRAPPER_KEYS = ("state_dict", "model", "model_state_dict")
# Prefixes added by wrappers around the model: nn.DataParallel / DistributedDataParallel, torch.compile.
_WRAPPER_PREFIXES = ("module.", "_orig_mod.")
# Key of the record vidlens keeps next to the state dict (and in .safetensors metadata).
_RECORD_KEY = "vidlens"
_RECORD_FORMAT = 1
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
    state_dict, record = read_weights(path, map_location)
    return load_state(model, state_dict, record, source=path, strict=strict)


def load_state(
    model: ModuleT,
    state_dict: Mapping[str, torch.Tensor],
    record: WeightsRecord | None,
    *,
    source: str | os.PathLike,
    strict: bool = True,
) -> ModuleT:
    """:func:`load_weights` for a state dict and record already read with :func:`read_weights` from
    ``source`` (named in errors): checks keys and shapes, loads, and adopts the record (:func:`adopt_record`)."""
    path = Path(source)
    state_dict = dict(state_dict)
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
            spec = model_spec(model)
            head = f" ({spec.classifier})" if spec is not None and spec.classifier else ""
            raise WeightsMismatchError(
                report + f"\nFor a different number of classes, load_model(name, weights=..., num_classes=N) "
                f"keeps every layer but the classifier{head}, which it renews. To load only the tensors that "
                "match, pass strict=False (the others keep their current values)."
            )
        warnings.warn(report + "\nstrict=False: loaded the matching tensors only.", stacklevel=3)
        skipped = set(unexpected) | {k for k, _, _ in wrong_shape}
        state_dict = {k: v for k, v in state_dict.items() if k not in skipped}
    model.load_state_dict(state_dict, strict=strict)
    adopt_record(model, record)
    return model


@dataclass(frozen=True)
class WeightsRecord:
    """What a file written by vidlens says about its weights, besides the tensors."""

    # How input must be prepared for these weights.
    preset: Preset
    # Names of the classifier's outputs, in order; None when the weights came without them.
    class_names: list[str] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"format": _RECORD_FORMAT, "preset": self.preset.to_dict(), "class_names": self.class_names}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], path: Path) -> WeightsRecord:
        try:
            preset = Preset.from_dict(data["preset"])
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(
                f"{str(path)!r} holds an unreadable vidlens record ({err}); re-save it"
            ) from None
        names = data.get("class_names")
        return cls(preset, list(names) if names is not None else None)


def adopt_record(model: nn.Module, record: WeightsRecord | None) -> None:
    """Give ``model`` the preset and class names that travel with weights just loaded into it.

    ``record`` is what a vidlens file stored; ``None`` (a foreign state dict) gives the preset of the
    architecture's published weights (``model.spec.published_preset``) and no class names. A model
    without a :class:`~vidlens.models.contract.ModelSpec` keeps its own settings for foreign files.
    """
    if record is not None:
        model.preset = record.preset
        model.class_names = record.class_names
        return
    spec = model_spec(model)
    if spec is not None:
        model.preset = PRESETS[spec.published_preset]
        model.class_names = None


def weights_payload(
    state_dict: Mapping[str, torch.Tensor], *, preset: Preset, class_names: Sequence[str] | None = None
) -> dict[str, Any]:
    """What a vidlens ``.pt`` file holds: ``{"state_dict": ..., "vidlens": record}``, tensors on the CPU.

    The record keeps the preset and class names that travel with the weights (see :func:`read_weights`).
    """
    record = WeightsRecord(preset, list(class_names) if class_names is not None else None)
    return {
        "state_dict": {k: v.detach().cpu() for k, v in state_dict.items()},
        _RECORD_KEY: record.to_dict(),
    }


def save_weights(model: nn.Module, path: str | os.PathLike) -> Path:
    """Write ``model``'s weights with its preset and class names to ``path``: a ``.pt``/``.pth`` file
    (``torch.save`` of :func:`weights_payload`) or ``.safetensors`` (the record as JSON metadata)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == _SAFETENSORS_SUFFIX:
        save_file = _safetensors_torch().save_file
        tensors = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
        save_file(tensors, str(path), metadata={_RECORD_KEY: json.dumps(_record_of(model).to_dict())})
    elif suffix in (".pt", ".pth"):
        record = _record_of(model)
        torch.save(
            weights_payload(model.state_dict(), preset=record.preset, class_names=record.class_names), path
        )
    else:
        raise ValueError(f"cannot save weights to {str(path)!r}: use a .pt, .pth or .safetensors file name")
    return path


def _record_of(model: nn.Module) -> WeightsRecord:
    names = getattr(model, "class_names", None)
    return WeightsRecord(resolve_preset(model), list(names) if names is not None else None)


def read_weights(
    path: str | os.PathLike, map_location: str | torch.device = "cpu"
) -> tuple[dict[str, torch.Tensor], WeightsRecord | None]:
    """The state dict stored at ``path`` (unwrapped from a checkpoint dict, wrapper prefixes stripped)
    and the vidlens record next to it (``None`` for a foreign file)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file not found: {str(path)!r}")
    suffix = path.suffix.lower()
    record: Mapping[str, Any] | None = None
    if suffix == _SAFETENSORS_SUFFIX:
        safetensors = _safetensors_torch()
        obj = safetensors.load_file(str(path), device=str(torch.device(map_location)))
        with safetensors.safe_open(str(path), framework="pt") as f:
            text = (f.metadata() or {}).get(_RECORD_KEY)
        record = json.loads(text) if text else None
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
        if isinstance(obj, Mapping) and isinstance(obj.get(_RECORD_KEY), Mapping):
            record = obj[_RECORD_KEY]
    else:
        raise ValueError(
            f"cannot read weights from {str(path)!r}: unknown file type {suffix!r}; "
            f"supported: {', '.join((*_TORCH_SUFFIXES, _SAFETENSORS_SUFFIX))}"
        )
    state_dict = _strip_prefixes(_unwrap(obj, path))
    return state_dict, WeightsRecord.from_dict(record, path) if record is not None else None


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
