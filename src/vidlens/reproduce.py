"""Reproduce the seeds' two comparisons on the synthetic motion dataset, with one command each.

* ``fusion``: Karpathy et al. 2014's single-frame, early, late and slow fusion nets against a C3D-style 3D
  ConvNet (homogeneous 3x3x3 kernels), reported as the lecture's table: clip hit@1, video hit@1, video hit@5.
* ``depth``: Tran et al. 2015's temporal-depth experiment (section 3.2, figure 2): 5-layer nets with conv
  kernel depth 1, 3, 5, 7, increasing (3-3-5-5-7) and decreasing (7-5-5-3-3).

Every model of an experiment is trained with the same data, budget (epochs, batch size, learning-rate
schedule) and seed, then evaluated on the held-out test split. The synthetic classes are motion directions
(every single frame is independent of the class), so the expected outcome is that ``single_frame`` stays
near chance while models that convolve over time do far better. Whatever the runs show is reported as is.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["EXPERIMENTS", "Experiment", "ExperimentResult", "reproduce"]


@dataclass(frozen=True)
class Experiment:
    """One comparison: which models, at which width, and how the table is titled."""

    name: str
    title: str
    # (label shown in the table, registry name, builder keyword arguments)
    models: tuple[tuple[str, str, dict[str, Any]], ...]


# Widths are small so that the default budget runs on a 2-core CPU in about a quarter of an hour per
# experiment (the depth experiment trains six nets, hence width 4: 16-32-64-64-64 filters); every model of
# an experiment is trained identically.
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


@dataclass
class ModelRow:
    label: str
    model: str
    clip_hit1: float
    video_hit1: float
    video_hit5: float
    train_loss: float
    train_acc: float
    params: int
    macs: int
    seconds: float
    run_dir: str


@dataclass
class ExperimentResult:
    experiment: str
    title: str
    settings: dict[str, Any]
    rows: list[ModelRow] = field(default_factory=list)
    seconds: float = 0.0

    def table(self) -> str:
        """The paper-style table (percentages)."""
        head = f"{'Model':<24} {'Clip Hit@1':>10} {'Video Hit@1':>11} {'Video Hit@5':>11} {'params':>8} {'MACs':>7}"
        lines = [self.title, head, "-" * len(head)]
        for r in self.rows:
            lines.append(
                f"{r.label:<24} {100 * r.clip_hit1:>10.1f} {100 * r.video_hit1:>11.1f} {100 * r.video_hit5:>11.1f} "
                f"{r.params / 1e6:>7.2f}M {r.macs / 1e9:>6.2f}G"
            )
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "table": self.table()}


def reproduce(
    name: str,
    out: str | Path = "runs/reproduce",
    *,
    scale: int = 1,
    seed: int = 0,
    epochs: int | None = None,
    videos_per_class: int | None = None,
    workers: int = 2,
    device: str = "auto",
    progress: bool = True,
) -> ExperimentResult:
    """Run experiment ``name`` ("fusion" or "depth") under ``out``; return (and write) its table.

    ``scale`` multiplies the number of videos per class and the number of epochs (default: 4 classes x 32
    videos of 32 frames at 112x112, 36 epochs of batches of 8 clips, lr 0.01 then 0.001 for the last
    third); ``epochs`` and ``videos_per_class`` override them. Datasets and finished runs are reused when
    rerun with the same settings, so an interrupted reproduction continues where it stopped.
    """
    from vidlens.data.synthetic import MotionConfig, make_motion_dataset
    from vidlens.evaluate import evaluate_run
    from vidlens.runs import TrainConfig
    from vidlens.train import train

    if name not in EXPERIMENTS:
        raise KeyError(f"unknown experiment {name!r}; choose from {', '.join(EXPERIMENTS)}")
    if scale < 1:
        raise ValueError(f"scale must be >= 1, got {scale}")
    experiment = EXPERIMENTS[name]
    out = Path(out)
    t0 = time.perf_counter()
    per_class = videos_per_class if videos_per_class is not None else 32 * scale
    data_config = MotionConfig(
        num_classes=4, videos_per_class=per_class, frames=32, height=112, width=112, seed=seed
    )
    dataset = make_motion_dataset(out / f"data_{per_class}x4_seed{seed}", data_config, progress=progress)
    n_epochs = epochs if epochs is not None else 36 * scale
    budget = {
        "epochs": n_epochs,
        "batch_size": 8,
        # C3D's recipe (SGD, momentum 0.9, weight decay 0.005, lr divided by 10 late) fitted to a CPU budget
        # of ~400 steps: a higher rate, 0.03, with the gradients' norm clipped to 1. Without clipping these
        # BN-free nets died in their first steps at lr 0.01 (conv5 all zero, constant output, loss ln 4);
        # with lr 0.003 they had not left the plateau in 200 steps. See benchmarks/RESULTS.md.
        "lr": 0.03,
        "grad_clip": 1.0,
        "lr_steps": (max(1, round(2 * n_epochs / 3)),),
        # No flips: a mirrored MoveLeft video is a MoveRight one, so flipping would corrupt the labels.
        "flip_p": 0.0,
        "size": (112, 112),
        "crop": 112,
        "clip_len": 16,
        "eval_clips": 3,
        "workers": workers,
        "device": device,
        "seed": seed,
    }
    result = ExperimentResult(
        experiment=name,
        title=experiment.title,
        settings={"data": asdict(data_config), "budget": dict(budget), "scale": scale},
    )
    for label, model_name, kwargs in experiment.models:
        run_dir = out / name / f"{model_name}_{per_class}x4_e{budget['epochs']}_seed{seed}"
        config = TrainConfig(data=str(dataset.root), model=model_name, model_kwargs=dict(kwargs), **budget)
        t1 = time.perf_counter()
        if progress:
            print(f"[{name}] {label}: training {model_name} {kwargs} -> {run_dir}", flush=True)
        trained = train(config, run_dir, resume=(run_dir / "config.json").exists(), progress=progress)
        metrics = evaluate_run(run_dir, progress=progress)
        params, macs = _complexity(model_name, kwargs, len(dataset.class_names))
        last = trained.history[-1] if trained.history else {}
        result.rows.append(
            ModelRow(
                label=label,
                model=model_name,
                clip_hit1=metrics.clip_hit1,
                video_hit1=metrics.video_hit1,
                video_hit5=metrics.video_hit5,
                train_loss=float(last.get("loss", float("nan"))),
                train_acc=float(last.get("accuracy", float("nan"))),
                params=params,
                macs=macs,
                seconds=time.perf_counter() - t1,
                run_dir=str(run_dir),
            )
        )
    result.seconds = time.perf_counter() - t0
    (out / name).mkdir(parents=True, exist_ok=True)
    (out / name / "results.json").write_text(json.dumps(result.to_dict(), indent=2) + "\n")
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
        log = Path(r.run_dir) / "log.jsonl"
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
