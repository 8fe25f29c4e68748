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
which other videos shared its batches: a resumed run gives bit-identical files. Batches are formed in the
main process from what every worker decoded, so a run pads one batch at most (not one per worker). The model runs under
``inference_mode`` in the precision of :mod:`vidlens.runtime`; on CUDA with ``channels_last_3d`` weights
and, with ``precision="auto"``, under bf16 autocast when a calibration batch shows the descriptors stay
within 1e-2 relative error of fp32 (on the CPU "auto" is fp32; "bf16" runs there too, slowly).
"""

from __future__ import annotations

import hashlib
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
from vidlens.features.store import h5_name, make_video_ids, manifest_name, staging_name
from vidlens.features.store.writer import (
    ClipSink,
    Journal,
    consolidate_h5,
    finish_video,
    h5_complete,
    l2_normalised,
    resume,
    video_complete,
    write_manifest,
)
from vidlens.models.taps import FeatureTaps, get_layer
from vidlens.presets import FROM_PRESET, FromPreset, Preset, override, resolve_preset
from vidlens.runtime import Precision, Runtime, check_precision, resolve_precision, select_device
from vidlens.video import Size, VideoError, iter_clips, probe

__all__ = [
    "ClipRecipe",
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


def _descriptor(clip_features: np.ndarray) -> np.ndarray:
    """Mean over clips, L2-normalised (Tran et al. 2015, sec. 4): ``(n, D) -> (D,)`` float32."""
    return l2_normalised(clip_features.astype(np.float64).mean(0))


# ------------------------------------------------------------------------------------------ clips
@dataclass(frozen=True)
class ClipRecipe:
    """How a video is cut into clips and each clip prepared for the model.

    Tran et al. 2015 (section 4): 16-frame clips every 8 frames (an 8-frame overlap); frames decoded at the
    preset's size (128x171), centre-cropped to its crop (112) and normalised as the preset says. The preset
    is the model's own unless one is given (:func:`vidlens.presets.resolve_preset`); ``size`` and ``crop``
    override its frame size and crop (``None``: the video's own size, whole frames).
    """

    clip_len: int = 16
    stride: int = 8
    preset: Preset | str | None = None
    size: Size | FromPreset = FROM_PRESET
    crop: int | FromPreset | None = FROM_PRESET

    def __post_init__(self) -> None:
        if self.clip_len < 1 or self.stride < 1:
            raise ValueError(f"clip_len and stride must be >= 1, got {self.clip_len} and {self.stride}")

    def transform(self, model: nn.Module) -> ClipTransform:
        """The evaluation transform (centre crop) for ``model``; its ``preset`` holds the frame size."""
        preset = override(resolve_preset(model, self.preset), size=self.size, crop=self.crop)
        return ClipTransform(preset=preset, train=False)


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
    size: Size | FromPreset = FROM_PRESET,
    crop: int | FromPreset | None = FROM_PRESET,
    batch_size: int = 16,
    device: str | torch.device | None = None,
    precision: Precision = "fp32",
    pool: Pool = "auto",
    stream: int | None = None,
) -> VideoFeatures | dict[str, VideoFeatures]:
    """Per-clip activations and the video descriptor of ``layer`` for one video (C3D's recipe by default:
    16-frame clips every 8 frames, frames resized to 128x171 and centre-cropped to 112).

    Frames are prepared as the model's preset says (``model.preset``: ``sports1m`` for C3D's ported
    Caffe weights, see :class:`ClipRecipe`); ``preset``, ``size`` and ``crop`` override it. ``device``
    defaults to the device the model is on. Several layers (a list) give a dict of results. Conv layers are averaged
    over time and space (``pool="mean"``) unless ``pool="flatten"``. The clips are streamed, so memory does
    not grow with the video's length. ``stream`` reads another video stream than the one FFmpeg picks
    (:func:`vidlens.video.probe` lists them).

        model = vidlens.models.load_model("c3d", weights="c3d.pickle")  # model.preset: sports1m
        f = extract_features(model, "v_ApplyEyeMakeup_g01_c01.avi")
        f.descriptor.shape, f.clips.shape, f.starts[:3]  # (4096,), (n, 4096), [0, 8, 16]
    """
    layers = [layer] if isinstance(layer, str) else list(layer)
    if device is None:
        param = next(model.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")
    device = device if isinstance(device, torch.device) else select_device(device)
    runner = _Runner(model, layers, device, precision, pool)
    transform = ClipRecipe(clip_len, stride, preset, size, crop).transform(model)
    outputs: dict[str, list[np.ndarray]] = {name: [] for name in layers}
    starts: list[int] = []
    times: list[float] = []
    batch: list[torch.Tensor] = []

    def flush() -> None:
        for name, values in runner(torch.stack(batch)).items():
            outputs[name].append(values)
        batch.clear()

    for clip in iter_clips(video_path, clip_len, stride, transform.preset.size, stream=stream):
        batch.append(transform(clip.frames))
        starts.append(clip.start)
        times.append(clip.time)
        if len(batch) == batch_size:
            flush()
    if batch:
        flush()
    if not starts:
        raise VideoError(video_path, "no clips could be cut from it")
    info = probe(video_path, stream)
    results = {}
    for name in layers:
        clips = np.concatenate(outputs[name])  # (n_clips, D)
        results[name] = VideoFeatures(name, clips, _descriptor(clips), starts, times, info.n_frames, info.fps)
    return results[layers[0]] if isinstance(layer, str) else results


# ------------------------------------------------------------------------------------ many videos: data
@dataclass
class _Batch:
    """What a decoding worker sends: clips of one or several videos (at most a batch), and news about
    finished videos (every clip of a finished video came in this chunk or an earlier one)."""

    clips: torch.Tensor  # (B, 3, T, H, W), one row per owner
    owners: list[tuple[int, int, float]]  # per real row: (video index, clip start frame, clip start time)
    finished: list[
        tuple[int, dict[str, Any]]
    ]  # (video index, {"frames", "fps", "stream_index"} or {"error"})


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
        stream: int | None = None,
    ) -> None:
        self.paths = list(paths)
        self.stream = stream
        self.clip_len, self.stride, self.size = clip_len, stride, size
        self.transform = transform
        self.batch_size = batch_size

    def __iter__(self) -> Iterator[_Batch]:
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        # In a worker process all decoding stays in its one thread: the worker processes and the model
        # already fill the cores. In-process, vidlens decodes ahead in a background thread.
        threads = 1 if info is not None else 0
        rows: list[torch.Tensor] = []
        owners: list[tuple[int, int, float]] = []
        finished: list[tuple[int, dict[str, Any]]] = []
        for index in range(worker, len(self.paths), workers):
            path = self.paths[index]
            try:
                n_clips = 0
                clips = iter_clips(
                    path, self.clip_len, self.stride, self.size, threads=threads, stream=self.stream
                )
                for clip in clips:
                    rows.append(self.transform(clip.frames))  # (3, T, crop, crop)
                    owners.append((index, clip.start, clip.time))
                    n_clips += 1
                    if len(rows) == self.batch_size:
                        yield self._batch(rows, owners, finished)
                if n_clips == 0:
                    raise VideoError(path, "no clips could be cut from it")
                meta = probe(path, self.stream)
                news = {"frames": meta.n_frames, "fps": meta.fps, "stream_index": meta.stream_index}
                finished.append((index, news))
            except (VideoError, ValueError, OSError) as err:
                finished.append((index, {"error": str(err)}))
        if rows or finished:
            yield self._batch(rows, owners, finished)

    def _batch(self, rows: list, owners: list, finished: list) -> _Batch:
        clips = torch.stack(rows) if rows else torch.empty(0)
        batch = _Batch(clips, list(owners), list(finished))
        rows.clear()
        owners.clear()
        finished.clear()
        return batch


def _identity(batch: _Batch) -> _Batch:
    return batch


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


def extract_collection(
    model: nn.Module,
    videos: Sequence[VideoInput],
    out: str | os.PathLike,
    *,
    layers: Sequence[str] = ("fc6",),
    model_name: str | None = None,
    weights: str | os.PathLike | None = None,
    clips: ClipRecipe = ClipRecipe(),
    batch_size: int = 16,
    workers: int = 2,
    device: str | torch.device = "auto",
    precision: Precision = "auto",
    pool: Pool = "auto",
    fmt: Literal["npy", "hdf5"] = "npy",
    shard: tuple[int, int] = (0, 1),
    progress: bool = True,
    on_video: Callable[[dict[str, Any]], None] | None = None,
    stream: int | None = None,
) -> ExtractSummary:
    """Extract ``layers`` for shard ``shard`` of ``videos`` into the store ``out`` (see the module and
    :mod:`vidlens.features.store` docstrings); skip videos a previous run completed with the same settings.

    ``clips`` says how clips are cut and prepared (:class:`ClipRecipe`; the model's own preset by default).
    ``stream`` reads the video stream with that index in every file instead of the one FFmpeg picks (a
    file where it is not a video stream fails, with the file's video streams in its error); each manifest
    record says which stream was read (``stream_index``).
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
    transform = clips.transform(model)
    size = transform.preset.size
    settings = {
        "model": model_name or type(model).__name__,
        "weights": str(weights) if weights is not None else None,
        "weights_sha256": _sha256(Path(weights)) if weights is not None else None,
        "layers": layers,
        "clip_len": clips.clip_len,
        "stride": clips.stride,
        "size": list(size) if size is not None else None,
        "crop": transform.crop,
        "preset": transform.preset.name,
        "pool": pool,
        "stream": stream,
    }
    mine = shard_inputs(videos, shard)
    if fmt == "hdf5":
        h5_path = out / h5_name(shard)
        if h5_path.is_file() and h5_complete(h5_path, mine, settings):
            return ExtractSummary(str(out), len(mine), 0, len(mine), store=str(h5_path))
        folder = out / staging_name(shard)
    else:
        folder = out
    folder.mkdir(parents=True, exist_ok=True)
    manifest = folder / manifest_name(shard)
    done = resume(folder, manifest, settings)
    todo = [v for v in mine if not video_complete(done.get(v.id), v, folder)]
    summary = ExtractSummary(str(out), len(mine), 0, len(mine) - len(todo), store=str(manifest))

    records = {v.id: done[v.id] for v in mine if v.id not in {t.id for t in todo}}
    if todo:
        stream = _ClipStream(
            [v.path for v in todo],
            clip_len=clips.clip_len,
            stride=clips.stride,
            size=size,
            transform=transform,
            batch_size=batch_size,
            stream=stream,
        )
        _run(
            runner, stream, todo, folder, manifest, settings, records, summary, workers, progress, on_video,
            pad=device.type == "cpu",
        )  # fmt: skip
    summary.precision = runner.precision
    ordered = [records[v.id] for v in mine if v.id in records]
    write_manifest(manifest, ordered)  # compacted, in input order: identical however the run was interrupted
    if fmt == "hdf5":
        summary.store = str(consolidate_h5(folder, ordered, out / h5_name(shard), settings))
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
    *,
    pad: bool,
) -> None:
    """Decode in workers, batch their clips here (full batches; with ``pad``, the last one padded too), run
    the model, and write each video as soon as its last clip is through."""
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
    sinks: dict[int, dict[str, ClipSink]] = {}
    clip_meta: dict[int, tuple[list[int], list[float]]] = {}
    bar = tqdm(total=len(todo), desc="extract", unit="video", disable=not progress, dynamic_ncols=True)
    started = time.perf_counter()
    journal = Journal(manifest)
    # Clips that came from the workers and await a full batch, and videos whose clips are not all through.
    rows: list[torch.Tensor] = []  # chunks (b, 3, T, H, W)
    owners: list[tuple[int, int, float]] = []
    waiting: list[tuple[int, dict[str, Any]]] = []

    def forward(n: int) -> None:
        """Run the first ``n`` waiting clips (padded to a full batch on the CPU) and keep their features."""
        clips = torch.cat(rows)
        head, rest = clips[:n], clips[n:]
        if pad and n < stream.batch_size:
            head = torch.cat([head, head.new_zeros((stream.batch_size - n, *head.shape[1:]))])
        features = runner(head)  # {layer: (B, D)}
        mine, owners[:] = owners[:n], owners[n:]
        rows[:] = [rest] if len(rest) else []
        summary.clips += n
        index_of = np.array([o[0] for o in mine])
        for index in dict.fromkeys(index_of.tolist()):
            keep = index_of == index
            if index not in sinks:
                sinks[index] = {name: ClipSink(folder, f"{todo[index].id}.{name}") for name in layers}
                clip_meta[index] = ([], [])
            for name in layers:
                sinks[index][name].add(features[name][:n][keep])
            for (_, start, when), kept in zip(mine, keep, strict=True):
                if kept:
                    clip_meta[index][0].append(start)
                    clip_meta[index][1].append(when)

    def finish(final: bool) -> None:
        """Write the videos whose clips have all been through the model."""
        pending = {o[0] for o in owners}
        for item in list(waiting):
            index, news = item
            if index in pending and not final:
                continue
            waiting.remove(item)
            video = todo[index]
            record = finish_video(
                video, news, sinks.pop(index, {}), clip_meta.pop(index, ([], [])), folder, settings
            )
            records[video.id] = record
            journal.append(record)
            if record["status"] == "ok":
                summary.done += 1
            bar.update(1)
            bar.set_postfix(clips_s=f"{summary.clips / (time.perf_counter() - started):.1f}", refresh=False)
            if on_video is not None:
                on_video(record)

    try:
        for batch in loader:
            if batch.owners:
                rows.append(batch.clips)
                owners.extend(batch.owners)
            waiting.extend(batch.finished)
            while len(owners) >= stream.batch_size:
                forward(stream.batch_size)
            finish(final=False)
        if owners:
            forward(len(owners))
        finish(final=True)
    finally:
        journal.close()
        bar.close()
        for video_sinks in sinks.values():
            for sink in video_sinks.values():
                sink.discard()
