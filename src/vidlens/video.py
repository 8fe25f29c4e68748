"""Reading and writing video files with PyAV.

Decoding is streaming: frames are decoded, resized and handed on one at a time, and a clip holds only its
own ``clip_len`` frames, so a video of any length is read in constant memory.

Layouts: the decoder yields uint8 RGB frames ``(H, W, 3)``; a clip is ``(T, H, W, 3)`` uint8. Models take
float ``(N, 3, T, H, W)``: see :meth:`vidlens.presets.Preset.normalize`.

Clip sampling follows C3D (Tran et al. 2015): clips of ``clip_len=16`` frames whose starts are ``stride=8``
frames apart (the paper's 8-frame overlap), cut from frames resized to 128x171.
"""

from __future__ import annotations

import functools
import os
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import av.error
import numpy as np
from av.video.reformatter import VideoReformatter

__all__ = [
    "DEFAULT_SIZE",
    "Clip",
    "VideoError",
    "VideoInfo",
    "VideoNotFoundError",
    "clip_starts",
    "count_frames",
    "iter_clips",
    "iter_frames",
    "probe",
    "random_start",
    "read_clip",
    "read_clips",
    "read_video",
    "uniform_starts",
    "write_video",
]

#: (H, W) frames are resized to by default: C3D's 128x171 (Tran et al. 2015, section 3.3).
DEFAULT_SIZE: tuple[int, int] = (128, 171)
#: swscale filter used for resizing; "BILINEAR" widens its kernel when shrinking, so it does not alias.
DEFAULT_INTERPOLATION = "BILINEAR"
# Decode forward rather than seek when the next wanted frame is at most this many frames ahead.
_SEEK_GAP = 48

Size = tuple[int, int] | None


class VideoError(RuntimeError):
    """A video file could not be read; ``path`` names the file and ``reason`` says why."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"cannot read video {self.path!r}: {reason}")


class VideoNotFoundError(VideoError, FileNotFoundError):
    """The video file does not exist."""


def write_video(
    path: str | Path,
    frames: Iterable[np.ndarray] | np.ndarray,
    fps: float | Fraction = 25,
    *,
    codec: str = "libx264",
    pix_fmt: str | None = None,
    options: dict[str, str] | None = None,
) -> Path:
    """Encode uint8 RGB frames ``(T, H, W, 3)`` (or an iterable of ``(H, W, 3)``) into a video file.

    ``codec`` is any FFmpeg encoder PyAV offers (``libx264``, ``mpeg4``, ``libvpx-vp9``, ``mjpeg``,
    ``ffv1``, ...); the container follows the file's extension. ``pix_fmt`` defaults to ``yuv420p``
    (``yuvj420p`` for mjpeg, ``yuv444p`` for ffv1 so that odd sizes work). Gray frames ``(H, W)`` are
    written with ``pix_fmt="gray"`` where the codec supports it. Frames are encoded as they come,
    so a generator of frames is written in constant memory.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rate = Fraction(fps).limit_denominator(1001) if not isinstance(fps, Fraction) else fps
    if pix_fmt is None:
        pix_fmt = {"mjpeg": "yuvj420p", "ffv1": "yuv444p", "libx264rgb": "rgb24"}.get(codec, "yuv420p")
    with av.open(str(path), mode="w") as container:
        stream = None
        for i, frame in enumerate(frames):
            frame = np.asarray(frame)
            if (
                frame.dtype != np.uint8
                or frame.ndim not in (2, 3)
                or (frame.ndim == 3 and frame.shape[2] != 3)
            ):
                raise ValueError(
                    f"frame {i} must be uint8 (H, W, 3) RGB or (H, W) gray, got {frame.dtype} {frame.shape}"
                )
            if stream is None:
                stream = container.add_stream(codec, rate=rate)
                stream.height, stream.width = frame.shape[:2]
                stream.pix_fmt = pix_fmt
                if options:
                    stream.options = dict(options)
            fmt = "gray" if frame.ndim == 2 else "rgb24"
            video_frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format=fmt)
            container.mux(stream.encode(video_frame))
        if stream is None:
            raise ValueError(f"no frames given to write to {path}")
        container.mux(stream.encode(None))
    return path


# --------------------------------------------------------------------------------------------------------
# Probing
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VideoInfo:
    """What :func:`probe` learns about a video's first video stream."""

    path: str
    n_frames: int  # frames in the stream: the container's count, else counted from the packets
    fps: float  # average frame rate
    width: int
    height: int
    duration: float  # seconds
    codec: str
    pix_fmt: str | None

    def __str__(self) -> str:
        return (
            f"{self.path}: {self.n_frames} frames, {self.fps:.3f} fps, {self.width}x{self.height}, "
            f"{self.duration:.2f} s, {self.codec} ({self.pix_fmt})"
        )


