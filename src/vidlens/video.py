"""Reading and writing video files with PyAV.

Decoding is streaming: frames are decoded, resized and handed on one at a time, and a clip holds only its
own ``clip_len`` frames, so a video of any length is read in constant memory.

Layouts: the decoder yields uint8 RGB frames ``(H, W, 3)``; a clip is ``(T, H, W, 3)`` uint8. Models take
float ``(N, 3, T, H, W)``: see :meth:`vidlens.presets.Preset.normalize`.

Clip sampling follows C3D (Tran et al. 2015): clips of ``clip_len=16`` frames whose starts are ``stride=8``
frames apart (the paper's 8-frame overlap), cut from frames resized to 128x171.

What is read, and how (every reader here, and so every reader in vidlens, goes through this module):

* **Stream.** The video stream FFmpeg picks by default (``av_find_best_stream``: the default disposition,
  then the stream whose probing decoded frames, then the higher bit rate), never an attached cover picture
  while the file holds a real video; ``stream=N`` (the index ffprobe prints) reads another.
  :attr:`VideoInfo.stream_index` says which one was read.
* **Rotation.** Frames come out as a player shows them: the display matrix (a phone's rotation, mirroring)
  is applied, and a frame size (``size=(H, W)``, :attr:`VideoInfo.width`, ``height``) is always the
  displayed geometry. The resize targets the displayed size and the quarter turn is applied to the
  resized frame, which costs one array view on rotated videos and nothing on the others.
* **Frame index.** Where the container stores presentation timestamps, frame ``i`` is the frame with
  the i-th smallest packet timestamp, both when streaming and in random access. Where it does not (raw
  ``.264``/``.mpg`` streams; AVI, which only stores decoding order, when the codec reorders frames),
  frame ``i`` is the i-th frame the decoder outputs, and random access decodes from the start.
* **Damaged files.** Packets the decoder rejects are skipped (as FFmpeg's own tools do) with a warning.
  A frame that could not be decoded is replaced by the next decodable frame (by the last one at the end
  of the video) and listed in :attr:`Clip.missing`; a clip with more than half of its frames missing is
  not served: streaming leaves it out (with a warning) and random access raises :class:`VideoError`.
  Streaming and random access thus return the same frames, or fail the same way.
* **Threads.** ``threads=0`` (the default) lets vidlens choose: FFmpeg decodes pictures up to 640x480
  with one thread (its frame threads cost more CPU than they save on small pictures) and larger ones with
  its own frame threads, and the streaming readers (:func:`iter_frames`, :func:`iter_clips`) decode in a
  background thread while the calling thread resizes and converts. ``threads=1`` does everything in the
  calling thread: the right choice where processes already fill the cores (DataLoader workers).
  ``threads=N`` gives FFmpeg N decoding threads. The frames are the same whatever the choice.
"""

from __future__ import annotations

