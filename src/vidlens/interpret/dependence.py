"""Dependence between the units of a layer: Pearson correlation and mutual information of their activations.

Ayinde, Inanc and Zurada ("On correlation of features extracted by deep neural networks", 2019) measure how
much units repeat each other; correlation only sees linear dependence, while mutual information (MI) sees
any. A pair with high MI and low correlation depends non-linearly (``y = x**2`` of a symmetric ``x``: MI is
large, correlation 0).

    acts = layer_activations(model, clips, "conv3", positions=16)  # (N * 16, C): 16 positions per clip
    corr, mi = dependence(acts, method="knn")  # (C, C) each; MI in nats, NaN on its diagonal
    pairs = nonlinear_pairs(corr, mi)  # high MI, low |correlation|, most non-linear first

Activations come from :class:`vidlens.models.FeatureTaps` (the forward pass stops at the deepest layer
asked for); heat maps of the matrices are drawn by :mod:`vidlens.viz.units`. SciPy and scikit-learn are
imported when a function runs, so importing vidlens does not load them.
"""

from __future__ import annotations

import math
import warnings
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from vidlens.interpret.core import check_clip
from vidlens.models.taps import extract

__all__ = [
    "UnitPair",
    "activations_by_layer",
    "dependence",
    "layer_activations",
    "nonlinear_pairs",
    "subsample_units",
]

Positions = Literal["mean"] | int


# --------------------------------------------------------------------------------------------------------
# Activations
# --------------------------------------------------------------------------------------------------------


def _model_device(model: nn.Module) -> torch.device:
    tensor = next(model.parameters(), None)
    if tensor is None:
        tensor = next(model.buffers(), None)
    return tensor.device if tensor is not None else torch.device("cpu")


def _samples(
    output: torch.Tensor, positions: Positions, rng: np.random.Generator, layer: str
) -> torch.Tensor:
    """One layer's output for a batch -> ``(samples, C)`` float64 on the CPU."""
    if not isinstance(output, torch.Tensor) or output.ndim not in (2, 5):
        shape = tuple(output.shape) if isinstance(output, torch.Tensor) else type(output).__name__
        raise ValueError(
            f"layer {layer!r} gives {shape}; units are read from feature maps (N, C, T', H', W') or vectors "
            "(N, C): choose a convolutional, pooling or fully connected layer"
        )
    output = output.detach().double()
    if output.ndim == 2 or positions == "mean":
        return (output if output.ndim == 2 else output.mean(dim=(2, 3, 4))).cpu()  # (B, C)
    flat = output.flatten(2)  # (B, C, T' * H' * W')
    if positions > flat.shape[2]:
        raise ValueError(
            f"positions={positions} but layer {layer!r} has only {flat.shape[2]} positions per clip "
            f"(T' x H' x W' = {'x'.join(map(str, output.shape[2:]))}); sample fewer, or use 'mean'"
        )
    picks = np.stack([rng.choice(flat.shape[2], positions, replace=False) for _ in range(len(flat))])
    index = torch.as_tensor(picks, device=flat.device)[:, None, :].expand(-1, flat.shape[1], -1)  # (B, C, k)
    return flat.gather(2, index).transpose(1, 2).reshape(-1, flat.shape[1]).cpu()  # (B * k, C)


