"""Writing a feature store so that a run killed at any moment (even with ``kill -9``) is completed by rerunning it.

What :func:`vidlens.features.extract.extract_collection` calls, in order:

1. :func:`resume` removes the half-written files a killed run left, returns the records its manifest holds
   and refuses to continue a store made with other :data:`RESUME_SETTINGS`; :func:`video_complete` tells
   which of those videos need no new extraction (an HDF5 store asks :func:`h5_complete` first);
2. a :class:`ClipSink` per video and layer collects per-clip activations on disk while the model runs;
   :func:`finish_video` turns them into the video's ``.npy`` files (or discards them when decoding
   failed) and returns its manifest record, which the run appends to its :class:`Journal`;
3. :func:`write_manifest` compacts the journal into one record per video, in input order, so the final
   manifest is the same however often the run was interrupted; :func:`consolidate_h5` then packs an HDF5
   store's staged npy files into one ``.h5``.

Every file is written atomically (:func:`vidlens.io.atomic_write`), so a file is either whole or absent. The
layout is described in :mod:`vidlens.features.store`; :mod:`.reader` reads it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from vidlens.features.store.layout import import_h5py, latest_records, read_manifest, store_files
from vidlens.io import atomic_write

__all__ = [
    "RESUME_SETTINGS",
    "ClipSink",
    "Journal",
    "StoreVideo",
    "consolidate_h5",
    "finish_video",
    "h5_complete",
    "l2_normalised",
    "resume",
    "video_complete",
    "write_manifest",
]

#: Settings that must agree between a store and a rerun that continues it (keys of the run's settings,
#: which every manifest record and an HDF5 file's ``settings`` attribute carry).
RESUME_SETTINGS = (
    "model",
    "weights_sha256",
    "layers",
    "clip_len",
    "stride",
    "size",
    "crop",
    "preset",
    "pool",
    "stream",  # the stream asked for (None: FFmpeg's choice); a store made before it was a setting has None
)


class StoreVideo(Protocol):
    """What the writer needs to know of a video (:class:`vidlens.features.extract.VideoInput` is one)."""

    @property
    def id(self) -> str:
        """The video's id in the store."""
        ...

    @property
    def path(self) -> Path:
        """The video file."""
        ...


def l2_normalised(vector: np.ndarray) -> np.ndarray:
    """``vector / ||vector||`` as float32 (a zero vector stays zero)."""
    norm = np.linalg.norm(vector)
    return (vector / norm if norm > 0 else vector).astype(np.float32)


def _save_npy(path: Path, array: np.ndarray) -> None:
    with path.open("wb") as f:  # a file object: np.save would append .npy to the temporary name
        np.save(f, array)


class ClipSink:
    """Collects one video's per-clip activations on disk (memory stays flat however long the video) and
    keeps a running sum for its descriptor."""

    def __init__(self, folder: Path, key: str) -> None:
        self.path = folder / f".{key}.partial"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.file = self.path.open("wb")
        self.sum: np.ndarray | None = None
        self.rows = 0
        self.dim = 0

    def add(self, rows: np.ndarray) -> None:
        """Append the activations ``(k, D)`` of the video's next ``k`` clips."""
        rows = np.ascontiguousarray(rows, dtype=np.float32)
        self.file.write(rows.tobytes())
        total = rows.astype(np.float64).sum(0)
        self.sum = total if self.sum is None else self.sum + total
        self.rows += len(rows)
        self.dim = rows.shape[1]

    def finish(self, clips_path: Path, descriptor_path: Path) -> None:
        """Write ``(n, D)`` clips and the ``(D,)`` descriptor as .npy files, atomically."""
        self.file.close()

        def write_clips(tmp: Path) -> None:
            shape = (self.rows, self.dim)
            raw = np.memmap(self.path, dtype=np.float32, mode="r", shape=shape)
            out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=shape)
            for start in range(0, self.rows, 4096):
                out[start : start + 4096] = raw[start : start + 4096]
            out.flush()
            del out, raw

        atomic_write(clips_path, write_clips)
        assert self.sum is not None
        descriptor = l2_normalised(self.sum / self.rows)
        atomic_write(descriptor_path, lambda tmp: _save_npy(tmp, descriptor))
        self.discard()

    def discard(self) -> None:
        """Close and delete the partial file (the video failed, or the run stops)."""
        if not self.file.closed:
            self.file.close()
        self.path.unlink(missing_ok=True)


class Journal:
    """A manifest opened for appending while a run goes on: each finished video's record is written as one
    JSON line and flushed at once, so a killed run loses at most a torn last line (which
    :func:`~vidlens.features.store.layout.read_manifest` ignores and :func:`resume` drops)."""

    def __init__(self, manifest: Path) -> None:
        self.file = manifest.open("a")

    def append(self, record: dict[str, Any]) -> None:
        """Add ``record`` as the manifest's last line."""
        self.file.write(json.dumps(record) + "\n")
        self.file.flush()

    def close(self) -> None:
        self.file.close()


