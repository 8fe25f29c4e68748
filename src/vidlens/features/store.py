"""Feature stores on disk: what ``vidlens extract`` writes and what ``vidlens linear`` / ``embed`` read.

Two formats hold the same things: per video, the descriptor of each extracted layer (the mean over the
video's clips, L2-normalised; Tran et al. 2015, section 4), the per-clip activations, and a manifest record.

**npy** (default), in the output folder ``DIR``::

    DIR/<id>.npy              float32 (D,)       the video descriptor (one layer)
    DIR/<id>.clips.npy        float32 (n, D)     the per-clip activations, in clip order
    DIR/<layer>/<id>.npy ...  the same per layer when several layers are extracted
    DIR/manifest.jsonl        one JSON record per video (``manifest-<i>-of-<n>.jsonl`` for shard i of n)

**hdf5** (``--format hdf5``): one consolidated file per shard, ``DIR/features.h5`` (or
``features-<i>-of-<n>.h5``), with datasets ``ids``, ``sources``, ``manifest`` (the records, JSON) and per
layer a group ``<layer>`` holding ``descriptors`` (N, D), ``clips`` (M, D) and ``clip_offsets`` (N + 1,): the
clips of video ``k`` are rows ``clip_offsets[k]:clip_offsets[k + 1]``.

A manifest record: ``id``, ``source`` (the video's path), ``status`` (``"ok"`` or ``"failed"``), ``error``,
``frames``, ``fps``, ``n_clips``, ``clip_starts`` (frames), ``clip_times`` (seconds), ``layers``, ``model``,
``weights``, ``weights_sha256``, ``clip_len``, ``stride``, ``preset`` and, for npy stores, ``files``
(``{layer: {"descriptor": ..., "clips": ...}}``, relative to ``DIR``).

Video ids are the inputs' paths relative to the folder they were found in (or their file names), without
the extension, with ``/`` turned into ``__`` and characters other than letters, digits, ``.``, ``-`` and
``_`` into ``_``. Two inputs that would get the same id are told apart by a suffix (``~2``, ``~3``, in input
order), so nothing is ever overwritten.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "FeatureSet",
    "load_features",
    "make_video_ids",
    "manifest_name",
    "read_manifest",
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


def _safe_id(relative: str) -> str:
    stem = relative.rsplit(".", 1)[0] if "." in Path(relative).name else relative
    parts = [
        _UNSAFE.sub("_", part) for part in stem.replace(os.sep, "/").split("/") if part not in ("", ".", "..")
    ]
    safe = "__".join(part.strip(".") or "_" for part in parts)
    return safe or "video"


def make_video_ids(relatives: Sequence[str]) -> list[str]:
    """File-name-safe, unique ids for videos given by their relative paths (see the module docstring).

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


def _manifests(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("manifest*.jsonl") if p.is_file())


@dataclass
class FeatureSet:
    """Descriptors of the videos that were extracted successfully, in manifest order.

    ``descriptors[k]`` is video ``ids[k]``'s descriptor of ``layer``; ``records[k]`` its manifest record;
    ``failed`` the records of videos that could not be extracted. :meth:`clips` loads a video's per-clip
    activations on demand.
    """

    layer: str
    ids: list[str]
    sources: list[str]
    descriptors: np.ndarray  # (N, D) float32
    records: list[dict[str, Any]]
    failed: list[dict[str, Any]] = field(default_factory=list)
    _clip_reader: Any = None

    def __len__(self) -> int:
        return len(self.ids)

    def clips(self, index: int) -> np.ndarray:
        """Per-clip activations ``(n_clips, D)`` of video ``index``."""
        return self._clip_reader(index)


def load_features(path: str | os.PathLike, layer: str | None = None) -> FeatureSet:
    """Read a feature store written by ``vidlens extract``: a folder (npy manifests and/or ``.h5`` files
    of one or several shards) or one ``.h5`` file. ``layer`` picks one of several extracted layers."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no feature store at {path}; create one with `vidlens extract`")
    if path.is_file():
        if path.suffix not in (".h5", ".hdf5"):
            raise ValueError(f"{path} is not a feature store: pass the folder `vidlens extract --out` wrote")
        return _load_h5([path], layer)
    h5_files = sorted(path.glob("features*.h5"))
    manifests = _manifests(path)
    if h5_files and manifests:
        raise ValueError(
            f"{path} holds both npy manifests and HDF5 files; pass one .h5 file, or keep the two formats in "
            "separate folders"
        )
    if h5_files:
        return _load_h5(h5_files, layer)
    if not manifests:
        raise FileNotFoundError(
            f"{path} holds no manifest.jsonl or features.h5: is it the --out folder of `vidlens extract`?"
        )
    return _load_npy(path, manifests, layer)


def _pick_layer(layers: Sequence[str], layer: str | None, where: Path) -> str:
    if layer is None:
        if len(layers) > 1:
            raise ValueError(f"{where} holds several layers {list(layers)}; choose one with layer=")
        return layers[0]
    if layer not in layers:
        raise KeyError(f"layer {layer!r} was not extracted into {where}; it holds {list(layers)}")
    return layer


def _latest(records: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The last record of each id (a rerun appends newer records), in first-seen order."""
    latest: dict[str, dict[str, Any]] = {}
    for record in records:
        latest.pop(record["id"], None)
        latest[record["id"]] = record
    return latest