def _collect(
    model: nn.Module,
    batches: Iterable[torch.Tensor],
    layers: Sequence[str],
    *,
    positions: Positions = "mean",
    seed: int = 0,
    progress: bool = False,
    total: int | None = None,
    desc: str = "activations",
) -> dict[str, np.ndarray]:
    """Activations of ``layers`` over batches of model input: ``{layer: (samples, C)}`` float64.

    Each batch is moved to the model's device and run once (:func:`vidlens.models.extract`, which stops at
    the deepest layer asked for); the rows follow the clips of the batches in order.
    """
    if positions != "mean" and (
        isinstance(positions, bool) or not isinstance(positions, int) or positions < 1
    ):
        raise ValueError(f"positions is 'mean' or a number of positions >= 1 per clip, got {positions!r}")
    device = _model_device(model)
    # One generator per layer, keyed by its name: a layer gets the same positions whatever else is asked.
    rngs = {layer: np.random.default_rng([seed, zlib.crc32(layer.encode())]) for layer in layers}
    parts: dict[str, list[torch.Tensor]] = {layer: [] for layer in layers}
    for batch in tqdm(batches, desc=desc, unit="batch", total=total, disable=not progress):
        outputs = extract(model, batch.to(device), list(layers))
        for layer in layers:
            parts[layer].append(_samples(outputs[layer], positions, rngs[layer], layer))
    if not all(parts.values()):
        raise ValueError("no clips: give at least one clip shaped (3, T, H, W)")
    return {layer: torch.cat(chunks).numpy() for layer, chunks in parts.items()}


def activations_by_layer(
    model: nn.Module,
    clips: torch.Tensor,
    layers: Sequence[str],
    *,
    positions: Positions = "mean",
    batch_size: int = 16,
    seed: int = 0,
    progress: bool = False,
) -> dict[str, np.ndarray]:
    """:func:`layer_activations` of several layers from one pass over the clips: ``{layer: (samples, C)}``."""
    check_clip(model, clips, "layer_activations")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    batches = (clips[i : i + batch_size] for i in range(0, len(clips), batch_size))
    total = math.ceil(len(clips) / batch_size)
    return _collect(model, batches, layers, positions=positions, seed=seed, progress=progress, total=total)


def layer_activations(
    model: nn.Module,
    clips: torch.Tensor,
    layer: str,
    *,
    positions: Positions = "mean",
    batch_size: int = 16,
    seed: int = 0,
    progress: bool = False,
) -> np.ndarray:
    """Channel activations of ``layer`` over ``clips``: float64 ``(n_samples, n_units)``.

    Args:
        model: any ``nn.Module`` (call ``model.eval()`` first).
        clips: model input ``(N, 3, T, H, W)``, already normalised; moved batch by batch to the model's
            device.
        layer: a tap name or module path (:func:`vidlens.models.list_layers`).
        positions: ``"mean"``: one sample per clip, each channel's mean over its whole map (time and
            space), ``n_samples = N``; an int ``k``: ``k`` positions ``(t, y, x)`` per clip drawn at random
            without replacement (the same positions for every channel of a clip), ``n_samples = N * k``.
            Vector layers ``(N, C)`` give one sample per clip either way.
        batch_size: clips per forward pass.
        seed: seeds the positions.
        progress: a tqdm bar over the batches.
    """
    return activations_by_layer(
        model, clips, [layer], positions=positions, batch_size=batch_size, seed=seed, progress=progress
    )[layer]


# --------------------------------------------------------------------------------------------------------
# Correlation and mutual information
# --------------------------------------------------------------------------------------------------------


def subsample_units(n_units: int, max_units: int | None, seed: int = 0) -> np.ndarray:
    """The units :func:`dependence` estimates mutual information for: all of them (``arange(n_units)``)
    when ``max_units`` is None or not smaller, else ``max_units`` of them drawn at random with ``seed``,
    sorted."""
    if max_units is None or max_units >= n_units:
        return np.arange(n_units)
    if max_units < 2:
        raise ValueError(f"max_units must be >= 2 (a pair), got {max_units}")
    return np.sort(np.random.default_rng(seed).choice(n_units, max_units, replace=False))


def _correlation(x: np.ndarray) -> np.ndarray:
    """Pearson correlation of the columns of ``(n, u)``, ``(u, u)``; NaN for constant columns."""
    centred = x - x.mean(axis=0)
    norms = np.linalg.norm(centred, axis=0)  # (u,)
    constant = norms <= 1e-12 * np.maximum(np.abs(x).max(axis=0), 1.0)
    unit = centred / np.where(constant, 1.0, norms)
    corr = np.clip(unit.T @ unit, -1.0, 1.0)  # (u, u)
    np.fill_diagonal(corr, 1.0)
    corr[constant, :] = np.nan
    corr[:, constant] = np.nan
    return corr