@dataclass
class Clip:
    """``clip_len`` consecutive frames of a video."""

    frames: np.ndarray  # (T, H, W, 3) uint8 RGB
    start: int  # index of the first frame in the video
    time: float  # presentation time of the first frame, seconds from the start of the stream
    padded: int = 0  # trailing frames that repeat the last real frame (videos shorter than a clip)

    def __len__(self) -> int:
        return len(self.frames)


def _ffmpeg_reason(err: BaseException) -> str:
    text = getattr(err, "strerror", None) or str(err)
    return text.rstrip(".")


def _open(path: str | Path, threads: int = 0) -> tuple[av.container.InputContainer, av.video.VideoStream]:
    """Open ``path`` and return it with its first video stream, or raise a VideoError saying why not."""
    p = Path(path)
    if not p.exists():
        raise VideoNotFoundError(p, "no such file")
    if p.is_dir():
        raise VideoError(p, "it is a directory, not a video file")
    if p.stat().st_size == 0:
        raise VideoError(p, "the file is empty (0 bytes)")
    try:
        container = av.open(str(p), mode="r")
    except av.error.FFmpegError as err:
        raise VideoError(
            p, f"not a video file FFmpeg can read ({_ffmpeg_reason(err)}); it may be corrupt or truncated"
        ) from err
    if not container.streams.video:
        kinds = sorted({s.type for s in container.streams})
        container.close()
        what = ", ".join(kinds) + " only" if kinds else "no streams at all"
        raise VideoError(p, f"the file has no video stream ({what})")
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"  # frame + slice threading in FFmpeg's decoder
    stream.codec_context.thread_count = threads
    return container, stream


def _stream_fps(stream: av.video.VideoStream) -> float:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    return float(rate) if rate else 0.0


def _start_seconds(stream: av.video.VideoStream) -> float:
    if stream.start_time is None or stream.time_base is None:
        return 0.0
    return float(stream.start_time * stream.time_base)


def probe(path: str | Path) -> VideoInfo:
    """Read a video's frame count, frame rate, size, duration and codec without decoding it.

    The frame count comes from the container when it records one (MP4, AVI) and is otherwise counted from
    the video packets (MKV, WebM), which reads the file but decodes nothing.
    """
    container, stream = _open(path)
    with container:
        ctx = stream.codec_context
        n_frames = int(stream.frames or 0)
        if n_frames <= 0:
            n_frames = _count_packets(container, stream, path)
        fps = _stream_fps(stream)
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            duration = container.duration / av.time_base
        else:
            duration = n_frames / fps if fps else 0.0
        if not fps and duration > 0:
            fps = n_frames / duration
        return VideoInfo(
            path=str(path),
            n_frames=n_frames,
            fps=fps,
            width=ctx.width,
            height=ctx.height,
            duration=duration,
            codec=ctx.name,
            pix_fmt=ctx.pix_fmt,
        )


def _count_packets(container: av.container.InputContainer, stream: av.video.VideoStream, path) -> int:
    try:
        return sum(1 for packet in container.demux(stream) if packet.size)
    except av.error.FFmpegError as err:
        raise VideoError(path, f"the file is corrupt or truncated ({_ffmpeg_reason(err)})") from err


@functools.lru_cache(maxsize=4096)  # ~1.6 kB per 200-frame video
def _pts_table_cached(path: str, _mtime_ns: int, _size: int) -> np.ndarray | None:
    container, stream = _open(path)
    with container:
        pts = []
        try:
            for packet in container.demux(stream):
                if packet.size:
                    if packet.pts is None:
                        return None
                    pts.append(packet.pts)
        except av.error.FFmpegError:
            return None
    table = np.sort(np.asarray(pts, dtype=np.int64))
    if len(table) == 0 or np.any(np.diff(table) <= 0):
        return None  # missing or repeated timestamps: frames can only be counted, not looked up
    return table


def count_frames(path: str | Path) -> int:
    """The number of frames :func:`read_clips` can index: counted from the packets (cached per file)."""
    table = _pts_table(path)
    return len(table) if table is not None else probe(path).n_frames


def _pts_table(path: str | Path) -> np.ndarray | None:
    """Sorted presentation timestamps of every video packet, or None when they cannot index frames.

    The i-th entry is the timestamp of frame i, exact also for variable-frame-rate videos, which is what
    lets :func:`read_clips` seek to a frame and know which frame it landed on.
    """
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise VideoNotFoundError(path, "no such file") from None
    return _pts_table_cached(str(path), st.st_mtime_ns, st.st_size)