def _load_npy(folder: Path, manifests: list[Path], layer: str | None) -> FeatureSet:
    records = list(_latest(r for m in manifests for r in read_manifest(m)).values())
    ok = [r for r in records if r.get("status") == "ok"]
    failed = [r for r in records if r.get("status") != "ok"]
    if not ok:
        raise ValueError(f"{folder} holds no successfully extracted video ({len(failed)} failed)")
    chosen = _pick_layer(ok[0]["layers"], layer, folder)
    lacking = [r["id"] for r in ok if chosen not in r.get("files", {})]
    if lacking:
        raise ValueError(
            f"{len(lacking)} videos in {folder} (e.g. {lacking[0]!r}) have no {chosen!r} features: the folder "
            "mixes extractions of different layers; extract each layer set into its own --out folder"
        )
    try:
        arrays = [np.load(folder / r["files"][chosen]["descriptor"]) for r in ok]
    except FileNotFoundError as err:
        raise FileNotFoundError(
            f"a descriptor listed in the manifest is missing ({err.filename}); rerun the same "
            "`vidlens extract` command to complete the store"
        ) from None
    if len({a.shape for a in arrays}) > 1:
        raise ValueError(f"the {chosen!r} descriptors in {folder} have different sizes; the store is damaged")
    descriptors = np.stack(arrays)  # (N, D)

    def clips(index: int) -> np.ndarray:
        return np.load(folder / ok[index]["files"][chosen]["clips"])

    return FeatureSet(
        layer=chosen,
        ids=[r["id"] for r in ok],
        sources=[r["source"] for r in ok],
        descriptors=descriptors.astype(np.float32, copy=False),
        records=ok,
        failed=failed,
        _clip_reader=clips,
    )


def _h5py() -> Any:
    try:
        import h5py
    except ImportError:
        raise ImportError(
            "HDF5 feature stores need h5py: pip install 'vidlens[hdf5]' (or pip install h5py)"
        ) from None
    return h5py


def _load_h5(files: list[Path], layer: str | None) -> FeatureSet:
    h5py = _h5py()
    ids, sources, records, failed, blocks = [], [], [], [], []
    locations: list[tuple[Path, int]] = []
    chosen = layer
    for file in files:
        with h5py.File(file, "r") as h5:
            layers = json.loads(h5.attrs["layers"])
            chosen = _pick_layer(layers, chosen, file)  # the first file's choice binds the others
            all_records = [json.loads(s) for s in h5["manifest"].asstr()[()]]
            failed += [r for r in all_records if r.get("status") != "ok"]
            ok = [r for r in all_records if r.get("status") == "ok"]
            records += ok
            ids += [r["id"] for r in ok]
            sources += [r["source"] for r in ok]
            blocks.append(h5[chosen]["descriptors"][()])
            locations += [(file, k) for k in range(len(ok))]
    if not ids:
        raise ValueError(f"{files[0].parent} holds no successfully extracted video ({len(failed)} failed)")
    if len(set(ids)) < len(ids):
        twice = sorted({i for i in ids if ids.count(i) > 1})
        raise ValueError(
            f"videos {twice[:5]} appear in several of {[f.name for f in files]}: shards of one store hold "
            "disjoint videos; were two extractions written into one folder?"
        )

    def clips(index: int) -> np.ndarray:
        file, k = locations[index]
        with h5py.File(file, "r") as h5:
            offsets = h5[chosen]["clip_offsets"]
            return h5[chosen]["clips"][int(offsets[k]) : int(offsets[k + 1])]

    return FeatureSet(
        layer=str(chosen),
        ids=ids,
        sources=sources,
        descriptors=np.concatenate(blocks).astype(np.float32, copy=False),
        records=records,
        failed=failed,
        _clip_reader=clips,
    )


def iter_records(folder: str | os.PathLike) -> Iterator[dict[str, Any]]:
    """Every latest manifest record in a store folder (npy manifests of all shards), failed ones too."""
    yield from _latest(r for m in _manifests(Path(folder)) for r in read_manifest(m)).values()
