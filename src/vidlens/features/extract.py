"""C3D video descriptors at scale: fc6 of 16-frame clips, averaged over a video and L2-normalised.

Tran et al. 2015 (section 4) describe C3D as a generic video descriptor: split a video into 16-frame clips
with an 8-frame overlap, pass each clip through the network, average the fc6 activations over the clips
and L2-normalise the average. A linear SVM on these descriptors is the paper's evaluation (see
:mod:`vidlens.features.linear`).

Two entry points:

* :func:`extract_features` -- one video, in process: per-clip activations, the descriptor and the clips'
  start frames and times (handy in a notebook);
* :func:`extract_collection` -- thousands of videos, written to a feature store
  (:mod:`vidlens.features.store`) by ``vidlens extract``. Decoding runs in DataLoader worker processes that
  each stream their share of the videos (:func:`vidlens.video.iter_clips`, so memory does not grow with a
  video's length) and form batches across videos; the model runs in the main process. Every file is
  written atomically and recorded in an append-only manifest, so a run killed at any moment (even with
  ``kill -9``) is completed by rerunning the same command, and a video that fails to decode is recorded
  with its error while the run goes on. ``shard=(i, n)`` processes a deterministic 1/n of the inputs.

On CPU the model always sees full batches (the last one is padded), so a video's features do not depend on
which other videos shared its batches: a resumed run gives bit-identical files. The model runs under
``inference_mode`` in the precision of :mod:`vidlens.runtime`; on CUDA with ``channels_last_3d`` weights
and, with ``precision="auto"``, under bf16 autocast when a calibration batch shows the descriptors stay
within 1e-2 relative error of fp32 (on the CPU "auto" is fp32; "bf16" runs there too, slowly).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, IterableDataset, get_worker_info
from tqdm.auto import tqdm

from vidlens.data.datasets import VIDEO_EXTENSIONS, find_videos
from vidlens.data.transforms import ClipTransform
from vidlens.features.store import (
    _h5py,
    _latest,
    h5_name,
    make_video_ids,
    manifest_name,
    read_manifest,
    store_files,
)
from vidlens.io import atomic_write
from vidlens.models.taps import FeatureTaps, get_layer
from vidlens.presets import Preset, get_preset
from vidlens.runtime import Precision, Runtime, check_precision, resolve_precision, select_device
from vidlens.video import DEFAULT_SIZE, Size, VideoError, iter_clips, probe

__all__ = [
    "ExtractSummary",
    "VideoFeatures",
    "VideoInput",
    "extract_collection",
    "extract_features",
    "resolve_inputs",
    "shard_inputs",
]

Pool = Literal["auto", "mean", "flatten"]
# Relative error of the descriptor that bf16 autocast may cost before "auto" keeps fp32 (issue 5).
BF16_TOLERANCE = 1e-2


# ----------------------------------------------------------------------------------------------- inputs
@dataclass(frozen=True)
class VideoInput:
    """One video to extract: where it is, its id in the store (see :mod:`vidlens.features.store`)."""

    path: Path
    id: str


def resolve_inputs(inputs: Sequence[str | os.PathLike]) -> list[VideoInput]:
    """Video files, folders (searched recursively for video files) and ``@list.txt`` files (one path per
    line; blank lines and ``#`` comments ignored; relative paths are relative to the list's folder), in
    the order given, each video once, with unique file-name-safe ids."""
    found: list[tuple[Path, str]] = []
    for item in inputs:
        text = os.fspath(item)
        if text.startswith("@"):
            found += _read_list(Path(text[1:]))
            continue
        path = Path(text)
        if path.is_dir():
            videos = find_videos(path)
            if not videos:
                warnings.warn(
                    f"{path} holds no video files ({', '.join(VIDEO_EXTENSIONS[:4])}, ...)", stacklevel=2
                )
            found += [(v, v.relative_to(path).as_posix()) for v in videos]
        elif path.is_file():
            found.append((path, path.name))
        else:
            raise FileNotFoundError(f"no such video file or folder: {text!r}")
    unique: dict[Path, str] = {}
    for path, relative in found:
        unique.setdefault(path.resolve(), relative)
    if not unique:
        raise ValueError("no videos to extract: the inputs hold no video files")
    ids = make_video_ids(list(unique.values()))
    return [VideoInput(path, video_id) for path, video_id in zip(unique, ids, strict=True)]


def _read_list(list_file: Path) -> list[tuple[Path, str]]:
    if not list_file.is_file():
        raise FileNotFoundError(
            f"no such list file: {str(list_file)!r} (an @argument names a list of videos)"
        )
    entries = []
    for number, line in enumerate(list_file.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        path = Path(line)
        relative = path.as_posix() if not path.is_absolute() else path.as_posix().lstrip("/")
        path = path if path.is_absolute() else list_file.parent / path
        if not path.is_file():
            raise FileNotFoundError(f"{list_file}:{number}: no such video file: {line!r}")
        entries.append((path, relative))
    return entries


def shard_inputs(videos: Sequence[VideoInput], shard: tuple[int, int]) -> list[VideoInput]:
    """Shard ``i`` of ``n``: every n-th video starting at the i-th (by input order, which ids follow)."""
    i, n = shard
    if n < 1 or not 0 <= i < n:
        raise ValueError(f"shard must be i/n with 0 <= i < n, got {i}/{n}")
    return list(videos[i::n])


# ------------------------------------------------------------------------------------------------ model
class _Runner:
    """Runs clips through a model and returns the activations of the requested layers as float32 arrays."""

    def __init__(
        self,
        model: nn.Module,
        layers: Sequence[str],
        device: torch.device,
        precision: Precision,
        pool: Pool,
    ) -> None:
        for layer in layers:
            get_layer(model, layer)  # an unknown name fails here, with the model's layer names listed
        if pool not in ("auto", "mean", "flatten"):
            raise ValueError(f"pool must be 'auto', 'mean' or 'flatten', got {pool!r}")
        auto = check_precision(precision) == "auto"
        self.model = model.eval()
        self.runtime = Runtime.create(device, "fp32" if auto else precision).prepare(self.model)
        self.device = self.runtime.device
        self.layers = list(layers)
        self.pool = pool
        # "auto" where it means bf16 (CUDA with native bf16): the first batch calibrates bf16 against fp32.
        self.candidate: Runtime | None = None
        if auto and resolve_precision("auto", self.device) == "bf16":
            self.candidate = replace(self.runtime, precision="bf16")
        self.calibration_error: float | None = None

    @property
    def precision(self) -> str:
        """The precision the model runs in (fp32 until an "auto" calibration keeps bf16)."""
        return self.runtime.precision

    def __call__(self, clips: torch.Tensor) -> dict[str, np.ndarray]:
        if self.candidate is not None:
            self.calibrate(clips, self.candidate)
        return self._run(clips, self.runtime)

    def _run(self, clips: torch.Tensor, runtime: Runtime) -> dict[str, np.ndarray]:
        clips = runtime.input(clips)  # (N, 3, T, H, W)
        with (
            torch.inference_mode(),
            runtime.autocast(),
            FeatureTaps(self.model, self.layers) as taps,
        ):
            outputs = taps.run(clips)
        return {name: self._pooled(name, out) for name, out in outputs.items()}

    def _pooled(self, name: str, out: Any) -> np.ndarray:
        if not isinstance(out, torch.Tensor):
            raise TypeError(f"layer {name!r} returned {type(out).__name__}, not a tensor; tap another layer")
        out = out.float()
        if out.dim() > 2 and self.pool in ("auto", "mean"):
            out = out.flatten(2).mean(2)  # (N, C, ...) -> (N, C): average over time and space
        return out.flatten(1).cpu().numpy()  # (N, D)

    def calibrate(self, clips: torch.Tensor, candidate: Runtime, tolerance: float = BF16_TOLERANCE) -> float:
        """Run from now on in ``candidate`` (a reduced precision) if it changes the batch's mean descriptor
        of every layer by at most ``tolerance`` (relative), else stay; returns that error. Calibrates once:
        the candidate is then dropped."""
        exact, fast = self._run(clips, self.runtime), self._run(clips, candidate)
        error = max(
            float(np.linalg.norm(_descriptor(fast[k]) - _descriptor(exact[k]))) for k in self.layers
        )  # both descriptors have norm 1, so this is the relative error
        self.calibration_error = error
        if error <= tolerance:
            self.runtime = candidate
        self.candidate = None
        return error


def _l2_normalised(vector: np.ndarray) -> np.ndarray:
    """``vector / ||vector||`` as float32 (a zero vector stays zero)."""
    norm = np.linalg.norm(vector)
    return (vector / norm if norm > 0 else vector).astype(np.float32)


def _descriptor(clip_features: np.ndarray) -> np.ndarray:
    """Mean over clips, L2-normalised (Tran et al. 2015, sec. 4): ``(n, D) -> (D,)`` float32."""
    return _l2_normalised(clip_features.astype(np.float64).mean(0))


# ------------------------------------------------------------------------------------------ one video
@dataclass
class VideoFeatures:
    """The features of one video and one layer."""

    layer: str
    clips: np.ndarray  # (n_clips, D) float32, one row per clip in clip order
    descriptor: np.ndarray  # (D,) float32: mean over clips, L2-normalised
    starts: list[int]  # first frame of each clip
    times: list[float]  # start time of each clip, seconds
    frames: int  # frames decoded
    fps: float


def extract_features(
    model: nn.Module,
    video_path: str | os.PathLike,
    layer: str | Sequence[str] = "fc6",
    *,
    clip_len: int = 16,
    stride: int = 8,
    preset: Preset | str | None = None,
    size: Size = DEFAULT_SIZE,
    crop: int | None = None,
    batch_size: int = 16,
    device: str | torch.device | None = None,
    precision: Precision = "fp32",
    pool: Pool = "auto",
) -> VideoFeatures | dict[str, VideoFeatures]:
    """Per-clip activations and the video descriptor of ``layer`` for one video (C3D's recipe by default:
    16-frame clips every 8 frames, frames resized to 128x171 and centre-cropped to the model's input size).

    ``preset`` defaults to the model's ``default_preset`` (``sports1m`` for ported C3D weights); ``device``
    to the device the model is on. Several layers (a list) give a dict of results. Conv layers are averaged
    over time and space (``pool="mean"``) unless ``pool="flatten"``. The clips are streamed, so memory does
    not grow with the video's length.

        model = vidlens.models.c3d_sports1m(weights="c3d.pickle")
        f = extract_features(model, "v_ApplyEyeMakeup_g01_c01.avi")
        f.descriptor.shape, f.clips.shape, f.starts[:3]  # (4096,), (n, 4096), [0, 8, 16]
    """
    layers = [layer] if isinstance(layer, str) else list(layer)
    if device is None:
        param = next(model.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")
    device = device if isinstance(device, torch.device) else select_device(device)
    runner = _Runner(model, layers, device, precision, pool)
    transform = _transform(model, preset, crop)
    outputs: dict[str, list[np.ndarray]] = {name: [] for name in layers}
    starts: list[int] = []
    times: list[float] = []
    batch: list[torch.Tensor] = []

    def flush() -> None:
        for name, values in runner(torch.stack(batch)).items():
            outputs[name].append(values)
        batch.clear()

    for clip in iter_clips(video_path, clip_len, stride, size):
        batch.append(transform(clip.frames))
        starts.append(clip.start)
        times.append(clip.time)
        if len(batch) == batch_size:
            flush()
    if batch:
        flush()
    if not starts:
        raise VideoError(video_path, "no clips could be cut from it")
    info = probe(video_path)
    results = {}
    for name in layers:
        clips = np.concatenate(outputs[name])  # (n_clips, D)
        results[name] = VideoFeatures(name, clips, _descriptor(clips), starts, times, info.n_frames, info.fps)
    return results[layers[0]] if isinstance(layer, str) else results


def _transform(model: nn.Module, preset: Preset | str | None, crop: int | None) -> ClipTransform:
    preset = preset if preset is not None else getattr(model, "default_preset", "plain")
    if crop is None:
        shape = getattr(model, "input_shape", None)
        crop = shape[-1] if shape is not None and not getattr(model, "size_agnostic", False) else 112
    return ClipTransform(preset=get_preset(preset), crop=crop, train=False)


# ------------------------------------------------------------------------------------ many videos: data
@dataclass
class _Batch:
    """What a decoding worker sends: clips of one or several videos, and news about finished videos."""

    clips: torch.Tensor  # (B, 3, T, H, W); rows past len(owners) are padding
    owners: list[tuple[int, int, float]]  # per real row: (video index, clip start frame, clip start time)
    finished: list[tuple[int, dict[str, Any]]]  # (video index, {"frames", "fps"} or {"error"})


class _ClipStream(IterableDataset):
    """Streams the clips of a list of videos in batches; worker ``w`` of ``W`` takes videos w, w+W, ..."""

    def __init__(
        self,
        paths: Sequence[Path],
        *,
        clip_len: int,
        stride: int,
        size: Size,
        transform: ClipTransform,
        batch_size: int,
        pad: bool,
    ) -> None:
        self.paths = list(paths)
        self.clip_len, self.stride, self.size = clip_len, stride, size
        self.transform = transform
        self.batch_size = batch_size
        self.pad = pad

    def __iter__(self) -> Iterator[_Batch]:
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        rows: list[torch.Tensor] = []
        owners: list[tuple[int, int, float]] = []
        finished: list[tuple[int, dict[str, Any]]] = []
        for index in range(worker, len(self.paths), workers):
            path = self.paths[index]
            try:
                n_clips = 0
                for clip in iter_clips(path, self.clip_len, self.stride, self.size):
                    rows.append(self.transform(clip.frames))  # (3, T, crop, crop)
                    owners.append((index, clip.start, clip.time))
                    n_clips += 1
                    if len(rows) == self.batch_size:
                        yield self._batch(rows, owners, finished)
                if n_clips == 0:
                    raise VideoError(path, "no clips could be cut from it")
                meta = probe(path)
                finished.append((index, {"frames": meta.n_frames, "fps": meta.fps}))
            except (VideoError, ValueError, OSError) as err:
                finished.append((index, {"error": str(err)}))
        if rows or finished:
            yield self._batch(rows, owners, finished)

    def _batch(self, rows: list, owners: list, finished: list) -> _Batch:
        n = len(rows)
        if rows and self.pad and n < self.batch_size:
            rows += [torch.zeros_like(rows[0])] * (self.batch_size - n)
        clips = torch.stack(rows) if rows else torch.empty(0)
        batch = _Batch(clips, list(owners), list(finished))
        rows.clear()
        owners.clear()
        finished.clear()
        return batch


def _identity(batch: _Batch) -> _Batch:
    return batch


# ----------------------------------------------------------------------------------- many videos: store
class _ClipSink:
    """Collects one video's per-clip activations on disk (memory stays flat however long the video) and
    keeps a running sum for its descriptor."""

    def __init__(self, folder: Path, key: str) -> None:
        self.path = folder / f".{key}.partial"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.file = self.path.open("wb")
        self.sum: np.ndarray | None = None
        self.rows = 0
        self.dim = 0

    def add(self, rows: np.ndarray) -> None:  # (k, D) float32
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
        descriptor = _l2_normalised(self.sum / self.rows)
        atomic_write(descriptor_path, lambda tmp: _save_npy(tmp, descriptor))
        self.discard()

    def discard(self) -> None:
        if not self.file.closed:
            self.file.close()
        self.path.unlink(missing_ok=True)


def _save_npy(path: Path, array: np.ndarray) -> None:
    with path.open("wb") as f:  # a file object: np.save would append .npy to the temporary name
        np.save(f, array)


@dataclass
class ExtractSummary:
    """What a call of :func:`extract_collection` did."""

    out: str
    total: int  # videos in this shard
    done: int  # extracted in this call
    skipped: int  # already complete from an earlier run
    failed: list[dict[str, Any]] = field(default_factory=list)  # manifest records of failures
    clips: int = 0  # clips run through the model in this call
    seconds: float = 0.0
    precision: str = "fp32"
    store: str = ""  # the manifest or .h5 file written

    @property
    def clips_per_s(self) -> float:
        return self.clips / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> str:
        line = (
            f"{self.done} videos extracted, {self.skipped} already done, {len(self.failed)} failed "
            f"(of {self.total}); {self.clips} clips in {self.seconds:.1f} s ({self.clips_per_s:.1f} clips/s, "
            f"{self.precision}) -> {self.store}"
        )
        for record in self.failed[:10]:
            line += f"\n  failed: {record['source']}: {record['error']}"
        if len(self.failed) > 10:
            line += f"\n  ... and {len(self.failed) - 10} more (see the manifest)"
        return line


def _sha256(path: Path, cache: dict[Path, str] = {}) -> str:  # noqa: B006 - a deliberate memo
    key = path.resolve()
    if key not in cache:
        digest = hashlib.sha256()
        with path.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
        cache[key] = digest.hexdigest()
    return cache[key]


# Settings that must agree between a store and a rerun that continues it.
_SETTINGS = ("model", "weights_sha256", "layers", "clip_len", "stride", "size", "crop", "preset", "pool")


def extract_collection(
    model: nn.Module,
    videos: Sequence[VideoInput],
    out: str | os.PathLike,
    *,
    layers: Sequence[str] = ("fc6",),
    model_name: str | None = None,
    weights: str | os.PathLike | None = None,
    clip_len: int = 16,
    stride: int = 8,
    size: Size = DEFAULT_SIZE,
    crop: int | None = None,
    preset: Preset | str | None = None,
    batch_size: int = 16,
    workers: int = 2,
    device: str | torch.device = "auto",
    precision: Precision = "auto",
    pool: Pool = "auto",
    fmt: Literal["npy", "hdf5"] = "npy",
    shard: tuple[int, int] = (0, 1),
    progress: bool = True,
    on_video: Callable[[dict[str, Any]], None] | None = None,
) -> ExtractSummary:
    """Extract ``layers`` for shard ``shard`` of ``videos`` into the store ``out`` (see the module and
    :mod:`vidlens.features.store` docstrings); skip videos a previous run completed with the same settings.

    ``model`` is used in eval mode on ``device``; ``weights`` (the file it was loaded from) is checksummed
    into the manifest. ``on_video`` is called with each manifest record as it is written. Videos that
    failed are tried again by a rerun. With ``fmt="hdf5"`` videos are staged as npy files in
    ``out/.staging-<i>-of-<n>`` and consolidated into one ``.h5`` at the end (so a killed run resumes from
    the staging); a finished ``.h5`` is reused as is, and adding videos to it re-extracts the shard.
    """
    t0 = time.perf_counter()
    if batch_size < 1 or workers < 0:
        raise ValueError(f"batch_size must be >= 1 and workers >= 0, got {batch_size} and {workers}")
    if fmt not in ("npy", "hdf5"):
        raise ValueError(f"format must be 'npy' or 'hdf5', got {fmt!r}")
    out = Path(out)
    device = device if isinstance(device, torch.device) else select_device(device)
    layers = list(dict.fromkeys(layers))
    runner = _Runner(model, layers, device, precision, pool)
    transform = _transform(model, preset, crop)
    settings = {
        "model": model_name or type(model).__name__,
        "weights": str(weights) if weights is not None else None,
        "weights_sha256": _sha256(Path(weights)) if weights is not None else None,
        "layers": layers,
        "clip_len": clip_len,
        "stride": stride,
        "size": list(size) if size is not None else None,
        "crop": transform.crop,
        "preset": transform.preset.name,
        "pool": pool,
    }
    mine = shard_inputs(videos, shard)
    if fmt == "hdf5":
        h5_path = out / h5_name(shard)
        if h5_path.is_file() and _h5_complete(h5_path, mine, settings):
            return ExtractSummary(str(out), len(mine), 0, len(mine), store=str(h5_path))
        folder = out / f".staging-{shard[0]}-of-{shard[1]}"
    else:
        folder = out
    folder.mkdir(parents=True, exist_ok=True)
    manifest = folder / manifest_name(shard)
    done = _resume(folder, manifest, settings)
    todo = [v for v in mine if not _complete(done.get(v.id), v, folder)]
    summary = ExtractSummary(str(out), len(mine), 0, len(mine) - len(todo), store=str(manifest))

    records = {v.id: done[v.id] for v in mine if v.id not in {t.id for t in todo}}
    if todo:
        stream = _ClipStream(
            [v.path for v in todo],
            clip_len=clip_len,
            stride=stride,
            size=size,
            transform=transform,
            batch_size=batch_size,
            pad=device.type == "cpu",
        )
        _run(runner, stream, todo, folder, manifest, settings, records, summary, workers, progress, on_video)
    summary.precision = runner.precision
    ordered = [records[v.id] for v in mine if v.id in records]
    _write_manifest(manifest, ordered)  # compacted, in input order: identical however the run was interrupted
    if fmt == "hdf5":
        summary.store = str(_consolidate(folder, ordered, out / h5_name(shard), settings))
        shutil.rmtree(folder)
    summary.failed = [r for r in ordered if r["status"] != "ok"]
    summary.seconds = time.perf_counter() - t0
    return summary


def _run(
    runner: _Runner,
    stream: _ClipStream,
    todo: list[VideoInput],
    folder: Path,
    manifest: Path,
    settings: dict[str, Any],
    records: dict[str, dict[str, Any]],
    summary: ExtractSummary,
    workers: int,
    progress: bool,
    on_video: Callable[[dict[str, Any]], None] | None,
) -> None:
    """Decode in workers, run the model here, write each video as soon as its last clip is through."""
    workers = min(workers, len(todo))
    loader = DataLoader(
        stream,
        batch_size=None,
        num_workers=workers,
        collate_fn=_identity,
        pin_memory=runner.device.type == "cuda",
        prefetch_factor=4 if workers > 0 else None,
    )
    layers = settings["layers"]
    sinks: dict[int, dict[str, _ClipSink]] = {}
    clip_meta: dict[int, tuple[list[int], list[float]]] = {}
    bar = tqdm(total=len(todo), desc="extract", unit="video", disable=not progress, dynamic_ncols=True)
    started = time.perf_counter()
    journal = manifest.open("a")
    try:
        for batch in loader:
            if batch.owners:
                features = runner(batch.clips)  # {layer: (B, D)}
                summary.clips += len(batch.owners)
                owners = np.array([o[0] for o in batch.owners])
                for index in dict.fromkeys(owners.tolist()):
                    rows = owners == index
                    if index not in sinks:
                        sinks[index] = {
                            name: _ClipSink(folder, f"{todo[index].id}.{name}") for name in layers
                        }
                        clip_meta[index] = ([], [])
                    for name in layers:
                        sinks[index][name].add(features[name][: len(owners)][rows])
                    for (_, start, when), keep in zip(batch.owners, rows, strict=True):
                        if keep:
                            clip_meta[index][0].append(start)
                            clip_meta[index][1].append(when)
            for index, news in batch.finished:
                video = todo[index]
                record = _finish(
                    video, news, sinks.pop(index, {}), clip_meta.pop(index, ([], [])), folder, settings
                )
                records[video.id] = record
                journal.write(json.dumps(record) + "\n")
                journal.flush()
                if record["status"] == "ok":
                    summary.done += 1
                bar.update(1)
                bar.set_postfix(
                    clips_s=f"{summary.clips / (time.perf_counter() - started):.1f}", refresh=False
                )
                if on_video is not None:
                    on_video(record)
    finally:
        journal.close()
        bar.close()
        for video_sinks in sinks.values():
            for sink in video_sinks.values():
                sink.discard()


def _finish(
    video: VideoInput,
    news: dict[str, Any],
    sinks: dict[str, _ClipSink],
    meta: tuple[list[int], list[float]],
    folder: Path,
    settings: dict[str, Any],
) -> dict[str, Any]:
    starts, times = meta
    record: dict[str, Any] = {"id": video.id, "source": str(video.path.resolve())}
    if "error" in news:
        for sink in sinks.values():
            sink.discard()
        record.update(status="failed", error=news["error"], frames=None, fps=None, n_clips=0)
        record.update(clip_starts=[], clip_times=[], **settings)
        return record
    files = store_files(folder, video.id, settings["layers"])
    for name, sink in sinks.items():
        sink.finish(folder / files[name]["clips"], folder / files[name]["descriptor"])
    record.update(status="ok", error=None, frames=news["frames"], fps=news["fps"], n_clips=len(starts))
    record.update(clip_starts=starts, clip_times=[round(t, 6) for t in times], **settings, files=files)
    return record


def _resume(folder: Path, manifest: Path, settings: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Records a previous run left for this shard (after removing its half-written files); refuses a store
    made with other settings."""
    for leftover in [*folder.rglob(".*.partial"), *folder.rglob(".*.tmp")]:
        leftover.unlink(missing_ok=True)
    if not manifest.is_file():
        return {}
    records = _latest(read_manifest(manifest))
    for record in records.values():
        differing = [k for k in _SETTINGS if record.get(k) != settings[k]]
        if differing:
            shown = ", ".join(f"{k}: {record.get(k)!r} there, {settings[k]!r} now" for k in differing)
            raise ValueError(
                f"{folder} holds features extracted with other settings ({shown}); extract into another "
                "--out folder, or delete that one"
            )
    _write_manifest(manifest, list(records.values()))  # drop a torn last line before appending
    return records


def _complete(record: dict[str, Any] | None, video: VideoInput, folder: Path) -> bool:
    if record is None or record.get("status") != "ok" or record.get("source") != str(video.path.resolve()):
        return False
    return all((folder / rel).is_file() for files in record["files"].values() for rel in files.values())


def _write_manifest(manifest: Path, records: list[dict[str, Any]]) -> None:
    text = "".join(json.dumps(r) + "\n" for r in records)
    atomic_write(manifest, lambda tmp: tmp.write_text(text))


# ---------------------------------------------------------------------------------------------- hdf5
def _consolidate(folder: Path, records: list[dict[str, Any]], path: Path, settings: dict[str, Any]) -> Path:
    """One HDF5 file from the staged per-video arrays (written atomically)."""
    h5py = _h5py()
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


def _h5_complete(path: Path, videos: Sequence[VideoInput], settings: dict[str, Any]) -> bool:
    h5py = _h5py()
    with h5py.File(path, "r") as h5:
        stored = json.loads(h5.attrs["settings"])
        differing = [k for k in _SETTINGS if stored.get(k) != settings[k]]
        if differing:
            raise ValueError(
                f"{path} was extracted with other settings ({', '.join(differing)}); extract into another "
                "--out folder, or delete it"
            )
        records = [json.loads(s) for s in h5["manifest"].asstr()[()]]
    ok = {r["id"] for r in records if r["status"] == "ok"}
    return all(v.id in ok for v in videos)
