"""Pictures of interpretation results: maps on frames, feature maps, filters, and the files for one result.

:mod:`vidlens.interpret` computes (tensors in, tensors out); this module draws what it returns, with the
building blocks of :mod:`~vidlens.viz.overlay` and :mod:`~vidlens.viz.animation`:

* :func:`contact_sheet`: frames side by side in a figure (a PNG strip), optionally over a second row with
  a map overlaid, titled with what it shows (model, layer, channel, class); :func:`clips_sheet`: several
  clips, one labelled row each (an activation-maximisation sweep over the temporal weight);
* :func:`overlay_clip`: a clip and its map, the map's colours blended onto the frames (next to them);
* :func:`rgb_clip`: a signed signal in input space ``(3, T, H, W)`` (a deconvolution, a raw gradient) as a
  clip, zero at mid-grey;
* :func:`feature_map_grid`: the first channels of a layer's activations ``(C, T', H', W')`` tiled into one
  clip, each channel normalised on its own;
* :func:`filter_grid`: first-layer RGB kernels ``(C_out, 3, t, h, w)`` tiled into a clip over ``t``;
  :func:`filter_norms_figure`: a deeper layer's per-filter norms, ``C_out x C_in``;
* :func:`save_animation`, :func:`save_clips`, :func:`save_interpretation`: the ``<stem>.gif``, ``<stem>.mp4``
  and ``<stem>.png`` of one result, each written atomically.

Maps to overlay are floats in [0, 1] (normalise them first: values outside are clipped); arrays may be numpy
or torch.

    from vidlens.viz import save_interpretation
    save_interpretation("out", "c3d_conv5b_gradcam", frames, cam / cam.max(), title="c3d conv5b: MoveLeft")
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import torch

from vidlens.viz.animation import tile, write_gif, write_mp4
from vidlens.viz.figures import _new_figure, save_figure
from vidlens.viz.overlay import _resize, colorize, overlay

if TYPE_CHECKING:
    from matplotlib.colors import Colormap
    from matplotlib.figure import Figure

__all__ = [
    "clips_sheet",
    "contact_sheet",
    "feature_map_grid",
    "filter_grid",
    "filter_norms_figure",
    "overlay_clip",
    "rgb_clip",
    "save_animation",
    "save_clips",
    "save_interpretation",
]

Array = np.ndarray | torch.Tensor


def _numpy(x: Array) -> np.ndarray:
    """``x`` as numpy: a torch tensor detached and moved to the CPU, floats as float32 (bfloat16 has no
    numpy twin); integers stay integers, so that :func:`~vidlens.viz.overlay` can refuse unscaled maps."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu()
        return (x.float() if x.is_floating_point() else x).numpy()
    return np.asarray(x)


def _float_array(x: Array, name: str) -> np.ndarray:
    """``x`` (numbers: activations, weights) as a float32 numpy array."""
    x = _numpy(x)
    if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        raise TypeError(f"{name} must be numbers, got {x.dtype}")
    return x.astype(np.float32, copy=False)


