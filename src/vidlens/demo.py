"""The demo on built-in data (``make demo``): synthesise a motion dataset, read it back, decode it, run C3D.

Each step is a function that returns what it measured; ``vidlens demo`` (:mod:`vidlens.cli.demo`) prints
them. Nothing here needs a download: the data is made by :mod:`vidlens.data.synthetic`.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

from vidlens.data.datasets import VideoList, load_videos
from vidlens.data.synthetic import MotionConfig, MotionDataset, make_motion_dataset
from vidlens.data.transforms import ClipTransform
from vidlens.models import count_macs, count_parameters, create_model
from vidlens.video import Clip, iter_clips

__all__ = [
    "SIZES",
    "DecodeStats",
    "DemoSize",
    "ForwardStats",
    "decode_all",
    "demo_steps",
    "forward_pass",
    "make_data",
    "read_back",
    "run_demo",
]


def make_data(
    root: str | os.PathLike, config: MotionConfig, *, progress: bool = True
) -> tuple[MotionDataset, float]:
    """The synthetic motion dataset in ``root`` (made, or reused when it is there) and the seconds it took."""
    t0 = time.perf_counter()
    dataset = make_motion_dataset(root, config, progress=progress)
    return dataset, time.perf_counter() - t0


def read_back(root: str | os.PathLike) -> tuple[VideoList, VideoList]:
    """The train and test videos of ``root``, read through the UCF101 code path (split files)."""
    return load_videos(root, subset="train"), load_videos(root, subset="test")


@dataclass
class DecodeStats:
    """What decoding every video into clips measured."""

    videos: int
    clips: int
    frames: int  # frames decoded (padding excluded)
    seconds: float
    first_clip: Clip | None

    @property
    def frames_per_s(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


def decode_all(
    videos: VideoList,
    *,
    clip_len: int = 16,
    stride: int = 8,
    size: tuple[int, int] | None = None,
    progress: bool = True,
) -> DecodeStats:
    """Decode every video of ``videos`` into ``clip_len``-frame clips every ``stride`` frames (C3D's recipe)."""
    clips = frames = 0
    first: Clip | None = None
    t0 = time.perf_counter()
    for record in tqdm(videos.records, desc="decode", unit="video", leave=False, disable=not progress):
        for clip in iter_clips(record.path, clip_len=clip_len, stride=stride, size=size):
            clips += 1
            frames += len(clip) - clip.padded
            first = first if first is not None else clip
    return DecodeStats(len(videos), clips, frames, time.perf_counter() - t0, first)


@dataclass
class ForwardStats:
    """One C3D forward pass: shapes, time, size and cost."""

    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    milliseconds: float
    params: int
    macs: int


def forward_pass(clip: Clip, num_classes: int, *, seed: int = 0) -> ForwardStats:
    """C3D (Tran et al. 2015), randomly initialised, on one clip prepared by its preset (timed after a
    warm-up pass)."""
    torch.manual_seed(seed)
    model = create_model("c3d", num_classes=num_classes).eval()
    x = ClipTransform(preset=model.preset)(clip.frames).unsqueeze(0)  # (1, 3, 16, 112, 112)
    with torch.inference_mode():
        model(x)  # warm-up
        t0 = time.perf_counter()
        logits = model(x)
        seconds = time.perf_counter() - t0
    return ForwardStats(
        tuple(x.shape),
        tuple(logits.shape),
        seconds * 1000,
        count_parameters(model),
        count_macs(model, tuple(x.shape)),
    )


# ------------------------------------------------------------------------------------ the report's steps


@dataclass(frozen=True)
class DemoSize:
    """How big the report demo is. The numbers of "small" are *planned* to fit ten minutes on 2 CPU cores,
    not measured yet; "tiny" is for tests (seconds, nothing learnt)."""

    videos_per_class: int  # synthetic videos per class (4 classes; 30% held out for test)
    frames: int  # frames per video (two 16-frame clips at 32)
    side: int  # frame height = width = crop side, in pixels (the single-frame net takes 111..126)
    width_3d: int  # c3d_depth3 width: filters of its first conv
    width_2d: int  # single_frame width
    epochs: int  # epochs of both nets: the same budget
    eval_clips: int  # clips per test video when evaluating


SIZES: dict[str, DemoSize] = {
    "small": DemoSize(
        videos_per_class=48, frames=32, side=112, width_3d=4, width_2d=8, epochs=2, eval_clips=2
    ),
    "tiny": DemoSize(videos_per_class=3, frames=16, side=112, width_3d=2, width_2d=2, epochs=1, eval_clips=1),
}

# The two nets of the seeds' claim: (registry name, label) -- the 3D net first.
DEMO_MODELS = (("c3d_depth3", "3D ConvNet (3x3x3)"), ("single_frame", "Single-Frame"))


def _data_step(size: DemoSize, *, seed: int = 0):
    from vidlens.report import Section, StepResult, Table

    def run(out, done):
        config = MotionConfig(
            videos_per_class=size.videos_per_class,
            frames=size.frames,
            height=size.side,
            width=size.side,
            seed=seed,
        )
        dataset = make_motion_dataset(out / "data", config, progress=False)
        train, test = read_back(dataset.root)
        section = Section(
            "A small motion dataset",
            "Every video shows shapes moving in one direction (its class) next to static look-alikes: no "
            "single frame tells the class, only motion does.",
            tables=[
                Table(
                    ["class", "train videos", "test videos"],
                    [
                        [c, sum(r.label == i for r in train.records), sum(r.label == i for r in test.records)]
                        for i, c in enumerate(train.classes)
                    ],
                    caption=f"{len(train) + len(test)} videos of {size.frames} frames at {size.side}x{size.side}",
                )
            ],
        )
        return StepResult(section, {"root": str(dataset.root), "classes": list(train.classes)})

    return run


def _train_step(size: DemoSize, *, seed: int = 0, workers: int = 0):
    from vidlens.evaluate import CONFUSION, evaluate_run
    from vidlens.report import Figure, Section, StepResult, Table
    from vidlens.reproduce import RECIPES
    from vidlens.runs import TrainConfig
    from vidlens.train import CURVES, train

    recipe = RECIPES["scratch"]  # the recipe that trains the small nets from scratch (benchmarks/RESULTS.md)

    def run(out, done):
        root = done["data"]["root"]
        rows, figures, runs = [], [], {}
        for name, label in DEMO_MODELS:
            run_dir = out / "runs" / name
            config = TrainConfig(
                data=root,
                model=name,
                model_kwargs={"width": size.width_3d if name != "single_frame" else size.width_2d}
                | recipe.model_kwargs,
                seed=seed,
                size=(size.side, size.side),
                crop=size.side,
                flip_p=0.0,  # a mirrored MoveLeft video is a MoveRight one
                eval_clips=size.eval_clips,
                workers=workers,
                device="cpu",
                **recipe.budget(size.epochs),
            )
            train(config, run_dir, resume=(run_dir / "config.json").exists(), progress=False)
            metrics = evaluate_run(run_dir, progress=False)
            rows.append([label, 100 * metrics.clip_hit1, 100 * metrics.video_hit1, 100 * metrics.video_hit5])
            rel = f"runs/{name}"
            command = f"vidlens train {root} --model {name} ... && vidlens evaluate {rel}"
            figures += [
                Figure(
                    f"{rel}/{CURVES}",
                    f"{label}: training loss and clip accuracy per epoch",
                    "Both nets get the same data, recipe and budget, so their curves compare fairly.",
                    command,
                ),
                Figure(
                    f"{rel}/{CONFUSION}",
                    f"{label}: test confusion matrix (videos)",
                    "A net that cannot see motion confuses opposite directions; the 3D net should not "
                    "(Karpathy et al. 2014 vs Tran et al. 2015).",
                    command,
                ),
            ]
            runs[name] = str(run_dir)
        section = Section(
            "A 3D ConvNet against a single-frame net",
            f"Both trained from scratch for {size.epochs} epoch(s) with the same recipe ({recipe.description})"
            " and evaluated on the held-out videos; chance is 25%.",
            tables=[Table(["model", "clip hit@1 %", "video hit@1 %", "video hit@5 %"], rows)],
            figures=figures,
        )
        return StepResult(section, {"runs": runs})

    return run


def demo_steps(size: str | DemoSize = "small", *, seed: int = 0, workers: int = 0) -> list:
    """The report demo's steps (:class:`vidlens.report.Step`) in order, at ``size`` (a name of
    :data:`SIZES` or a :class:`DemoSize`)."""
    from vidlens.report import Step

    if isinstance(size, str):
        if size not in SIZES:
            raise KeyError(f"unknown demo size {size!r}; choose from {', '.join(SIZES)}")
        size = SIZES[size]
    return [
        Step("data", _data_step(size, seed=seed)),
        Step("train", _train_step(size, seed=seed, workers=workers)),
    ]


def run_demo(
    out: str | os.PathLike,
    size: str | DemoSize = "small",
    *,
    redo: tuple[str, ...] = (),
    only: tuple[str, ...] | None = None,
    workers: int = 0,
) -> Path:
    """Run (or resume) the report demo into ``out`` and write ``out/index.html``; return its path."""
    from vidlens.report import collect_report, render_html, run_steps, save_report

    out = Path(out)
    run_steps(out, demo_steps(size, workers=workers), redo=redo, only=only)
    report = collect_report(
        out,
        title="vidlens: what a 3D ConvNet learns from motion",
        intro="Built by `vidlens demo` on synthetic data; each section says how to reproduce its figures.",
    )
    save_report(report, out)
    return render_html(report, out)
