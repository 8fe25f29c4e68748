"""Redundant filters: how many filters of a layer nearly repeat each other.

Ayinde, Inanc and Zurada, "On correlation of features extracted by deep neural networks", IJCNN 2019:
flatten every filter of a convolution (``in_channels x t x h x w`` weights) to a vector, cluster the vectors
agglomeratively on their cosine distance ``1 - cos(angle)``, and cut the tree at a cosine similarity
``tau``: clusters merge while their linkage distance stays at or below ``1 - tau``. Every cluster beyond the
first member is redundant: ``n_redundant = n_filters - n_clusters``. The authors' pruning code uses complete
linkage (every pair of filters in a cluster then has cosine similarity >= tau) and tau = 0.54 for VGG-16 on
CIFAR-10; average linkage is the other choice here.

    result = filter_redundancy(filters(model, "conv3"), tau=0.54)  # .labels (C_out,), .n_redundant
    layers = model_redundancy(model)  # one LayerRedundancy per Conv3d / Conv2d, with the curve over tau

Cosine distance ignores a filter's scale: a filter and a positive multiple of it are at distance 0, while
a filter and its negative are at the largest distance, 2 (they detect opposite patterns). Pictures of the
results (dendrograms, curves over tau) live in :mod:`vidlens.viz.units`. SciPy is imported when a function
runs, so importing vidlens does not load it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from vidlens.interpret.maps import filters

__all__ = [
    "DEFAULT_TAUS",
    "FilterRedundancy",
    "LayerRedundancy",
    "conv_layers",
    "cosine_distances",
    "filter_redundancy",
    "model_redundancy",
]

Linkage = Literal["complete", "average"]

#: The cosine similarity thresholds of the redundancy curve: 0 to 1 in steps of 0.02.
DEFAULT_TAUS = np.round(np.linspace(0.0, 1.0, 51), 2)


@dataclass(frozen=True, eq=False)
class FilterRedundancy:
    """The filters of one layer clustered at cosine similarity ``tau`` (see :func:`filter_redundancy`)."""

    # (C_out,) int: the cluster of every filter, 0 .. n_clusters - 1, numbered in order of first appearance
    # (filter 0 is in cluster 0).
    labels: np.ndarray
    # Number of clusters at tau: the filters that remain when each cluster keeps one.
    n_clusters: int
    # The cosine similarity threshold: clusters merge while their linkage distance is <= 1 - tau.
    tau: float
    # "complete" (the authors' choice) or "average".
    linkage: str
    # (C_out - 1, 4) SciPy linkage matrix (scipy.cluster.hierarchy.linkage) on cosine distances: what
    # dendrograms draw. Empty (0, 4) for a layer of one filter.
    linkage_matrix: np.ndarray

    @property
    def n_filters(self) -> int:
        return len(self.labels)

    @property
    def n_redundant(self) -> int:
        """Filters that repeat another one at this threshold: ``n_filters - n_clusters``."""
        return self.n_filters - self.n_clusters

    @property
    def redundant_fraction(self) -> float:
        return self.n_redundant / self.n_filters


def cosine_distances(vectors: np.ndarray | torch.Tensor) -> np.ndarray:
    """Condensed cosine distances ``1 - u.v / (|u| |v|)`` between the rows of ``(n, d)``, float64
    ``(n * (n - 1) / 2,)`` in :func:`scipy.spatial.distance.pdist` order, each in [0, 2].

    A row of zeros (a dead filter) has no direction: it is at distance 1 from every other row (as if
    orthogonal) and at distance 0 from other rows of zeros (dead filters all compute the same nothing).
    Distances below 1e-10 are rounding and become 0: a row and a positive multiple of it are at 0 exactly.
    """
    from scipy.spatial.distance import squareform

    if isinstance(vectors, torch.Tensor):
        vectors = vectors.detach().cpu().double().numpy()
    x = np.asarray(vectors, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"cosine_distances takes vectors shaped (n, d), got {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("the filters hold NaN or infinite weights; check the weights file")
    norms = np.linalg.norm(x, axis=1)  # (n,)
    dead = norms == 0
    unit = x / np.where(dead, 1.0, norms)[:, None]  # (n, d), dead rows stay zero
    distances = np.clip(1.0 - unit @ unit.T, 0.0, 2.0)  # (n, n)
    distances[distances < 1e-10] = (
        0.0  # rounding: a filter and a scaled copy are at 0, so tau = 1 merges them
    )
    distances[dead, :] = 1.0
    distances[:, dead] = 1.0
    distances[np.ix_(dead, dead)] = 0.0
    np.fill_diagonal(distances, 0.0)
    return squareform(distances, checks=False)  # (n * (n - 1) / 2,)


def _check_tau(tau: float) -> float:
    if not -1.0 <= float(tau) <= 1.0:
        raise ValueError(
            f"tau is a cosine similarity in [-1, 1], got {tau}; the authors used 0.54 (clusters of filters "
            "whose cosine similarity is at least 0.54)"
        )
    return float(tau)


def _linkage_matrix(weight: np.ndarray | torch.Tensor, linkage: str) -> tuple[np.ndarray, int]:
    """The SciPy linkage matrix of the flattened filters and their number."""
    from scipy.cluster import hierarchy

    if linkage not in ("complete", "average"):
        raise ValueError(
            f"linkage must be 'complete' (as in Ayinde et al.'s pruning code) or 'average', got {linkage!r}"
        )
    w = torch.as_tensor(weight).detach() if not isinstance(weight, np.ndarray) else weight
    if w.ndim < 2 or w.shape[0] < 1:
        raise ValueError(
            f"weight must be a convolution's kernels shaped (C_out, C_in, ...), got shape {tuple(w.shape)}; "
            "read them with vidlens.interpret.filters(model, layer)"
        )
    n = int(w.shape[0])
    vectors = w.reshape(n, -1)  # (C_out, C_in * t * h * w)
    if n == 1:
        return np.zeros((0, 4)), 1
    return hierarchy.linkage(cosine_distances(vectors), method=linkage), n


def _cluster(matrix: np.ndarray, n: int, tau: float) -> np.ndarray:
    """0-based cluster labels at ``tau``, numbered in order of first appearance."""
    from scipy.cluster import hierarchy

    if n == 1:
        return np.zeros(1, dtype=np.int64)
    raw = hierarchy.fcluster(matrix, t=1.0 - tau, criterion="distance")  # (n,) 1-based
    _, first, inverse = np.unique(raw, return_index=True, return_inverse=True)
    order = np.argsort(np.argsort(first))  # cluster rank by its first member
    return order[inverse].astype(np.int64)


def filter_redundancy(
    weight: np.ndarray | torch.Tensor, tau: float = 0.54, linkage: Linkage = "complete"
) -> FilterRedundancy:
    """Cluster the filters of one convolution by cosine distance and count the redundant ones (Ayinde et
    al. 2019).

    Args:
        weight: kernels ``(C_out, C_in, t, h, w)`` (``(C_out, C_in, h, w)`` for 2D convolutions, or any
            ``(C_out, ...)``), e.g. :func:`vidlens.interpret.filters` ``(model, layer)``.
        tau: cosine similarity threshold in [-1, 1]: clusters merge while their linkage distance is at
            most ``1 - tau``. With complete linkage every two filters of a cluster then have cosine
            similarity >= tau.
        linkage: ``"complete"`` (the authors') or ``"average"`` (UPGMA).
    """
    tau = _check_tau(tau)
    matrix, n = _linkage_matrix(weight, linkage)
    labels = _cluster(matrix, n, tau)
    return FilterRedundancy(labels, int(labels.max()) + 1, tau, linkage, matrix)


@dataclass(frozen=True, eq=False)
class LayerRedundancy:
    """One convolution of a model: its clusters at ``tau`` and the redundancy curve over ``taus``."""

    layer: str  # module path of the convolution
    kernel: tuple[int, ...]  # (C_out, C_in, t, h, w); t = 1 for 2D convolutions
    result: FilterRedundancy  # at the chosen tau
    taus: np.ndarray  # (K,) cosine similarity thresholds, ascending
    curve: np.ndarray  # (K,) int: redundant filters at each tau

    @property
    def n_filters(self) -> int:
        return self.kernel[0]

    @property
    def filter_size(self) -> int:
        """Weights per filter, ``C_in * t * h * w``: the dimension of the vectors clustered."""
        return int(np.prod(self.kernel[1:]))

    def row(self) -> dict[str, object]:
        """The layer's line of a per-model table, plain values (for CSV and Markdown)."""
        r = self.result
        return {
            "layer": self.layer,
            "filters": self.n_filters,
            "kernel": "x".join(map(str, self.kernel[1:])),
            "clusters": r.n_clusters,
            "redundant": r.n_redundant,
            "redundant_fraction": round(r.redundant_fraction, 4),
            "tau": r.tau,
            "linkage": r.linkage,
        }


def conv_layers(model: nn.Module) -> list[str]:
    """Module paths of every ``nn.Conv3d`` and ``nn.Conv2d`` of ``model`` (per-frame convolutions
    included), in definition order."""
    return [name for name, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Conv3d))]