import functools
import os
import queue
import threading
import warnings
from collections import deque
from collections.abc import Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import av.error
import numpy as np
from av.sidedata.sidedata import Type as _SideDataType
from av.stream import Disposition
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
# probe() decodes the first frame (for its displayed size and rotation); it gives up after this many packets.
_PROBE_PACKETS = 256
# threads=0: frames up to this many pixels are decoded by one FFmpeg thread (frame threading costs more CPU
# than it saves on small pictures: 0.17-0.22 against 0.30-0.35 CPU-ms per 320x240 H.264 frame on 2 cores,
# and it is no faster; benchmarks/RESULTS.md), larger ones by FFmpeg's frame threads.
_ONE_THREAD_PIXELS = 640 * 480
# Streaming with threads=0 decodes in a background thread that hands frames over in batches of up to this
# many (one queue hand-off per frame costs more than it overlaps) and up to this many bytes of pictures.
_PREFETCH_FRAMES = 8
_PREFETCH_BYTES = 8 << 20
# Decoders that do not deliver clean pictures when decoding starts at a keyframe other than the first: random
# access decodes these from the start of the file. dirac: after a seek to its second keyframe, FFmpeg's
# decoder returns garbage for the whole GOP (tests/test_corpus.py, formats/dirac.ogv).
_NO_SEEK_CODECS = frozenset({"dirac"})

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
    rotation: int = 0,
) -> Path:
    """Encode uint8 RGB frames ``(T, H, W, 3)`` (or an iterable of ``(H, W, 3)``) into a video file.

    ``codec`` is any FFmpeg encoder PyAV offers (``libx264``, ``mpeg4``, ``libvpx-vp9``, ``mjpeg``,
    ``ffv1``, ...); the container follows the file's extension. ``pix_fmt`` defaults to ``yuv420p``
    (``yuvj420p`` for mjpeg, ``yuv444p`` for ffv1 so that odd sizes work). Gray frames ``(H, W)`` are
    written with ``pix_fmt="gray"`` where the codec supports it. Frames are encoded as they come,
    so a generator of frames is written in constant memory.

    ``rotation`` (degrees counter-clockwise, a multiple of 90) stores a display matrix, as a phone does for
    a video shot upright: players, and :func:`iter_frames` and friends, then show the frames turned by it
    (needs PyAV >= 18 and a container that keeps it: MP4, MOV, MKV).
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
                if rotation:
                    if not hasattr(stream, "set_display_rotation"):
                        raise ValueError(f"writing a rotation needs PyAV >= 18 (this is {av.__version__})")
                    if rotation % 90:
                        raise ValueError(f"rotation must be a multiple of 90 degrees, got {rotation}")
                    stream.set_display_rotation(rotation)
            fmt = "gray" if frame.ndim == 2 else "rgb24"
            video_frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format=fmt)
            container.mux(stream.encode(video_frame))
        if stream is None:
            raise ValueError(f"no frames given to write to {path}")
        container.mux(stream.encode(None))
    return path


# --------------------------------------------------------------------------------------------------------
# Opening: which stream, which way up
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VideoInfo:
    """What :func:`probe` learns about the video stream it reads (see :attr:`stream_index`)."""

    path: str
    n_frames: int  # frames in the stream: the container's count, else counted from the packets
    fps: float  # average frame rate
    width: int  # displayed width: the display matrix (rotation) applied, as frames are decoded
    height: int  # displayed height
    duration: float  # seconds
    codec: str
    pix_fmt: str | None
    stream_index: int = 0  # index of the stream read among all the file's streams (as ffprobe numbers them)
    rotation: int = 0  # display-matrix rotation, degrees counter-clockwise as ffprobe prints it (-90: turned
    # clockwise for display); frames are decoded already turned
    video_streams: tuple[int, ...] = ()  # indices of every video stream in the file (pass one as stream=)

    def __str__(self) -> str:
        turned = f" (rotation {self.rotation})" if self.rotation else ""
        others = (
            f" of video streams {', '.join(map(str, self.video_streams))}"
            if len(self.video_streams) > 1
            else ""
        )
        return (
            f"{self.path}: stream {self.stream_index}{others}, {self.n_frames} frames, {self.fps:.3f} fps, "
            f"{self.width}x{self.height}{turned}, {self.duration:.2f} s, {self.codec} ({self.pix_fmt})"
        )


@dataclass
class Clip:
    """``clip_len`` consecutive frames of a video."""

    frames: np.ndarray  # (T, H, W, 3) uint8 RGB
    start: int  # index of the first frame in the video
    time: float  # presentation time of the first frame, seconds from the start of the stream
    padded: int = 0  # trailing frames that repeat the last real frame (videos shorter than a clip)
    # Offsets (0..T-1) of frames the decoder could not produce (a damaged file), each replaced by the next
    # decodable frame of the video (the last one at its end).
    missing: tuple[int, ...] = ()

    def __len__(self) -> int:
        return len(self.frames)


def _ffmpeg_reason(err: BaseException) -> str:
    text = getattr(err, "strerror", None) or str(err)
    return text.rstrip(".")


def _describe_video_streams(container: av.container.InputContainer) -> str:
    streams = [
        f"{s.index} ({s.codec_context.width}x{s.codec_context.height} {s.codec_context.name})"
        for s in container.streams.video
    ]
    return ", ".join(streams) if streams else "none"


def _choose_stream(
    container: av.container.InputContainer, path: Path, stream: int | None
) -> av.video.VideoStream:
    """The video stream to read: ``stream`` (an index into all the file's streams), else FFmpeg's choice."""
    if stream is not None:
        if isinstance(stream, bool) or not isinstance(stream, int | np.integer):
            raise TypeError(f"stream must be a stream index (int) or None, got {stream!r}")
        if not 0 <= stream < len(container.streams):
            raise VideoError(
                path,
                f"it has no stream {stream} (its streams are 0..{len(container.streams) - 1}); "
                f"its video streams: {_describe_video_streams(container)}",
            )
        chosen = container.streams[int(stream)]
        if chosen.type != "video":
            raise VideoError(
                path,
                f"stream {stream} is {chosen.type}, not video; "
                f"choose one of its video streams: {_describe_video_streams(container)}",
            )
        return chosen
    videos = list(container.streams.video)
    if not videos:
        kinds = sorted({s.type for s in container.streams})
        what = ", ".join(kinds) + " only" if kinds else "no streams at all"
        raise VideoError(path, f"the file has no video stream ({what})")
    real = [s for s in videos if not s.disposition & Disposition.attached_pic]
    if not real:
        raise VideoError(
            path,
            "its only video stream holds an attached (cover) picture, not a video; pass "
            f"stream={videos[0].index} to read the picture anyway",
        )
    # av_find_best_stream ranks by disposition (default, not for the hearing/visually impaired), then by
    # the frames its stream probing decoded (up to 5), then by bit rate, then by those frames again; the
    # first stream wins a tie. It may pick a cover picture, which is never what a video reader wants.
    best = container.streams.best("video")
    return best if best is not None and any(s.index == best.index for s in real) else real[0]


def _open(
    path: str | Path, threads: int = 0, stream: int | None = None
) -> tuple[av.container.InputContainer, av.video.VideoStream]:
    """Open ``path`` and return it with the video stream to read, or raise a VideoError saying why not."""
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
    try:
        chosen = _choose_stream(container, p, stream)
    except BaseException:
        container.close()
        raise
    chosen.thread_type = "AUTO"  # frame + slice threading in FFmpeg's decoder
    chosen.codec_context.thread_count = threads
    return container, chosen


@dataclass(frozen=True)
class _Orientation:
    """The display matrix as a quarter-turn transform of a decoded ``(H, W, 3)`` array."""

    rotation: int = 0  # counter-clockwise degrees, as FFmpeg reports them (frame.rotation)
    transpose: bool = False  # swap rows and columns first (a quarter turn swaps width and height) ...
    flip_rows: bool = False  # ... then flip upside down ...
    flip_cols: bool = False  # ... and left to right

    @property
    def identity(self) -> bool:
        return not (self.transpose or self.flip_rows or self.flip_cols)

    def apply(self, rgb: np.ndarray) -> np.ndarray:
        """The stored picture ``rgb`` as it is displayed (a view, no copy)."""
        if self.transpose:
            rgb = rgb.transpose(1, 0, 2)
        if self.flip_rows:
            rgb = rgb[::-1]
        if self.flip_cols:
            rgb = rgb[:, ::-1]
        return rgb

    def displayed(self, height: int, width: int) -> tuple[int, int]:
        """``(H, W)`` of a stored ``height x width`` picture once displayed."""
        return (width, height) if self.transpose else (height, width)


_IDENTITY = _Orientation()
_warned_angles: set[tuple[str, int]] = set()


def _orientation(frame: av.VideoFrame, path: str) -> _Orientation:
    """How to turn ``frame`` for display, from its display matrix (FFmpeg attaches the container's to every
    frame). The matrix maps a stored pixel ``(x, y)`` to ``(a x + c y, b x + d y)`` plus a translation,
    with y pointing down: FFmpeg's convention, the one ``ffmpeg``'s autorotation applies."""
    side_data = frame.side_data
    matrix = side_data.get(_SideDataType.DISPLAYMATRIX) if len(side_data) else None
    if matrix is None:
        return _IDENTITY
    m = np.frombuffer(bytes(matrix), dtype=np.int32).astype(np.float64)
    a, b, c, d = m[0], m[1], m[3], m[4]
    tiny = 1e-3 * max(abs(a), abs(b), abs(c), abs(d), 1.0)
    rotation = int(frame.rotation)
    if abs(b) <= tiny and abs(c) <= tiny and abs(a) > tiny and abs(d) > tiny:
        return _Orientation(rotation, transpose=False, flip_rows=d < 0, flip_cols=a < 0)
    if abs(a) <= tiny and abs(d) <= tiny and abs(b) > tiny and abs(c) > tiny:
        # display x' = c y, y' = b x: the transposed picture, flipped where b or c is negative
        return _Orientation(rotation, transpose=True, flip_rows=b < 0, flip_cols=c < 0)
    if (path, rotation) not in _warned_angles:
        _warned_angles.add((path, rotation))
        warnings.warn(
            f"{path}: its display matrix turns the picture by {rotation} degrees, not a multiple of 90; "
            "vidlens returns the frames as stored (rotate them yourself, or re-encode with ffmpeg, which "
            "applies the rotation)",
            RuntimeWarning,
            stacklevel=4,
        )
    return _Orientation(rotation)


def _stream_fps(stream: av.video.VideoStream) -> float:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    return float(rate) if rate else 0.0


def _start_seconds(stream: av.video.VideoStream) -> float:
    if stream.start_time is None or stream.time_base is None:
        return 0.0
    return float(stream.start_time * stream.time_base)


# --------------------------------------------------------------------------------------------------------
# Probing and the frame index
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _StreamIndex:
    """What one demuxing pass (no decoding) learns about a stream: how its frames are numbered."""

    stream_index: int
    # Sorted distinct presentation timestamps of the stream's packets: frame i is the frame stamped pts[i].
    # None when timestamps cannot number frames (see ``counted``): frames are then counted as decoded.
    pts: np.ndarray | None
    counted: str | None  # why frames are counted rather than located by timestamp (None: they are located)
    n_packets: int  # packets with data
    demux_error: str | None  # why demuxing stopped early, if it did

    @property
    def n_frames(self) -> int | None:
        return len(self.pts) if self.pts is not None else None


@functools.lru_cache(maxsize=4096)  # ~1.6 kB per 200-frame video
def _stream_index_cached(path: str, _mtime_ns: int, _size: int, stream: int | None) -> _StreamIndex:
    container, st = _open(path, stream=stream)
    with container:
        stream_index = st.index  # read while the file is open: a closed stream's fields are garbage
        counted = None
        if container.format.flags & av.format.Flags.no_timestamps.value:
            counted = f"the {container.format.name} format stores no timestamps"
        elif "avi" in container.format.name.split(",") and st.codec_context.has_b_frames:
            counted = "AVI stores no presentation timestamps and this codec reorders frames"
        pts: list[int] = []
        n_packets = 0
        last_dts = None
        demux_error = None
        try:
            for packet in container.demux(st):
                if not packet.size:
                    continue
                n_packets += 1
                if counted is not None:
                    continue
                if packet.pts is None:
                    counted = "some packets carry no timestamp"
                    continue
                if packet.dts is not None:
                    if last_dts is not None and packet.dts < last_dts:
                        counted = "the decoding timestamps go backwards"
                    last_dts = packet.dts
                pts.append(packet.pts)
        except av.error.FFmpegError as err:
            demux_error = _ffmpeg_reason(err)
            counted = counted or f"demuxing stopped early ({demux_error})"
    table = np.unique(np.asarray(pts, dtype=np.int64)) if counted is None and pts else None
    if table is None and counted is None:
        counted = "the stream has no packets"
    return _StreamIndex(stream_index, table, counted, n_packets, demux_error)


def _stream_index(path: str | Path, stream: int | None = None) -> _StreamIndex:
    """How the frames of ``path``'s stream are numbered (one demuxing pass, cached per file and stream).

    Frame i is the frame with the i-th smallest presentation timestamp when the container stores real
    timestamps; that makes frame numbers exact for variable frame rates and lets random access seek and
    know where it landed. Repeated timestamps (an end-of-sequence packet) count once.
    """
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise VideoNotFoundError(path, "no such file") from None
    return _stream_index_cached(str(path), st.st_mtime_ns, st.st_size, stream)


def _first_frame(
    container: av.container.InputContainer, stream: av.video.VideoStream
) -> av.VideoFrame | None:
    """The first frame the stream decodes to, skipping packets the decoder rejects; None if none does
    within :data:`_PROBE_PACKETS` packets."""
    try:
        for n, packet in enumerate(container.demux(stream)):
            try:
                frames = packet.decode()
            except av.error.FFmpegError:
                frames = []
            if frames:
                return frames[0]
            if n >= _PROBE_PACKETS:
                return None
    except av.error.FFmpegError:
        return None
    return None


@dataclass(frozen=True)
class _Picture:
    """The displayed geometry of a stream's first decodable frame."""

    height: int
    width: int
    rotation: int
    pix_fmt: str


_pictures: dict[tuple[str, int, int, int | None], _Picture | None] = {}  # _first_picture's cache


def _picture_of(frame: av.VideoFrame | None, path: str) -> _Picture | None:
    if frame is None:
        return None
    turn = _orientation(frame, path)
    return _Picture(*turn.displayed(frame.height, frame.width), turn.rotation, frame.format.name)


def _picture_key(path: str | Path, stream: int | None) -> tuple[str, int, int, int | None]:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise VideoNotFoundError(path, "no such file") from None
    if len(_pictures) >= 4096:  # bounded, as the other per-file caches
        _pictures.clear()
    return (str(path), st.st_mtime_ns, st.st_size, stream)


def _first_picture(path: str | Path, stream: int | None = None) -> _Picture | None:
    """Displayed size and rotation of the stream's first decodable frame (None if none decodes): what
    :func:`probe` reports, and the size ``size=None`` decodes every frame at (cached per file)."""
    key = _picture_key(path, stream)
    if key not in _pictures:
        container, chosen = _open(path, threads=1, stream=stream)
        with container:
            _pictures[key] = _picture_of(_first_frame(container, chosen), str(path))
    return _pictures[key]


def probe(path: str | Path, stream: int | None = None) -> VideoInfo:
    """Read a video's frame count, frame rate, displayed size, rotation, duration and codec.

    The frame count comes from the container when it records one (MP4, AVI) and is otherwise counted from
    the video packets (MKV, WebM) without decoding them. The size and rotation come from the first decoded
    frame, so they are what the decoder delivers: the display matrix applied (a phone video shot upright is
    taller than wide), and the real picture size where the header is wrong. PyAV does not expose the
    stream's own display matrix (libavformat keeps it in the stream's coded side data), hence the one
    decoded frame; it is cached per file.
    ``stream`` selects a video stream by its index (:attr:`VideoInfo.video_streams` lists them); by default
    the one FFmpeg picks.
    """
    container, chosen = _open(path, threads=1, stream=stream)
    with container:
        ctx = chosen.codec_context
        n_frames = int(chosen.frames or 0)
        fps = _stream_fps(chosen)
        if chosen.duration is not None and chosen.time_base is not None:
            duration = float(chosen.duration * chosen.time_base)
        elif container.duration is not None:
            duration = container.duration / av.time_base
        else:
            duration = None
        video_streams = tuple(s.index for s in container.streams.video)
        stream_index = chosen.index  # read while the file is open: a closed stream's fields are garbage
        codec, pix_fmt = ctx.name, ctx.pix_fmt
        height, width, rotation = ctx.height, ctx.width, 0
        key = _picture_key(path, stream)
        if key not in _pictures:  # decode the first frame here rather than open the file again
            _pictures[key] = _picture_of(_first_frame(container, chosen), str(path))
        first = _pictures[key]
    if first is not None:
        height, width, rotation = first.height, first.width, first.rotation
        pix_fmt = pix_fmt or first.pix_fmt
    if n_frames <= 0:
        index = _stream_index(path, stream)
        if index.demux_error is not None and index.n_packets == 0:
            raise VideoError(path, f"the file is corrupt or truncated ({index.demux_error})")
        n_frames = index.n_frames if index.n_frames is not None else index.n_packets
    if duration is None:
        duration = n_frames / fps if fps else 0.0
    if not fps and duration > 0:
        fps = n_frames / duration
    return VideoInfo(
        path=str(path),
        n_frames=n_frames,
        fps=fps,
        width=width,
        height=height,
        duration=duration,
        codec=codec,
        pix_fmt=pix_fmt,
        stream_index=stream_index,
        rotation=rotation,
        video_streams=video_streams,
    )


def count_frames(path: str | Path, stream: int | None = None) -> int:
    """The number of frames :func:`read_clips` can index: the distinct packet timestamps (cached per file);
    where frames are counted as decoded (raw streams, AVI with B-frames), :func:`probe`'s count, which can
    exceed what a damaged raw stream decodes to."""
    index = _stream_index(path, stream)
    return index.n_frames if index.n_frames is not None else probe(path, stream).n_frames


# --------------------------------------------------------------------------------------------------------
# Decoding
# --------------------------------------------------------------------------------------------------------


class _Redo(Exception):
    """A multi-threaded pass met a corrupt packet: redo it with one thread (see :meth:`_Decoder.numbered`)."""


class _DemuxAfterSeek(Exception):
    """Demuxing failed after a seek (a damaged file can read from the start but not from a keyframe)."""


def _gbrp_to_rgb(planar: av.VideoFrame, height: int, width: int) -> np.ndarray:
    """A planar GBR frame as a contiguous uint8 ``(H, W, 3)`` RGB array: the planes copied straight into
    place (``to_ndarray()`` gives the same pixels about 40 us slower per 128x171 frame)."""
    rgb = np.empty((height, width, 3), dtype=np.uint8)
    green, blue, red = planar.planes
    for channel, plane in enumerate((red, green, blue)):
        rgb[..., channel] = np.frombuffer(plane, np.uint8).reshape(-1, plane.line_size)[:height, :width]
    return rgb


_END = object()  # the end of a _Prefetch's source


class _Prefetch:
    """Runs an iterator in a background thread and hands its items over in batches, so that decoding (the
    source) overlaps with what the caller does with each frame (converting it): PyAV releases the GIL
    while FFmpeg demuxes, decodes and scales. At most ``depth`` batches wait for the caller. The source's
    exceptions are raised in the caller's thread. :meth:`close` stops the thread and waits for it; it must
    run before the source's container closes."""

    def __init__(self, source: Generator, batch: int, depth: int = 2) -> None:
        self._batch = batch
        # Two C-implemented queues (queue.Queue's Python locks cost ~0.3 ms a reader): batches one way,
        # permission to send another the other way.
        self._items: queue.SimpleQueue = queue.SimpleQueue()
        self._room: queue.SimpleQueue = queue.SimpleQueue()
        for _ in range(depth):
            self._room.put(None)
        self._stop = False
        self._thread = threading.Thread(target=self._run, args=(source,), name="vidlens-decode", daemon=True)
        self._thread.start()

    def _put(self, item: object) -> bool:
        """Send ``item`` once there is room, unless the caller stopped listening (then False)."""
        while not self._stop:
            try:
                self._room.get(timeout=0.05)
            except queue.Empty:
                continue
            self._items.put(item)
            return True
        return False

    def _run(self, source: Generator) -> None:
        try:
            batch: list = []
            for item in source:
                batch.append(item)
                if len(batch) == self._batch:
                    if not self._put(batch):
                        return
                    batch = []
            if batch:
                self._put(batch)
            self._items.put(_END)
        except BaseException as err:  # handed to the caller, who raises it
            self._items.put(err)
        finally:
            source.close()  # in this thread, which runs it

    def __iter__(self) -> Iterator:
        while True:
            item = self._items.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            self._room.put(None)
            yield from item

    def close(self) -> None:
        self._stop = True
        self._thread.join()


def _until(frames: Iterator[tuple[int, av.VideoFrame]], stop: int) -> Generator[tuple[int, av.VideoFrame]]:
    """``frames`` up to and including the first one whose index is at least ``stop``."""
    for item in frames:
        yield item
        if item[0] >= stop:
            return


class _Decoder:
    """One open video stream: decoded frames numbered as :func:`_stream_index` says, converted to RGB arrays
    turned as displayed and resized. ``threads`` as the module's "Threads" says: with 0, :meth:`streamed`
    decodes in a background thread."""

    def __init__(
        self, path: str | Path, size: Size, interpolation: str, threads: int, stream: int | None
    ) -> None:
        self.path = str(path)
        self.stream_arg = stream
        self.container, self.stream = _open(path, threads, stream)
        codec = self.stream.codec_context
        pixels = codec.width * codec.height
        self.background = threads == 0  # streamed() decodes in a thread of its own
        if threads == 0 and 0 < pixels <= _ONE_THREAD_PIXELS:
            threads = codec.thread_count = 1  # the codec opens at the first packet: not yet
        self.threads = threads
        self._prefetch_batch = max(1, min(_PREFETCH_FRAMES, _PREFETCH_BYTES // max(pixels * 3 // 2, 1)))
        self._prefetch: _Prefetch | None = None
        try:
            self.index = _stream_index(path, stream)
            # size=None: the displayed size of the first frame, for every frame (a stream that changes size
            # is resized to it), so that streaming and random access agree on it.
            if size is None and (first := _first_picture(path, stream)) is not None:
                size = (first.height, first.width)
        except BaseException:
            self.container.close()
            raise
        self.table = self.index.pts  # frame index -> pts, or None: frames are counted from the first one
        # Random access seeks to the keyframe before a clip only where frames are located by timestamp and
        # the decoder restarts cleanly at keyframes; elsewhere it decodes from the start.
        self.can_seek = self.table is not None and self.stream.codec_context.name not in _NO_SEEK_CODECS
        self.size = size
        self.interpolation = interpolation
        # One reformatter for the whole stream: swscale's context is built once, not once per frame.
        self._reformatter = VideoReformatter()
        self._t0 = _start_seconds(self.stream)
        self._fps = _stream_fps(self.stream)
        self._time_base = self.stream.time_base
        self._turn = _IDENTITY
        self._turn_rotation: int | None = None  # frame.rotation the current _turn was read for
        self._sought: int | None = None  # the frame the last seek went to (None: the pass starts at frame 0)
        self.bad_packets = 0  # packets the decoder rejected
        self.first_error: BaseException | None = None
        self.stray = 0  # frames dropped because their timestamp is not one of the packets' (or repeats)
        self.n_out = 0  # frames decoded and numbered, over every pass

    def __enter__(self) -> _Decoder:
        return self

    def __exit__(self, *exc) -> None:
        if self._prefetch is not None:
            self._prefetch.close()  # the thread decodes from the container: stop it first
        self.container.close()

    def streamed(self, stop: int | None = None) -> Iterator[tuple[int, av.VideoFrame]]:
        """:meth:`numbered` for a pass over the whole stream (to frame ``stop`` at most): decoded in a
        background thread when vidlens chose the threads (``threads=0``), in this one otherwise."""
        frames = self.numbered() if stop is None else _until(self.numbered(), stop)
        if not self.background:
            return frames
        self._prefetch = _Prefetch(frames, self._prefetch_batch)
        return iter(self._prefetch)

    @property
    def n_frames(self) -> int | None:
        """Frames in the stream when they are located by timestamp; None when they are counted."""
        return self.index.n_frames

    def restart(self) -> None:
        """Reopen the file: the next :meth:`numbered` starts again from the first frame."""
        self.container.close()
        self.container, self.stream = _open(self.path, self.threads, self.stream_arg)
        self._sought = None

    def seek(self, index: int) -> bool:
        """Position the demuxer on the keyframe at or before frame ``index`` (decoders are flushed); where
        the container cannot seek, reopen the file instead and return False."""
        assert self.table is not None
        try:
            self.container.seek(int(self.table[index]), backward=True, any_frame=False, stream=self.stream)
        except av.error.FFmpegError:
            self.restart()
            return False
        self._sought = index
        return True

    def _decoded(self) -> Iterator[av.VideoFrame]:
        """Frames from the current position; packets the decoder rejects are skipped and counted."""
        demux = self.container.demux(self.stream)
        while True:
            try:
                packet = next(demux)
            except StopIteration:
                return
            except av.error.FFmpegError as err:
                if self._sought is not None:
                    raise _DemuxAfterSeek from err
                raise VideoError(
                    self.path,
                    f"the file is corrupt or truncated: reading stopped after {self.n_out} frames "
                    f"({_ffmpeg_reason(err)})",
                ) from err
            try:
                decoded = packet.decode()
            except av.error.FFmpegError as err:
                if self.threads != 1:
                    raise _Redo from err
                self.bad_packets += 1
                self.first_error = self.first_error or err
                continue
            yield from decoded

    def numbered(self) -> Generator[tuple[int, av.VideoFrame]]:
        """``(index, frame)`` from the current position, in increasing index order.

        With a timestamp table the index is the frame's rank in it, so a frame the decoder could not
        produce leaves a gap; a frame whose timestamp is not in the table, or does not come after the
        previous frame's, is dropped (counted in ``stray``). Without one, frames are counted from 0, which
        is right only from the start of the stream (:meth:`restart`).

        At the first packet the decoder rejects, the pass is redone with one decoding thread from where it
        started, and continues after the frames already yielded: how FFmpeg conceals damage depends on
        its frame threading, and one thread makes every reader of a damaged file see the same frames. A
        multi-threaded pass holds back its last (threads + 1) frames until more have decoded cleanly, as
        a frame still in flight when a corrupt packet arrives may come out altered (a chained Ogg's new
        header changed the frame decoded before it)."""
        table = self.table
        sought = self._sought  # where this pass started: a seek to this frame, or None for the first frame
        yielded = -1  # the last index yielded
        held: deque[tuple[int, av.VideoFrame]] = deque()
        while True:
            count = -1
            last = yielded  # the last index accepted, held or yielded
            held.clear()
            window = None if self.threads != 1 else 0
            try:
                for frame in self._decoded():
                    if table is None:
                        count += 1
                        i = count
                        if i <= yielded:
                            continue
                    else:
                        pts = frame.pts
                        i = last + 1  # frames mostly come in timestamp order: try the next index first
                        if pts is None:
                            i = len(table)
                        elif i >= len(table) or table[i] != pts:
                            i = int(np.searchsorted(table, pts))
                        found = i < len(table) and table[i] == pts
                        if found and i <= yielded:
                            continue  # a redo passing the frames yielded before it
                        if not found or i <= last:
                            self.stray += 1
                            continue
                    last = i
                    held.append((i, frame))
                    if window is None:  # the decoder is open now: how many threads it really runs
                        window = max(self.stream.codec_context.thread_count, 1) + 1
                    while len(held) > window:
                        yielded, out = held.popleft()
                        self.n_out += 1
                        yield yielded, out
                while held:
                    yielded, out = held.popleft()
                    self.n_out += 1
                    yield yielded, out
                return
            except _Redo:
                self.threads = 1
                self.restart()
                if sought is not None:
                    self.seek(sought)
            except _DemuxAfterSeek:  # reading from the keyframe failed where reading from the start did not
                self.restart()
                sought = None

    def to_rgb(self, frame: av.VideoFrame, size: Size) -> np.ndarray:
        """``frame`` as a uint8 ``(H, W, 3)`` RGB array as displayed, resized to ``size`` (``(H, W)`` of the
        displayed picture; None keeps its displayed size). A turned frame comes back as a view."""
        rotation = frame.rotation
        if rotation != self._turn_rotation:  # the first frame, or the display matrix changed
            self._turn = _orientation(frame, self.path)
            self._turn_rotation = rotation
        turn = self._turn
        height, width = size if size is not None else turn.displayed(frame.height, frame.width)
        if turn.transpose:
            height, width = width, height  # resize in the stored orientation, then turn the small picture
        # Planar GBR output with one swscale thread is ~1.8x faster than packed rgb24 here, with identical
        # pixels (benchmarks/RESULTS.md); to_ndarray() stacks the planes into a contiguous (H, W, 3) RGB.
        planar = self._reformatter.reformat(
            frame, width=width, height=height, format="gbrp", interpolation=self.interpolation, threads=1
        )
        rgb = _gbrp_to_rgb(planar, height, width)
        return rgb if turn.identity else turn.apply(rgb)

    def seconds(self, index: int, frame: av.VideoFrame | None) -> float:
        """Presentation time of frame ``index`` in seconds from the start of the stream."""
        if self.table is not None and self._time_base is not None:
            base = self._time_base  # int * int / int: one correctly rounded division, as float(Fraction)
            return int(self.table[index]) * base.numerator / base.denominator - self._t0
        if frame is not None and frame.pts is not None and frame.time_base is not None:
            base = frame.time_base
            return frame.pts * base.numerator / base.denominator - self._t0
        return index / self._fps if self._fps else 0.0

    def check_decoded(self) -> None:
        """Raise the VideoError that says why a whole pass over the stream produced no frame."""
        if self.n_out:
            return
        if self.bad_packets:
            raise VideoError(
                self.path,
                f"the video stream is corrupt: none of its {self.bad_packets} packets could be decoded "
                f"({_ffmpeg_reason(self.first_error)}); FFmpeg cannot salvage any frame of it",  # type: ignore[arg-type]
            )
        if self.stray:
            raise VideoError(
                self.path,
                f"none of its {self.stray} decoded frames carries one of its packets' timestamps; remux it "
                "(ffmpeg -i IN -c copy OUT.mkv) or re-encode it",
            )
        raise VideoError(self.path, "the video stream has no decodable frames")

    def damage_notes(self) -> list[str]:
        """What went wrong while decoding, for a warning (empty when nothing did)."""
        notes = []
        if self.bad_packets:
            notes.append(
                f"skipped {self.bad_packets} corrupt packet(s) ({_ffmpeg_reason(self.first_error)})"  # type: ignore[arg-type]
            )
        if self.stray:
            notes.append(f"dropped {self.stray} frame(s) whose timestamp is out of order or unknown")
        return notes

    def truncation_note(self, n_decoded: int) -> str | None:
        """A note when a pass from the start decoded clearly fewer frames than the container declares."""
        declared = self.stream.frames or 0
        if n_decoded < declared - max(2, declared // 50):
            return (
                f"decoded {n_decoded} of the {declared} frames its container declares; the file is probably "
                "truncated"
            )
        return None


def _warn(path: str, notes: Iterable[str | None], stacklevel: int = 3) -> None:
    notes = [n for n in notes if n]
    if notes:
        warnings.warn(f"{path}: {'; '.join(notes)}", RuntimeWarning, stacklevel=stacklevel)


def iter_frames(
    path: str | Path,
    size: Size = DEFAULT_SIZE,
    *,
    start: int = 0,
    stop: int | None = None,
    interpolation: str = DEFAULT_INTERPOLATION,
    threads: int = 0,
    stream: int | None = None,
) -> Iterator[tuple[int, float, np.ndarray]]:
    """Yield ``(index, seconds, frame)`` for frames ``start <= index < stop``, decoding as it goes.

    ``frame`` is uint8 ``(H, W, 3)`` RGB as displayed (the display matrix applied), resized to ``size``
    (``None`` keeps the displayed size of the first frame; a stream that changes size mid-way is resized to
    it). Frames before ``start`` are decoded but not converted. ``threads=0`` lets vidlens choose how to
    decode (see the module's "Threads"); ``threads=1`` keeps all work in the calling thread. Only frames
    the decoder produces are yielded: on a damaged file an index may be skipped (a warning says how many
    frames were lost).
    """
    with _Decoder(path, size, interpolation, threads, stream) as dec:
        fixed = dec.size
        n_seen = 0
        for index, frame in dec.streamed(stop):
            n_seen = index + 1
            if stop is not None and index >= stop:
                return
            if index >= start:
                rgb = np.ascontiguousarray(dec.to_rgb(frame, fixed))
                fixed = fixed or rgb.shape[:2]
                yield index, dec.seconds(index, frame), rgb
        dec.check_decoded()
        lost = dec.n_frames - dec.n_out if dec.n_frames is not None else 0
        lost_note = f"{lost} frame(s) could not be decoded" if lost > 0 else None
        _warn(dec.path, [*dec.damage_notes(), lost_note, dec.truncation_note(n_seen)])


def read_video(
    path: str | Path,
    size: Size = DEFAULT_SIZE,
    *,
    max_frames: int | None = None,
    threads: int = 0,
    stream: int | None = None,
) -> np.ndarray:
    """Decode a whole (short) video into one uint8 array ``(T, H, W, 3)``, frames as displayed.

    This holds every frame in memory; for long videos iterate with :func:`iter_clips` instead. Frames a
    damaged file loses are left out (with a warning), so ``T`` counts the frames actually decoded.
    """
    frames = [f for _, _, f in iter_frames(path, size, stop=max_frames, threads=threads, stream=stream)]
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


@dataclass
class _Pending:
    """A clip being filled."""

    start: int
    time: float | None = None
    frames: np.ndarray | None = None  # (T, H, W, 3), allocated at the clip's first decoded frame
    filled: int = 0  # leading frames written
    missing: list[int] = field(default_factory=list)  # offsets of frames the decoder did not produce
    padded: int = 0


class _ClipBuilder:
    """Cuts ``clip_len``-frame clips at given starts from frames that arrive in increasing index order,
    possibly with gaps: the single place where streaming and random access turn frames into clips.

    A gap (a frame the decoder could not produce) is filled with the next frame that arrives, also when
    that one lies past the clip's end, so that a frame's content never depends on which clip holds it;
    gaps with no frame after them repeat the clip's last frame (:meth:`finish`)."""

    def __init__(self, dec: _Decoder, clip_len: int, size: Size) -> None:
        self.dec, self.clip_len, self.size = dec, clip_len, size
        self.pending: deque[_Pending] = deque()  # by start; clips complete in this order

    def open(self, start: int) -> None:
        time = self.dec.seconds(start, None) if self.dec.table is not None else None
        self.pending.append(_Pending(start, time))

    def wants(self, index: int) -> bool:
        """Whether frame ``index`` goes into (or ends a gap of) a pending clip."""
        return bool(self.pending) and self.pending[0].start <= index

    def add(self, index: int, frame: av.VideoFrame) -> list[_Pending]:
        """Put frame ``index`` into the pending clips; return those it completes, oldest first."""
        converted: dict[tuple[int, int] | None, np.ndarray] = {}

        def rgb_for(clip: _Pending) -> np.ndarray:
            if None not in converted:
                converted[None] = self.dec.to_rgb(frame, self.size)
            rgb = converted[None]
            if clip.frames is not None and rgb.shape[:2] != clip.frames.shape[1:3]:
                # no size at all (no frame decoded when the decoder asked for the first frame's) and the
                # stream changed resolution: resize to the clip's first frame
                target = clip.frames.shape[1:3]
                if target not in converted:
                    converted[target] = self.dec.to_rgb(frame, target)
                rgb = converted[target]
            return rgb

        done = []
        for clip in self.pending:
            if clip.start > index:
                break
            offset = index - clip.start
            stop = min(offset, self.clip_len - 1) + 1
            if clip.frames is None and offset >= self.clip_len:
                clip.missing.extend(range(clip.filled, self.clip_len))  # no frame of it was decoded
                clip.filled = self.clip_len
            else:
                rgb = rgb_for(clip)
                if clip.frames is None:
                    clip.frames = np.empty((self.clip_len, *rgb.shape), dtype=np.uint8)  # (T, H, W, 3)
                    if clip.time is None:
                        clip.time = self.dec.seconds(index, frame)
                clip.missing.extend(range(clip.filled, min(offset, self.clip_len)))
                clip.frames[clip.filled : stop] = rgb
                clip.filled = stop
            if clip.filled == self.clip_len:
                done.append(clip)
        for _ in done:
            self.pending.popleft()
        return done

    def finish(self, n_frames: int) -> list[_Pending]:
        """Complete the pending clips at the end of the stream, which has ``n_frames`` frames: the frames
        a clip lacks are missing up to ``n_frames`` and padding past it; both repeat its last frame."""
        done = list(self.pending)
        self.pending.clear()
        for clip in done:
            for offset in range(clip.filled, self.clip_len):
                if clip.start + offset < n_frames:
                    clip.missing.append(offset)
                else:
                    clip.padded += 1
            if clip.frames is not None:
                clip.frames[clip.filled :] = clip.frames[clip.filled - 1]
            clip.filled = self.clip_len
        return done


def _damage(clip: _Pending, clip_len: int) -> str | None:
    """Why ``clip`` cannot be served (more than half of its frames inside the video are missing), or None."""
    inside = clip_len - clip.padded
    if clip.frames is None:
        return _damage_reason(clip.start, inside, inside)
    return _damage_reason(clip.start, len(clip.missing), inside)


def _damage_reason(start: int, n_missing: int, inside: int) -> str | None:
    """The rule every reader (and the frame cache) applies: a clip whose ``inside`` frames (those before the
    end of the video) include more than half that could not be decoded is not served."""
    if n_missing == 0 or 2 * n_missing <= inside:
        return None
    return (
        f"{n_missing} of the {inside} frames of the clip at frame {start} could not be decoded (the file is "
        "damaged); clips with more than half of their frames missing are not served. Re-encode what FFmpeg "
        "can salvage (ffmpeg -i IN -c:v libx264 OUT.mp4) or get an intact copy"
    )


def _as_clip(clip: _Pending) -> Clip:
    return Clip(clip.frames, clip.start, clip.time or 0.0, padded=clip.padded, missing=tuple(clip.missing))  # type: ignore[arg-type]


def iter_clips(
    path: str | Path,
    clip_len: int = 16,
    stride: int = 8,
    size: Size = DEFAULT_SIZE,
    *,
    interpolation: str = DEFAULT_INTERPOLATION,
    threads: int = 0,
    stream: int | None = None,
) -> Iterator[Clip]:
    """Stream the clips of a video, in order: the clips of :func:`clip_starts`, decoded in one pass.

    Memory holds at most ``ceil(clip_len / stride)`` clips at a time, whatever the video's length. Frames
    that fall in no clip (``stride > clip_len``) are decoded but never converted. Frames are as displayed
    (rotation applied) and resized to ``size``. On a damaged file, a clip with more than half of its frames
    undecodable is left out with a warning; each clip is the one :func:`read_clip` returns for its start.
    ``threads`` as for :func:`iter_frames`: by default frames decode in a background thread, which holds up to
    four batches of decoded frames besides the clips (8 frames and at most 8 MB a batch).
    """
    _check_clip_args(clip_len, stride)
    with _Decoder(path, size, interpolation, threads, stream) as dec:
        builder = _ClipBuilder(dec, clip_len, dec.size)
        n_total = dec.n_frames  # known up front when frames are located by timestamp
        starts = deque(clip_starts(n_total, clip_len, stride)) if n_total is not None else None
        n_seen = n_served = 0
        refused: list[_Pending] = []
        missing = 0

        def serve(clips: list[_Pending]) -> Iterator[Clip]:
            nonlocal n_served, missing
            for clip in clips:
                if _damage(clip, clip_len) is not None:
                    refused.append(clip)
                    continue
                n_served += 1
                missing += len(clip.missing)
                yield _as_clip(clip)

        for index, frame in dec.streamed():
            n_seen = index + 1
            if starts is None:
                if index % stride == 0:
                    builder.open(index)
            else:
                while starts and starts[0] <= index:
                    builder.open(starts.popleft())
            if builder.wants(index):
                yield from serve(builder.add(index, frame))
        dec.check_decoded()
        if starts is None:  # counted frames: now the count is known, keep the clips clip_starts allows
            n_total = n_seen
            valid = set(clip_starts(n_total, clip_len, stride))
            builder.pending = deque(c for c in builder.pending if c.start in valid)
        else:
            for start in starts:
                builder.open(start)
        yield from serve(builder.finish(n_total))  # type: ignore[arg-type]
        if n_served == 0 and refused:
            lost = (dec.n_frames or 0) - dec.n_out
            raise VideoError(
                dec.path,
                f"no clip could be decoded: {lost} of its {dec.n_frames} frames are lost to damage, and every "
                f"clip has more than half of its frames missing ({'; '.join(dec.damage_notes())}). Re-encode "
                "what FFmpeg can salvage (ffmpeg -i IN -c:v libx264 OUT.mp4) or get an intact copy",
            )
        notes = dec.damage_notes()
        if missing:
            notes.append(f"{missing} frame(s) in the clips could not be decoded and repeat a neighbour")
        if refused:
            starts_text = ", ".join(str(c.start) for c in refused[:8]) + (", ..." if len(refused) > 8 else "")
            notes.append(
                f"left out {len(refused)} clip(s) with more than half of their frames undecodable "
                f"(starting at frames {starts_text})"
            )
        _warn(dec.path, [*notes, dec.truncation_note(dec.n_out)])


def read_clip(
    path: str | Path,
    start: int,
    clip_len: int = 16,
    size: Size = DEFAULT_SIZE,
    *,
    interpolation: str = DEFAULT_INTERPOLATION,
    threads: int = 0,
    stream: int | None = None,
) -> Clip:
    """Read the clip of ``clip_len`` frames starting at frame ``start``: seek near it, decode forward."""
    return read_clips(
        path, [start], clip_len, size, interpolation=interpolation, threads=threads, stream=stream
    )[0]


def read_clips(
    path: str | Path,
    starts: Sequence[int],
    clip_len: int = 16,
    size: Size = DEFAULT_SIZE,
    *,
    interpolation: str = DEFAULT_INTERPOLATION,
    threads: int = 0,
    stream: int | None = None,
) -> list[Clip]:
    """Read the clips starting at the given frames (any order, overlaps allowed), returned in that order.

    The video is opened once and read forward; a clip far from the previous one is reached by seeking to
    the keyframe before it. Frames are located through their timestamps, so this is exact for variable
    frame rates too; files whose timestamps cannot locate frames (raw streams, AVI with reordered frames)
    are decoded from the start instead. A clip that runs past the end of the video is padded by repeating
    its last frame (``Clip.padded``). Each clip equals the one :func:`iter_clips` streams for that start;
    on a damaged file, a clip with more than half of its frames undecodable raises :class:`VideoError`.
    """
    clips, _ = _read_clips(path, starts, clip_len, size, interpolation, threads, stream, strict=True)
    return clips  # type: ignore[return-value]


def _read_clips(
    path: str | Path,
    starts: Sequence[int],
    clip_len: int,
    size: Size,
    interpolation: str,
    threads: int,
    stream: int | None,
    *,
    strict: bool,
) -> tuple[list[Clip | None], int | None]:
    """:func:`read_clips`; with ``strict=False`` a damaged clip is returned anyway (the frame cache keeps
    the whole video as one clip and applies the damage rule per clip itself). Also returns the stream's
    frame count where timestamps give it."""
    _check_clip_args(clip_len, 1)
    if not starts:
        return [], None
    if min(starts) < 0:
        raise ValueError(f"clip starts must be >= 0, got {min(starts)}")
    n_total = _stream_index(path, stream).n_frames
    if n_total is not None and max(starts) >= n_total:
        raise ValueError(
            f"clip start {max(starts)} is past the end of {path!s} ({n_total} frames); "
            "choose starts with clip_starts() or uniform_starts()"
        )
    clips: list[Clip | None] = [None] * len(starts)
    with _Decoder(path, size, interpolation, threads, stream) as dec:
        cursor = _FrameCursor(dec)
        missing = 0
        for group in _clip_groups(starts, clip_len):
            builder = _ClipBuilder(dec, clip_len, dec.size)
            for start in sorted({starts[i] for i in group}):
                builder.open(start)
            done: list[_Pending] = []
            for index, frame in cursor.read_from(builder.pending[0].start):
                if builder.wants(index):
                    done += builder.add(index, frame)
                if not builder.pending:
                    break
            else:  # the end of the stream
                if cursor.from_start:
                    dec.check_decoded()  # nothing decodes at all: the error streaming raises
                done += builder.finish(dec.n_frames if dec.n_frames is not None else cursor.n_decoded)
            by_start = {clip.start: clip for clip in done}
            for i in group:
                pending = by_start[starts[i]]
                if pending.frames is None and dec.n_frames is None:
                    raise VideoError(
                        path,
                        f"frame {starts[i]} was asked for but decoding ended after {cursor.n_decoded} "
                        "frames; the file is probably truncated",
                    )
                if (strict or pending.frames is None) and (why := _damage(pending, clip_len)) is not None:
                    raise VideoError(path, why)
                clip = _as_clip(pending)
                if any(c is not None and c.frames is clip.frames for c in clips):
                    clip.frames = clip.frames.copy()  # the same start twice: two independent arrays
                clips[i] = clip
                missing += len(clip.missing)
        notes = dec.damage_notes()
        if missing:
            notes.append(f"{missing} frame(s) in the clips could not be decoded and repeat a neighbour")
        _warn(dec.path, notes, stacklevel=4)
    return clips, n_total


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
    """Reads one stream's frames in increasing index order, seeking forward when that is cheaper."""

    def __init__(self, dec: _Decoder) -> None:
        self.dec = dec
        self.frames = dec.numbered()
        self.position = 0  # index of the next frame self.frames yields (at least)
        self.n_decoded = 0  # frames counted so far from the start (the frame count, once at the end)
        self.from_start = True  # whether the current pass started at the first frame (no seek)

    def read_from(self, first: int) -> Iterator[tuple[int, av.VideoFrame]]:
        """Yield ``(index, frame)`` from frame ``first`` on, to the end of the stream or until the caller
        stops; the next call continues from there (or seeks)."""
        if self.dec.can_seek and (first < self.position or first - self.position > _SEEK_GAP):
            self.from_start = not self.dec.seek(first)
            self.frames = self.dec.numbered()
        elif first < self.position:  # start over from the first frame
            self.dec.restart()
            self.frames = self.dec.numbered()
            self.position = 0
            self.from_start = True
        for index, frame in self.frames:
            self.position = index + 1
            self.n_decoded = max(self.n_decoded, self.position)
            if index >= first:
                yield index, frame