# --------------------------------------------------------------------------------------------------------
# Decoding
# --------------------------------------------------------------------------------------------------------


class _Decoder:
    """One open video stream: decoded frames in presentation order, converted to resized RGB arrays."""

    def __init__(self, path: str | Path, size: Size, interpolation: str, threads: int) -> None:
        self.path = str(path)
        self.container, self.stream = _open(path, threads)
        self.size = size
        self.interpolation = interpolation
        # One reformatter for the whole stream: swscale's context is built once, not once per frame.
        self._reformatter = VideoReformatter()
        self._t0 = _start_seconds(self.stream)
        self._fps = _stream_fps(self.stream)
        self.bad_packets = 0

    def __enter__(self) -> _Decoder:
        return self

    def __exit__(self, *exc) -> None:
        self.container.close()

    def seek(self, pts: int) -> None:
        """Position the demuxer on the keyframe at or before ``pts`` (decoders are flushed)."""
        self.container.seek(int(pts), backward=True, any_frame=False, stream=self.stream)

    def frames(self, from_start: bool = True) -> Iterator[av.VideoFrame]:
        """Decode from the current position (the first frame when ``from_start``).

        Packets the decoder rejects are skipped with a warning, as FFmpeg's own tools do. Read from the
        start, a stream that yields no frame at all is an error, and one that yields clearly fewer frames
        than its container declares is reported as probably truncated.
        """
        demux = self.container.demux(self.stream)
        n_out = bad = 0
        first_error: BaseException | None = None
        while True:
            try:
                packet = next(demux)
            except StopIteration:
                break
            except av.error.FFmpegError as err:
                raise VideoError(
                    self.path,
                    f"the file is corrupt or truncated: reading stopped after {n_out} frames "
                    f"({_ffmpeg_reason(err)})",
                ) from err
            try:
                decoded = packet.decode()
            except av.error.FFmpegError as err:
                bad += 1
                first_error = first_error or err
                continue
            for frame in decoded:
                n_out += 1
                yield frame
        if from_start and n_out == 0:
            if bad:
                raise VideoError(
                    self.path,
                    f"the video stream is corrupt: none of its {bad} packets could be decoded "
                    f"({_ffmpeg_reason(first_error)})",  # type: ignore[arg-type]
                )
            raise VideoError(self.path, "the video stream has no decodable frames")
        if bad:
            warnings.warn(
                f"{self.path}: skipped {bad} corrupt packet(s) ({_ffmpeg_reason(first_error)})",  # type: ignore[arg-type]
                RuntimeWarning,
                stacklevel=3,
            )
        declared = self.stream.frames or 0
        if from_start and n_out < declared - max(2, declared // 50):
            warnings.warn(
                f"{self.path}: decoded {n_out} of the {declared} frames its container declares; "
                "the file is probably truncated",
                RuntimeWarning,
                stacklevel=3,
            )

    def to_rgb(self, frame: av.VideoFrame) -> np.ndarray:
        """``frame`` as a uint8 ``(H, W, 3)`` RGB array, resized to ``size`` when one is set."""
        height, width = self.size if self.size is not None else (frame.height, frame.width)
        # Planar GBR output with one swscale thread is ~1.8x faster than packed rgb24 here, with identical
        # pixels (benchmarks/RESULTS.md); to_ndarray() stacks the planes into a contiguous (H, W, 3) RGB.
        planar = self._reformatter.reformat(
            frame, width=width, height=height, format="gbrp", interpolation=self.interpolation, threads=1
        )
        return planar.to_ndarray()

    def seconds(self, frame: av.VideoFrame, index: int) -> float:
        """Presentation time of ``frame`` (the ``index``-th) in seconds from the start of the stream."""
        if frame.pts is not None and frame.time_base is not None:
            return float(frame.pts * frame.time_base) - self._t0
        return index / self._fps if self._fps else 0.0


def iter_frames(
    path: str | Path,
    size: Size = DEFAULT_SIZE,
    *,
    start: int = 0,
    stop: int | None = None,
    interpolation: str = DEFAULT_INTERPOLATION,
    threads: int = 0,
) -> Iterator[tuple[int, float, np.ndarray]]:
    """Yield ``(index, seconds, frame)`` for frames ``start <= index < stop``, decoding as it goes.

    ``frame`` is uint8 ``(H, W, 3)`` RGB resized to ``size`` (``None`` keeps the stored size). Frames
    before ``start`` are decoded but not converted. ``threads=0`` lets FFmpeg choose its decoding threads.
    """
    with _Decoder(path, size, interpolation, threads) as dec:
        for index, frame in enumerate(dec.frames()):
            if stop is not None and index >= stop:
                return
            if index >= start:
                yield index, dec.seconds(frame, index), dec.to_rgb(frame)


def read_video(
    path: str | Path, size: Size = DEFAULT_SIZE, *, max_frames: int | None = None, threads: int = 0
) -> np.ndarray:
    """Decode a whole (short) video into one uint8 array ``(T, H, W, 3)``.

    This holds every frame in memory; for long videos iterate with :func:`iter_clips` instead.
    """
    frames = [f for _, _, f in iter_frames(path, size, stop=max_frames, threads=threads)]
    return np.stack(frames)


# --------------------------------------------------------------------------------------------------------
# Clips
# --------------------------------------------------------------------------------------------------------


def clip_starts(n_frames: int, clip_len: int = 16, stride: int = 8) -> list[int]:
    """Start frames of the clips :func:`iter_clips` cuts from a video of ``n_frames`` frames.

    Clip ``i`` starts at ``i * stride`` while ``start + clip_len <= n_frames``. A video shorter than
    ``clip_len`` (but not empty) gives exactly one clip at 0, padded by repeating its last frame.
    """
    _check_clip_args(clip_len, stride)
    if n_frames <= 0:
        return []
    if n_frames < clip_len:
        return [0]
    return list(range(0, n_frames - clip_len + 1, stride))


def uniform_starts(n_frames: int, num_clips: int, clip_len: int = 16) -> list[int]:
    """``num_clips`` clip starts spread evenly from the first to the last full clip of the video."""
    if num_clips < 1:
        raise ValueError(f"num_clips must be >= 1, got {num_clips}")
    _check_clip_args(clip_len, 1)
    last = max(n_frames - clip_len, 0)
    return [round(float(s)) for s in np.linspace(0, last, num_clips)]


def random_start(n_frames: int, clip_len: int = 16, rng: np.random.Generator | None = None) -> int:
    """A uniformly random start frame for a full clip (0 for videos shorter than ``clip_len``)."""
    rng = rng if rng is not None else np.random.default_rng()
    return int(rng.integers(0, max(n_frames - clip_len, 0) + 1))


def _check_clip_args(clip_len: int, stride: int) -> None:
    if clip_len < 1:
        raise ValueError(f"clip_len must be >= 1, got {clip_len}")
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride} (stride=clip_len gives non-overlapping clips)")


