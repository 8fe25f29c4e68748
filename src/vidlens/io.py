"""Atomic file writes: a file is either the old one or the new one, never half of one.

Every file vidlens writes (run directories, feature stores, figures, metrics) goes through
:func:`atomic_write`: the content is written to a temporary file in the same directory, which is then
renamed onto the target (``os.replace`` is atomic on POSIX and Windows), so a process killed at any moment
leaves no torn file behind.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = ["atomic_save", "atomic_save_npy", "atomic_write", "atomic_write_json", "atomic_write_text"]

_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` on a temporary path next to ``path``, then rename it onto ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; give them the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path``, atomically."""
    return atomic_write(path, lambda tmp: tmp.write_text(text))


def atomic_write_json(path: str | os.PathLike, value: Any) -> Path:
    """Write ``value`` as indented JSON with a final newline (vidlens's metrics and config files), atomically."""
    return atomic_write_text(path, json.dumps(value, indent=2) + "\n")


def atomic_save(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save(obj, path)``, atomically."""
    return atomic_write(path, lambda tmp: torch.save(obj, tmp))


def atomic_save_npy(array: np.ndarray, path: str | os.PathLike) -> Path:
    """``np.save(path, array)``, atomically, under exactly the name given (``np.save`` given a file name
    would append ``.npy`` to the temporary one)."""

    def write(tmp: Path) -> None:
        with tmp.open("wb") as f:
            np.save(f, np.asarray(array))

    return atomic_write(path, write)
