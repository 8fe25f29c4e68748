"""Reproduce the seeds' two comparisons on the synthetic motion dataset, with one command each.

* ``fusion``: Karpathy et al. 2014's single-frame, early, late and slow fusion nets against a C3D-style 3D
  ConvNet (homogeneous 3x3x3 kernels), reported as the lecture's table: clip hit@1, video hit@1, video hit@5.
* ``depth``: Tran et al. 2015's temporal-depth experiment (section 3.2, figure 2): 5-layer nets with conv
  kernel depth 1, 3, 5, 7, increasing (3-3-5-5-7) and decreasing (7-5-5-3-3).

Every model of an experiment is trained with the same data, recipe (batch size, optimiser, learning-rate
schedule) and seeds, then evaluated on the held-out test split. Every model trains for the same number of
epochs, except where the experiment gives one a smaller share (:attr:`Experiment.epoch_share`, shown in the
table's "epochs" column): under the from-scratch recipe the 3D ConvNet of ``fusion`` trains for a third of
the fusion nets' epochs, all it needs (it learns the synthetic task in a few hundred steps), which keeps it,
at 4-5x their cost per step on a CPU, within minutes; a shorter budget can only understate its lead. The
synthetic classes are motion directions (every single frame is independent of the class), so the expected
outcome is that ``single_frame`` stays near chance while models that convolve over time do far better.
Whatever the runs show is reported as is.
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "EXPERIMENTS",
    "RECIPES",
    "Experiment",
    "ExperimentResult",
    "ModelRow",
    "Recipe",
    "SeedRun",
    "reproduce",
]


@dataclass(frozen=True)
class Experiment:
    """One comparison: which models, at which width, and how the table is titled."""

    name: str
    title: str
    # (label shown in the table, registry name, builder keyword arguments)
    models: tuple[tuple[str, str, dict[str, Any]], ...]
    # (recipe, registry name) -> the share of the recipe's epochs that model trains for (default 1: all).
    epoch_share: dict[tuple[str, str], float] = field(default_factory=dict)

    def epochs(self, recipe: str, model: str, epochs: int) -> int:
        """The epochs ``model`` trains for when the recipe gives ``epochs``."""
        return max(1, round(epochs * self.epoch_share.get((recipe, model), 1.0)))


# Widths are small so that the default budget runs on a 2-core CPU in about half an hour per seed of an
# experiment (the depth experiment trains six nets, hence width 4: 16-32-64-64-64 filters); every model of
# an experiment is trained with the same recipe.
EXPERIMENTS: dict[str, Experiment] = {
    "fusion": Experiment(
        name="fusion",
        title="Karpathy et al. 2014 fusion nets vs a 3D ConvNet (synthetic motion classes)",
        models=(
            ("Single-Frame", "single_frame", {"width": 24}),
            ("Early Fusion", "early_fusion", {"width": 24}),
            ("Late Fusion", "late_fusion", {"width": 24}),
            ("Slow Fusion", "slow_fusion", {"width": 24}),
            ("3D ConvNet (3x3x3)", "c3d_depth3", {"width": 8}),
        ),
        # At 2 of the scratch recipe's 6 epochs the 3D net reaches 98.8 +- 0.3% video hit@1 over 3 seeds; each
        # of its steps costs 4-5x a fusion net's on a CPU (benchmarks/RESULTS.md).
        epoch_share={("scratch", "c3d_depth3"): 1 / 3},
    ),
    "depth": Experiment(
        name="depth",
        title="Tran et al. 2015 temporal kernel depth (synthetic motion classes)",
        models=(
            ("depth-1", "c3d_depth1", {"width": 4}),
            ("depth-3", "c3d_depth3", {"width": 4}),
            ("depth-5", "c3d_depth5", {"width": 4}),
            ("depth-7", "c3d_depth7", {"width": 4}),
            ("increasing 3-3-5-5-7", "c3d_increasing", {"width": 4}),
            ("decreasing 7-5-5-3-3", "c3d_decreasing", {"width": 4}),
        ),
    ),
}


@dataclass(frozen=True)
class Recipe:
    """How every model of an experiment is trained: what it adds to each model's builder arguments, the
    :class:`vidlens.runs.TrainConfig` fields it sets, and the default budget on the synthetic data."""

    name: str
    description: str
    model_kwargs: dict[str, Any]
    train: dict[str, Any]
    # Defaults at scale 1 (``scale`` multiplies both): synthetic videos per class and epochs.
    videos_per_class: int
    epochs: int
    # Linear warm-up as a fraction of the epochs (0: none).
    warmup: float = 0.0

    def budget(self, epochs: int) -> dict[str, Any]:
        """The TrainConfig fields of this recipe for a run of ``epochs`` epochs."""
        fields = {"epochs": epochs, "batch_size": 8, **self.train}
        if self.warmup:
            fields["warmup_epochs"] = round(self.warmup * epochs, 3)
        if fields.get("schedule", "step") == "step":
            fields["lr_steps"] = (max(1, round(2 * epochs / 3)),)  # lr / 10 for the last third
        return fields


RECIPES: dict[str, Recipe] = {
    # What trains the small nets from scratch, found by benchmarks/diagnose_training.py (benchmarks/RESULTS.md,
    # "Why the nets did not learn"): batch normalisation after every conv and fc6/fc7 (instead of the fusion
    # nets' LRN), no dropout, AdamW, a short warm-up and a cosine decay, and enough videos that the nets that
    # see few frames learn motion instead of memorising their training videos.
    "scratch": Recipe(
        name="scratch",
        description="from scratch: BatchNorm, no dropout, AdamW lr 3e-4 (weight decay 0.05), warm-up + cosine",
        model_kwargs={"norm": "batch", "dropout": 0.0},
        train={"optimizer": "adamw", "lr": 3e-4, "weight_decay": 0.05, "schedule": "cosine"},
        videos_per_class=768,
        epochs=6,
        warmup=0.05,
    ),
    # The papers' recipe (SGD, momentum 0.9, weight decay 0.005, lr / 10 late; the nets as published: LRN in
    # the fusion nets, dropout 0.5) fitted to a CPU budget of ~400 steps with a higher rate, 0.03, and the
    # gradients' norm clipped to 1 (without clipping these BN-free nets died in their first steps at lr 0.01;
    # at 0.003 they had not left the plateau in 200 steps). Kept for the papers' scale: on the small
    # synthetic budget most nets never leave the plateau (benchmarks/RESULTS.md).
    "paper": Recipe(
        name="paper",
        description="the papers': SGD lr 0.03 (momentum 0.9, weight decay 0.005), lr / 10 for the last third",
        model_kwargs={},
        train={"optimizer": "sgd", "lr": 0.03, "grad_clip": 1.0},
        videos_per_class=32,
        epochs=36,
    ),
}


@dataclass
class SeedRun:
    """One training run of a model: its seed, test metrics and where it lives."""

    seed: int
    clip_hit1: float
    video_hit1: float
    video_hit5: float
    train_loss: float
    train_acc: float
    seconds: float  # training time: the sum of its epochs (evaluation not included)
    run_dir: str


@dataclass
class ModelRow:
    """A model's line of the table: means over its seeds' runs, and their standard deviations."""

    label: str
    model: str
    clip_hit1: float
    video_hit1: float
    video_hit5: float
    train_loss: float
    train_acc: float
    params: int
    macs: int
    seconds: float  # training time of all its runs together
    epochs: int = 0  # epochs per run
    # Population standard deviations over the seeds (0 for one seed).
    clip_hit1_std: float = 0.0
    video_hit1_std: float = 0.0
    video_hit5_std: float = 0.0
    runs: list[SeedRun] = field(default_factory=list)

    @classmethod
    def of(
        cls, label: str, model: str, runs: list[SeedRun], params: int, macs: int, epochs: int = 0
    ) -> ModelRow:
        def mean(key: str) -> float:
            return statistics.fmean(getattr(r, key) for r in runs)

        def std(key: str) -> float:
            return statistics.pstdev(getattr(r, key) for r in runs)

        return cls(
            label=label,
            model=model,
            clip_hit1=mean("clip_hit1"),
            video_hit1=mean("video_hit1"),
            video_hit5=mean("video_hit5"),
            train_loss=mean("train_loss"),
            train_acc=mean("train_acc"),
            params=params,
            macs=macs,
            seconds=sum(r.seconds for r in runs),
            epochs=epochs,
            clip_hit1_std=std("clip_hit1"),
            video_hit1_std=std("video_hit1"),
            video_hit5_std=std("video_hit5"),
            runs=list(runs),
        )


@dataclass
class ExperimentResult:
    experiment: str
    title: str
    settings: dict[str, Any]
    rows: list[ModelRow] = field(default_factory=list)
    seconds: float = 0.0

    def table(self) -> str:
        """The paper-style table (percentages; "mean +- std" over the seeds when there are several)."""
        several = any(len(r.runs) > 1 for r in self.rows)
        w = 15 if several else 11

        def cell(mean: float, std: float) -> str:
            return f"{100 * mean:.1f} +- {100 * std:.1f}" if several else f"{100 * mean:.1f}"

        head = (
            f"{'Model':<24} {'Clip Hit@1':>{w}} {'Video Hit@1':>{w}} {'Video Hit@5':>{w}} {'params':>8} {'MACs':>7} "
            f"{'epochs':>6} {'train':>7}"
        )
        lines = [self.title, head, "-" * len(head)]
        for r in self.rows:
            lines.append(
                f"{r.label:<24} {cell(r.clip_hit1, r.clip_hit1_std):>{w}} {cell(r.video_hit1, r.video_hit1_std):>{w}} "
                f"{cell(r.video_hit5, r.video_hit5_std):>{w}} {r.params / 1e6:>7.2f}M {r.macs / 1e9:>6.2f}G "
                f"{r.epochs:>6} {r.seconds / max(len(r.runs), 1) / 60:>5.1f}min"
            )
        if several:
            seeds = sorted({run.seed for r in self.rows for run in r.runs})
            lines.append(
                f"(mean +- standard deviation over seeds {', '.join(map(str, seeds))}; train: per run)"
            )
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "table": self.table()}


def reproduce(
    name: str,
    out: str | Path = "runs/reproduce",
    *,
    recipe: str = "scratch",
    data: str | Path | None = None,
    seeds: int = 1,
    scale: int = 1,
    seed: int = 0,
    epochs: int | None = None,
    videos_per_class: int | None = None,
    models: list[str] | None = None,
    workers: int = 2,
    frame_cache: str | Path | None = "auto",
    device: str = "auto",
    progress: bool = True,
) -> ExperimentResult:
    """Run experiment ``name`` ("fusion" or "depth") under ``out``; return (and write) its table.

    ``recipe`` is how every model is trained (:data:`RECIPES`): ``"scratch"`` (BatchNorm, no dropout, AdamW
    with warm-up and cosine decay) by default, ``"paper"`` for the papers' SGD recipe and nets. ``data`` is
    any dataset vidlens reads (UCF101 or HMDB51 split files, class folders; see
    :func:`vidlens.data.load_videos`); by default the built-in synthetic motion data is made under ``out``
    (4 classes x the recipe's videos per class x ``scale``, 32 frames of 112x112; ``videos_per_class``
    overrides the count). Every model is trained ``seeds`` times, with seeds ``seed``, ``seed + 1``, ...
    (other initialisation and clip sampling, the same data), for the recipe's epochs x ``scale`` (``epochs``
    overrides) of batches of 8 clips; the table gives the mean and standard deviation over the seeds.
    ``models`` keeps only the rows of these registry names. ``frame_cache`` is where every video is decoded
    once for all the runs (:class:`vidlens.data.cache.FrameCache`); ``"auto"``: ``out/frames`` for the
    synthetic data (1.2 MB per video), none for ``data`` (a real dataset's frames take far more disk; pass a
    directory to cache them too). Datasets and finished runs are reused when rerun
    with the same settings, so an interrupted reproduction continues where it stopped. ``results.json`` and
    ``results.png`` are written atomically into ``out/name``.
    """
    from vidlens.data.datasets import load_videos
    from vidlens.data.synthetic import MotionConfig, make_motion_dataset
    from vidlens.evaluate import evaluate_run
    from vidlens.io import atomic_write_json
    from vidlens.runs import TrainConfig
    from vidlens.train import train

    if name not in EXPERIMENTS:
        raise KeyError(f"unknown experiment {name!r}; choose from {', '.join(EXPERIMENTS)}")
    if recipe not in RECIPES:
        raise KeyError(f"unknown recipe {recipe!r}; choose from {', '.join(RECIPES)}")
    if scale < 1:
        raise ValueError(f"scale must be >= 1, got {scale}")
    if seeds < 1:
        raise ValueError(f"seeds must be >= 1 (runs per model), got {seeds}")
    experiment, how = EXPERIMENTS[name], RECIPES[recipe]
    rows = [m for m in experiment.models if models is None or m[1] in models]
    if models is not None and len(rows) != len(set(models)):
        known = [m[1] for m in experiment.models]
        raise ValueError(
            f"models must be among the {name} experiment's {', '.join(known)}; got {', '.join(models)}"
        )
    out = Path(out)
    t0 = time.perf_counter()
    n_epochs = epochs if epochs is not None else how.epochs * scale
    if data is None:
        per_class = videos_per_class if videos_per_class is not None else how.videos_per_class * scale
        data_config = MotionConfig(
            num_classes=4, videos_per_class=per_class, frames=32, height=112, width=112, seed=seed
        )
        dataset = make_motion_dataset(out / f"data_{per_class}x4_seed{seed}", data_config, progress=progress)
        root, classes, tag = dataset.root, dataset.class_names, f"{per_class}x4"
        data_settings: dict[str, Any] = asdict(data_config)
        # Native 112x112 frames, no flips: a mirrored MoveLeft video is a MoveRight one.
        frames = {"size": (112, 112), "crop": 112, "flip_p": 0.0}
    else:
        if videos_per_class is not None:
            raise ValueError(
                "videos_per_class sizes the synthetic data; with data=..., the dataset's split decides"
            )
        root = Path(data).expanduser().resolve()
        classes = load_videos(root, subset="train").classes  # fails early, with the layout's own message
        tag = "data"
        data_settings = {"root": str(root), "num_classes": len(classes)}
        frames = {"flip_p": 0.5}  # the preset's 128x171 frames and 112 crops, C3D's flips
    if frame_cache == "auto":
        frame_cache = out / "frames" if data is None else None
    budget = {
        **how.budget(n_epochs),
        **frames,
        "clip_len": 16,
        "eval_clips": 3,
        "workers": workers,
        "frame_cache": None if frame_cache is None else str(frame_cache),
        "device": device,
    }
    result = ExperimentResult(
        experiment=name,
        title=experiment.title,
        settings={
            "recipe": {"name": how.name, "description": how.description, "model_kwargs": how.model_kwargs},
            "data": data_settings,
            "budget": dict(budget),
            "scale": scale,
            "seeds": list(range(seed, seed + seeds)),
        },
    )
    suffix = "" if recipe == "paper" else f"_{recipe}"  # the paper recipe keeps its earlier run names
    for label, model_name, base_kwargs in rows:
        kwargs = {**base_kwargs, **how.model_kwargs}
        row_epochs = experiment.epochs(recipe, model_name, n_epochs)
        row_budget = {**budget, **how.budget(row_epochs)}
        runs = []
        for s in range(seed, seed + seeds):
            run_dir = out / name / f"{model_name}_{tag}_e{row_epochs}{suffix}_seed{s}"
            config = TrainConfig(
                data=str(root), model=model_name, model_kwargs=dict(kwargs), seed=s, **row_budget
            )
            if progress:
                print(f"[{name}] {label}, seed {s}: training {model_name} {kwargs} -> {run_dir}", flush=True)
            trained = train(config, run_dir, resume=(run_dir / "config.json").exists(), progress=progress)
            metrics = evaluate_run(run_dir, progress=progress)
            last = trained.history[-1] if trained.history else {}
            runs.append(
                SeedRun(
                    seed=s,
                    clip_hit1=metrics.clip_hit1,
                    video_hit1=metrics.video_hit1,
                    video_hit5=metrics.video_hit5,
                    train_loss=float(last.get("loss", float("nan"))),
                    train_acc=float(last.get("accuracy", float("nan"))),
                    seconds=sum(h["seconds"] for h in trained.history),
                    run_dir=str(run_dir),
                )
            )
        params, macs = _complexity(model_name, kwargs, len(classes))
        result.rows.append(ModelRow.of(label, model_name, runs, params, macs, row_epochs))
    result.seconds = time.perf_counter() - t0
    atomic_write_json(out / name / "results.json", result.to_dict())
    _figure(result, out / name / "results.png")
    return result


def _complexity(model_name: str, kwargs: dict[str, Any], num_classes: int) -> tuple[int, int]:
    """Parameters and multiply-adds per clip of the model as trained (built on ``meta``: instant)."""
    import torch

    from vidlens.models import count_macs, count_parameters, create_model

    with torch.device("meta"):
        model = create_model(model_name, num_classes=num_classes, **kwargs)
    return count_parameters(model), count_macs(model, (1, *model.spec.input_shape))


def _figure(result: ExperimentResult, path: Path) -> None:
    """Bars of test accuracy per model, next to each model's training loss per epoch."""
    from vidlens.viz import reproduction_figure, save_figure

    histories = []
    for r in result.rows:
        log = Path(r.runs[0].run_dir) / "log.jsonl"  # the first seed's curve
        lines = log.read_text().splitlines() if log.is_file() else []
        histories.append([json.loads(line) for line in lines if line.strip()])
    figure = reproduction_figure(
        [r.label for r in result.rows],
        [r.clip_hit1 for r in result.rows],
        [r.video_hit1 for r in result.rows],
        histories,
        title=result.title,
        chance=1 / result.settings["data"]["num_classes"],
    )
    save_figure(figure, path)
