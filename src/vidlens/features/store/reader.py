"""Reading a feature store: :func:`load_features` gives the descriptors of one layer as a :class:`FeatureSet`
(what ``vidlens linear`` and ``vidlens embed`` consume); :func:`iter_records` the manifest records.

The layout it reads is described in :mod:`vidlens.features.store`; :mod:`.writer` writes it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vidlens.features.store.layout import import_h5py, latest_records, manifest_files, read_manifest

__all__ = ["FeatureSet", "as_feature_set", "iter_records", "load_features"]


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
    manifests = manifest_files(path)
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


def _load_npy(folder: Path, manifests: list[Path], layer: str | None) -> FeatureSet:
    records = list(latest_records(r for m in manifests for r in read_manifest(m)).values())
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


def _load_h5(files: list[Path], layer: str | None) -> FeatureSet:
    h5py = import_h5py()
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
    yield from latest_records(r for m in manifest_files(Path(folder)) for r in read_manifest(m)).values()


def as_feature_set(features: FeatureSet | str | os.PathLike, layer: str | None = None) -> FeatureSet:
    """``features`` itself when it is a loaded :class:`FeatureSet` (of ``layer``, when given), else the store
    at that path loaded with :func:`load_features`."""
    if isinstance(features, FeatureSet):
        if layer is not None and layer != features.layer:
            raise ValueError(
                f"the FeatureSet holds layer {features.layer!r}, not {layer!r}; load that layer instead"
            )
        return features
    return load_features(features, layer)
