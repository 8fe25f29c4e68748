"""Reading and writing video files with PyAV.

Decoding is streaming: frames are decoded, resized and handed on one at a time, and a clip holds only its
own ``clip_len`` frames, so a video of any length is read in constant memory.

Layouts: the decoder yields uint8 RGB frames ``(H, W, 3)``; a clip is ``(T, H, W, 3)`` uint8. Models take
float ``(N, 3, T, H, W)``: see :meth:`vidlens.presets.Preset.normalize`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

__all__ = ["VideoError", "VideoNotFoundError", "write_video"]


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
            if frame.dtype != np.uint8 or frame.ndim not in (2, 3) or (frame.ndim == 3 and frame.shape[2] != 3):
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


def _as_rate(fps: float) -> Fraction:
    return Fraction(fps).limit_denominator(1001) if not math.isnan(fps) else Fraction(25)
