"""matplotlib figures, built with the object API and saved atomically.

Every function here takes arrays or records and returns a ``matplotlib.figure.Figure``; nothing is drawn to
a screen and no pyplot state is created, so figures can be made from threads, workers and tests, and
matplotlib's global backend is never switched. :func:`save_figure` writes one (Agg renders PNG; SVG and PDF
have their own canvases).

    from vidlens.viz import confusion_figure, save_figure
    save_figure(confusion_figure(result.confusion, classes, title="c3d"), "confusion.png")
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vidlens.io import atomic_write

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "FIGURE_FORMATS",
    "confusion_figure",
    "embedding_figure",
    "objective_curve_figure",
    "pointing_game_figure",
    "reproduction_figure",
    "save_figure",
    "training_curves",
]

#: The file formats :func:`save_figure` writes, by suffix.
FIGURE_FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf"}


def save_figure(
    fig: Figure, path: str | os.PathLike, *, dpi: float | None = None, bbox_inches: str | None = None
) -> Path:
    """Write ``fig`` to ``path`` atomically, in the format its suffix names (``.png``, ``.svg``, ``.pdf``).

    ``dpi`` defaults to the figure's own (the functions of this module set it), not to matplotlib's
    ``savefig.dpi`` setting. ``bbox_inches="tight"`` crops the page to what is drawn (legends placed outside
    the axes included). Parent directories are created; the old file, if any, stays whole until the new one
    replaces it. Returns the path.
    """
    path = Path(path)
    fmt = FIGURE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(
            f"cannot tell the figure format of {path}: name it with one of the suffixes "
            f"{', '.join(FIGURE_FORMATS)}"
        )
    dpi = fig.dpi if dpi is None else dpi
    return atomic_write(path, lambda tmp: fig.savefig(tmp, format=fmt, dpi=dpi, bbox_inches=bbox_inches))


def _new_figure(**kwargs: Any) -> Figure:
    from matplotlib.figure import Figure  # the object API: no pyplot, no global backend

    return Figure(**kwargs)


# --------------------------------------------------------------------------------------------------------
# Training curves
# --------------------------------------------------------------------------------------------------------


def training_curves(history: Sequence[Mapping[str, Any]]) -> Figure:
    """Training loss and training clip accuracy against epochs, side by side.

    ``history`` is a training log: one record per epoch with ``epoch``, ``loss`` and ``accuracy`` (a
    fraction, drawn in percent), as :func:`vidlens.train.train` writes to ``RUN/log.jsonl``.
    """
    from matplotlib.ticker import MaxNLocator

    for i, record in enumerate(history):
        missing = [k for k in ("epoch", "loss", "accuracy") if k not in record]
        if missing:
            raise ValueError(
                f"history record {i} lacks {', '.join(missing)}: give one dict per epoch with them"
            )
    epochs = [h["epoch"] for h in history]
    fig = _new_figure(figsize=(9, 3.5), dpi=100, layout="constrained")
    loss_ax, acc_ax = fig.subplots(1, 2)
    loss_ax.plot(epochs, [h["loss"] for h in history], marker="o")
    loss_ax.set(xlabel="epoch", ylabel="cross-entropy", title="training loss")
    acc_ax.plot(epochs, [100 * h["accuracy"] for h in history], marker="o", color="tab:green")
    acc_ax.set(xlabel="epoch", ylabel="%", ylim=(0, 100), title="training clip accuracy (hit@1)")
    for ax in (loss_ax, acc_ax):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    return fig


# --------------------------------------------------------------------------------------------------------
# Confusion matrix
# --------------------------------------------------------------------------------------------------------


def confusion_figure(confusion: np.ndarray, classes: Sequence[str], *, title: str = "") -> Figure:
    """A confusion matrix ``(C, C)`` of counts with rows normalised to sum to 1 (recall per class).

    Rows are true classes, columns predicted ones, class names on both axes. The figure grows with the
    number of classes (up to 18 inches) and the tick labels shrink to fit their cells, so all 101 UCF101
    names stay readable; past the point where a name would be under 3 points, class indices are shown every
    few rows instead. Cells carry their percentage up to 12 classes.
    """
    confusion = np.asarray(confusion)
    n = len(classes)
    if confusion.shape != (n, n):
        raise ValueError(f"confusion must be shaped ({n}, {n}) for {n} classes, got {confusion.shape}")
    totals = confusion.sum(axis=1, keepdims=True)  # (C, 1)
    rates = np.divide(confusion, totals, out=np.zeros(confusion.shape), where=totals > 0)  # (C, C)

    side = min(max(5.0, 3.0 + 0.14 * n), 18.0)  # inches
    fig = _new_figure(figsize=(side + 1.2, side), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(rates, cmap="Blues", vmin=0.0, vmax=1.0, interpolation="nearest")
    fig.colorbar(image, ax=ax, shrink=0.8, label="fraction of the true class")
    cell_pt = 0.7 * side * 72 / n  # points per row, the axes taking about 70% of the figure
    fontsize = min(9.0, 0.8 * cell_pt)
    if fontsize >= 3.0:
        ticks = np.arange(n)
        ax.set_xticks(ticks, list(classes), rotation=90, fontsize=fontsize)
        ax.set_yticks(ticks, list(classes), fontsize=fontsize)
    else:
        step = math.ceil(n / 20)
        ticks = np.arange(0, n, step)
        ax.set_xticks(ticks, [str(i) for i in ticks], fontsize=7)
        ax.set_yticks(ticks, [str(i) for i in ticks], fontsize=7)
    if n <= 12:
        for i in range(n):
            for j in range(n):
                if confusion[i, j]:
                    colour = "white" if rates[i, j] > 0.5 else "black"
                    ax.text(
                        j, i, f"{100 * rates[i, j]:.0f}", ha="center", va="center", color=colour, fontsize=8
                    )
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    if title:
        ax.set_title(title, fontsize=10)
    return fig


# --------------------------------------------------------------------------------------------------------
# t-SNE map
# --------------------------------------------------------------------------------------------------------


def _class_colours(n: int) -> list[tuple[float, float, float, float]]:
    """``n`` distinct RGBA colours: tab10 up to 10 classes, tab20 up to 20, hues along turbo beyond."""
    import matplotlib

    if n <= 10:
        cmap = matplotlib.colormaps["tab10"]
        return [cmap(i) for i in range(n)]
    if n <= 20:
        cmap = matplotlib.colormaps["tab20"]
        return [cmap(i) for i in range(n)]
    # Many classes: hues along turbo, visited in golden-ratio steps so that neighbours in the legend differ.
    cmap = matplotlib.colormaps["turbo"]
    return [cmap(0.05 + 0.9 * ((i * 0.618034) % 1.0)) for i in range(n)]


def embedding_figure(
    coords: np.ndarray,
    labels: np.ndarray,
    class_names: Sequence[str],
    *,
    title: str = "",
    unlabelled: str = "unlabelled",
) -> Figure:
    """A 2-D map of points ``coords`` ``(N, 2)`` coloured by class, with a legend outside the axes.

    ``labels`` ``(N,)`` are indices into ``class_names``, -1 for points without a class (drawn in grey and
    listed in the legend as ``unlabelled``). Save with ``bbox_inches="tight"`` so that the legend is kept.
    """
    coords = np.asarray(coords)
    labels = np.asarray(labels)
    if coords.ndim != 2 or coords.shape[1] != 2:
        raise ValueError(f"coords must be shaped (N, 2), got {coords.shape}")
    if labels.shape != (len(coords),) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            f"labels must be {len(coords)} integer class indices (-1 for none), got {labels.dtype} {labels.shape}"
        )
    if len(labels) and (labels.min() < -1 or labels.max() >= len(class_names)):
        raise ValueError(
            f"labels must lie in -1..{len(class_names) - 1} for {len(class_names)} class names, "
            f"got {labels.min()}..{labels.max()}"
        )
    many = len(class_names) > 20
    fig = _new_figure(figsize=(9 if many else 7, 6), dpi=150)
    ax = fig.add_subplot()
    size = 8 if len(coords) > 2000 else 18
    grey = labels < 0
    if grey.any():
        ax.scatter(*coords[grey].T, s=size, c="0.7", linewidths=0, label=unlabelled)
    for c, (name, colour) in enumerate(zip(class_names, _class_colours(len(class_names)), strict=True)):
        members = labels == c
        if members.any():
            ax.scatter(*coords[members].T, s=size, color=colour, linewidths=0, label=name)
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    if len(class_names) or grey.any():
        n_entries = len(class_names) + int(grey.any())
        ax.legend(
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
            fontsize=5 if many else 8,
            ncol=max(1, int(np.ceil(n_entries / 35))),
            markerscale=1.5,
            frameon=False,
        )
    return fig


# --------------------------------------------------------------------------------------------------------
# Reproduction experiments
# --------------------------------------------------------------------------------------------------------


def reproduction_figure(
    labels: Sequence[str],
    clip_hit1: Sequence[float],
    video_hit1: Sequence[float],
    histories: Sequence[Sequence[Mapping[str, Any]]],
    *,
    title: str = "",
    chance: float | None = None,
) -> Figure:
    """Bars of test accuracy per model, next to each model's training loss per epoch.

    One entry per model in every sequence: ``clip_hit1`` and ``video_hit1`` are fractions (drawn in
    percent), ``histories`` the models' training logs (records with ``epoch`` and ``loss``; an empty log
    draws no curve). ``chance`` (a fraction, e.g. 1 / number of classes) adds a dashed line.
    """
    n = len(labels)
    if not len(clip_hit1) == len(video_hit1) == len(histories) == n:
        raise ValueError(
            f"give one clip_hit1, video_hit1 and history per label: {n} labels, {len(clip_hit1)} clip_hit1, "
            f"{len(video_hit1)} video_hit1, {len(histories)} histories"
        )
    fig = _new_figure(figsize=(12, 4.5), dpi=110, layout="tight")
    ax_acc, ax_loss = fig.subplots(1, 2)
    x = range(n)
    ax_acc.bar([i - 0.2 for i in x], [100 * v for v in clip_hit1], width=0.4, label="clip hit@1")
    ax_acc.bar([i + 0.2 for i in x], [100 * v for v in video_hit1], width=0.4, label="video hit@1")
    if chance is not None:
        ax_acc.axhline(100 * chance, color="grey", linestyle="--", linewidth=1, label="chance")
    ax_acc.set_xticks(list(x), list(labels), rotation=30, ha="right")
    ax_acc.set_ylabel("test accuracy (%)")
    ax_acc.set_ylim(0, 100)
    ax_acc.legend()
    for label, history in zip(labels, histories, strict=True):
        if history:
            ax_loss.plot([h["epoch"] for h in history], [h["loss"] for h in history], label=label)
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("training loss")
    if any(histories):
        ax_loss.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return fig


# --------------------------------------------------------------------------------------------------------
# Pointing game per frame
# --------------------------------------------------------------------------------------------------------


def pointing_game_figure(
    per_frame: Mapping[str, Mapping[str, Sequence[float]]],
    chance: Mapping[str, Sequence[float]],
    *,
    title: str = "",
) -> Figure:
    """Each method's share of a map's energy on the mask, frame by frame, one panel per model.

    ``per_frame[model][method]`` is a curve over the frames of a clip (e.g. the mean over clips of
    :func:`vidlens.metrics.pointing_energy_per_frame`; NaN leaves a gap), ``chance[model]`` the area share of
    the mask on the same frames (:func:`vidlens.metrics.mask_share_per_frame`), drawn dashed. Shares are
    fractions, drawn as they are on an axis from 0 to a little above the largest (at most 1).
    """
    if not per_frame:
        raise ValueError("give at least one model's curves: per_frame = {model: {method: curve}}")
    missing = [m for m in per_frame if m not in chance]
    if missing:
        raise ValueError(f"chance lacks the models {missing}: give each model's mask share per frame")
    n = len(per_frame)
    fig = _new_figure(figsize=(5 * n + 1.5, 3.8), dpi=100, layout="constrained")
    axes = fig.subplots(1, n, squeeze=False, sharey=True)[0]
    values = [np.asarray(c, dtype=float) for curves in per_frame.values() for c in curves.values()]
    values += [np.asarray(c, dtype=float) for c in chance.values()]
    finite = np.concatenate([v[np.isfinite(v)] for v in values])
    top = min(1.0, 1.15 * float(finite.max())) if len(finite) and finite.max() > 0 else 1.0
    for ax, (model, curves) in zip(axes, per_frame.items(), strict=True):
        for method, curve in curves.items():
            ax.plot(np.arange(len(curve)), np.asarray(curve, dtype=float), marker=".", label=method)
        base = np.asarray(chance[model], dtype=float)
        ax.plot(np.arange(len(base)), base, color="black", linestyle="--", linewidth=1, label="chance (area)")
        ax.set(title=model, xlabel="frame of the clip", ylim=(0, top))
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("energy share on the mask")
    axes[-1].legend(fontsize=8, loc="center left", bbox_to_anchor=(1.02, 0.5))
    if title:
        fig.suptitle(title)
    return fig


# --------------------------------------------------------------------------------------------------------
# Activation maximisation
# --------------------------------------------------------------------------------------------------------


def objective_curve_figure(
    history: np.ndarray,
    labels: Sequence[str],
    *,
    natural_best: Sequence[float] | None = None,
    title: str = "",
) -> Figure:
    """The objective of activation maximisation step by step, one curve per optimised clip.

    ``history`` is ``(steps, N)`` (:attr:`vidlens.interpret.ActMax.history`), ``labels`` names the N curves
    (``"chi=10"``, ``"conv5b:7"``). ``natural_best`` (N values: :attr:`~vidlens.interpret.ActMax.natural_best`)
    draws, dashed in each curve's colour, the most any natural clip drives the same objective: how far
    beyond real video the synthesised clip goes.
    """
    history = np.asarray(history, dtype=float)
    if history.ndim != 2 or history.shape[0] == 0:
        raise ValueError(f"history must be (steps, N) with at least one step, got shape {history.shape}")
    if len(labels) != history.shape[1]:
        raise ValueError(f"give one label per curve: history has {history.shape[1]}, labels {len(labels)}")
    if natural_best is not None and len(natural_best) != history.shape[1]:
        raise ValueError(
            f"natural_best needs {history.shape[1]} values (one per curve), got {len(natural_best)}"
        )
    fig = _new_figure(figsize=(6.4, 3.8), dpi=100, layout="constrained")
    ax = fig.subplots()
    steps = np.arange(1, history.shape[0] + 1)
    for i, label in enumerate(labels):
        (line,) = ax.plot(steps, history[:, i], label=label)
        if natural_best is not None:
            ax.axhline(float(natural_best[i]), color=line.get_color(), linestyle="--", linewidth=1)
    if natural_best is not None:
        ax.plot([], [], color="grey", linestyle="--", linewidth=1, label="best natural clip")
    ax.set(xlabel="step", ylabel="objective (activation)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=9)
    return fig