def iter_clips(
    path: str | Path,
    clip_len: int = 16,
    stride: int = 8,
    size: Size = DEFAULT_SIZE,
    *,
    interpolation: str = DEFAULT_INTERPOLATION,
    threads: int = 0,
) -> Iterator[Clip]:
    """Stream the clips of a video, in order: the clips of :func:`clip_starts`, decoded in one pass.

    Memory holds at most ``ceil(clip_len / stride)`` clips at a time, whatever the video's length. Frames
    that fall in no clip (``stride > clip_len``) are decoded but never converted.
    """
    _check_clip_args(clip_len, stride)
    with _Decoder(path, size, interpolation, threads) as dec:
        open_clips: list[Clip] = []  # clips being filled, oldest first
        last: np.ndarray | None = None
        n_seen = n_emitted = 0
        for index, frame in enumerate(dec.frames()):
            n_seen = index + 1
            if index % stride == 0:
                open_clips.append(Clip(frames=None, start=index, time=dec.seconds(frame, index)))  # type: ignore[arg-type]
            if not open_clips:
                continue
            last = dec.to_rgb(frame)
            for clip in open_clips:
                if clip.frames is None:
                    clip.frames = np.empty((clip_len, *last.shape), dtype=np.uint8)  # (T, H, W, 3)
                clip.frames[index - clip.start] = last
            if index - open_clips[0].start == clip_len - 1:
                n_emitted += 1
                yield open_clips.pop(0)
        if n_emitted == 0 and open_clips:
            # Shorter than one clip: one clip, padded by repeating the last frame.
            clip = open_clips[0]
            clip.frames[n_seen:] = last
            clip.padded = clip_len - n_seen
            yield clip


def read_clip(
    path: str | Path,
    start: int,
    clip_len: int = 16,
    size: Size = DEFAULT_SIZE,
    *,
    interpolation: str = DEFAULT_INTERPOLATION,
    threads: int = 0,
) -> Clip:
    """Read the clip of ``clip_len`` frames starting at frame ``start``: seek near it, decode forward."""
    return read_clips(path, [start], clip_len, size, interpolation=interpolation, threads=threads)[0]


