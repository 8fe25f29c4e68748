"""Pictures of redundant filters, dependent units and motion tuning (:mod:`vidlens.interpret.redundancy`,
:mod:`~vidlens.interpret.dependence`, :mod:`~vidlens.interpret.units`).

Every function takes arrays (or mappings of a name to an array, one per layer, in depth order) and returns
a ``matplotlib.figure.Figure`` built with the object API; save it with :func:`vidlens.viz.save_figure`.

    result = filter_redundancy(filters(model, "conv3"))
    save_figure(dendrogram_figure(result.linkage_matrix, result.tau, title="conv3"), "dendrogram.png")
    save_figure(dependence_figure(corr, mi), "dependence.png")
    save_figure(tuning_polar_figure(tuning.directions, tuning.tuning_curve[:16]), "polar.png")
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from vidlens.viz.figures import _new_figure

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "dendrogram_figure",
    "dependence_figure",
    "dsi_figure",
    "layer_histograms_figure",
    "preferred_speed_figure",
    "redundancy_curve_figure",
    "temporal_sensitivity_figure",
    "tuning_polar_figure",
]


def _grid(n: int, cols: int) -> tuple[int, int]:
    cols = max(1, min(cols, n))
    return math.ceil(n / cols), cols


def _title(fig: Figure, title: str) -> None:
    if title:
        fig.suptitle(title, fontsize=10)


# --------------------------------------------------------------------------------------------------------
# Redundant filters
# --------------------------------------------------------------------------------------------------------


def dendrogram_figure(
    linkage_matrix: np.ndarray, tau: float, *, linkage: str = "complete", title: str = ""
) -> Figure:
    """The tree of a layer's filters clustered by cosine distance, cut at ``1 - tau`` (a dashed line).

    ``linkage_matrix`` is :attr:`vidlens.interpret.FilterRedundancy.linkage_matrix` ``(C_out - 1, 4)``;
    below the cut, each cluster has its own colour, and every leaf beyond the first of a cluster is a
    redundant filter. Leaves are labelled with their filter index up to 64 filters.
    """
    from scipy.cluster.hierarchy import dendrogram

    z = np.asarray(linkage_matrix, dtype=np.float64)
    if z.ndim != 2 or z.shape[1] != 4:
        raise ValueError(f"linkage_matrix must be SciPy's (n - 1, 4), got shape {z.shape}")
    n = len(z) + 1
    fig = _new_figure(figsize=(min(max(5.0, 0.12 * n + 2.0), 16.0), 4.0), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    cut = 1.0 - float(tau)
    if len(z):
        dendrogram(
            z,
            ax=ax,
            color_threshold=cut,
            above_threshold_color="0.55",
            no_labels=n > 64,
            leaf_font_size=max(4.0, min(8.0, 400.0 / n)),
        )
        clusters = len(np.unique(_flat_clusters(z, cut)))
    else:
        ax.text(0.5, 0.5, "one filter", ha="center", va="center", transform=ax.transAxes)
        clusters = 1
    ax.axhline(cut, color="tab:red", linestyle="--", linewidth=1, label=f"1 - tau = {cut:.2f}")
    ax.set_ylabel(f"cosine distance ({linkage} linkage)")
    ax.set_xlabel(f"filter ({n}); {clusters} clusters, {n - clusters} redundant at tau = {tau:g}")
    ax.legend(fontsize=8, loc="upper right")
    if title:
        ax.set_title(title, fontsize=10)
    return fig


def _flat_clusters(z: np.ndarray, cut: float) -> np.ndarray:
    from scipy.cluster.hierarchy import fcluster

    return fcluster(z, t=cut, criterion="distance")


def redundancy_curve_figure(
    taus: Sequence[float] | np.ndarray,
    curves: Mapping[str, Sequence[int] | np.ndarray],
    *,
    n_filters: Mapping[str, int] | None = None,
    tau: float | None = None,
    title: str = "",
) -> Figure:
    """Redundant filters against the cosine similarity threshold tau, one line per layer (dark to light
    with depth).

    ``curves`` maps each layer to its ``(K,)`` redundant-filter counts at ``taus`` ``(K,)``
    (:attr:`vidlens.interpret.LayerRedundancy.curve`); with ``n_filters`` (layer -> filters) they are drawn
    in percent of the layer's filters. ``tau`` marks the threshold of the tables with a dashed line.
    """
    import matplotlib

    taus = np.asarray(taus, dtype=np.float64)
    if not curves:
        raise ValueError("give at least one layer's curve")
    fig = _new_figure(figsize=(7.0, 4.0), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    cmap = matplotlib.colormaps["viridis"]
    for i, (layer, curve) in enumerate(curves.items()):
        y = np.asarray(curve, dtype=np.float64)
        if y.shape != taus.shape:
            raise ValueError(f"layer {layer!r}: {y.shape[0]} values for {len(taus)} thresholds")
        if n_filters is not None:
            y = 100.0 * y / n_filters[layer]
        ax.plot(taus, y, color=cmap(0.9 * i / max(len(curves) - 1, 1)), label=layer, linewidth=1.5)
    if tau is not None:
        ax.axvline(tau, color="tab:red", linestyle="--", linewidth=1, label=f"tau = {tau:g}")
    ax.set_xlabel("tau: cosine similarity at which filters count as repeats")
    ax.set_ylabel("redundant filters (%)" if n_filters is not None else "redundant filters")
    ax.set_xlim(float(taus.min()), float(taus.max()))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    if title:
        ax.set_title(title, fontsize=10)
    return fig


# --------------------------------------------------------------------------------------------------------
# Dependent units
# --------------------------------------------------------------------------------------------------------


def dependence_figure(
    correlation: np.ndarray,
    mutual_information: np.ndarray,
    *,
    units: Sequence[int] | np.ndarray | None = None,
    title: str = "",
) -> Figure:
    """Heat maps of the units' Pearson correlation (-1 blue to 1 red) and mutual information (nats), side
    by side; NaN entries (not estimated, undefined) are light grey.

    The two ``(n_units, n_units)`` matrices of :func:`vidlens.interpret.dependence`; ``units`` (indices)
    shows only those rows and columns, e.g. the sub-sample MI was estimated on
    (:func:`vidlens.interpret.subsample_units`). Ticks name the units up to 32 of them.
    """
    import matplotlib

    corr = np.asarray(correlation, dtype=np.float64)
    mi = np.asarray(mutual_information, dtype=np.float64)
    if corr.ndim != 2 or corr.shape != mi.shape or corr.shape[0] != corr.shape[1]:
        raise ValueError(f"give two square matrices of one shape, got {corr.shape} and {mi.shape}")
    index = np.arange(len(corr)) if units is None else np.asarray(units, dtype=np.int64)
    corr, mi = corr[np.ix_(index, index)], mi[np.ix_(index, index)]
    n = len(index)
    side = min(max(3.5, 2.0 + 0.05 * n), 9.0)
    fig = _new_figure(figsize=(2 * side + 1.5, side), dpi=100, layout="constrained")
    left, right = fig.subplots(1, 2)
    grey = {"bad": "0.85"}
    image = left.imshow(
        corr,
        cmap=matplotlib.colormaps["RdBu_r"].with_extremes(**grey),
        vmin=-1,
        vmax=1,
        interpolation="nearest",
    )
    fig.colorbar(image, ax=left, shrink=0.8, label="Pearson correlation")
    top = np.nanmax(mi) if np.isfinite(mi).any() else 1.0
    image = right.imshow(
        mi,
        cmap=matplotlib.colormaps["magma"].with_extremes(**grey),
        vmin=0,
        vmax=top,
        interpolation="nearest",
    )
    fig.colorbar(image, ax=right, shrink=0.8, label="mutual information (nats)")
    for ax, what in ((left, "correlation"), (right, "mutual information")):
        ax.set_title(what, fontsize=9)
        if n <= 32:
            ax.set_xticks(range(n), [str(u) for u in index], fontsize=6, rotation=90)
            ax.set_yticks(range(n), [str(u) for u in index], fontsize=6)
        ax.set_xlabel(f"unit ({n}" + (")" if units is None else f" of {len(correlation)})"))
    _title(fig, title)
    return fig


# --------------------------------------------------------------------------------------------------------
# Temporal sensitivity and direction selectivity, layer by layer
# --------------------------------------------------------------------------------------------------------


def layer_histograms_figure(
    values: Mapping[str, Sequence[float] | np.ndarray],
    *,
    xlabel: str,
    value_range: tuple[float, float] = (0.0, 1.0),
    bins: int = 20,
    threshold: float | None = None,
    cols: int = 4,
    title: str = "",
) -> Figure:
    """One histogram per layer of a per-unit score (``values``: layer -> ``(C,)``), in a grid, on a shared
    x range; each panel gives the mean, and the share of units above ``threshold`` (a dashed line) when one
    is given. NaN scores (silent units) are left out and counted.
    """
    if not values:
        raise ValueError("give at least one layer's values")
    rows, cols = _grid(len(values), cols)
    fig = _new_figure(figsize=(2.6 * cols + 0.4, 2.1 * rows + 0.5), dpi=100, layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, cols, sharex=True, squeeze=False)).ravel()
    for ax, (layer, v) in zip(axes, values.items(), strict=False):
        v = np.asarray(v, dtype=np.float64)
        finite = v[np.isfinite(v)]
        ax.hist(finite, bins=bins, range=value_range, color="tab:blue", alpha=0.8)
        lines = [f"n = {len(finite)}" + (f" ({len(v) - len(finite)} silent)" if len(finite) < len(v) else "")]
        if len(finite):
            lines.append(f"mean {finite.mean():.2f}")
            if threshold is not None:
                lines.append(f"> {threshold:g}: {100 * np.mean(finite > threshold):.0f}%")
        if threshold is not None:
            ax.axvline(threshold, color="tab:red", linestyle="--", linewidth=1)
        ax.text(0.97, 0.95, "\n".join(lines), transform=ax.transAxes, ha="right", va="top", fontsize=7)
        ax.set_title(layer, fontsize=9)
        ax.set_xlim(*value_range)
    for ax in axes[len(values) :]:
        ax.set_visible(False)
    fig.supxlabel(xlabel, fontsize=9)
    fig.supylabel("units", fontsize=9)
    _title(fig, title)
    return fig


def temporal_sensitivity_figure(
    scores: Mapping[str, Sequence[float] | np.ndarray], *, threshold: float = 0.5, title: str = ""
) -> Figure:
    """Histograms of temporal sensitivity per layer (:func:`vidlens.interpret.temporal_sensitivity`, 0:
    time does not matter, 1: the unit answers only to clips as they are or only to destroyed ones)."""
    return layer_histograms_figure(
        scores, xlabel="temporal sensitivity (0: time does not matter)", threshold=threshold, title=title
    )


def dsi_figure(
    dsi: Mapping[str, Sequence[float] | np.ndarray], *, threshold: float = 0.5, title: str = ""
) -> Figure:
    """Histograms of the direction selectivity index per layer (:attr:`vidlens.interpret.DirectionTuning.dsi`)."""
    return layer_histograms_figure(
        dsi,
        xlabel="direction selectivity index (R_pref - R_opp) / (R_pref + R_opp)",
        threshold=threshold,
        title=title,
    )


def preferred_speed_figure(
    speeds: Sequence[float] | np.ndarray,
    preferred: Mapping[str, Sequence[float] | np.ndarray],
    *,
    title: str = "",
) -> Figure:
    """How units' preferred speeds spread with depth: a layer (row, shallow at the top) x speed (column)
    heat map of the share of each layer's responsive units preferring that speed, in percent.

    ``preferred`` maps each layer to :attr:`vidlens.interpret.DirectionTuning.preferred_speed` ``(C,)``
    (NaN for silent units, left out), ``speeds`` lists the speeds presented.
    """
    speeds = np.asarray(speeds, dtype=np.float64)
    if not preferred:
        raise ValueError("give at least one layer's preferred speeds")
    shares = np.zeros((len(preferred), len(speeds)))  # (L, S)
    for row, v in enumerate(preferred.values()):
        v = np.asarray(v, dtype=np.float64)
        v = v[np.isfinite(v)]
        if len(v):
            shares[row] = 100.0 * (v[:, None] == speeds[None, :]).mean(axis=0)
    fig = _new_figure(
        figsize=(1.2 + 0.8 * len(speeds) + 1.5, 1.2 + 0.4 * len(preferred)), dpi=100, layout="constrained"
    )
    ax = fig.add_subplot()
    image = ax.imshow(shares, cmap="Blues", vmin=0, vmax=100, aspect="auto", interpolation="nearest")
    fig.colorbar(image, ax=ax, label="units preferring it (%)")
    for (r, c), share in np.ndenumerate(shares):
        ax.text(
            c,
            r,
            f"{share:.0f}",
            ha="center",
            va="center",
            fontsize=7,
            color="white" if share > 60 else "black",
        )
    ax.set_xticks(range(len(speeds)), [f"{s:g}" for s in speeds])
    ax.set_yticks(range(len(preferred)), list(preferred))
    ax.set_xlabel("preferred speed (pixels per frame)")
    if title:
        ax.set_title(title, fontsize=10)
    return fig


def tuning_polar_figure(
    directions: Sequence[float] | np.ndarray,
    curves: np.ndarray,
    *,
    labels: Sequence[str] | None = None,
    cols: int = 6,
    title: str = "",
) -> Figure:
    """Polar tuning curves, one small panel per unit: response (radius) against the direction of motion
    (angle: 0 degrees to the right, 90 up, as on screen), the curve closed, the preferred direction as a
    red spoke.

    ``curves`` is ``(U, D)`` (:attr:`vidlens.interpret.DirectionTuning.tuning_curve`, some rows of it),
    ``directions`` ``(D,)`` degrees, ``labels`` one panel title per unit (e.g. ``"conv3:5 DSI 0.83"``).
    """
    directions = np.asarray(directions, dtype=np.float64)
    curves = np.atleast_2d(np.asarray(curves, dtype=np.float64))
    if curves.shape[1] != len(directions) or len(curves) == 0:
        raise ValueError(
            f"curves must be (units, {len(directions)}) for {len(directions)} directions, got {curves.shape}"
        )
    if labels is not None and len(labels) != len(curves):
        raise ValueError(f"give one label per curve: {len(curves)} curves, {len(labels)} labels")
    rows, cols = _grid(len(curves), cols)
    fig = _new_figure(figsize=(1.9 * cols + 0.3, 2.0 * rows + 0.4), dpi=100, layout="constrained")
    order = np.argsort(directions)
    theta = np.deg2rad(np.append(directions[order], directions[order][0]))  # closed loop
    for i, curve in enumerate(curves):
        ax: Axes = fig.add_subplot(rows, cols, i + 1, projection="polar")
        r = np.clip(curve[order], 0.0, None)  # a firing rate
        r = np.append(r, r[0])
        ax.plot(theta, r, color="tab:blue", linewidth=1.2)
        ax.fill(theta, r, color="tab:blue", alpha=0.15)
        if np.isfinite(curve).all() and curve.max() > 0:
            best = np.deg2rad(directions[int(np.argmax(curve))])
            ax.plot([best, best], [0, curve.max()], color="tab:red", linewidth=1.2)
        ax.set_xticks(np.deg2rad([0, 90, 180, 270]), ["0", "90", "180", "270"], fontsize=6)
        ax.set_yticklabels([])
        ax.grid(alpha=0.3)
        if labels is not None:
            ax.set_title(labels[i], fontsize=7)
    _title(fig, title)
    return fig
