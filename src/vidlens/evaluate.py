"""Evaluation as Karpathy et al. 2014 and Tran et al. 2015 report it: clip hit@1, video hit@1, video hit@5.

Both papers score a test video by cutting several clips from it, running the network on each clip alone and
averaging the clip predictions into one video prediction. Three numbers come out:

* **clip hit@1**: the fraction of test clips whose highest-scoring class is their video's class;
* **video hit@1** / **video hit@5**: the fraction of test videos whose class is among the 1 / 5 highest
  classes of the averaged prediction.

Here a video's clips are ``clips_per_video`` evenly spaced clips, centre-cropped (C3D's test recipe, see
:class:`vidlens.data.ClipDataset` with ``train=False``), and the averaged prediction is the mean of the clips'
softmax probabilities (``reduce="mean_prob"``; ``"mean_logit"`` averages raw scores instead).

    from vidlens.evaluate import evaluate_run
    result = evaluate_run("runs/c3d")  # also writes runs/c3d/metrics.json and runs/c3d/confusion.png
    print(result.table())

Clips that cannot be decoded are left out and counted (``skipped_clips``); a video none of whose clips could
be decoded is listed in ``missing_videos`` and left out of the video metrics rather than scored as a miss.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from vidlens import __version__
from vidlens.data.datasets import (
    ClipDataset,
    VideoClipsDataset,
    VideoList,
    collate_video_clips,
    load_videos,
)
from vidlens.io import atomic_write
from vidlens.presets import Preset
from vidlens.runs import METRICS, load_run_model
from vidlens.runtime import Precision, Runtime
from vidlens.video import Size

__all__ = [
    "CONFUSION",
    "EvalResult",
    "confusion_matrix",
    "evaluate",
    "evaluate_run",
    "format_table",
    "hit_at_k",
    "plot_confusion",
    "video_scores",
]

#: The confusion-matrix figure :func:`evaluate_run` writes into a run directory (next to ``metrics.json``).
CONFUSION = "confusion.png"

Reduce = Literal["mean_prob", "mean_logit"]

# --------------------------------------------------------------------------------------------------------
# Metrics
# --------------------------------------------------------------------------------------------------------


def _as_scores(scores: torch.Tensor | np.ndarray, name: str = "scores") -> torch.Tensor:
    scores = torch.as_tensor(scores)
    if scores.ndim != 2:
        raise ValueError(f"{name} must be shaped (N, C), got {tuple(scores.shape)}")
    if not scores.is_floating_point():
        scores = scores.float()
    return scores


def _as_labels(labels: torch.Tensor | np.ndarray | Sequence[int], n: int, num_classes: int, name: str):
    labels = torch.as_tensor(labels)
    if labels.numel() == 0:
        labels = labels.long()  # an empty list becomes a float tensor
    if labels.ndim != 1 or len(labels) != n:
        raise ValueError(f"{name} must be shaped ({n},), got {tuple(labels.shape)}")
    if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        raise TypeError(f"{name} must be integer class indices, got {labels.dtype}")
    labels = labels.long()
    if n and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
        raise ValueError(
            f"{name} must be class indices in [0, {num_classes}), got {labels.min()}..{labels.max()}"
        )
    return labels


def hit_at_k(
    scores: torch.Tensor | np.ndarray, labels: torch.Tensor | np.ndarray | Sequence[int], k: int = 1
) -> float:
    """The fraction of rows whose true label is among their ``k`` highest-scoring classes.

    ``scores`` is ``(N, C)`` (logits, probabilities, any scores where higher means more likely) and ``labels``
    ``(N,)`` class indices. ``k`` larger than ``C`` is clipped to ``C`` (every row is then a hit).

    Ties are broken by class index, as a stable sort by decreasing score would: class ``j`` ranks above the
    true class ``y`` when ``scores[j] > scores[y]``, or when they are equal and ``j < y``; the row is a hit
    when fewer than ``k`` classes rank above ``y``. So for ``k = 1`` the prediction is the lowest-indexed
    class among the maxima, which is what ``argmax`` returns and what :func:`confusion_matrix` is fed.

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
    video_index: torch.Tensor | np.ndarray | Sequence[int],
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