def read_clips(
    path: str | Path,
    starts: Sequence[int],
    clip_len: int = 16,
    size: Size = DEFAULT_SIZE,
    *,
    interpolation: str = DEFAULT_INTERPOLATION,
    threads: int = 0,
) -> list[Clip]:
    """Read the clips starting at the given frames (any order, overlaps allowed), returned in that order.

    The video is opened once and read forward; a clip far from the previous one is reached by seeking to
    the keyframe before it. Frames are located through their timestamps, so this is exact for variable
    frame rates too; files whose packets carry no usable timestamps are decoded sequentially instead. A
    clip that runs past the end of the video is padded by repeating its last frame (``Clip.padded``).
    """
    _check_clip_args(clip_len, 1)
    if not starts:
        return []
    if min(starts) < 0:
        raise ValueError(f"clip starts must be >= 0, got {min(starts)}")
    table = _pts_table(path)
    if table is not None and max(starts) >= len(table):
        raise ValueError(
            f"clip start {max(starts)} is past the end of {path!s} ({len(table)} frames); "
            "choose starts with clip_starts() or uniform_starts()"
        )
    clips: list[Clip | None] = [None] * len(starts)
    with _Decoder(path, size, interpolation, threads) as dec:
        cursor = _FrameCursor(dec, table)
        for group in _clip_groups(starts, clip_len):
            first, last = starts[group[0]], max(starts[i] for i in group) + clip_len - 1
            buffers: dict[int, np.ndarray] = {}
            times: dict[int, float] = {}
            n_real = dict.fromkeys(group, 0)
            for index, frame in cursor.read(first, last):
                rgb = dec.to_rgb(frame)
                for slot in group:
                    offset = index - starts[slot]
                    if 0 <= offset < clip_len:
                        if slot not in buffers:
                            buffers[slot] = np.empty((clip_len, *rgb.shape), dtype=np.uint8)  # (T, H, W, 3)
                            times[slot] = dec.seconds(frame, index)
                        # A frame the decoder dropped (corrupt packet) is replaced by its successor.
                        buffers[slot][n_real[slot] : offset + 1] = rgb
                        n_real[slot] = offset + 1
            for slot in group:
                if slot not in buffers:
                    raise VideoError(
                        path,
                        f"frame {starts[slot]} was asked for but decoding ended after {cursor.n_decoded} "
                        "frames; the file is probably truncated",
                    )
                buffers[slot][n_real[slot] :] = buffers[slot][n_real[slot] - 1]
                clips[slot] = Clip(buffers[slot], starts[slot], times[slot], padded=clip_len - n_real[slot])
    return clips  # type: ignore[return-value]


def _clip_groups(starts: Sequence[int], clip_len: int) -> list[list[int]]:
    """Indices into ``starts``, grouped so that each group is read in one forward pass of the decoder."""
    order = sorted(range(len(starts)), key=lambda i: starts[i])
    groups: list[list[int]] = [[order[0]]]
    end = starts[order[0]] + clip_len
    for i in order[1:]:
        if starts[i] - end > _SEEK_GAP:
            groups.append([])
        groups[-1].append(i)
        end = max(end, starts[i] + clip_len)
    return groups


class _FrameCursor:
    """Reads frame ranges of one stream in increasing order, seeking forward when that is cheaper."""

    def __init__(self, dec: _Decoder, table: np.ndarray | None) -> None:
        self.dec = dec
        self.table = table  # frame index -> pts, or None: frames are counted from the first one
        self.frames = dec.frames()
        self.position = 0  # index of the next frame self.frames yields
        self.n_decoded = 0  # frames seen so far (for error messages)

    def read(self, first: int, last: int) -> Iterator[tuple[int, av.VideoFrame]]:
        """Yield ``(index, frame)`` for ``first <= index <= last``; stops early at the end of the stream."""
        if self.table is not None and (first < self.position or first - self.position > _SEEK_GAP):
            self.dec.seek(self.table[first])
            self.frames = self.dec.frames(from_start=False)
            self.position = -1  # unknown until the next frame's timestamp is read
        elif first < self.position:  # counting only: start over from the first frame
            self.dec.seek(0)
            self.frames = self.dec.frames(from_start=False)
            self.position = 0
        for frame in self.frames:
            index = self._index(frame)
            self.position = index + 1
            self.n_decoded = max(self.n_decoded, self.position)
            if first <= index <= last:
                yield index, frame
            if index >= last:
                return

    def _index(self, frame: av.VideoFrame) -> int:
        if self.table is None:
            return self.position
        if frame.pts is None:
            raise VideoError(self.dec.path, "a decoded frame has no timestamp although its packet had one")
        return int(np.searchsorted(self.table, frame.pts))
