"""Clips to animations: GIF and MP4 writers, and :func:`tile` to lay several clips side by side.

Clips are uint8 arrays ``(T, H, W, 3)`` RGB (or ``(T, H, W)`` grey for the writers). Both writers are atomic:
the file appears whole or not at all.

    from vidlens.viz import colorize, tile, write_gif, write_mp4
    maps = colorize(feature_maps[:4] / feature_maps.max())  # (4, T, h, w, 3): four channels
    clip = tile([frames, *maps], gap=2)                      # (T, H, 5w + 8, 3), frames (T, h, w, 3)
    write_gif(clip, "fmaps.gif", fps=8)
    write_mp4(clip, "fmaps.mp4", fps=8)
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from vidlens.io import atomic_write
from vidlens.video import write_video

__all__ = ["tile", "write_gif", "write_mp4"]


def _check_clip(frames: np.ndarray) -> np.ndarray:
    frames = np.asarray(frames)
    if (
        frames.dtype != np.uint8
        or frames.ndim not in (3, 4)
        or (frames.ndim == 4 and frames.shape[-1] != 3)
        or 0 in frames.shape
    ):
        raise ValueError(
            f"frames must be a non-empty uint8 clip, (T, H, W, 3) RGB or (T, H, W) grey, got "
            f"{frames.dtype} {frames.shape} (one image x: pass x[None]; floats in [0, 1]: "
            f"(x * 255).round().astype(np.uint8) or vidlens.viz.colorize(x))"
        )
    return frames


def _check_suffix(path: Path, suffix: str, other: str) -> None:
    if path.suffix.lower() != suffix:
        raise ValueError(f"name the file with the suffix {suffix}, got {path} ({other})")


def write_gif(
    frames: np.ndarray,
    path: str | os.PathLike,
    fps: float = 10.0,
    *,
    loop: int | None = 0,
    colors: int = 256,
) -> Path:
    """Write a uint8 clip ``(T, H, W, 3)`` RGB or ``(T, H, W)`` grey as an animated GIF, atomically.

    GIF stores frame delays in hundredths of a second, so each frame lasts ``round(100 / fps)`` of them, at
    least 2 (browsers slow shorter delays down to 0.1 s): fps above 50 plays at 50. ``loop`` is the GIF's
    repeat count, 0 for forever; ``None`` writes none, so that the animation plays once. Each frame gets its
    own palette of ``colors`` colours, 2 to 256 (Pillow's adaptive palette, median cut): fewer colours make
    smaller files (128 saves about a quarter on textured video, 64 about half, at a mean error of 2 and 4
    levels). Identical consecutive frames are stored once with their delays added, so the playing time
    stays ``T / fps``. Returns the path.
    """
    from PIL import Image

    path = Path(path)
    _check_suffix(path, ".gif", "use write_mp4 for .mp4 files")
    frames = _check_clip(frames)
    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}")
    if loop is not None and (not isinstance(loop, int) or loop < 0):
        raise ValueError(
            f"loop must be 0 (forever), a positive number of repeats or None (play once), got {loop}"
        )
    if isinstance(colors, bool) or not isinstance(colors, int) or not 2 <= colors <= 256:
        raise ValueError(f"colors must be an int in 2..256 (a GIF palette holds 256), got {colors!r}")
    delay_ms = 10 * max(2, round(100 / fps))
    images = [Image.fromarray(np.ascontiguousarray(f)) for f in frames]
    if colors < 256:
        images = [im.quantize(colors, method=Image.Quantize.MEDIANCUT) for im in images]
    options = {"save_all": True, "append_images": images[1:], "duration": delay_ms}
    if loop is not None:
        options["loop"] = loop
    return atomic_write(path, lambda tmp: images[0].save(tmp, format="GIF", **options))


def write_mp4(frames: np.ndarray, path: str | os.PathLike, fps: float = 10.0, *, crf: int = 18) -> Path:
    """Write a uint8 clip ``(T, H, W, 3)`` RGB or ``(T, H, W)`` grey as an H.264 MP4, atomically.

    H.264 in the yuv420p pixel format that every player reads needs even frame sizes: an odd height or width
    is padded by repeating the last row or column, so the video may be one pixel taller or wider than the
    frames. ``crf`` is x264's quality (0 lossless, 18 visually lossless, 23 its default, 51 worst); colour
    is stored at half resolution (4:2:0), so thin coloured lines blur a little. Encoded with
    :func:`vidlens.video.write_video`. Returns the path.
    """
    path = Path(path)
    _check_suffix(path, ".mp4", "use vidlens.video.write_video for other containers and codecs")
    frames = _check_clip(frames)
    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}")
    if not 0 <= crf <= 51:
        raise ValueError(f"crf must lie in 0..51 (lower is better quality), got {crf}")
    pad_h, pad_w = frames.shape[1] % 2, frames.shape[2] % 2
    if pad_h or pad_w:
        pad = [(0, 0), (0, pad_h), (0, pad_w)] + [(0, 0)] * (frames.ndim - 3)
        frames = np.pad(frames, pad, mode="edge")  # (T, H + H % 2, W + W % 2[, 3])

    def encode(tmp: Path) -> None:
        # FFmpeg picks the container from the suffix, which the temporary file lacks: encode next to it
        # under a name that ends in .mp4, then move that onto it.
        named = tmp.with_name(tmp.name + path.suffix)
        try:
            write_video(named, frames, fps, codec="libx264", options={"crf": str(crf)})
            os.replace(named, tmp)
        finally:
            named.unlink(missing_ok=True)

    return atomic_write(path, encode)


def tile(
    clips: Sequence[np.ndarray],
    *,
    cols: int | None = None,
    gap: int = 2,
    fill: int | tuple[int, int, int] = 255,
) -> np.ndarray:
    """Lay clips ``(T, H_i, W_i, 3)`` uint8 in a grid, in one clip ``(T, H, W, 3)``, row by row.

    ``cols`` clips per row (default: all in one row); ``gap`` pixels between them, filled with ``fill`` (a
    grey level or an RGB triple, white by default), none around the edge. Every cell is as large as the
    largest clip and smaller clips are centred in theirs. A clip of one frame ``(1, H, W, 3)`` is repeated
    over the others' ``T`` (a still image next to a clip). Grey clips: ``np.repeat(x[..., None], 3, -1)``;
    float maps: :func:`vidlens.viz.colorize` them first.
    """
    if not len(clips):
        raise ValueError("give at least one clip to tile")
    clips = [np.asarray(c) for c in clips]
    for i, c in enumerate(clips):
        if c.dtype != np.uint8 or c.ndim != 4 or c.shape[-1] != 3 or 0 in c.shape:
            raise ValueError(
                f"clip {i} must be a non-empty uint8 RGB clip (T, H, W, 3), got {c.dtype} {c.shape} (one "
                f"image x: x[None]; grey: np.repeat(x[..., None], 3, -1); floats: vidlens.viz.colorize(x))"
            )
    lengths = {c.shape[0] for c in clips} - {1}
    if len(lengths) > 1:
        raise ValueError(
            f"clips must have the same number of frames (or 1, repeated), got {[c.shape[0] for c in clips]}"
        )
    t = lengths.pop() if lengths else 1
    cols = len(clips) if cols is None else cols
    if cols < 1:
        raise ValueError(f"cols must be at least 1, got {cols}")
    fill_rgb = np.asarray(fill)
    if fill_rgb.shape not in ((), (3,)) or not np.issubdtype(fill_rgb.dtype, np.integer):
        raise ValueError(f"fill must be a grey level or an RGB triple of integers in 0..255, got {fill!r}")
    if fill_rgb.min() < 0 or fill_rgb.max() > 255:
        raise ValueError(f"fill must lie in 0..255, got {fill!r}")
    if gap < 0:
        raise ValueError(f"gap must be >= 0 pixels, got {gap}")
    cols = min(cols, len(clips))
    rows = math.ceil(len(clips) / cols)
    cell_h = max(c.shape[1] for c in clips)
    cell_w = max(c.shape[2] for c in clips)
    out = np.empty((t, rows * cell_h + (rows - 1) * gap, cols * cell_w + (cols - 1) * gap, 3), np.uint8)
    out[...] = fill_rgb.astype(np.uint8)  # a grey level or an RGB triple
    for i, c in enumerate(clips):
        r, k = divmod(i, cols)
        top = r * (cell_h + gap) + (cell_h - c.shape[1]) // 2
        left = k * (cell_w + gap) + (cell_w - c.shape[2]) // 2
        out[:, top : top + c.shape[1], left : left + c.shape[2]] = c  # (T or 1, H_i, W_i, 3), broadcast
    return out
