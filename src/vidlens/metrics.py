"""Classification metrics shared by :mod:`vidlens.evaluate` (clip and video hit@k of a trained network) and
:mod:`vidlens.features.linear` (a linear SVM on extracted descriptors).

* :func:`hit_at_k`: the fraction of rows whose true class is among their ``k`` highest scores, ties broken
  by class index (see its docstring for why);
* :func:`video_scores`: clip scores averaged into one prediction per video (Karpathy et al. 2014, Tran et
  al. 2015);
* :func:`accuracy`, :func:`confusion_matrix`: of hard predictions, by scikit-learn;
* :func:`per_class_accuracy`, :func:`mean_class_accuracy`: each class's recall, read off the confusion
  matrix, and their mean over the classes that have items (UCF101's classes are unbalanced).

Scores are ``(N, C)`` arrays (torch or numpy), labels and predictions ``(N,)`` class indices in ``[0, C)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import torch

__all__ = [
    "Reduce",
    "accuracy",
    "confusion_matrix",
    "hit_at_k",
    "mean_class_accuracy",
    "per_class_accuracy",
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
