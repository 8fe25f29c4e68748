"""Classification metrics shared by :mod:`vidlens.evaluate` (clip and video hit@k of a trained network) and
:mod:`vidlens.features.linear` (a linear SVM on extracted descriptors), and the pointing game that scores
interpretation maps against ground-truth masks.

* :func:`hit_at_k`: the fraction of rows whose true class is among their ``k`` highest scores, ties broken
  by class index (see its docstring for why);
* :func:`video_scores`: clip scores averaged into one prediction per video (Karpathy et al. 2014, Tran et
  al. 2015);
* :func:`accuracy`, :func:`confusion_matrix`: of hard predictions, by scikit-learn;
* :func:`per_class_accuracy`, :func:`mean_class_accuracy`: each class's recall, read off the confusion
  matrix, and their mean over the classes that have items (UCF101's classes are unbalanced);
* :func:`pointing_energy`, :func:`pointing_energy_per_frame`: the energy-based pointing game (Wang et al.
  2020), the share of a saliency map's energy that falls on the objects, against its chance level
  :func:`mask_share`, :func:`mask_share_per_frame` (the objects' share of the frame area);
* :func:`dominant_motion`: the displacement per frame that phase correlation finds in a clip, to check
  that a clip synthesised for a motion class moves that way.

Scores are ``(N, C)`` arrays (torch or numpy), labels and predictions ``(N,)`` class indices in ``[0, C)``.
Maps and masks are ``(T, H, W)`` for one clip or ``(N, T, H, W)`` for a batch (torch or numpy).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import numpy as np
import torch

__all__ = [
    "Reduce",
    "accuracy",
    "angle_difference",
    "confusion_matrix",
    "dominant_motion",
    "hit_at_k",
    "mask_share",
    "mask_share_per_frame",
    "mean_class_accuracy",
    "motion_direction",
    "per_class_accuracy",
    "pointing_energy",
    "pointing_energy_per_frame",
    "video_scores",
]

#: How :func:`video_scores` averages a video's clips: softmax probabilities, or raw scores.
Reduce = Literal["mean_prob", "mean_logit"]

Labels = torch.Tensor | np.ndarray | Sequence[int]


def _as_scores(scores: torch.Tensor | np.ndarray, name: str = "scores") -> torch.Tensor:
    scores = torch.as_tensor(scores)
    if scores.ndim != 2:
        raise ValueError(f"{name} must be shaped (N, C), got {tuple(scores.shape)}")
    if not scores.is_floating_point():
        scores = scores.float()
    return scores


def _as_labels(labels: Labels, n: int, num_classes: int | None, name: str) -> torch.Tensor:
    """``labels`` as a long tensor ``(n,)`` of class indices in ``[0, num_classes)`` (any integers when
    ``num_classes`` is None)."""
    labels = torch.as_tensor(labels)
    if labels.numel() == 0:
        labels = labels.long()  # an empty list becomes a float tensor
    if labels.ndim != 1 or len(labels) != n:
        raise ValueError(f"{name} must be shaped ({n},), got {tuple(labels.shape)}")
    if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        raise TypeError(f"{name} must be integer class indices, got {labels.dtype}")
    labels = labels.long()
    if num_classes is not None and n and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
        raise ValueError(
            f"{name} must be class indices in [0, {num_classes}), got {labels.min()}..{labels.max()}"
        )
    return labels


def _check_num_classes(num_classes: int) -> None:
    if isinstance(num_classes, bool) or not isinstance(num_classes, int | np.integer) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")


def hit_at_k(scores: torch.Tensor | np.ndarray, labels: Labels, k: int = 1) -> float:
    """The fraction of rows whose true label is among their ``k`` highest-scoring classes.

    ``scores`` is ``(N, C)`` (logits, probabilities, any scores where higher means more likely) and ``labels``
    ``(N,)`` class indices. ``k`` larger than ``C`` is clipped to ``C`` (every row is then a hit).

    Ties are broken by class index, as a stable sort by decreasing score would: class ``j`` ranks above the
    true class ``y`` when ``scores[j] > scores[y]``, or when they are equal and ``j < y``; the row is a hit
    when fewer than ``k`` classes rank above ``y``. So for ``k = 1`` the prediction is the lowest-indexed
    class among the maxima, which is what ``argmax`` returns and what :func:`confusion_matrix` is fed.

    Why this rule rather than "a tie counts as a hit" or scikit-learn's ``top_k_accuracy_score`` (which
    breaks ties by ``argsort``, so not always as ``argmax`` does):

    * hit@1 agrees with the confusion matrix: clip or video hit@1 equals the confusion matrix's trace
      divided by its sum, and each class's hit@1 its :func:`per_class_accuracy`;
    * it is deterministic and honest on ties: a model that outputs the same score for every class (a
      constant, a dead network) scores exactly the share of class 0, not 100% (ties as hits) or a value
      that depends on the sort algorithm.

    Returns NaN for ``N = 0``. Rows containing NaN have no ranking and raise ``ValueError`` (e.g. the rows
    :func:`video_scores` gives videos that had no clip: drop them first).
    """
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"k must be a positive int, got {k!r}")
    scores = _as_scores(scores)
    n, num_classes = scores.shape
    labels = _as_labels(labels, n, num_classes, "labels")
    if n == 0:
        return float("nan")
    nan_rows = torch.isnan(scores).any(dim=1)
    if nan_rows.any():
        rows = nan_rows.nonzero().flatten().tolist()
        raise ValueError(
            f"{len(rows)} rows of scores contain NaN (rows {rows[:10]}{'...' if len(rows) > 10 else ''}); "
            "a NaN row cannot be ranked: drop it (videos without clips) or check the model's outputs"
        )
    k = min(int(k), num_classes)
    true = scores.gather(1, labels[:, None])  # (N, 1) score of the true class
    before = torch.arange(num_classes)[None, :] < labels[:, None]  # (N, C) classes with a smaller index
    above = (scores > true) | ((scores == true) & before)  # (N, C) classes ranked above the true one
    hits = above.sum(dim=1) < k  # (N,)
    return float(hits.double().mean())


def video_scores(
    clip_scores: torch.Tensor | np.ndarray,
    video_index: Labels,
    n_videos: int,
    reduce: Reduce = "mean_prob",
) -> torch.Tensor:
    """Average each video's clip predictions: ``(N, C)`` clip scores -> ``(n_videos, C)`` video scores.

    ``video_index[i]`` is the video (0..n_videos-1) of clip ``i``; a video may have any number of clips.

    * ``reduce="mean_prob"`` (default): the mean of the clips' softmax probabilities. Every clip gets one
      vote of total weight 1, so a single very confident clip cannot outweigh the others as it could with
      raw logits, and the result is itself a probability distribution (rows sum to 1). This is how the papers
      describe it ("averaging the clip predictions"); ``clip_scores`` are then taken to be logits.
    * ``reduce="mean_logit"``: the mean of the raw scores (rows do not sum to 1).

    A video with no clip (every clip undecodable) gets a row of NaN, so that it is reported rather than
    silently scored: :func:`hit_at_k` refuses NaN rows. Computed in float64, returned as float32.
    """
    if reduce not in ("mean_prob", "mean_logit"):
        raise ValueError(f"reduce must be 'mean_prob' or 'mean_logit', got {reduce!r}")
    if isinstance(n_videos, bool) or not isinstance(n_videos, int | np.integer) or n_videos < 0:
        raise ValueError(f"n_videos must be a non-negative int, got {n_videos!r}")
    clip_scores = _as_scores(clip_scores, "clip_scores")
    n, num_classes = clip_scores.shape
    video_index = _as_labels(video_index, n, n_videos, "video_index")
    values = clip_scores.double()
    if reduce == "mean_prob":
        values = values.softmax(dim=1)  # (N, C)
    sums = torch.zeros(n_videos, num_classes, dtype=torch.float64).index_add_(0, video_index, values)
    counts = torch.bincount(video_index, minlength=n_videos)  # (V,)
    return (sums / counts[:, None]).float()  # (V, C); 0 / 0 = NaN for videos without clips


def _pred_and_labels(pred: Labels, labels: Labels, num_classes: int | None) -> tuple[np.ndarray, np.ndarray]:
    """``pred`` and ``labels`` checked (same length, class indices in ``[0, num_classes)``), as int64 numpy."""
    labels_t = torch.as_tensor(labels)
    if labels_t.ndim != 1:
        raise ValueError(f"labels must be shaped (N,), got {tuple(labels_t.shape)}")
    labels_t = _as_labels(labels_t, len(labels_t), num_classes, "labels")
    pred_t = _as_labels(pred, len(labels_t), num_classes, "pred")
    return pred_t.numpy(), labels_t.numpy()


def accuracy(pred: Labels, labels: Labels) -> float:
    """The fraction of items whose predicted class ``pred`` is their class ``labels`` (scikit-learn's
    ``accuracy_score``); NaN when there are no items. Both are ``(N,)`` integer class indices."""
    from sklearn.metrics import accuracy_score

    pred_np, labels_np = _pred_and_labels(pred, labels, None)
    if len(labels_np) == 0:
        return float("nan")
    return float(accuracy_score(labels_np, pred_np))


def confusion_matrix(pred: Labels, labels: Labels, num_classes: int) -> np.ndarray:
    """Counts ``(C, C)`` int64: entry ``[i, j]`` is how many items of true class ``i`` were predicted ``j``.

    Rows are true classes, columns predicted ones, so row sums are the class sizes and the diagonal the hits.
    Every class ``0..num_classes-1`` has its row and column, also when no item is or is predicted of it
    (scikit-learn's ``confusion_matrix`` with ``labels=range(num_classes)``).
    """
    from sklearn.metrics import confusion_matrix as sk_confusion_matrix

    _check_num_classes(num_classes)
    pred_np, labels_np = _pred_and_labels(pred, labels, num_classes)
    if len(labels_np) == 0:  # scikit-learn refuses empty inputs
        return np.zeros((num_classes, num_classes), dtype=np.int64)
    counts = sk_confusion_matrix(labels_np, pred_np, labels=np.arange(num_classes))
    return counts.astype(np.int64, copy=False)


def _checked_confusion(confusion: np.ndarray, num_classes: int | None = None) -> np.ndarray:
    """``confusion`` as an array, refused unless it is square (and ``(num_classes, num_classes)``)."""
    confusion = np.asarray(confusion)
    square = confusion.ndim == 2 and confusion.shape[0] == confusion.shape[1]
    if not square or (num_classes is not None and len(confusion) != num_classes):
        expected = "(C, C)" if num_classes is None else f"({num_classes}, {num_classes})"
        raise ValueError(
            f"confusion must be shaped {expected}, got {confusion.shape}; build it with confusion_matrix"
        )
    return confusion


def per_class_accuracy(confusion: np.ndarray, classes: Sequence[str]) -> dict[str, float | None]:
    """Each class's recall: the fraction of its items predicted as it (its row's diagonal share of the
    confusion matrix ``(C, C)``), by class name; None for a class without items."""
    confusion = _checked_confusion(confusion, len(classes))
    totals = confusion.sum(axis=1)
    return {
        name: (float(confusion[i, i] / totals[i]) if totals[i] else None) for i, name in enumerate(classes)
    }


def mean_class_accuracy(confusion: np.ndarray) -> float:
    """The mean of :func:`per_class_accuracy` over the classes that have items (NaN when none has)."""
    confusion = _checked_confusion(confusion)
    totals = confusion.sum(axis=1)
    present = [float(confusion[i, i] / totals[i]) for i in np.flatnonzero(totals)]
    return float(np.mean(present)) if present else float("nan")


# --------------------------------------------------------------------------------------------------------
# The energy-based pointing game
# --------------------------------------------------------------------------------------------------------


def _as_numpy(x: torch.Tensor | np.ndarray) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu()
        return (x.double() if x.is_floating_point() else x).numpy()  # bfloat16 has no numpy twin
    return np.asarray(x)


def _as_mask(mask: torch.Tensor | np.ndarray) -> np.ndarray:
    """``mask`` as bool ``(T, H, W)`` or ``(N, T, H, W)``; bool, or numbers that are all 0 or 1."""
    mask = _as_numpy(mask)
    if mask.ndim not in (3, 4):
        raise ValueError(f"mask must be shaped (T, H, W) or (N, T, H, W), got {mask.shape}")
    if mask.dtype != np.bool_:
        if not (np.issubdtype(mask.dtype, np.number) and np.isin(mask, (0, 1)).all()):
            raise ValueError(f"mask must be boolean (or 0 and 1), got {mask.dtype} values")
        mask = mask.astype(bool)
    return mask


def _as_map_and_mask(saliency: torch.Tensor | np.ndarray, mask: torch.Tensor | np.ndarray):
    """Both checked and as numpy: the map float64, non-negative and finite, of the mask's shape."""
    mask = _as_mask(mask)
    saliency = _as_numpy(saliency)
    if saliency.shape != mask.shape:
        hint = ""
        if saliency.ndim == mask.ndim + 1 and saliency.shape[-4] == 3:
            hint = (
                ": reduce the colour channels first (e.g. their largest magnitude, as Simonyan et al. 2014 "
                "did: saliency.abs().amax(-4))"
            )
        elif saliency.ndim == mask.ndim:
            hint = ": resize the map to the mask's size first (trilinear interpolation, as the overlays do)"
        raise ValueError(
            f"saliency {tuple(saliency.shape)} and mask {mask.shape} must have the same shape{hint}"
        )
    if not (np.issubdtype(saliency.dtype, np.number) or saliency.dtype == np.bool_):
        raise TypeError(f"saliency must be numbers, got {saliency.dtype}")
    saliency = saliency.astype(np.float64)
    if not np.isfinite(saliency).all():
        raise ValueError("saliency holds NaN or infinite values: a map's energy is undefined there")
    if (saliency < 0).any():
        raise ValueError(
            f"saliency must be non-negative (its energy is the sum of its values), got a minimum of "
            f"{saliency.min():g}: use the ReLU'd map (Grad-CAM's is), the magnitude of a gradient "
            f"(saliency.abs()), or shift and scale it to [0, 1] first"
        )
    return saliency, mask