def finish_video(
    video: StoreVideo,
    news: dict[str, Any],
    sinks: dict[str, ClipSink],
    meta: tuple[list[int], list[float]],
    folder: Path,
    settings: dict[str, Any],
) -> dict[str, Any]:
    """Write a video whose last clip went through the model and return its manifest record.

    ``news`` is what decoding found (``{"frames", "fps", "stream_index"}``, or ``{"error"}`` when it failed: the sinks are
    then discarded and the record says ``"failed"``); ``sinks`` the video's :class:`ClipSink` per layer;
    ``meta`` its clips' start frames and times; ``settings`` the run's, copied into the record.
    """
    starts, times = meta
    record: dict[str, Any] = {"id": video.id, "source": str(video.path.resolve())}
    if "error" in news:
        for sink in sinks.values():
            sink.discard()
        record.update(
            status="failed", error=news["error"], frames=None, fps=None, stream_index=None, n_clips=0
        )
        record.update(clip_starts=[], clip_times=[], **settings)
        return record
    files = store_files(folder, video.id, settings["layers"])
    for name, sink in sinks.items():
        sink.finish(folder / files[name]["clips"], folder / files[name]["descriptor"])
    record.update(status="ok", error=None, frames=news["frames"], fps=news["fps"], n_clips=len(starts))
    record.update(stream_index=news.get("stream_index"))  # the video stream read
    record.update(clip_starts=starts, clip_times=[round(t, 6) for t in times], **settings, files=files)
    return record


def resume(folder: Path, manifest: Path, settings: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Records a previous run left for this shard (after removing its half-written files); refuses a store
    made with other settings."""
    for leftover in [*folder.rglob(".*.partial"), *folder.rglob(".*.tmp")]:
        leftover.unlink(missing_ok=True)
    if not manifest.is_file():
        return {}
    records = latest_records(read_manifest(manifest))
    for record in records.values():
        differing = [k for k in RESUME_SETTINGS if record.get(k) != settings[k]]
        if differing:
            shown = ", ".join(f"{k}: {record.get(k)!r} there, {settings[k]!r} now" for k in differing)
            raise ValueError(
                f"{folder} holds features extracted with other settings ({shown}); extract into another "
                "--out folder, or delete that one"
            )
    write_manifest(manifest, list(records.values()))  # drop a torn last line before appending
    return records


def video_complete(record: dict[str, Any] | None, video: StoreVideo, folder: Path) -> bool:
    """Whether ``record`` (the video's latest, if any) says it was extracted from this very file and all
    its files are in ``folder``: then a rerun skips it."""
    if record is None or record.get("status") != "ok" or record.get("source") != str(video.path.resolve()):
        return False
    return all((folder / rel).is_file() for files in record["files"].values() for rel in files.values())


def write_manifest(manifest: Path, records: list[dict[str, Any]]) -> None:
    """Replace ``manifest`` with ``records``, one JSON line each, atomically."""
    text = "".join(json.dumps(r) + "\n" for r in records)
    atomic_write(manifest, lambda tmp: tmp.write_text(text))


def consolidate_h5(folder: Path, records: list[dict[str, Any]], path: Path, settings: dict[str, Any]) -> Path:
    """One HDF5 file from the staged per-video arrays (written atomically)."""
    h5py = import_h5py()
    ok = [r for r in records if r["status"] == "ok"]

    def write(tmp: Path) -> None:
        with h5py.File(tmp, "w") as h5:
            h5.attrs["layers"] = json.dumps(settings["layers"])
            h5.attrs["settings"] = json.dumps(settings)
            strings = h5py.string_dtype()
            h5.create_dataset("ids", data=np.array([r["id"] for r in ok], dtype=object), dtype=strings)
            h5.create_dataset(
                "sources", data=np.array([r["source"] for r in ok], dtype=object), dtype=strings
            )
            stored = [{k: v for k, v in r.items() if k != "files"} for r in records]
            manifest = np.array([json.dumps(r) for r in stored], dtype=object)
            h5.create_dataset("manifest", data=manifest, dtype=strings)
            for layer in settings["layers"]:
                group = h5.create_group(layer)
                descriptors = [np.load(folder / r["files"][layer]["descriptor"]) for r in ok]
                dim = descriptors[0].shape[0] if descriptors else 0
                group.create_dataset("descriptors", data=np.stack(descriptors) if ok else np.zeros((0, dim)))
                offsets = np.concatenate([[0], np.cumsum([r["n_clips"] for r in ok])]).astype(np.int64)
                group.create_dataset("clip_offsets", data=offsets)
                clips = group.create_dataset("clips", shape=(int(offsets[-1]), dim), dtype=np.float32)
                for k, r in enumerate(ok):
                    clips[offsets[k] : offsets[k + 1]] = np.load(
                        folder / r["files"][layer]["clips"], mmap_mode="r"
                    )

    return atomic_write(path, write)


def h5_complete(path: Path, videos: Sequence[StoreVideo], settings: dict[str, Any]) -> bool:
    """Whether the HDF5 file ``path`` already holds every one of ``videos``, extracted successfully; refuses
    a file made with other settings."""
    h5py = import_h5py()
    with h5py.File(path, "r") as h5:
        stored = json.loads(h5.attrs["settings"])
        differing = [k for k in RESUME_SETTINGS if stored.get(k) != settings[k]]
        if differing:
            raise ValueError(
                f"{path} was extracted with other settings ({', '.join(differing)}); extract into another "
                "--out folder, or delete it"
            )
        records = [json.loads(s) for s in h5["manifest"].asstr()[()]]
    ok = {r["id"] for r in records if r["status"] == "ok"}
    return all(v.id in ok for v in videos)
