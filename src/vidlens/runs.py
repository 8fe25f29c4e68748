"""Training runs on disk: the typed config and loading a trained model.

A run directory holds::

    RUN/config.json       TrainConfig + class names + vidlens version (written first)
    RUN/checkpoint.pt     latest full state for --resume: model, optimiser, epoch, RNG states
    RUN/model.pt          the trained weights alone (a plain state dict; load_weights reads it)
    RUN/log.jsonl         one JSON object per epoch
    RUN/curves.png        training curves
    RUN/metrics.json      what `vidlens evaluate` measured
    RUN/confusion.png     its confusion matrix

Every file is written atomically (a temporary file in the same directory, then a rename), so a run killed
at any moment leaves either the old file or the new one, never half of one.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vidlens import __version__
from vidlens.io import atomic_write_text
from vidlens.presets import PRESETS, Preset, get_preset, override
from vidlens.runtime import Precision, check_precision

__all__ = [
    "TrainConfig",
    "build_model",
    "build_optimizer",
    "is_run",
    "load_config",
    "load_run_model",
    "lr_factor",
    "run_weights",
    "save_config",
]

#: Optimisers a run can use (TrainConfig.optimizer).
OPTIMIZERS = ("sgd", "adamw")
#: Learning-rate schedules (TrainConfig.schedule).
SCHEDULES = ("step", "cosine")

CONFIG = "config.json"
CHECKPOINT = "checkpoint.pt"
WEIGHTS = "model.pt"
LOG = "log.jsonl"
METRICS = "metrics.json"


@dataclass
class TrainConfig:
    """Everything a training run depends on; saved as RUN/config.json. Defaults: the C3D recipe
    (Tran et al. 2015, section 3.3) at a batch size that fits a CPU; the CLI maps its flags onto these."""

    # Dataset root: UCF101 layout (class folders + splits/), HMDB51 split files, or plain class folders.
    data: str = ""
    # Layout of `data`: "auto" detects it (see vidlens.data.load_videos).
    layout: str = "auto"
    # Which official split (1-3) to train on and evaluate.
    split: int = 1
    # Registry name of the model (vidlens models lists them).
    model: str = "c3d"
    # Extra keyword arguments for the model builder, e.g. {"width": 16}.
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    # Checkpoint or foreign weights to start from (fine-tuning); the classifier is renewed if needed.
    init: str | None = None
    # Passes over the training videos; each pass draws one random clip per video.
    epochs: int = 16
    # Clips per mini-batch: 30 in the paper; smaller fits a CPU.
    batch_size: int = 30
    # Peak learning rate: 0.003 in C3D.
    lr: float = 0.003
    # How it changes: "step" (C3D's: multiplied by `lr_gamma` at each epoch of `lr_steps`) or "cosine" (half a
    # cosine from `lr` down to 0 over the run, updated every step: Loshchilov & Hutter 2017 without restarts;
    # `lr_steps` is then unused). See `lr_factor`.
    schedule: str = "step"
    lr_steps: tuple[int, ...] = (4, 8, 12)
    lr_gamma: float = 0.1
    # Epochs (fractions allowed) over which the rate first rises linearly from 0, step by step; 0: none.
    warmup_epochs: float = 0.0
    # "sgd" (C3D's Caffe solver: momentum 0.9, weight decay 0.005) or "adamw" (Loshchilov & Hutter 2019;
    # `momentum` is then its beta1, `weight_decay` its decoupled decay), which with norm="batch" models
    # trains the small nets from scratch (benchmarks/RESULTS.md, issue 10).
    optimizer: str = "sgd"
    momentum: float = 0.9
    weight_decay: float = 0.005
    # Clip the gradients' global L2 norm to this value before each step; None (C3D's recipe) does not.
    # Small BN-free nets trained from scratch at a high rate can die in their first steps (every ReLU of a
    # layer off, a constant output): clipping bounds those steps.
    grad_clip: float | None = None
    # Frames per clip (C3D: 16).
    clip_len: int = 16
    # Frame size clips are cut from and the side of their square crops; None: the preset's (C3D: 128x171
    # and 112, as every built-in preset has them).
    size: tuple[int, int] | None = None
    crop: int | None = None
    # Horizontal flip probability while training.
    flip_p: float = 0.5
    # Preprocessing preset (vidlens.presets). None: the preset of the `init` weights when fine-tuning (what
    # their features were learnt with: sports1m for C3D's Sports-1M port), else "plain".
    preset: str | None = None
    # Evenly spaced clips per video when evaluating (video hit@k averages their predictions).
    eval_clips: int = 10
    # DataLoader worker processes (decoding runs there, overlapped with the model).
    workers: int = 2
    # Directory where every video is decoded once, at the clip frame size, and clips are then cut from the
    # stored frames (vidlens.data.cache.FrameCache: the same clips, no decoding after the first epoch, T x H
    # x W x 3 bytes of disk per video). None decodes the file for every clip.
    frame_cache: str | None = None
    # "auto" (CUDA if available, else CPU), "cpu", "cuda", "cuda:1", ...
    device: str = "auto"
    # Autocast precision (vidlens.runtime): "auto" is bf16 on recent GPUs, fp16 with loss scaling on older
    # ones, fp32 on the CPU; "fp32", "bf16" (CPU too, slowly) and "fp16" (CUDA only) force one.
    precision: Precision = "auto"
    # channels_last_3d memory format for Conv3d weights and clips: used on CUDA only.
    channels_last: bool = True
    # Seed of every random choice (clips, crops, flips, init, shuffling).
    seed: int = 0

    def __post_init__(self) -> None:
        if self.size is not None:
            self.size = tuple(self.size)  # type: ignore[assignment]
        self.lr_steps = tuple(self.lr_steps)
        for name in ("epochs", "batch_size", "clip_len", "crop", "eval_clips"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.workers < 0:
            raise ValueError(f"workers must be >= 0, got {self.workers}")
        if self.grad_clip is not None and self.grad_clip <= 0:
            raise ValueError(f"grad_clip must be positive (or None for no clipping), got {self.grad_clip}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}")
        if self.lr <= 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}")
        if not 0 <= self.warmup_epochs <= self.epochs:
            raise ValueError(
                f"warmup_epochs must be in [0, epochs = {self.epochs}], got {self.warmup_epochs}; 0 for no warm-up"
            )
        check_precision(self.precision)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def run_preset(self) -> Preset:
        """The recipe the run trains with: its preset, at its frame size and crop (the one
        :func:`vidlens.models.load_model` gives the trained model)."""
        return override(
            get_preset(self.preset or "plain"),
            **{k: getattr(self, k) for k in ("size", "crop") if getattr(self, k) is not None},
        )

    def resolved(self) -> TrainConfig:
        """This config with ``preset``, ``size`` and ``crop`` filled in: what a run directory records.

        The preset is the given one, else the ``init`` weights' (their recorded recipe, or their
        architecture's published one), else ``plain``; size and crop default to the preset's.
        """
        base = get_preset(self.preset) if self.preset is not None else _init_preset(self)
        if base.name not in PRESETS:
            raise ValueError(
                f"the init weights use a preset called {base.name!r}, which is not built in; choose one with "
                f"--preset ({', '.join(PRESETS)})"
            )
        size = self.size if self.size is not None else base.size
        crop = self.crop if self.crop is not None else base.crop
        resolved = replace(self, preset=base.name, size=size, crop=crop)
        # A run records a built-in name, a size and a crop: the init's recipe must be one of those, else the
        # run would silently train with another normalisation (or frame size) than its weights learnt with.
        wanted, recorded = override(base, size=size, crop=crop), resolved.run_preset()
        differ = [k for k, v in wanted.to_dict().items() if k != "description" and v != recorded.to_dict()[k]]
        if differ:
            raise ValueError(
                f"the init weights use a preset called {base.name!r} whose {', '.join(differ)} differ from the "
                f"built-in one, which a run cannot record; choose one with --preset ({', '.join(PRESETS)})"
            )
        return resolved

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """The config a ``to_dict`` dict describes; configs of earlier versions load too (their ``amp``
        flag becomes ``precision``: True "auto", False "fp32")."""
        data = dict(data)
        if "amp" in data:
            amp = data.pop("amp")
            data.setdefault("precision", "auto" if amp else "fp32")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown TrainConfig fields {unknown}; known fields: {sorted(known)}")
        return cls(**data)


def save_config(run_dir: str | os.PathLike, config: TrainConfig, classes: list[str]) -> Path:
    payload = {"vidlens": __version__, "config": config.to_dict(), "classes": list(classes)}
    text = json.dumps(payload, indent=2) + "\n"
    return atomic_write_text(Path(run_dir) / CONFIG, text)


def _run_payload(path: Path) -> dict[str, Any] | None:
    """What ``path`` (a config.json) holds if `vidlens train` wrote it, else None (another project's)."""
    try:
        payload = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    ours = isinstance(payload, dict) and isinstance(payload.get("config"), dict) and "classes" in payload
    return payload if ours else None


def is_run(path: str | os.PathLike) -> bool:
    """True when ``path`` is a vidlens run directory: its config.json is one `vidlens train` wrote (a
    folder of foreign weights often has a config.json of its own, e.g. a Hugging Face model's)."""
    return (Path(path) / CONFIG).is_file() and _run_payload(Path(path) / CONFIG) is not None


def load_config(run_dir: str | os.PathLike) -> tuple[TrainConfig, list[str]]:
    """The config and class names of a run; a clear error when ``run_dir`` is not a run."""
    path = Path(run_dir) / CONFIG
    if not path.is_file():
        raise FileNotFoundError(
            f"{run_dir} is not a vidlens run: {CONFIG} is missing (train one with `vidlens train`)"
        )
    payload = _run_payload(path)
    if payload is None:
        raise ValueError(
            f"{run_dir} is not a vidlens run: its {CONFIG} was not written by `vidlens train` (it has no "
            "'config' and 'classes'); to load weights from it, give the file and the model's name"
        )
    return TrainConfig.from_dict(payload["config"]), list(payload["classes"])


def _init_preset(config: TrainConfig) -> Preset:
    """The preset of ``config.init`` (read from the file without building the model), else plain."""
    if not config.init:
        return PRESETS["plain"]
    from vidlens.models import read_weights
    from vidlens.models.contract import model_spec

    _, record = read_weights(config.init)
    if record is not None:
        return record.preset
    with torch.device("meta"):  # the spec only
        spec = model_spec(build_model(config, 2))
    return PRESETS[spec.published_preset] if spec is not None else PRESETS["plain"]


def run_weights(run_dir: str | os.PathLike) -> Path:
    """The file holding a run's trained weights: ``model.pt``, else the latest ``checkpoint.pt``."""
    for name in (WEIGHTS, CHECKPOINT):
        if (Path(run_dir) / name).is_file():
            return Path(run_dir) / name
    raise FileNotFoundError(f"{run_dir} has neither {WEIGHTS} nor {CHECKPOINT}: was training started?")


def build_optimizer(config: TrainConfig, model: nn.Module) -> torch.optim.Optimizer:
    """The optimiser ``config`` names, over ``model``'s parameters: what training (and its benchmark) uses."""
    if config.optimizer == "adamw":
        return torch.optim.AdamW(
            model.parameters(), lr=config.lr, betas=(config.momentum, 0.999), weight_decay=config.weight_decay
        )
    return torch.optim.SGD(
        model.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
    )


def lr_factor(config: TrainConfig, epoch: int, step: int = 0, steps: int = 1) -> float:
    """What the learning rate is multiplied by for step ``step`` (0-based) of ``steps`` in epoch ``epoch``
    (0-based): ``config.lr * lr_factor(...)`` is the rate that step uses, a function of where it falls in the
    run alone (so a resumed run, or one whose batch size changed, follows the same curve).

    * ``step``: ``lr_gamma`` to the power of the ``lr_steps`` epochs already reached, constant within an epoch
      (C3D's recipe: 0.1 at each of epochs 4, 8 and 12, Tran et al. 2015, section 3.3);
    * ``cosine``: ``(1 + cos(pi * p)) / 2``, where ``p`` is the fraction of the run done before the step;
    * either times ``min(1, e / warmup_epochs)`` (linear warm-up), ``e`` the epochs done after the step.
    """
    if config.schedule == "cosine":
        done = (epoch + step / steps) / config.epochs
        factor = 0.5 * (1.0 + math.cos(math.pi * min(done, 1.0)))
    else:
        factor = config.lr_gamma ** sum(epoch >= m for m in config.lr_steps)
    if config.warmup_epochs > 0:
        factor *= min(1.0, (epoch + (step + 1) / steps) / config.warmup_epochs)
    return factor


def build_model(config: TrainConfig, num_classes: int) -> nn.Module:
    """The model a config describes, freshly initialised."""
    from vidlens.models import create_model

    return create_model(config.model, num_classes=num_classes, **config.model_kwargs)


def load_run_model(
    run_dir: str | os.PathLike, map_location: str | torch.device = "cpu"
) -> tuple[nn.Module, TrainConfig, list[str]]:
    """A run's trained model (as :func:`vidlens.models.load_model` gives it), config and class names."""
    from vidlens.models import load_model

    config, classes = load_config(run_dir)
    return load_model(run=run_dir, map_location=map_location), config, classes