def model_redundancy(
    model: nn.Module,
    *,
    tau: float = 0.54,
    taus: Sequence[float] | np.ndarray | None = None,
    linkage: Linkage = "complete",
    layers: Sequence[str] | None = None,
    progress: bool = False,
) -> list[LayerRedundancy]:
    """:func:`filter_redundancy` of every convolution of ``model``, and the number of redundant filters at
    each threshold of ``taus`` (the redundancy curve; one clustering per layer serves every threshold).

    Args:
        model: any ``nn.Module``; only its weights are read.
        tau: the threshold of each layer's ``result``.
        taus: thresholds of the curve (default :data:`DEFAULT_TAUS`, 0 to 1 by 0.02), sorted ascending.
        linkage: ``"complete"`` or ``"average"``.
        layers: convolutions to read (module paths or tap names, see :func:`vidlens.interpret.filters`);
            default :func:`conv_layers`, all of them.
        progress: a tqdm bar over the layers.
    """
    tau = _check_tau(tau)
    grid = np.sort(np.asarray(DEFAULT_TAUS if taus is None else taus, dtype=np.float64))  # (K,)
    for t in grid:
        _check_tau(t)
    names = conv_layers(model) if layers is None else list(layers)
    if not names:
        raise ValueError(
            f"{type(model).__name__} has no nn.Conv3d or nn.Conv2d module: filter redundancy reads the "
            "kernels of convolutions"
        )
    results = []
    for name in tqdm(names, desc="redundancy", unit="layer", disable=not progress):
        kernels = filters(model, name)  # (C_out, C_in, t, h, w)
        matrix, n = _linkage_matrix(kernels, linkage)
        labels = _cluster(matrix, n, tau)
        result = FilterRedundancy(labels, int(labels.max()) + 1, tau, linkage, matrix)
        curve = np.array([n - (int(_cluster(matrix, n, t).max()) + 1) for t in grid], dtype=np.int64)  # (K,)
        results.append(LayerRedundancy(name, tuple(kernels.shape), result, grid, curve))
    return results