def confusion_matrix(
    pred: torch.Tensor | np.ndarray | Sequence[int],
    labels: torch.Tensor | np.ndarray | Sequence[int],
    num_classes: int,
) -> np.ndarray:
    """Counts ``(C, C)`` int64: entry ``[i, j]`` is how many items of true class ``i`` were predicted ``j``.

    Rows are true classes, columns predicted ones, so row sums are the class sizes and the diagonal the hits.
    """
    if isinstance(num_classes, bool) or not isinstance(num_classes, int | np.integer) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
    labels_t = torch.as_tensor(labels)
    if labels_t.ndim != 1:
        raise ValueError(f"labels must be shaped (N,), got {tuple(labels_t.shape)}")
    labels_t = _as_labels(labels_t, len(labels_t), num_classes, "labels")
    pred_t = _as_labels(pred, len(labels_t), num_classes, "pred")
    flat = labels_t * num_classes + pred_t  # (N,) row-major cell index
    counts = torch.bincount(flat, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes).numpy().astype(np.int64)


# --------------------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------------------


@dataclass
class EvalResult:
    """What :func:`evaluate` measured. Rates are fractions in [0, 1]; :meth:`table` shows percentages."""

    # Fraction of decoded test clips whose argmax class is their video's class.
    clip_hit1: float
    # Fraction of scored videos whose class is the argmax / among the 5 highest of the averaged prediction
    # (hit@5 uses k = min(5, number of classes)).
    video_hit1: float
    video_hit5: float
    # Clips scored (decoded) and videos scored (at least one decoded clip): the denominators above.
    n_clips: int
    n_videos: int
    # Clips left out because their video could not be decoded.
    skipped_clips: int
    # Ids of the videos none of whose clips could be decoded (not part of the video metrics).
    missing_videos: list[str]
    # Video-level confusion counts (C, C): rows true class, columns predicted class.
    confusion: np.ndarray
    classes: list[str]
    # Video hit@1 within each class; None for a class without scored videos.
    per_class: dict[str, float | None]
    # Wall-clock time of the evaluation.
    seconds: float
    # How clips were made and averaged: clips_per_video, clip_len, size, crop, preset, reduce, batch_size,
    # device, precision (the one the model ran in: "auto" resolved).
    settings: dict[str, Any] = field(default_factory=dict)
    # Name shown in table(): the registry name for evaluate_run, else the model's class name.
    model: str = ""
    # Per scored video: its id, true label and averaged scores (V, C); for further analysis, not in to_dict().
    video_ids: list[str] = field(default_factory=list, repr=False)
    video_labels: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64), repr=False)
    video_scores: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32), repr=False)

    def to_dict(self) -> dict[str, Any]:
        """The metrics, counts, settings and confusion matrix as JSON-ready Python values."""
        return {
            "model": self.model,
            "clip_hit1": self.clip_hit1,
            "video_hit1": self.video_hit1,
            "video_hit5": self.video_hit5,
            "n_clips": self.n_clips,
            "n_videos": self.n_videos,
            "skipped_clips": self.skipped_clips,
            "missing_videos": list(self.missing_videos),
            "settings": dict(self.settings),
            "seconds": self.seconds,
            "classes": list(self.classes),
            "per_class": dict(self.per_class),
            "confusion": self.confusion.tolist(),
        }

    def table(self, name: str | None = None) -> str:
        """The papers' table with one row: ``Clip Hit@1  Video Hit@1  Video Hit@5`` in percent."""
        return format_table({name if name is not None else (self.model or "model"): self})


def format_table(results: Mapping[str, EvalResult] | Iterable[tuple[str, EvalResult]]) -> str:
    """Several results side by side, as in Karpathy et al. 2014's table 1: one row per named result,
    percentages with one decimal (``59.3``)."""
    rows = list(results.items() if isinstance(results, Mapping) else results)
    header = ("Model", "Clip Hit@1", "Video Hit@1", "Video Hit@5")
    cells = [
        (name, f"{100 * r.clip_hit1:.1f}", f"{100 * r.video_hit1:.1f}", f"{100 * r.video_hit5:.1f}")
        for name, r in rows
    ]
    widths = [max(len(row[i]) for row in [header, *cells]) for i in range(len(header))]
    lines = []
    for row in [header, *cells]:
        first = row[0].ljust(widths[0])
        lines.append("  ".join([first, *(c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True))]))
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _per_class(confusion: np.ndarray, classes: Sequence[str]) -> dict[str, float | None]:
    totals = confusion.sum(axis=1)
    return {
        name: (float(confusion[i, i] / totals[i]) if totals[i] else None) for i, name in enumerate(classes)
    }


# --------------------------------------------------------------------------------------------------------
# Running a model over a test set
# --------------------------------------------------------------------------------------------------------