def _equal_frequency_bins(column: np.ndarray, bins: int) -> np.ndarray:
    """Bin index of every value: ``bins`` bins of about equal counts, tied values in one bin."""
    from scipy.stats import rankdata

    ranks = rankdata(column, method="min") - 1  # 0-based, ties share the lowest rank
    return np.minimum((ranks * bins) // len(column), bins - 1).astype(np.int64)


def _binned_mi(a: np.ndarray, b: np.ndarray) -> float:
    """Plug-in MI of two binned variables minus the Miller-Madow bias, at least 0 (nats)."""
    from sklearn.metrics import mutual_info_score

    n = len(a)
    cells = len(np.unique(a * (int(b.max()) + 1) + b))
    bias = (cells - len(np.unique(a)) - len(np.unique(b)) + 1) / (2 * n)
    return max(float(mutual_info_score(a, b)) - bias, 0.0)


def dependence(
    activations: np.ndarray | torch.Tensor,
    method: Literal["knn", "binned"] = "knn",
    *,
    n_neighbors: int = 3,
    bins: int = 8,
    max_units: int | None = 128,
    seed: int = 0,
    progress: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Pearson correlation and mutual information between every two units: two float64 ``(n_units,
    n_units)`` arrays, symmetric.

    Correlation: ``np.corrcoef``'s, 1 on the diagonal; rows and columns of a constant unit (one that never
    changes over the samples, e.g. a dead ReLU) are NaN, since correlation is undefined there.

    Mutual information, in nats, estimated per pair once and mirrored:

    - ``"knn"``: the Kraskov-Stoegbauer-Grassberger k-nearest-neighbour estimator as scikit-learn implements
      it (:func:`sklearn.feature_selection.mutual_info_regression`, ``n_neighbors`` neighbours,
      ``random_state=seed``): both variables scaled to unit variance and jittered by 1e-10 of their scale,
      which breaks the ties of ReLU zeros; estimates below 0 are set to 0.
    - ``"binned"``: each unit cut into ``bins`` bins of about equal counts (tied values share a bin), the
      plug-in MI of the two bin indices (:func:`sklearn.metrics.mutual_info_score`) minus the Miller-Madow
      bias ``(cells - rows - columns + 1) / (2 n)`` over non-empty cells, at least 0.

    The diagonal is NaN (the MI of a continuous unit with itself is infinite). Wide layers: when there are
    more than ``max_units`` units, MI is estimated only between ``max_units`` of them drawn at random
    (:func:`subsample_units` ``(n_units, max_units, seed)`` says which), all other entries are NaN, and a
    warning says so; correlation is always complete (it is cheap).

    Args:
        activations: ``(n_samples, n_units)``, e.g. from :func:`layer_activations`.
        method: ``"knn"`` or ``"binned"``.
        n_neighbors: k of the k-NN estimator (3, scikit-learn's default; larger: less variance, more bias).
        bins: bins per unit of the binned estimator.
        max_units: the most units whose pairs get an MI estimate; None for all.
        seed: seeds the unit sample and the estimator's jitter.
        progress: a tqdm bar over the units.
    """
    from sklearn.feature_selection import mutual_info_regression

    if isinstance(activations, torch.Tensor):
        activations = activations.detach().cpu().double().numpy()
    x = np.asarray(activations, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] < 2:
        raise ValueError(
            f"activations must be (n_samples, n_units) with at least 2 units, got {x.shape}; collect them with "
            "vidlens.interpret.layer_activations(model, clips, layer)"
        )
    if not np.isfinite(x).all():
        raise ValueError("activations hold NaN or infinite values")
    if method not in ("knn", "binned"):
        raise ValueError(f"method must be 'knn' (k-nearest neighbours) or 'binned', got {method!r}")
    n, n_units = x.shape
    least = max(n_neighbors + 2, 10) if method == "knn" else max(2 * bins, 10)
    if n < least:
        raise ValueError(
            f"{n} samples are too few to estimate mutual information with method={method!r} (at least "
            f"{least}): use more clips, or several positions per clip (layer_activations(..., positions=16))"
        )
    if method == "binned" and bins < 2:
        raise ValueError(f"bins must be >= 2, got {bins}")
    units = subsample_units(n_units, max_units, seed)
    if len(units) < n_units:
        pairs = len(units) * (len(units) - 1) // 2
        warnings.warn(
            f"mutual information estimated between {len(units)} of {n_units} units drawn at random (seed "
            f"{seed}): {pairs} of {n_units * (n_units - 1) // 2} pairs; the other entries are NaN "
            "(max_units=None estimates all pairs)",
            RuntimeWarning,
            stacklevel=2,
        )
    correlation = _correlation(x)
    mi = np.full((n_units, n_units), np.nan)
    sub = x[:, units]  # (n, u)
    binned = None
    if method == "binned":
        binned = np.stack([_equal_frequency_bins(c, bins) for c in sub.T], axis=1)  # (n, u)
    for a in tqdm(range(len(units) - 1), desc="mutual information", unit="unit", disable=not progress):
        rest = np.arange(a + 1, len(units))
        if binned is not None:
            values = np.array([_binned_mi(binned[:, a], binned[:, b]) for b in rest])
        else:
            values = mutual_info_regression(
                sub[:, rest], sub[:, a], discrete_features=False, n_neighbors=n_neighbors, random_state=seed
            )  # (len(rest),)
        mi[units[a], units[rest]] = values
        mi[units[rest], units[a]] = values
    return correlation, mi


@dataclass(frozen=True)
class UnitPair:
    """Two units that depend on each other more than their correlation says (:func:`nonlinear_pairs`)."""

    i: int
    j: int
    correlation: float
    mutual_information: float  # nats
    # MI a Gaussian pair of this correlation would have, -0.5 ln(1 - r^2): what correlation explains.
    linear_mutual_information: float

    @property
    def excess(self) -> float:
        """MI beyond what the correlation explains, in nats: the non-linear part."""
        return self.mutual_information - self.linear_mutual_information


def nonlinear_pairs(
    correlation: np.ndarray,
    mutual_information: np.ndarray,
    *,
    max_abs_correlation: float = 0.3,
    min_mutual_information: float = 0.1,
    top: int | None = 20,
) -> list[UnitPair]:
    """Pairs of units with high mutual information but low correlation: non-linear dependence.

    A pair ``i < j`` is listed when ``|correlation| <= max_abs_correlation`` and its MI is at least
    ``min_mutual_information`` nats; pairs are sorted by :attr:`UnitPair.excess`, the MI beyond
    ``-0.5 ln(1 - r^2)`` (the MI of a Gaussian pair with that correlation), largest first, and the first
    ``top`` are kept (None: all). NaN entries (pairs not estimated, constant units) are skipped.
    """
    correlation = np.asarray(correlation, dtype=np.float64)
    mutual_information = np.asarray(mutual_information, dtype=np.float64)
    if correlation.shape != mutual_information.shape or correlation.ndim != 2:
        raise ValueError(
            f"give the two (n_units, n_units) matrices dependence() returns; got {correlation.shape} and "
            f"{mutual_information.shape}"
        )
    i, j = np.triu_indices(len(correlation), k=1)
    r, mi = correlation[i, j], mutual_information[i, j]
    with np.errstate(invalid="ignore"):
        keep = (
            np.isfinite(r)
            & np.isfinite(mi)
            & (np.abs(r) <= max_abs_correlation)
            & (mi >= min_mutual_information)
        )
    linear = -0.5 * np.log1p(-np.minimum(r[keep] ** 2, 1 - 1e-12))
    pairs = [
        UnitPair(int(a), int(b), float(c), float(m), float(g))
        for a, b, c, m, g in zip(i[keep], j[keep], r[keep], mi[keep], linear, strict=True)
    ]
    pairs.sort(key=lambda p: (-p.excess, p.i, p.j))
    return pairs if top is None else pairs[:top]
