"""Where a feature store keeps what: file names, video ids and manifests, shared by the reader and the writer.

The layout itself (npy and HDF5 stores, manifest records, video ids) is described in
:mod:`vidlens.features.store`.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "H5_NAME",
    "MANIFEST",
    "h5_name",
    "import_h5py",
    "latest_records",
    "make_video_ids",
    "manifest_files",
    "manifest_name",
    "read_manifest",
    "staging_name",
    "store_files",
]

MANIFEST = "manifest.jsonl"
H5_NAME = "features.h5"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def manifest_name(shard: tuple[int, int] = (0, 1)) -> str:
    """``manifest.jsonl``, or ``manifest-<i>-of-<n>.jsonl`` for shard ``i`` of ``n`` (n > 1)."""
    i, n = shard
    return MANIFEST if n == 1 else f"manifest-{i}-of-{n}.jsonl"


def h5_name(shard: tuple[int, int] = (0, 1)) -> str:
    """``features.h5``, or ``features-<i>-of-<n>.h5`` for shard ``i`` of ``n`` (n > 1)."""
    i, n = shard
    return H5_NAME if n == 1 else f"features-{i}-of-{n}.h5"


def staging_name(shard: tuple[int, int] = (0, 1)) -> str:
    """``.staging-<i>-of-<n>``: the folder where an HDF5 extraction stages its videos as an npy store until
    they are consolidated into :func:`h5_name`."""
    i, n = shard
    return f".staging-{i}-of-{n}"


def _safe_id(relative: str) -> str:
    stem = relative.rsplit(".", 1)[0] if "." in Path(relative).name else relative
    parts = [
        _UNSAFE.sub("_", part) for part in stem.replace(os.sep, "/").split("/") if part not in ("", ".", "..")
    ]
    safe = "__".join(part.strip(".") or "_" for part in parts)
    return safe or "video"


def make_video_ids(relatives: Sequence[str]) -> list[str]:
    """File-name-safe, unique ids for videos given by their relative paths (see the package docstring).

    >>> make_video_ids(["Jump/v_1.avi", "Jump/v_1.mp4", "a b.mp4"])
    ['Jump__v_1', 'Jump__v_1~2', 'a_b']
    """
    ids: list[str] = []
    taken: set[str] = set()
    lowered: set[str] = set()  # case-insensitive file systems must not merge two ids either
    for relative in relatives:
        base = _safe_id(relative)
        candidate, k = base, 1
        while candidate in taken or candidate.lower() in lowered:
            k += 1
            candidate = f"{base}~{k}"
        ids.append(candidate)
        taken.add(candidate)
        lowered.add(candidate.lower())
    return ids


def store_files(out: Path, video_id: str, layers: Sequence[str]) -> dict[str, dict[str, str]]:
    """Where an npy store keeps a video's arrays: ``{layer: {"descriptor": rel, "clips": rel}}``."""
    if len(layers) == 1:
        return {layers[0]: {"descriptor": f"{video_id}.npy", "clips": f"{video_id}.clips.npy"}}
    return {
        layer: {"descriptor": f"{layer}/{video_id}.npy", "clips": f"{layer}/{video_id}.clips.npy"}
        for layer in layers
    }


def read_manifest(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The records of one manifest file; a torn last line (a run killed mid-write) is ignored, a torn
    line elsewhere is an error."""
    path = Path(path)
    lines = path.read_text().splitlines()
    records = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            if number == len(lines):
                break
            raise ValueError(f"{path}:{number}: not a JSON record; the manifest is damaged") from None
    return records


def manifest_files(folder: Path) -> list[Path]:
    """The npy manifests of every shard in a store folder, by name."""
    return sorted(p for p in folder.glob("manifest*.jsonl") if p.is_file())


def latest_records(records: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The last record of each id (a rerun appends newer records), in first-seen order."""
    latest: dict[str, dict[str, Any]] = {}
    for record in records:
        latest.pop(record["id"], None)
        latest[record["id"]] = record
    return latest


def import_h5py() -> Any:
    """The ``h5py`` module, or an ImportError saying how to install it (HDF5 stores are optional)."""
    try:
        import h5py
    except ImportError:
        raise ImportError(
            "HDF5 feature stores need h5py: pip install 'vidlens[hdf5]' (or pip install h5py)"
        ) from None
    return h5py