def _unit(x: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    """Min-max scaling of ``x`` to [0, 1] over ``axes`` (one range per remaining index); a constant is 0."""
    low = x.min(axis=axes, keepdims=True)
    span = x.max(axis=axes, keepdims=True) - low
    return np.divide(x - low, span, out=np.zeros_like(x), where=span > 0)


def _signed_unit(x: np.ndarray) -> np.ndarray:
    """``0.5 + x / (2 max|x|)``: signed values in [0, 1] with zero at 0.5 (all 0.5 when ``x`` is 0)."""
    peak = float(np.abs(x).max())
    return 0.5 + x / (2 * peak) if peak > 0 else np.full_like(x, 0.5)


def _rgb_uint8(x: np.ndarray) -> np.ndarray:
    """``(..., 3)`` floats in [0, 1] to uint8, rounded."""
    return np.rint(np.clip(x, 0.0, 1.0) * 255).astype(np.uint8)


def _check_rgb_clip(frames: np.ndarray, name: str = "frames") -> np.ndarray:
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3 or 0 in frames.shape:
        raise ValueError(
            f"{name} must be a non-empty uint8 RGB clip (T, H, W, 3), got {frames.dtype} {frames.shape} (one "
            f"image x: x[None]; grey: np.repeat(x[..., None], 3, -1); floats in [0, 1]: vidlens.viz.colorize)"
        )
    return frames


def _enlarge(clip: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour enlargement of ``(..., H, W, 3)`` by an integer ``factor`` (each pixel a block)."""
    return clip if factor == 1 else clip.repeat(factor, axis=-3).repeat(factor, axis=-2)


def _grid_cols(n: int, cols: int | None) -> int:
    return math.ceil(math.sqrt(n)) if cols is None else cols


# --------------------------------------------------------------------------------------------------------
# Maps on frames
# --------------------------------------------------------------------------------------------------------


def overlay_clip(
    frames: np.ndarray,
    maps: Array,
    *,
    alpha: float = 0.5,
    cmap: str | Colormap = "jet",
    side_by_side: bool = True,
    gap: int = 2,
) -> np.ndarray:
    """The map's colours blended onto the clip, next to the clip itself: uint8 ``(T, H, 2W + gap, 3)``.

    ``frames`` is uint8 ``(T, H, W, 3)``; ``maps`` a float map in [0, 1], ``(T', H', W')`` at any resolution
    (resized trilinearly by :func:`~vidlens.viz.overlay`: a conv5 Grad-CAM of one time step covers the
    whole clip). ``side_by_side=False`` returns the blended clip alone, ``(T, H, W, 3)``. Write it with
    :func:`~vidlens.viz.write_gif` / :func:`~vidlens.viz.write_mp4`, or use :func:`save_interpretation`.
    """
    frames = _check_rgb_clip(frames)
    shown = overlay(frames, _numpy(maps), alpha=alpha, cmap=cmap)  # (T, H, W, 3)
    return tile([frames, shown], gap=gap) if side_by_side else shown


def contact_sheet(
    frames: np.ndarray,
    maps: Array | None = None,
    *,
    every: int | None = None,
    max_panels: int = 8,
    title: str = "",
    cmap: str | Colormap = "jet",
    alpha: float = 0.5,
    panel_inches: float = 1.6,
) -> Figure:
    """Frames of a clip side by side, each titled with its index; with ``maps``, the overlay below them.

    ``frames`` is uint8 ``(T, H, W, 3)`` (any clip: video frames, or what :func:`feature_map_grid` or
    :func:`filter_grid` made); every ``every``-th frame from the first is shown, by default just enough
    for at most ``max_panels`` panels. ``maps`` (float ``(T', H', W')`` in [0, 1], any resolution) adds a
    second row with the map blended onto the same frames (``alpha``, ``cmap``: see
    :func:`~vidlens.viz.overlay`). ``title`` says what is shown, e.g. ``"c3d conv5b Grad-CAM: MoveLeft (p =
    0.93)"``. Each panel is ``panel_inches`` wide at 100 dpi, pixels drawn as blocks (no smoothing). Save
    with :func:`~vidlens.viz.save_figure`.
    """
    frames = _check_rgb_clip(frames)
    if maps is None:
        return clips_sheet(
            [frames], every=every, max_panels=max_panels, title=title, panel_inches=panel_inches
        )
    shown = overlay(frames, _numpy(maps), alpha=alpha, cmap=cmap)
    return clips_sheet(
        [frames, shown],
        ["frames", "overlay"],
        every=every,
        max_panels=max_panels,
        title=title,
        panel_inches=panel_inches,
    )


def clips_sheet(
    clips: Sequence[np.ndarray],
    labels: Sequence[str] | None = None,
    *,
    every: int | None = None,
    max_panels: int = 8,
    title: str = "",
    panel_inches: float = 1.6,
) -> Figure:
    """Several clips of one size, one row each, labelled on the left: the same frames of each, side by side.

    ``clips`` are uint8 ``(T, H, W, 3)`` of the same shape, e.g. one unit's activation-maximisation clips at
    several temporal weights, slow to fast (Feichtenhofer et al. 2018, figure 3); ``labels`` one per row
    (``"chi=10"``), drawn when there are two or more rows. Every ``every``-th frame from the first is shown,
    by default just enough for at most ``max_panels`` panels, each ``panel_inches`` wide at 100 dpi with
    pixels drawn as blocks. Save with :func:`~vidlens.viz.save_figure`.
    """
    clips = [_check_rgb_clip(c, f"clips[{i}]") for i, c in enumerate(clips)]
    if not clips:
        raise ValueError("give at least one clip (T, H, W, 3)")
    if len({c.shape for c in clips}) > 1:
        raise ValueError(f"the clips of a sheet must have one shape, got {[c.shape for c in clips]}")
    if labels is not None and len(labels) != len(clips):
        raise ValueError(f"give one label per clip: {len(clips)} clips, {len(labels)} labels")
    n_frames, height, width, _ = clips[0].shape
    if max_panels < 1:
        raise ValueError(f"max_panels must be at least 1, got {max_panels}")
    every = math.ceil(n_frames / max_panels) if every is None else every
    if isinstance(every, bool) or not isinstance(every, int) or every < 1:
        raise ValueError(f"every must be a positive int (show every k-th frame), got {every!r}")
    shown = list(range(0, n_frames, every))

    panel_h = panel_inches * height / width
    fig = _new_figure(
        figsize=(panel_inches * len(shown), panel_h * len(clips) + 0.3 + (0.3 if title else 0.0)),
        dpi=100,
        layout="constrained",
    )
    axes = fig.subplots(len(clips), len(shown), squeeze=False)
    for r, clip in enumerate(clips):
        for c, t in enumerate(shown):
            ax = axes[r, c]
            ax.imshow(clip[t], interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(f"t={t}", fontsize=8)
            if c == 0 and labels is not None and len(clips) > 1:
                ax.set_ylabel(labels[r], fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    return fig


def rgb_clip(x: Array, *, scale: Literal["signed", "minmax"] = "signed", bgr: bool = False) -> np.ndarray:
    """A signal in input space, ``(3, T, H, W)`` floats, as a uint8 clip ``(T, H, W, 3)`` to look at.

    For what lives where the pixels do but is no heat map: a deconvolution's reconstruction (Zeiler and
    Fergus 2014), a guided-backprop or raw input gradient before its channels are reduced.

    * ``scale="signed"`` (default): ``0.5 + x / (2 max|x|)``, so zero is mid-grey, positive and negative
      parts are told apart and their relative sizes kept;
    * ``scale="minmax"``: ``(x - min) / (max - min)``, the full range used.

    One scale for the whole clip, so that frames can be compared. ``bgr=True`` reverses the channels of a
    signal in BGR input space (C3D's ported Sports-1M weights) so that it shows in RGB.
    """
    x = _float_array(x, "x")
    if x.ndim != 4 or x.shape[0] != 3 or 0 in x.shape:
        raise ValueError(
            f"x must be one clip's (3, T, H, W), got {x.shape}"
            + (": pick the clip first (x[0])" if x.ndim == 5 else "")
        )
    if scale == "signed":
        x = _signed_unit(x)
    elif scale == "minmax":
        x = _unit(x, axes=(0, 1, 2, 3))
    else:
        raise ValueError(f"scale must be 'signed' (zero is grey) or 'minmax', got {scale!r}")
    if bgr:
        x = x[::-1]
    return _rgb_uint8(x.transpose(1, 2, 3, 0))  # (T, H, W, 3)


# --------------------------------------------------------------------------------------------------------
# Feature maps and filters
# --------------------------------------------------------------------------------------------------------


def feature_map_grid(
    activations: Array,
    *,
    channels: int | Sequence[int] = 16,
    frames: np.ndarray | None = None,
    size: tuple[int, int, int] | None = None,
    cols: int | None = None,
    cmap: str | Colormap = "viridis",
    gap: int = 2,
    min_side: int = 64,
) -> np.ndarray:
    """A layer's feature maps tiled into one clip, uint8 ``(T'', rows * h + gaps, cols * w + gaps, 3)``.

    ``activations`` is one clip's ``(C, T', H', W')`` (torch or numpy); ``channels`` the first ``k`` channels
    (an int) or the channels to show (a sequence of indices), in a grid of ``cols`` columns (default: about
    square), row by row. Each channel is scaled to [0, 1] on its own (min-max over its ``T' x H' x W'``
    values, so a weak channel is as visible as a strong one; a constant channel is drawn at 0) and coloured
    with ``cmap``.

    Two resolutions:

    * ``size=None`` (default): each map at its own resolution, ``T'`` frames; every activation is a block of
      pixels, enlarged by the smallest integer factor (nearest neighbour) that makes its shorter side at
      least ``min_side`` pixels. What you see is what the layer holds, e.g. conv5's ``2 x 7 x 7`` as two
      frames of 7 x 7 blocks.
    * ``size=(T, H, W)``: each map upsampled trilinearly to that size (the clip's, to play in step with it),
      as :func:`~vidlens.viz.overlay` does: smooth, and never outside the map's range.

    ``frames`` (uint8 ``(T, H, W, 3)``), if given, is put in the first cell; ``size`` then defaults to its
    ``(T, H, W)`` and must equal it.
    """
    acts = _float_array(activations, "activations")
    if acts.ndim != 4 or 0 in acts.shape:
        raise ValueError(
            f"activations must be one clip's (C, T', H', W'), got {acts.shape}"
            + (": pick the clip first (activations[0])" if acts.ndim == 5 else "")
        )
    n_channels = acts.shape[0]
    if isinstance(channels, int | np.integer) and not isinstance(channels, bool):
        if channels < 1:
            raise ValueError(f"channels must be at least 1 (how many to show), got {channels}")
        index = list(range(min(int(channels), n_channels)))
    else:
        index = [int(c) for c in channels]
        bad = [c for c in index if not 0 <= c < n_channels]
        if not index or bad:
            raise ValueError(f"channels must be indices in [0, {n_channels}), got {list(channels)!r}")
    if frames is not None:
        frames = _check_rgb_clip(frames)
        if size is not None and tuple(size) != frames.shape[:3]:
            raise ValueError(f"size {tuple(size)} must be the frames' (T, H, W) {frames.shape[:3]}, or None")
        size = frames.shape[:3]

    maps = _unit(acts[index], axes=(1, 2, 3))  # (k, T', H', W') in [0, 1]
    if size is None:
        factor = max(1, math.ceil(min_side / min(maps.shape[2:])))
        cells = [_enlarge(colorize(m, cmap), factor) for m in maps]  # (T', H' * f, W' * f, 3) each
    else:
        size = tuple(int(s) for s in size)
        if len(size) != 3 or min(size) < 1:
            raise ValueError(f"size must be (T, H, W) of positive ints, got {size!r}")
        cells = [colorize(_resize(m, size), cmap) for m in maps]  # (T, H, W, 3) each
    if frames is not None:
        cells.insert(0, frames)
    return tile(cells, cols=_grid_cols(len(cells), cols), gap=gap)


def filter_grid(
    weight: Array,
    *,
    scale: Literal["each", "all"] = "each",
    bgr: bool = False,
    cols: int | None = None,
    gap: int = 1,
    min_side: int = 24,
) -> np.ndarray:
    """First-layer RGB kernels tiled into a clip over their time axis: uint8 ``(t, rows * h' + gaps, ...)``.

    ``weight`` is ``(C_out, 3, t, h, w)`` (a 3D conv's ``weight`` on RGB input; 2D kernels ``(C_out, 3, h,
    w)`` become one frame). Kernel values become colours in [0, 1]:

    * ``scale="each"`` (default): each kernel min-max scaled over its own ``3 x t x h x w`` values, so
      every kernel's pattern shows, whatever its norm;
    * ``scale="all"``: one scale for all, ``0.5 + w / (2 max|w|)``: zero is grey and strong kernels stand
      out from weak ones.

    ``bgr=True`` for weights that take BGR input (C3D's ported Sports-1M weights): the input channels are
    reversed so that colours show as RGB. Each kernel is enlarged by the smallest integer factor (nearest
    neighbour, every weight a block) that makes it at least ``min_side`` pixels, so a 3 x 3 kernel is
    visible; ``cols`` kernels per row (default: about square). Play it slowly (``fps=2``): frame ``i`` is
    the kernel's ``i``-th time slice.
    """
    w = _float_array(weight, "weight")
    if w.ndim == 4:
        w = w[:, :, None]  # (C_out, 3, 1, h, w): a 2D kernel is one time slice
    if w.ndim != 5 or w.shape[1] != 3 or 0 in w.shape:
        raise ValueError(
            f"weight must be a first layer's RGB kernels (C_out, 3, t, h, w), got {w.shape}; draw a deeper "
            "layer's with filter_norms_figure"
        )
    if scale == "each":
        w = _unit(w, axes=(1, 2, 3, 4))
    elif scale == "all":
        w = _signed_unit(w)
    else:
        raise ValueError(f"scale must be 'each' (one range per kernel) or 'all' (one for all), got {scale!r}")
    if bgr:
        w = w[:, ::-1]
    kernels = _rgb_uint8(w.transpose(0, 2, 3, 4, 1))  # (C_out, t, h, w, 3)
    factor = max(1, math.ceil(min_side / min(kernels.shape[2:4])))
    cells = [_enlarge(k, factor) for k in kernels]  # (t, h * f, w * f, 3) each
    return tile(cells, cols=_grid_cols(len(cells), cols), gap=gap)


def filter_norms_figure(weight: Array, *, title: str = "", cmap: str | Colormap = "magma") -> Figure:
    """A deeper layer's kernels as a heat map of their L2 norms: output channel (row) x input channel.

    ``weight`` is a conv layer's ``(C_out, C_in, *kernel)``; cell ``[o, i]`` is the norm of the kernel that
    maps input channel ``i`` to output channel ``o``, over its ``t x h x w`` values. Dead filters show as
    dark rows, ignored inputs as dark columns.
    """
    w = _float_array(weight, "weight")
    if w.ndim < 2 or 0 in w.shape:
        raise ValueError(f"weight must be a conv layer's (C_out, C_in, *kernel), got {w.shape}")
    norms = np.sqrt(np.square(w.reshape(w.shape[0], w.shape[1], -1)).sum(-1))  # (C_out, C_in)
    n_out, n_in = norms.shape
    width, height = (min(max(3.0, 2.0 + 0.02 * n), 12.0) for n in (n_in, n_out))  # inches
    fig = _new_figure(figsize=(width + 1.2, height), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(norms, cmap=cmap, interpolation="nearest", aspect="auto")
    fig.colorbar(image, ax=ax, shrink=0.8, label="L2 norm of the kernel")
    ax.set_xlabel(f"input channel ({n_in})")
    ax.set_ylabel(f"filter ({n_out})")
    if title:
        ax.set_title(title, fontsize=10)
    return fig


# --------------------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------------------


def _write_trio(
    out_dir: str | os.PathLike, stem: str, clip: np.ndarray, sheet: Figure, fps: float, colors: int
) -> dict[str, Path]:
    """``clip`` as ``<stem>.gif`` and ``<stem>.mp4``, ``sheet`` as ``<stem>.png``, all atomic."""
    out = Path(out_dir)
    return {
        "gif": write_gif(clip, out / f"{stem}.gif", fps, colors=colors),
        "mp4": write_mp4(clip, out / f"{stem}.mp4", fps),
        "png": save_figure(sheet, out / f"{stem}.png"),
    }


def _check_stem(stem: str) -> None:
    if not isinstance(stem, str) or not stem or Path(stem).name != stem or stem in (".", ".."):
        raise ValueError(
            f"stem must be a plain file name without a folder, e.g. 'c3d_conv5b_gradcam', got {stem!r}; "
            "put folders in out_dir"
        )


def save_animation(
    out_dir: str | os.PathLike,
    stem: str,
    clip: np.ndarray,
    *,
    fps: float = 8.0,
    title: str = "",
    every: int | None = None,
    colors: int = 128,
) -> dict[str, Path]:
    """Write a uint8 clip ``(T, H, W, 3)`` as ``<stem>.gif``, ``<stem>.mp4`` and ``<stem>.png`` in ``out_dir``.

    The PNG is a :func:`contact_sheet` of the clip titled ``title`` (``every``: see there); the GIF has
    ``colors`` colours per frame (128 keeps it small enough for a web page with no visible loss, see
    :func:`~vidlens.viz.write_gif`). Each file is written atomically. Returns ``{"gif": path, "mp4": path,
    "png": path}``. For feature maps and filters: ``save_animation(out, stem, feature_map_grid(acts))``.
    """
    return save_clips(out_dir, stem, [clip], fps=fps, title=title, every=every, colors=colors)


def save_clips(
    out_dir: str | os.PathLike,
    stem: str,
    clips: Sequence[np.ndarray],
    labels: Sequence[str] | None = None,
    *,
    fps: float = 8.0,
    title: str = "",
    every: int | None = None,
    cols: int | None = None,
    colors: int = 128,
) -> dict[str, Path]:
    """Several clips of one shape as ``<stem>.gif`` and ``<stem>.mp4`` (tiled side by side, ``cols`` per row,
    default all in one row: :func:`~vidlens.viz.tile`) and ``<stem>.png`` (a :func:`clips_sheet`, one
    labelled row per clip), each written atomically. Returns ``{"gif": path, "mp4": path, "png": path}``.
    For one clip this is :func:`save_animation`."""
    _check_stem(stem)
    clips = [_check_rgb_clip(c, f"clips[{i}]") for i, c in enumerate(clips)]
    sheet = clips_sheet(clips, labels, every=every, title=title)
    return _write_trio(out_dir, stem, tile(clips, cols=cols, gap=4), sheet, fps, colors)


def save_interpretation(
    out_dir: str | os.PathLike,
    stem: str,
    frames: np.ndarray,
    maps: Array,
    *,
    title: str = "",
    fps: float = 8.0,
    alpha: float = 0.5,
    cmap: str | Colormap = "jet",
    every: int | None = None,
    colors: int = 128,
) -> dict[str, Path]:
    """The pictures of one map on one clip: ``<stem>.gif``, ``<stem>.mp4`` and ``<stem>.png`` in ``out_dir``.

    ``frames`` is uint8 ``(T, H, W, 3)``, ``maps`` float ``(T', H', W')`` in [0, 1] (a saliency map,
    Grad-CAM, occlusion: normalise it first). The GIF and MP4 play :func:`overlay_clip` (the clip next to
    the map blended onto it); the PNG is the :func:`contact_sheet` of frames over overlays, titled
    ``title``. Each file is written atomically; the map itself (``<stem>.npy``) is the computing side's to
    save. Returns ``{"gif": path, "mp4": path, "png": path}``.
    """
    _check_stem(stem)
    clip = overlay_clip(frames, maps, alpha=alpha, cmap=cmap)
    sheet = contact_sheet(frames, maps, every=every, title=title, cmap=cmap, alpha=alpha)
    return _write_trio(out_dir, stem, clip, sheet, fps, colors)
