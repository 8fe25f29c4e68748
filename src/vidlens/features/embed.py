"""A 2-D t-SNE map of video descriptors, coloured by class: the C3D paper's figure 5.

Tran et al. 2015 (section 4, figure 5) project the fc6 descriptors of UCF101's videos to two dimensions with
t-SNE (van der Maaten & Hinton 2008) and show that videos of one action cluster together, more tightly for
C3D than for ImageNet features. :func:`embed` draws the same map for any feature store:

    from vidlens.features.embed import embed
    result = embed("feats/", data="UCF101", out="feats/tsne.png")
    print(result.png, result.coords_file)

The descriptors are first reduced to ``pca_first`` dimensions with PCA (the usual speed-up for t-SNE on
4096-d inputs; ``None`` skips it), then embedded by scikit-learn's ``TSNE`` with PCA initialisation and
a fixed ``seed`` (exact gradients up to ``EXACT_UP_TO`` videos, Barnes-Hut above). ``perplexity`` is clamped to ``(n - 1) / 3`` for small stores
(t-SNE needs about three times the perplexity in neighbours per point).

Labels come from ``data`` (a dataset root: the videos of both subsets of ``split``) or ``labels`` (a labels
file), matched to the store's videos as :mod:`vidlens.features.linear` describes; videos without a label are
drawn in grey as "unlabelled", and all videos are grey when neither is given.

Next to the figure, ``<out without suffix>.csv`` holds the coordinates, one row per store video in store
order, with the header ``id,source,label,x,y`` (``label`` empty for an unlabelled video).
"""

from __future__ import annotations

import csv
import io
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vidlens.features.linear import label_features
from vidlens.features.store import FeatureSet, as_feature_set
from vidlens.io import atomic_write
from vidlens.viz import embedding_figure, save_figure

__all__ = ["Embedding", "embed"]

_FORMATS = (".png", ".pdf", ".svg")
UNLABELLED = "unlabelled"
#: Up to this many videos t-SNE uses exact gradients (O(n^2), quick and most faithful for small maps);
#: above, the Barnes-Hut approximation (O(n log n)), as for UCF101's 13,320 videos.
EXACT_UP_TO = 1000


@dataclass
class Embedding:
    """Where :func:`embed` wrote the map and its coordinates, and the coordinates themselves."""

    png: Path  # the figure (a .png unless another format was asked for)
    coords_file: Path  # the CSV of coordinates (see the module docstring)
    coords: np.ndarray  # (N, 2) float t-SNE coordinates, in store order
    ids: list[str]
    labels: list[str | None]  # class name per video, None when unlabelled
    classes: list[str]
    perplexity: float  # the perplexity used (after clamping)
    layer: str
    notes: list[str] = field(default_factory=list)


def embed(
    features: FeatureSet | str | os.PathLike,
    *,
    layer: str | None = None,
    data: str | os.PathLike | None = None,
    split: int = 1,
    labels: str | os.PathLike | None = None,
    out: str | os.PathLike = "embed.png",
    perplexity: float = 30.0,
    seed: int = 0,
    pca_first: int | None = 50,
) -> Embedding:
    """Embed the store's descriptors in 2-D with t-SNE, plot them coloured by class into ``out`` and write
    the coordinates to ``out`` with the suffix ``.csv``. See the module docstring for the details."""
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    out = Path(out)
    if out.suffix.lower() not in _FORMATS:
        raise ValueError(f"out must be a .png (or .pdf, .svg) path, got {out}")
    if perplexity <= 0:
        raise ValueError(f"perplexity must be positive, got {perplexity}")
    if pca_first is not None and pca_first < 2:
        raise ValueError(f"pca_first must be >= 2 dimensions (or None to skip the PCA), got {pca_first}")
    fs = as_feature_set(features, layer)
    n, dim = fs.descriptors.shape
    if n < 3:
        raise ValueError(f"a t-SNE map needs at least 3 videos, the store holds {n}")
    notes: list[str] = []

    if data is not None or labels is not None:
        vl = label_features(fs, data=data, split=split, labels=labels)
        classes, y = vl.classes, vl.labels
        if vl.n_missing:
            notes.append(f"{vl.n_missing} entries of {vl.source} are not in the store")
        if vl.ambiguous:
            notes.append(f"{len(vl.ambiguous)} entries match several store videos by their path: left out")
        if not (y >= 0).any():
            notes.append(f"no store video is named by {vl.source}: every video is unlabelled")
    else:
        classes, y = [], np.full(n, -1, dtype=np.int64)
    for note in notes:
        warnings.warn(note, RuntimeWarning, stacklevel=2)

    x = fs.descriptors.astype(np.float64)  # (N, D)
    if pca_first is not None and dim > pca_first:
        k = min(pca_first, n)
        x = PCA(n_components=k, random_state=seed).fit_transform(x)  # (N, k)
    used = float(min(perplexity, max(1.0, (n - 1) / 3)))
    method = "exact" if n <= EXACT_UP_TO else "barnes_hut"
    tsne = TSNE(
        n_components=2, perplexity=used, init="pca", learning_rate="auto", method=method, random_state=seed
    )
    coords = tsne.fit_transform(x)  # (N, 2)

    shown = [c for c in range(len(classes)) if (y == c).any()]
    remap = np.full(len(classes) + 1, -1, dtype=np.int64)
    remap[shown] = np.arange(len(shown))
    title = f"t-SNE of {fs.layer} descriptors, {n} videos"
    if classes:
        title += f", {len(shown)} classes"
    figure = embedding_figure(
        coords, remap[y], [classes[c] for c in shown], title=title, unlabelled=UNLABELLED
    )
    save_figure(figure, out, bbox_inches="tight")

    names = [classes[c] if c >= 0 else None for c in y]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["id", "source", "label", "x", "y"])
    for video_id, source, name, (cx, cy) in zip(fs.ids, fs.sources, names, coords, strict=True):
        writer.writerow([video_id, source, name or "", f"{cx:.6g}", f"{cy:.6g}"])
    coords_file = out.with_suffix(".csv")
    text = buffer.getvalue()
    atomic_write(coords_file, lambda tmp: tmp.write_text(text))
    return Embedding(out, coords_file, coords, list(fs.ids), names, list(classes), used, fs.layer, notes)


# --------------------------------------------------------------------------------------------------------
# vidlens embed
# --------------------------------------------------------------------------------------------------------
