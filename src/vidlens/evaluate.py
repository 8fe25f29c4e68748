"""Evaluation as Karpathy et al. 2014 and Tran et al. 2015 report it: clip hit@1, video hit@1, video hit@5.

Both papers score a test video by cutting several clips from it, running the network on each clip alone and
averaging the clip predictions into one video prediction. Three numbers come out:

* **clip hit@1**: the fraction of test clips whose highest-scoring class is their video's class;
* **video hit@1** / **video hit@5**: the fraction of test videos whose class is among the 1 / 5 highest
  classes of the averaged prediction.

Here a video's clips are ``clips_per_video`` evenly spaced clips, centre-cropped (C3D's test recipe, see
:class:`vidlens.data.ClipDataset` with ``train=False``), and the averaged prediction is the mean of the clips'
softmax probabilities (``reduce="mean_prob"``; ``"mean_logit"`` averages raw scores instead). The metrics
themselves are :mod:`vidlens.metrics`, shared with the linear-SVM evaluation of extracted features.

    from vidlens.evaluate import evaluate_run
    result = evaluate_run("runs/c3d")  # also writes runs/c3d/metrics.json and runs/c3d/confusion.png
    print(result.table())

Clips that cannot be decoded are left out and counted (``skipped_clips``); a video none of whose clips could
be decoded is listed in ``missing_videos`` and left out of the video metrics rather than scored as a miss.
"""

from __future__ import annotations

import json
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
from vidlens.metrics import Reduce, confusion_matrix, hit_at_k, per_class_accuracy, video_scores
from vidlens.presets import FROM_PRESET, FromPreset, Preset, resolve_preset
from vidlens.runs import METRICS, load_run_model
from vidlens.runtime import Precision, Runtime
from vidlens.video import Size
from vidlens.viz import confusion_figure, save_figure, text_table

__all__ = [
    "CONFUSION",
    "EvalResult",
    "evaluate",
    "evaluate_run",
    "format_table",
    "plot_confusion",
]

#: The confusion-matrix figure :func:`evaluate_run` writes into a run directory (next to ``metrics.json``).
CONFUSION = "confusion.png"

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
    return text_table(header, cells)


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
    preset: Preset,
    size: Size | FromPreset,
    crop: int | FromPreset | None,
    cache: str | os.PathLike | None = None,
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
            cache=cache,
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
    preset: Preset | str | None = None,
    size: Size | FromPreset = FROM_PRESET,
    crop: int | FromPreset | None = FROM_PRESET,
    reduce: Reduce = "mean_prob",
    batch_size: int = 30,
    workers: int = 2,
    device: str | torch.device = "auto",
    precision: Precision = "auto",
    channels_last: bool = True,
    frame_cache: str | os.PathLike | None = None,
    progress: bool = True,
) -> EvalResult:
    """Clip hit@1, video hit@1 and video hit@5 of ``model`` on every test clip of a dataset.

    ``dataset_or_videos`` is a :class:`VideoList` (then ``clips_per_video`` evenly spaced clips of
    ``clip_len`` frames per video, prepared as the model's preset says (:func:`vidlens.presets.resolve_preset`:
    ``preset`` overrides it, ``size`` and ``crop`` override its frame size and crop); undecodable videos are
    skipped and counted) or a ready :class:`ClipDataset` built with
    ``train=False``, whose own settings then apply. ``classes`` (default: ``model.class_names``, which
    travel with its weights, else the dataset's) are the model's class names; they must equal the dataset's,
    in order.

    Clips are batched across videos by a DataLoader with ``workers`` decoding processes, and run under
    ``torch.inference_mode`` with the model in eval mode (its train/eval mode is restored afterwards; it is
    left on ``device``). ``precision`` is the autocast precision (:mod:`vidlens.runtime`: ``"auto"`` is bf16
    or fp16 on CUDA, fp32 on the CPU); on CUDA, ``channels_last`` puts clips and Conv3d weights in
    ``channels_last_3d``. ``frame_cache`` is a :class:`vidlens.data.cache.FrameCache` directory: videos
    decoded there before (by training with the same cache) are not decoded again.
    """
    t0 = time.perf_counter()
    dataset = _eval_dataset(
        dataset_or_videos,
        clips_per_video=clips_per_video,
        clip_len=clip_len,
        preset=resolve_preset(model, preset),
        size=size,
        crop=crop,
        cache=frame_cache,
    )
    if classes is None:
        classes = getattr(model, "class_names", None) or dataset.classes
    classes = list(classes)
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
        per_class=per_class_accuracy(confusion, classes),
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

    The model (:func:`vidlens.models.load_model`, with the run's preset: frame size, crop and normalisation),
    its classes and every setting come from the run: the dataset root and layout, the split, ``eval_clips``
    clips per video, clip length, batch size, workers, device, precision, channels_last and the frame cache; the arguments
    override them. The dataset must have the run's classes. With ``write``, ``RUN/metrics.json`` (the result
    of :meth:`EvalResult.to_dict` plus the dataset, layout, split and subset) and ``RUN/confusion.png``
    (row-normalised video confusion matrix) are written atomically.

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
        preset=resolve_preset(model),  # the run's recipe (frame size, crop, normalisation) travels with it
        reduce=reduce,
        batch_size=config.batch_size if batch_size is None else batch_size,
        workers=config.workers if workers is None else workers,
        device=config.device if device is None else device,
        precision=config.precision if precision is None else precision,
        channels_last=config.channels_last,
        frame_cache=config.frame_cache,
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
        save_figure(confusion_figure(result.confusion, classes, title=title), run_dir / CONFUSION)
    return result


# --------------------------------------------------------------------------------------------------------
# Confusion figure
# --------------------------------------------------------------------------------------------------------


def plot_confusion(confusion: np.ndarray, classes: Sequence[str], *, title: str = ""):
    """A matplotlib Figure of a row-normalised confusion matrix: :func:`vidlens.viz.confusion_figure`, which
    draws it (this name stays for existing callers). Save it with :func:`vidlens.viz.save_figure`."""
    return confusion_figure(confusion, classes, title=title)
