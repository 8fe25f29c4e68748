"""Decode each video once: a directory of decoded frames that clip loading reads instead of the file.

Training draws a random 16-frame clip of every video each epoch. Read from an H.264 file, that clip costs
opening the container, seeking to the keyframe before it and decoding forward (about 25 frames per clip
on the built-in synthetic videos, 18 ms of CPU at 112x112), every epoch, for every seed and model of a
reproduction. A :class:`FrameCache` decodes a video's frames once, at the size clips are cut at, into an
uint8 ``.npy`` file ``(T, H, W, 3)``; later reads memory-map it and copy the clip's frames (under 1 ms),
and the operating system's page cache shares them between DataLoader workers and runs. This is how
video training pipelines are usually fed (frames extracted to disk beforehand), without a separate
extraction step.

A cached clip is identical, bit for bit, to the clip :func:`vidlens.video.read_clip` returns: the whole
video is read as one clip by the same decoder code (turned as displayed; a frame a damaged file loses
repeats the next decodable one, as there), a clip that runs past the end is padded by repeating the last
frame, and a clip with more than half of its frames lost raises the same :class:`VideoError`: which frames
were lost is kept next to the frames (``<entry>.missing.npy``, only for damaged files).

Entries are keyed by the video's resolved path, its size and modification time, the frame size, the
interpolation and the version of the decoding rules (:data:`DECODING`), so an edited video is decoded
again, and so is every video after vidlens changes what it decodes. The cache costs ``T x H x W x 3`` bytes per video
(1.2 MB for 32 frames of 112x112; about 11 MB for a 7-second UCF101 video at 128x171): nothing is ever
evicted, so delete the directory to reclaim the space. Files are written atomically, so DataLoader
workers that decode the same video at once, or a run killed mid-write, never leave half a file.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from vidlens.io import atomic_save_npy
from vidlens.video import (
    DEFAULT_INTERPOLATION,
    DEFAULT_SIZE,
    Size,
    VideoError,
    _damage_reason,
    _read_clips,
    count_frames,
)

__all__ = ["DECODING", "FrameCache"]

#: Version of what decoding delivers, part of every entry's key. 2: frames turned by the display matrix,
#: the stream FFmpeg picks, frames numbered by timestamp with lost frames repeating the next one.
DECODING = 2


class FrameCache:
    """Decoded frames of videos, one ``.npy`` file per (video, frame size) under ``directory``.

    ``frames(path, size)`` returns a read-only memory map of all decoded frames ``(T, H, W, 3)``;
    ``clip(path, start, clip_len, size)`` the frames of one clip, as :func:`vidlens.video.read_clip` would.
    """

    def __init__(self, directory: str | os.PathLike) -> None:
        self.directory = Path(directory).expanduser()
        if self.directory.exists() and not self.directory.is_dir():
            raise NotADirectoryError(
                f"frame cache {self.directory} is a file; give a directory (it is created if missing)"
            )

    def __repr__(self) -> str:
        return f"FrameCache({str(self.directory)!r})"

    def entry(
        self, path: str | os.PathLike, size: Size = DEFAULT_SIZE, interpolation: str = DEFAULT_INTERPOLATION
    ) -> Path:
        """Where the frames of ``path`` at ``size`` are (or will be) kept."""
        source = Path(path).resolve()
        stat = source.stat()
        key = f"{source}|{stat.st_size}|{stat.st_mtime_ns}|{size}|{interpolation}|decoding {DECODING}"
        digest = hashlib.sha1(key.encode()).hexdigest()
        return self.directory / digest[:2] / f"{digest}.npy"

    def frames(
        self,
        path: str | os.PathLike,
        size: Size = DEFAULT_SIZE,
        *,
        interpolation: str = DEFAULT_INTERPOLATION,
    ) -> np.ndarray:
        """All decodable frames of ``path`` resized to ``size``, uint8 ``(T, H, W, 3)``, read-only.

        The first call for a video decodes it and writes the entry; later calls map the file."""
        entry = self.entry(path, size, interpolation)
        try:
            return np.load(entry, mmap_mode="r")
        except FileNotFoundError:
            pass
        n_frames = count_frames(path)
        if n_frames < 1:
            raise VideoError(path, "the video has no frames to cache")
        (whole,), _ = _read_clips(path, [0], n_frames, size, interpolation, 1, None, strict=False)
        assert whole is not None
        if whole.missing:  # written first: an entry without its list would serve damaged clips
            atomic_save_npy(np.asarray(whole.missing, dtype=np.int64), self._missing_entry(entry))
        # Frames past the last decodable one are padding, not frames: keep only the real ones.
        atomic_save_npy(whole.frames[: n_frames - whole.padded], entry)
        return np.load(entry, mmap_mode="r")

    @staticmethod
    def _missing_entry(entry: Path) -> Path:
        return entry.with_name(entry.stem + ".missing.npy")

    def _missing(self, entry: Path) -> np.ndarray:
        """Indices of the frames the decoder lost (each repeats the next decodable one), sorted."""
        try:
            return np.load(self._missing_entry(entry))
        except FileNotFoundError:
            return np.zeros(0, dtype=np.int64)

    def clip(
        self,
        path: str | os.PathLike,
        start: int,
        clip_len: int = 16,
        size: Size = DEFAULT_SIZE,
        *,
        interpolation: str = DEFAULT_INTERPOLATION,
    ) -> np.ndarray:
        """The ``clip_len`` frames from ``start`` (uint8 ``(clip_len, H, W, 3)``, a copy), padded by repeating
        the last frame past the end of the video, as :func:`vidlens.video.read_clip` reads them."""
        if start < 0 or clip_len < 1:
            raise ValueError(f"need start >= 0 and clip_len >= 1, got start={start}, clip_len={clip_len}")
        frames = self.frames(path, size, interpolation=interpolation)
        if start >= len(frames):
            raise VideoError(
                path,
                f"frame {start} was asked for but decoding ended after {len(frames)} frames; the file is "
                "probably truncated",
            )
        missing = self._missing(self.entry(path, size, interpolation))
        if len(missing):
            lost = int(np.count_nonzero((missing >= start) & (missing < start + clip_len)))
            inside = min(clip_len, len(frames) - start)
            why = _damage_reason(start, lost, inside)
            if why is not None:
                raise VideoError(path, why)
        clip = np.empty((clip_len, *frames.shape[1:]), dtype=np.uint8)
        real = frames[start : start + clip_len]
        clip[: len(real)] = real
        clip[len(real) :] = real[-1]
        return clip