def _show_classes(names: Sequence[str]) -> str:
    names = list(names)
    return str(names) if len(names) <= 12 else f"[{', '.join(names[:6])}, ... ({len(names)} classes)]"


def _check_classes(expected: Sequence[str], found: Sequence[str], who: str, where: str) -> None:
    """Raise when a dataset's classes are not the model's, in the same order (labels would not match)."""
    expected, found = list(expected), list(found)
    if expected == found:
        return
    message = f"{who} was trained on classes {_show_classes(expected)} but {where} has {_show_classes(found)}"
    if sorted(expected) == sorted(found):
        message += "; the same names in another order, so the labels would not match"
    else:
        only_model = sorted(set(expected) - set(found))
        only_data = sorted(set(found) - set(expected))
        message += f" (only in the model: {only_model[:10]}; only in the data: {only_data[:10]})"
    raise ValueError(message + "; evaluate on a dataset with the classes the model was trained on")


def _eval_dataset(
    data: ClipDataset | VideoList,
    *,
    clips_per_video: int,
    clip_len: int,
    size: Size,
    crop: int | None,
    preset: Preset | str,
) -> ClipDataset:
    if isinstance(data, ClipDataset):
        if data.train:
            raise ValueError(
                "evaluate needs a ClipDataset with train=False (fixed, evenly spaced, centre-cropped clips); "
                "pass the VideoList instead and evaluate builds it"
            )
        return data
    if isinstance(data, VideoList):
        return ClipDataset(
            data,
            train=False,
            clips_per_video=clips_per_video,
            clip_len=clip_len,
            size=size,
            crop=crop,
            preset=preset,
            on_error="skip",
        )
    raise TypeError(
        f"evaluate takes a VideoList (vidlens.data.load_videos) or a ClipDataset, got {type(data).__name__}"
    )