def _shares(inside: np.ndarray, total: np.ndarray) -> np.ndarray:
    """``inside / total``, NaN where ``total`` is 0 (no energy: the share is undefined)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, inside / np.where(total > 0, total, 1.0), np.nan)


def pointing_energy_per_frame(
    saliency: torch.Tensor | np.ndarray, mask: torch.Tensor | np.ndarray
) -> np.ndarray:
    """The share of each frame's saliency energy that falls inside the mask: ``(T,)`` or ``(N, T)`` float64.

    ``saliency`` is a non-negative map ``(T, H, W)`` (or ``(N, T, H, W)``), ``mask`` bool of the same shape.
    Frame ``t`` scores ``sum(saliency[t] * mask[t]) / sum(saliency[t])``, NaN when the map is 0 all over
    that frame. Compare with :func:`mask_share_per_frame`: a 3D ConvNet may look at appearance in the first
    frames of a clip and at motion after, which the clip's single number hides.
    """
    saliency, mask = _as_map_and_mask(saliency, mask)
    inside = (saliency * mask).sum(axis=(-2, -1))  # (..., T)
    return _shares(inside, saliency.sum(axis=(-2, -1)))


def pointing_energy(saliency: torch.Tensor | np.ndarray, mask: torch.Tensor | np.ndarray) -> float:
    """The energy-based pointing game: the share of a non-negative map's energy that falls inside the mask.

    Wang et al. 2020 (Score-CAM: Score-Weighted Visual Explanations for Convolutional Neural Networks, CVPR
    Workshops), who defined it on bounding boxes, score a map ``L`` by ``sum(L inside) / sum(L)``: unlike the
    original pointing game (is the maximum inside?), it rewards maps that are concentrated on the object and
    penalises energy spread outside it. Here the "box" is any mask, e.g. the moving shapes of the synthetic
    motion videos (:func:`vidlens.data.synthetic.load_motion_masks`).

    ``saliency`` is ``(T, H, W)`` for one clip (energy summed over all its frames) or ``(N, T, H, W)`` for a
    batch, which scores the mean of the clips' shares (each clip counts once, as each image does in the
    paper); ``mask`` is bool of the same shape (or 0 and 1). Torch or numpy, computed in float64. Chance is
    :func:`mask_share` of the same mask: a map that is constant on every clip scores exactly that, so a
    method beats chance when its score exceeds the objects' share of the area. NaN when a clip's map is 0
    everywhere (no energy to share); negative or non-finite maps raise ``ValueError``.
    """
    saliency, mask = _as_map_and_mask(saliency, mask)
    inside = (saliency * mask).sum(axis=(-3, -2, -1))  # () or (N,)
    return float(np.mean(_shares(inside, saliency.sum(axis=(-3, -2, -1)))))


def mask_share_per_frame(mask: torch.Tensor | np.ndarray) -> np.ndarray:
    """The fraction of each frame inside ``mask`` ``(T, H, W)`` (or ``(N, T, H, W)``): ``(T,)`` (``(N, T)``),
    float64; the chance level of :func:`pointing_energy_per_frame`."""
    return _as_mask(mask).mean(axis=(-2, -1), dtype=np.float64)


def mask_share(mask: torch.Tensor | np.ndarray) -> float:
    """The fraction of a clip's pixels inside ``mask`` ``(T, H, W)``, or its mean over the clips of a batch
    ``(N, T, H, W)``: the chance level of :func:`pointing_energy` (what a map constant on each clip scores)."""
    return float(np.mean(_as_mask(mask).mean(axis=(-3, -2, -1), dtype=np.float64)))


# --------------------------------------------------------------------------------------------------------
# Motion of a clip
# --------------------------------------------------------------------------------------------------------


def dominant_motion(frames: torch.Tensor | np.ndarray) -> np.ndarray:
    """The displacement ``(dy, dx)`` in pixels per frame that best explains how a clip changes from frame to
    frame, by phase correlation (Kuglin and Hines 1975): float64 ``(2,)``, rows growing downwards.

    The clip's temporal differences ``D_t = f_{t+1} - f_t`` are correlated, each with the next: whatever
    stands still cancels out of them exactly (a still background, which would otherwise correlate at zero
    shift and outvote what moves), while a pattern moving by ``d`` per frame moves its differences by ``d``
    too. Each pair gives a normalised cross-power spectrum ``G_{t+1} conj(G_t) / |...|``; the spectra of all
    pairs are summed before the inverse transform, so the clip's common motion wins over any one pair's
    noise, and the peak is refined by a parabola through it and its neighbours along each axis (to about a
    quarter of a pixel: the peak is no parabola). A Hann window keeps the frame borders from looking like an
    edge. Shifts are found within half the frame size each way. On the synthetic motion videos (speeds of 1-3 pixels per frame) the direction
    is within 30 degrees of the class's in 100 of 100 videos (tests/test_metrics.py checks 16).

    ``frames`` is uint8 or float RGB ``(T, H, W, 3)`` (averaged to grey) or grey ``(T, H, W)``, at least
    three frames. A clip without change gives ``(0, 0)``. The direction of motion in the image's usual axes
    (counter-clockwise from +x, up positive, as :data:`vidlens.data.synthetic.DIRECTIONS`) is
    ``degrees(atan2(-dy, dx))``.
    """
    clip = _as_numpy(frames).astype(np.float64)
    if clip.ndim == 4 and clip.shape[-1] == 3:
        clip = clip.mean(axis=-1)  # (T, H, W) grey
    if clip.ndim != 3 or clip.shape[0] < 3 or min(clip.shape[1:]) < 2:
        raise ValueError(
            f"frames must be a clip of at least 3 frames, (T, H, W, 3) RGB or (T, H, W) grey; got {clip.shape}"
        )
    if not np.isfinite(clip).all():
        raise ValueError("frames hold NaN or infinite values")
    clip = np.diff(clip, axis=0)  # (T - 1, H, W): what changes
    h, w = clip.shape[1:]
    window = np.outer(np.hanning(h), np.hanning(w))  # (H, W)
    spectra = np.fft.rfft2(clip * window)  # (T - 1, H, W // 2 + 1)
    cross = spectra[1:] * np.conj(spectra[:-1])  # (T - 2, H, W // 2 + 1): difference t -> t + 1
    cross = (cross / np.maximum(np.abs(cross), 1e-12)).sum(axis=0)
    surface = np.fft.irfft2(cross, s=(h, w))  # (H, W): peaks at the common shift
    if not np.abs(surface).max() > 0:
        return np.zeros(2)
    peak = np.unravel_index(int(surface.argmax()), surface.shape)
    shift = []
    for axis, (p, n) in enumerate(zip(peak, (h, w), strict=True)):
        before = surface[(p - 1) % n, peak[1]] if axis == 0 else surface[peak[0], (p - 1) % n]
        after = surface[(p + 1) % n, peak[1]] if axis == 0 else surface[peak[0], (p + 1) % n]
        curve = before - 2 * surface[peak] + after
        offset = 0.5 * (before - after) / curve if curve < 0 else 0.0  # the parabola's vertex, |.| <= 0.5
        signed = p if p <= n // 2 else p - n  # wrap to -n/2..n/2
        shift.append(signed + offset)
    return np.asarray(shift, dtype=np.float64)


def motion_direction(dy: float, dx: float) -> tuple[float, float]:
    """A displacement ``(dy, dx)`` (rows growing downwards, as :func:`dominant_motion` gives it) as its speed
    and its direction in degrees, counter-clockwise from +x with up positive (0 right, 90 up), as
    :data:`vidlens.data.synthetic.DIRECTIONS`."""
    return math.hypot(dy, dx), math.degrees(math.atan2(-dy, dx))


def angle_difference(a: float, b: float) -> float:
    """The difference ``a - b`` between two directions in degrees, wrapped into [-180, 180)."""
    return (a - b + 180) % 360 - 180
