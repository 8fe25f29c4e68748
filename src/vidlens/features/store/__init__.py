"""Feature stores on disk: what ``vidlens extract`` writes and what ``vidlens linear`` / ``embed`` read.

Three modules: :mod:`.layout` (file names, video ids, manifests), :mod:`.reader` (:func:`load_features`) and
:mod:`.writer` (what :func:`vidlens.features.extract.extract_collection` writes with: atomic files, an
append-only manifest, resuming a killed run, HDF5 consolidation). The reader and layout names are imported
from here: ``from vidlens.features.store import load_features``.

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
clips of video ``k`` are rows ``clip_offsets[k]:clip_offsets[k + 1]``. Until it is written, the shard's
videos are staged as an npy store in ``DIR/.staging-<i>-of-<n>`` (removed once the ``.h5`` is complete).

A manifest record: ``id``, ``source`` (the video's path), ``status`` (``"ok"`` or ``"failed"``), ``error``,
``frames``, ``fps``, ``n_clips``, ``clip_starts`` (frames), ``clip_times`` (seconds), ``layers``, ``model``,
``weights``, ``weights_sha256``, ``clip_len``, ``stride``, ``preset`` and, for npy stores, ``files``
(``{layer: {"descriptor": ..., "clips": ...}}``, relative to ``DIR``).

Video ids are the inputs' paths relative to the folder they were found in (or their file names), without
the extension, with ``/`` turned into ``__`` and characters other than letters, digits, ``.``, ``-`` and
``_`` into ``_``. Two inputs that would get the same id are told apart by a suffix (``~2``, ``~3``, in input
order), so nothing is ever overwritten.
"""

from vidlens.features.store.layout import (
    h5_name,
    make_video_ids,
    manifest_name,
    read_manifest,
    staging_name,
    store_files,
)
from vidlens.features.store.reader import FeatureSet, as_feature_set, iter_records, load_features

__all__ = [
    "FeatureSet",
    "as_feature_set",
    "h5_name",
    "iter_records",
    "load_features",
    "make_video_ids",
    "manifest_name",
    "read_manifest",
    "staging_name",
    "store_files",
]