def evaluate(
    model: nn.Module,
    dataset_or_videos: ClipDataset | VideoList,
    *,
    classes: Sequence[str] | None = None,
    clips_per_video: int = 10,
    clip_len: int = 16,
    size: Size = (128, 171),
    crop: int | None = 112,
    preset: Preset | str = "plain",
    reduce: Reduce = "mean_prob",
    batch_size: int = 30,
    workers: int = 2,
    device: str | torch.device = "auto",
    precision: Precision = "auto",
    channels_last: bool = True,
    progress: bool = True,
) -> EvalResult:
    """Clip hit@1, video hit@1 and video hit@5 of ``model`` on every test clip of a dataset.

    ``dataset_or_videos`` is a :class:`VideoList` (then ``clips_per_video`` evenly spaced clips of
    ``clip_len`` frames per video, resized to ``size``, centre-cropped to ``crop`` and normalised with
    ``preset``; undecodable videos are skipped and counted) or a ready :class:`ClipDataset` built with
    ``train=False``, whose own settings then apply. ``classes`` (default: the dataset's)
    are the model's class names; they must equal the dataset's, in order.

    Clips are batched across videos by a DataLoader with ``workers`` decoding processes, and run under
    ``torch.inference_mode`` with the model in eval mode (its train/eval mode is restored afterwards; it is
    left on ``device``). ``precision`` is the autocast precision (:mod:`vidlens.runtime`: ``"auto"`` is bf16
    or fp16 on CUDA, fp32 on the CPU); on CUDA, ``channels_last`` puts clips and Conv3d weights in
    ``channels_last_3d``.
    """
    t0 = time.perf_counter()
    dataset = _eval_dataset(
        dataset_or_videos,
        clips_per_video=clips_per_video,
        clip_len=clip_len,
        size=size,
        crop=crop,
        preset=preset,
    )
    classes = list(dataset.classes) if classes is None else list(classes)
    _check_classes(classes, dataset.classes, "the model", f"the dataset {dataset.videos.root}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if reduce not in ("mean_prob", "mean_logit"):
        raise ValueError(f"reduce must be 'mean_prob' or 'mean_logit', got {reduce!r}")
    runtime = Runtime.create(device, precision, channels_last=channels_last)
    # One item per video, its clips decoded in one pass; batches hold about `batch_size` clips.
    loader = DataLoader(
        VideoClipsDataset(dataset),
        batch_size=max(1, round(batch_size / dataset.clips_per_video)),
        shuffle=False,
        num_workers=workers,
        collate_fn=collate_video_clips,
        pin_memory=runtime.device.type == "cuda",
    )
    was_training = model.training
    runtime = runtime.prepare(model.eval())

    scores, labels, indices, skipped = [], [], [], 0
    bar = tqdm(total=len(dataset), desc="evaluate", unit="clip", disable=not progress, dynamic_ncols=True)
    try:
        with torch.inference_mode(), bar:
            for batch in loader:
                bar.update(len(batch.labels) + batch.skipped)
                skipped += batch.skipped
                if len(batch.labels) == 0:
                    continue
                clips = runtime.input(batch.clips)  # (N, 3, T, H, W)
                with runtime.autocast():
                    out = model(clips)
                if not isinstance(out, torch.Tensor) or out.shape != (len(clips), len(classes)):
                    got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
                    raise ValueError(
                        f"the model returned {got} for {len(clips)} clips; evaluate needs scores shaped "
                        f"({len(clips)}, {len(classes)}), one per class of {_show_classes(classes)}"
                    )
                scores.append(out.float().cpu())  # (N, C)
                labels.append(batch.labels)
                indices.append(batch.indices)
    finally:
        model.train(was_training)

    n_videos = len(dataset.videos)
    if not scores:
        raise RuntimeError(
            f"none of the {len(dataset)} clips of the {n_videos} videos in {dataset.videos.root} could be "
            "decoded (see the warnings above); check the files with `vidlens info`"
        )
    clip_scores = torch.cat(scores)  # (N, C)
    clip_labels = torch.cat(labels)  # (N,)
    video_index = torch.tensor([dataset.clip_location(int(i))[0] for i in torch.cat(indices)])  # (N,)
    settings = {
        "clips_per_video": dataset.clips_per_video,
        "clip_len": dataset.clip_len,
        "size": list(dataset.size) if dataset.size is not None else None,
        "crop": dataset.transform.crop,
        "preset": dataset.transform.preset.name,
        "reduce": reduce,
        "batch_size": batch_size,
        "device": str(runtime.device),
        "precision": runtime.precision,
    }
    return _result(
        clip_scores,
        clip_labels,
        video_index,
        video_labels=dataset.videos.labels,
        video_ids=dataset.video_ids,
        classes=classes,
        reduce=reduce,
        skipped_clips=skipped,
        settings=settings,
        model=type(model).__name__,
        seconds=time.perf_counter() - t0,
    )


def _result(
    clip_scores: torch.Tensor,
    clip_labels: torch.Tensor,
    video_index: torch.Tensor,
    *,
    video_labels: Sequence[int],
    video_ids: Sequence[str],
    classes: Sequence[str],
    reduce: Reduce,
    skipped_clips: int,
    settings: dict[str, Any],
    model: str,
    seconds: float,
) -> EvalResult:
    """The metrics of clip scores ``(N, C)`` whose video is ``video_index`` ``(N,)``."""
    num_classes = len(classes)
    per_video = video_scores(clip_scores, video_index, len(video_ids), reduce)  # (V, C)
    scored = torch.bincount(video_index, minlength=len(video_ids)) > 0  # (V,)
    labels = torch.as_tensor(list(video_labels), dtype=torch.long)[scored]  # (V',)
    per_video = per_video[scored]  # (V', C)
    confusion = confusion_matrix(per_video.argmax(dim=1), labels, num_classes)
    return EvalResult(
        clip_hit1=hit_at_k(clip_scores, clip_labels, 1),
        video_hit1=hit_at_k(per_video, labels, 1),
        video_hit5=hit_at_k(per_video, labels, 5),
        n_clips=len(clip_scores),
        n_videos=int(scored.sum()),
        skipped_clips=skipped_clips,
        missing_videos=[v for v, ok in zip(video_ids, scored.tolist(), strict=True) if not ok],
        confusion=confusion,
        classes=list(classes),
        per_class=_per_class(confusion, classes),
        seconds=seconds,
        settings=settings,
        model=model,
        video_ids=[v for v, ok in zip(video_ids, scored.tolist(), strict=True) if ok],
        video_labels=labels.numpy(),
        video_scores=per_video.numpy(),
    )


# --------------------------------------------------------------------------------------------------------
# Evaluating a training run
# --------------------------------------------------------------------------------------------------------


def evaluate_run(
    run_dir: str | os.PathLike,
    data: str | os.PathLike | None = None,
    *,
    split: int | None = None,
    subset: Literal["train", "test", "all"] = "test",
    clips_per_video: int | None = None,
    batch_size: int | None = None,
    workers: int | None = None,
    device: str | None = None,
    precision: Precision | None = None,
    reduce: Reduce = "mean_prob",
    progress: bool = True,
    write: bool = True,
) -> EvalResult:
    """Evaluate a trained run (``vidlens train``) on a split of its dataset, as ``vidlens evaluate`` does.

    The model, its classes and every setting come from ``RUN/config.json``: the dataset root and layout,
    the split, ``eval_clips`` clips per video, clip length, frame size, crop, preset, batch size, workers,
    device, precision and channels_last; the arguments override them. The dataset must have the run's
    classes. With ``write``, ``RUN/metrics.json`` (the result of :meth:`EvalResult.to_dict` plus the
    dataset, layout, split and subset) and ``RUN/confusion.png`` (row-normalised video confusion matrix) are
    written atomically.

    A dataset in plain class folders has no test split: it is refused unless ``subset="all"``, since its
    videos may be the very ones the model was trained on.
    """
    run_dir = Path(run_dir)
    model, config, classes = load_run_model(run_dir)
    if data is None:
        if not config.data:
            raise ValueError(f"the run {run_dir} does not name its dataset (config.data is empty); pass DATA")
        if not Path(config.data).is_dir():
            raise FileNotFoundError(
                f"the dataset the run {run_dir} was trained on, {config.data}, is not a directory "
                "(moved or deleted?); pass DATA"
            )
        data = config.data
    split = config.split if split is None else split
    videos = load_videos(data, layout=config.layout, split=split, subset=subset)  # type: ignore[arg-type]
    if videos.layout == "folders" and subset != "all":
        raise ValueError(
            f"{data} is plain class folders without split files, so it has no {subset} split; add a "
            "UCF101-style splits/ folder (classInd.txt, trainlist01.txt, testlist01.txt), or pass "
            "subset='all' (--subset all) to evaluate on every video, training videos included"
        )
    _check_classes(classes, videos.classes, f"the run {run_dir}", f"{data} ({videos.layout} layout)")
    result = evaluate(
        model,
        videos,
        classes=classes,
        clips_per_video=config.eval_clips if clips_per_video is None else clips_per_video,
        clip_len=config.clip_len,
        size=config.size,
        crop=config.crop,
        preset=config.preset,
        reduce=reduce,
        batch_size=config.batch_size if batch_size is None else batch_size,
        workers=config.workers if workers is None else workers,
        device=config.device if device is None else device,
        precision=config.precision if precision is None else precision,
        channels_last=config.channels_last,
        progress=progress,
    )
    result.model = config.model
    if write:
        payload = {
            "vidlens": __version__,
            "run": str(run_dir),
            "model_kwargs": config.model_kwargs,
            "data": str(data),
            "layout": videos.layout,
            "split": split if videos.layout != "folders" else None,
            "subset": subset,
            **result.to_dict(),
        }
        text = json.dumps(payload, indent=2) + "\n"
        atomic_write(run_dir / METRICS, lambda tmp: tmp.write_text(text))
        which = subset if videos.layout == "folders" else f"split {split} {subset}"
        title = f"{config.model} on {Path(data).name} ({which}): video hit@1 {100 * result.video_hit1:.1f}%"
        figure = plot_confusion(result.confusion, classes, title=title)
        atomic_write(run_dir / CONFUSION, lambda tmp: figure.savefig(tmp, format="png", dpi=100))
    return result


# --------------------------------------------------------------------------------------------------------
# Confusion figure
# --------------------------------------------------------------------------------------------------------


def plot_confusion(confusion: np.ndarray, classes: Sequence[str], *, title: str = ""):
    """A matplotlib Figure of a confusion matrix with rows normalised to sum to 1 (recall per class).

    Rows are true classes, columns predicted ones, class names on both axes. The figure grows with the
    number of classes (up to 18 inches) and the tick labels shrink to fit their cells, so all 101 UCF101
    names stay readable; past the point where a name would be under 3 points, class indices are shown every
    few rows instead. Cells carry their percentage up to 12 classes. Uses matplotlib's object API (Agg), no
    pyplot state: save with ``fig.savefig(path)``.
    """
    from matplotlib.figure import Figure

    confusion = np.asarray(confusion)
    n = len(classes)
    if confusion.shape != (n, n):
        raise ValueError(f"confusion must be shaped ({n}, {n}) for {n} classes, got {confusion.shape}")
    totals = confusion.sum(axis=1, keepdims=True)  # (C, 1)
    rates = np.divide(confusion, totals, out=np.zeros(confusion.shape), where=totals > 0)  # (C, C)

    side = min(max(5.0, 3.0 + 0.14 * n), 18.0)  # inches
    fig = Figure(figsize=(side + 1.2, side), layout="constrained")
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
