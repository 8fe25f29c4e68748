"""Training: the C3D recipe on one device, or on several under torchrun (DistributedDataParallel).

    from vidlens.runs import TrainConfig
    from vidlens.train import train
    result = train(TrainConfig(data="UCF101", model="c3d_depth3", epochs=16), "runs/depth3")
    result = train(config, "runs/depth3", resume=True)  # continue from the last completed epoch

The recipe (Tran et al. 2015, section 3.3): every epoch draws one random clip of every training video
(random crop, random flip), SGD with momentum and weight decay on the cross-entropy, learning rate divided
by ``lr_gamma`` at the epochs of ``lr_steps``. ``optimizer="adamw"``, ``schedule="cosine"`` and
``warmup_epochs`` give the from-scratch recipe of ``vidlens reproduce`` (:data:`vidlens.reproduce.RECIPES`).
What a run directory holds is described in :mod:`vidlens.runs`; every file in it is written by rank 0 alone, atomically.

Exact resumption. The random clip, crop and flip of an item are a function of (seed, epoch, video index)
alone: the dataset is reseeded for every item (:class:`_SeededClips`), and the order of an epoch comes
from ``DistributedSampler``, which reseeds its generator with ``seed + epoch``. So neither depends on how
many epochs ran in this process, on the number of DataLoader workers, or on which process decodes which
video. The only other randomness (dropout) comes from the global torch generator, saved with numpy's and
Python's in every checkpoint. (No DataLoader generator state needs saving: nothing drawn from it reaches
the clips.) A run stopped after epoch k and resumed therefore ends, on the CPU, with the very weights and
log of a run that never stopped.

Distributed data parallel. Under ``torchrun --nproc-per-node N -m vidlens train ...`` (``WORLD_SIZE`` > 1)
each process drives one device (``LOCAL_RANK``); ``batch_size`` stays the global batch (the recipe's 30
whatever N is), each process taking ``batch_size / N`` clips of the same shuffled order. The loss is
normalised by the global clip count, so a step's gradient is the gradient of the global batch's mean loss,
the same as one process would compute on the whole batch. When N does not divide the number of videos,
DistributedSampler repeats up to N - 1 of them per epoch so that every process takes as many steps.

Device and precision. ``config.device``, ``config.precision`` and ``config.channels_last`` make the
:class:`vidlens.runtime.Runtime` every step runs in: on CUDA bf16 autocast by default (fp16 with a gradient
scaler, saved in the checkpoint, on GPUs without native bf16), fp32 on the CPU.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, Sampler
from torch.utils.data.distributed import DistributedSampler
from tqdm.auto import tqdm

from vidlens.data.datasets import ClipBatch, ClipDataset, VideoList, collate_clips, load_videos
from vidlens.io import atomic_save, atomic_write
from vidlens.models.weights import WeightsRecord, weights_payload
from vidlens.runs import (
    CHECKPOINT,
    CONFIG,
    LOG,
    WEIGHTS,
    TrainConfig,
    build_model,
    build_optimizer,
    load_config,
    lr_factor,
    save_config,
)
from vidlens.runtime import Runtime, select_device
from vidlens.viz import save_figure, training_curves

__all__ = ["TrainResult", "train", "train_step"]

CURVES = "curves.png"
# Identifies the checkpoint layout; bump it when the keys change.
_FORMAT = "vidlens.train/1"
# Settings that make a run what it is: resuming with other values is refused. Everything else (epochs,
# batch size, workers, device, precision, ...) may change between sessions of a run.
_IDENTITY = ("model", "model_kwargs", "data", "layout", "split")
# The optimiser and schedule live in the checkpoint; another recipe is a new run (fine-tune with --init).
_RECIPE = (
    "optimizer", "lr", "schedule", "lr_steps", "lr_gamma", "warmup_epochs", "momentum", "weight_decay", "grad_clip"
)  # fmt: skip
# Progress-bar refreshes read the loss back from the device, which waits for it: do it every few steps.
_BAR_EVERY = 10


@dataclass
class TrainResult:
    """What :func:`train` did. ``history`` holds the run's ``log.jsonl`` records, resumed epochs included."""

    run_dir: Path
    epochs: int  # epochs completed, all sessions together
    history: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0  # wall time of this call
    skipped_clips: int = 0  # clips whose video could not be decoded, over every epoch
    loss: float = float("nan")  # last epoch's mean training loss
    accuracy: float = float("nan")  # last epoch's training clip hit@1
    rank: int = 0  # this process's rank under torchrun (0 alone): print results where it is 0

    @property
    def clips_per_s(self) -> list[float]:
        """Training throughput of every epoch (global: all processes together)."""
        return [h["clips_per_s"] for h in self.history]


# --------------------------------------------------------------------------------------------------------
# One step
# --------------------------------------------------------------------------------------------------------


def train_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    clips: torch.Tensor,
    labels: torch.Tensor,
    *,
    normalizer: float | None = None,
    runtime: Runtime | None = None,
    scaler: torch.amp.GradScaler | None = None,
    grad_clip: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One SGD step on a batch already on the model's device; the loss is the mean cross-entropy.

    ``normalizer`` divides the summed loss (default: the batch size, i.e. the mean); distributed training
    passes ``global clips / processes`` so that DDP's gradient average is the global batch's mean.
    ``runtime`` gives the autocast precision (default: fp32); ``scaler`` (fp16: :meth:`Runtime.scaler`)
    scales the loss. ``grad_clip`` rescales the gradients so that their global L2 norm is at most that value.
    Returns ``(summed loss, correct predictions)`` as 0-d tensors on the device, without waiting for them.
    """
    n = normalizer if normalizer is not None else len(labels)
    runtime = runtime if runtime is not None else Runtime(clips.device)
    with runtime.autocast():
        logits = model(clips)  # (N, num_classes)
        loss_sum = F.cross_entropy(logits.float(), labels, reduction="sum")
    optimizer.zero_grad(set_to_none=True)
    if scaler is not None:
        scaler.scale(loss_sum / n).backward()
        if grad_clip is not None:
            scaler.unscale_(optimizer)
            _clip_gradients(optimizer, grad_clip)
        scaler.step(optimizer)
        scaler.update()
    else:
        (loss_sum / n).backward()
        if grad_clip is not None:
            _clip_gradients(optimizer, grad_clip)
        optimizer.step()
    correct = (logits.detach().argmax(1) == labels).sum()
    return loss_sum.detach(), correct


def _clip_gradients(optimizer: torch.optim.Optimizer, max_norm: float) -> None:
    params = [p for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
    torch.nn.utils.clip_grad_norm_(params, max_norm)


# --------------------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------------------


def _item_seed(seed: int, epoch: int, index: int) -> int:
    return int(np.random.SeedSequence((seed, epoch, index)).generate_state(1, np.uint64)[0])


class _SeededClips(Dataset):
    """A training :class:`ClipDataset` whose item ``(epoch, index)`` draws its clip, crop and flip from a
    generator seeded with (seed, epoch, index): the same clip whichever process or worker loads it."""

    def __init__(self, clips: ClipDataset, seed: int) -> None:
        self.clips = clips
        self.seed = seed

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, key: tuple[int, int]) -> tuple:
        epoch, index = key
        with torch.random.fork_rng(devices=[]):  # leaves the caller's generator (dropout's) alone
            torch.manual_seed(_item_seed(self.seed, epoch, index))
            return self.clips[index]


class _EpochKeys(Sampler):
    """``(epoch, index)`` keys in a DistributedSampler's order, so that workers know the epoch (persistent
    workers hold their own copy of the dataset, which the main process cannot tell about a new epoch)."""

    def __init__(self, order: DistributedSampler) -> None:
        self.order = order
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self.order.set_epoch(epoch)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return ((self.epoch, index) for index in self.order)

    def __len__(self) -> int:
        return len(self.order)


def _check_videos(videos: VideoList, config: TrainConfig) -> None:
    where = f"{config.data} (split {config.split})"
    if len(videos) == 0:
        raise ValueError(f"{where} lists no training videos")
    if len(videos.classes) < 2 or len(set(videos.labels)) < 2:
        found = sorted({videos.classes[label] for label in videos.labels})
        raise ValueError(
            f"training needs at least 2 classes; the training videos of {where} are all of class "
            f"{', '.join(found)}; a classifier of one class learns nothing"
        )


def _loader(
    videos: VideoList, config: TrainConfig, procs: _Processes, device: torch.device
) -> tuple[DataLoader, _EpochKeys]:
    clips = ClipDataset(
        videos,
        train=True,
        clip_len=config.clip_len,
        preset=config.run_preset(),
        flip_p=config.flip_p,
        decode_threads=1,
        cache=config.frame_cache,
        on_error="skip",
    )
    # One process is a world of one: the same seeded shuffle (seed + epoch) as under torchrun, where each
    # process takes every N-th clip of it.
    order = DistributedSampler(
        clips, num_replicas=procs.world, rank=procs.rank, shuffle=True, seed=config.seed, drop_last=False
    )
    keys = _EpochKeys(order)
    loader = DataLoader(
        _SeededClips(clips, config.seed),
        batch_size=config.batch_size // procs.world,
        sampler=keys,
        num_workers=config.workers,
        collate_fn=collate_clips,
        pin_memory=device.type == "cuda",
        drop_last=False,
        persistent_workers=config.workers > 0,
        # Draws the workers' base seeds; a generator of its own keeps them off the global (dropout) one.
        generator=torch.Generator().manual_seed(config.seed),
    )
    return loader, keys


# --------------------------------------------------------------------------------------------------------
# Processes
# --------------------------------------------------------------------------------------------------------


@dataclass
class _Processes:
    """This process's place among the training processes (a world of one without torchrun)."""

    rank: int = 0
    world: int = 1
    group: Any = None  # a gloo group for the small CPU-side exchanges; None: the default group

    @property
    def main(self) -> bool:
        return self.rank == 0

    def sum(self, values: list[float]) -> list[float]:
        """``values`` summed over every process (in float64 on the CPU)."""
        if self.world == 1:
            return list(values)
        total = torch.tensor(values, dtype=torch.float64)
        dist.all_reduce(total, group=self.group)
        return total.tolist()

    def gather(self, obj: Any) -> list[Any]:
        if self.world == 1:
            return [obj]
        out: list[Any] = [None] * self.world
        dist.all_gather_object(out, obj, group=self.group)
        return out

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier(group=self.group)

    def print(self, text: str) -> None:
        if self.main:
            tqdm.write(text)


@contextmanager
def _processes(device_name: str) -> Iterator[tuple[_Processes, torch.device]]:
    """Join the process group torchrun describes (env WORLD_SIZE, RANK, LOCAL_RANK, MASTER_ADDR/PORT) and
    leave it at the end, errors included; a group the caller already set up is used and left alone."""
    device = select_device(device_name)
    joined = dist.is_available() and dist.is_initialized()
    if not joined and int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        yield _Processes(), device
        return
    if device.type == "cuda":  # one device per process: torchrun's LOCAL_RANK, else the rank modulo GPUs
        rank = dist.get_rank() if joined else int(os.environ.get("RANK", "0"))
        local_rank = int(os.environ.get("LOCAL_RANK", rank % torch.cuda.device_count()))
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    if not joined:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    try:
        group = None if dist.get_backend() == "gloo" else dist.new_group(backend="gloo")
        yield _Processes(dist.get_rank(), dist.get_world_size(), group), device
    finally:
        if not joined:
            dist.destroy_process_group()


# --------------------------------------------------------------------------------------------------------
# Random states (stored as tensors and plain Python values: checkpoints are read with weights_only=True)
# --------------------------------------------------------------------------------------------------------


def _seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


def _rng_state(device: torch.device) -> dict[str, Any]:
    _, keys, pos, has_gauss, cached_gaussian = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "keys": torch.from_numpy(keys.astype(np.int64)),  # (624,) uint32 words of MT19937
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached_gaussian),
        },
        "python": {"version": version, "internal": list(internal), "gauss_next": gauss_next},
    }
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _set_rng_state(state: dict[str, Any], device: torch.device) -> None:
    torch.set_rng_state(state["torch"].cpu())
    n = state["numpy"]
    keys = n["keys"].cpu().numpy().astype(np.uint32)
    np.random.set_state(("MT19937", keys, n["pos"], n["has_gauss"], n["cached_gaussian"]))
    p = state["python"]
    random.setstate((p["version"], tuple(p["internal"]), p["gauss_next"]))
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"].cpu(), device)


# --------------------------------------------------------------------------------------------------------
# The run directory
# --------------------------------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """``value`` as JSON gives it back (tuples become lists), for comparing settings."""
    return json.loads(json.dumps(value))


def _differences(saved: dict[str, Any], given: TrainConfig, names: tuple[str, ...]) -> list[str]:
    now = given.to_dict()
    return [
        f"{name}: {saved.get(name)!r} in the run, {now[name]!r} now"
        for name in names
        if _plain(saved.get(name)) != _plain(now[name])
    ]


def _open_run(
    run_dir: Path, config: TrainConfig, classes: list[str], resume: bool, device: torch.device
) -> dict[str, Any] | None:
    """Check that ``run_dir`` may be written; on ``resume``, return its checkpoint (None: no epoch ended)."""
    if run_dir.exists() and not run_dir.is_dir():
        raise NotADirectoryError(f"{run_dir} is a file; --out must name a run directory")
    trained = [name for name in (CHECKPOINT, WEIGHTS, LOG) if (run_dir / name).exists()]
    if not resume:
        if trained:
            raise FileExistsError(
                f"{run_dir} already holds a run ({', '.join(trained)}); pass --resume to continue it, or "
                "choose another --out"
            )
        return None  # a config.json alone is a run stopped during its first epoch: nothing to lose
    if not (run_dir / CONFIG).is_file() and not (run_dir / CHECKPOINT).is_file():
        raise FileNotFoundError(
            f"nothing to resume: {run_dir} holds no run ({CONFIG} and {CHECKPOINT} are missing); "
            "start it without --resume"
        )
    if not (run_dir / CHECKPOINT).is_file():
        if trained:
            raise FileNotFoundError(
                f"cannot resume {run_dir}: it has {', '.join(trained)} but no {CHECKPOINT}; "
                "train again into another --out"
            )
        saved, saved_classes = load_config(run_dir)
        _check_same_run(run_dir, saved.to_dict(), saved_classes, config, classes)
        return None
    try:
        checkpoint = torch.load(run_dir / CHECKPOINT, map_location=device, weights_only=True)
    except Exception as err:
        raise ValueError(f"cannot read {run_dir / CHECKPOINT}: {err}") from err
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != _FORMAT:
        raise ValueError(
            f"{run_dir / CHECKPOINT} is not a vidlens training checkpoint ({_FORMAT}); "
            "to start from its weights, train a new run with --init"
        )
    # The config in this version's terms (a checkpoint of an earlier version may have "amp", not "precision").
    checkpoint["config"] = TrainConfig.from_dict(checkpoint["config"]).to_dict()
    _check_same_run(run_dir, checkpoint["config"], checkpoint["classes"], config, classes)
    return checkpoint


def _check_same_run(
    run_dir: Path,
    saved: dict[str, Any],
    saved_classes: list[str],
    config: TrainConfig,
    classes: list[str],
) -> None:
    problems = _differences(saved, config, _IDENTITY + _RECIPE)
    if list(saved_classes) != list(classes):
        problems.append(f"classes: {len(saved_classes)} in the run, {len(classes)} in the dataset now")
    if problems:
        raise ValueError(
            f"cannot resume {run_dir} with other settings:\n  "
            + "\n  ".join(problems)
            + f"\nresume with the run's own settings (vidlens.runs.load_config), or start a new run (another "
            f"--out) from its weights with --init {run_dir / CHECKPOINT}"
        )


def _changed_settings(saved: dict[str, Any], config: TrainConfig) -> list[str]:
    names = tuple(n for n in config.to_dict() if n not in _IDENTITY + _RECIPE + ("init",))
    return _differences(saved, config, names)


def _write_log(run_dir: Path, history: list[dict[str, Any]]) -> None:
    text = "".join(json.dumps(record) + "\n" for record in history)
    atomic_write(run_dir / LOG, lambda tmp: tmp.write_text(text))


def _plot_curves(path: Path, history: list[dict[str, Any]]) -> None:
    """Loss and training clip accuracy against epochs, as a PNG."""
    save_figure(training_curves(history), path)


# --------------------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------------------


def _summary(record: dict[str, Any], epochs: int) -> str:
    skipped = f" ({record['skipped']} skipped)" if record["skipped"] else ""
    return (
        f"epoch {record['epoch']}/{epochs}  lr {record['lr']:.3g}  loss {record['loss']:.4f}  "
        f"clip acc {100 * record['accuracy']:.1f}%  {record['clips']} clips{skipped}  "
        f"{record['seconds']:.1f}s  {record['clips_per_s']:.1f} clips/s"
    )


def _result(run_dir: Path, history: list[dict[str, Any]], started: float, rank: int) -> TrainResult:
    last = history[-1] if history else {}
    return TrainResult(
        run_dir=run_dir,
        epochs=len(history),
        history=history,
        seconds=time.perf_counter() - started,
        skipped_clips=sum(h["skipped"] for h in history),
        loss=last.get("loss", float("nan")),
        accuracy=last.get("accuracy", float("nan")),
        rank=rank,
    )


def train(
    config: TrainConfig,
    out: str | os.PathLike,
    *,
    resume: bool = False,
    progress: bool = True,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
) -> TrainResult:
    """Train ``config``'s model on the training videos of ``config.data``, writing the run into ``out``.

    Args:
        config: the settings (the C3D recipe by default); ``config.data`` is stored as an absolute path.
        out: the run directory. An existing run there is refused unless ``resume``.
        resume: continue the run in ``out`` from its last completed epoch. Its model, data, classes and
            optimiser recipe must match ``config``; ``epochs`` may be raised to train on. A finished run
            says so and returns.
        progress: show a progress bar per epoch (rank 0). Per-epoch summaries are printed either way.
        on_epoch: called (in every process) with each epoch's log record once it is written.

    Under torchrun (``WORLD_SIZE`` > 1) every process calls this; see the module docstring.

    Raises:
        FileNotFoundError: the dataset or its split files are missing; nothing to resume.
        FileExistsError: ``out`` holds a run and ``resume`` is False.
        ValueError: fewer than 2 classes, no training videos, a resume with other settings, a checkpoint
            of another model, no decodable clip in an epoch.
    """
    started = time.perf_counter()
    run_dir = Path(out)
    if not config.data:
        raise ValueError("config.data is empty: give the dataset root")
    if config.seed < 0:
        raise ValueError(f"seed must be >= 0, got {config.seed}")
    config = replace(config.resolved(), data=str(Path(config.data).expanduser().resolve()))
    videos = load_videos(config.data, layout=config.layout, split=config.split, subset="train")
    _check_videos(videos, config)

    with _processes(config.device) as (procs, device):
        if config.batch_size % procs.world:
            raise ValueError(
                f"batch_size {config.batch_size} is the global batch and must split evenly over the "
                f"{procs.world} processes; use a multiple of {procs.world}"
            )
        runtime = Runtime.create(device, config.precision, channels_last=config.channels_last)
        checkpoint = _open_run(run_dir, config, videos.classes, resume, device)
        procs.barrier()  # every process has looked at run_dir before rank 0 writes into it
        session = _Session(config, run_dir, videos, procs, runtime, progress, on_epoch, started)
        return _train(session, checkpoint)


@dataclass(frozen=True)
class _Session:
    """One call of :func:`train` in this process: what it trains, where it writes, how it runs and reports."""

    config: TrainConfig  # config.data made absolute
    run_dir: Path
    videos: VideoList  # the training videos
    procs: _Processes
    runtime: Runtime  # this process's device and precision, before Runtime.prepare meets the model
    progress: bool  # progress bars (rank 0)
    on_epoch: Callable[[dict[str, Any]], None] | None
    started: float  # time.perf_counter() when train() was called


@dataclass
class _Learner:
    """The model being trained and everything its steps change; a checkpoint holds all of it (with the
    random streams and the log)."""

    model: nn.Module  # the bare model: its state_dict is what checkpoints and model.pt hold
    net: nn.Module  # what steps run: the model, or its DistributedDataParallel wrapper
    optimizer: torch.optim.Optimizer  # its rate is set before every step (runs.lr_factor): no scheduler state
    scaler: torch.amp.GradScaler | None  # fp16 loss scaling; None in fp32 and bf16
    runtime: Runtime  # the session's runtime prepared for the model (Runtime.prepare)


def _learner(session: _Session, checkpoint: dict[str, Any] | None) -> _Learner:
    """Build the model (or fine-tune from ``config.init``), its optimiser and scaler, restore them
    from ``checkpoint``, and wrap the model for DistributedDataParallel under torchrun."""
    config, procs = session.config, session.procs
    torch.manual_seed(config.seed)  # the same initial weights in every process
    model = build_model(config, len(session.videos.classes))
    if config.init and checkpoint is None:
        from vidlens.models import load_pretrained

        procs.print(f"fine-tuning: {load_pretrained(model, config.init)}")
    model.preset, model.class_names = (
        config.run_preset(),
        list(session.videos.classes),
    )  # travel with model.pt
    _seed_everything(config.seed + procs.rank)  # dropout masks differ between processes
    runtime = session.runtime.prepare(model)
    optimizer = build_optimizer(config, model)
    learner = _Learner(model, model, optimizer, runtime.scaler(), runtime)
    if checkpoint:
        _restore(session.run_dir / CHECKPOINT, checkpoint, learner, procs)
    if procs.world > 1:
        device = runtime.device
        learner.net = DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    return learner


def _restore(path: Path, checkpoint: dict[str, Any], learner: _Learner, procs: _Processes) -> None:
    """Put the model, optimiser, scaler and this process's random streams back as ``path`` has them (the
    learning rate is a function of the epoch and step: checkpoints of earlier versions also hold a scheduler's
    state, which is not needed)."""
    saved = checkpoint["config"]
    try:
        learner.model.load_state_dict(checkpoint["model"])
    except RuntimeError as err:
        raise ValueError(
            f"{path} does not hold the weights of a {saved['model']} {saved['model_kwargs'] or ''} for "
            f"{len(checkpoint['classes'])} classes, the model of its run:\n{err}"
        ) from err
    learner.optimizer.load_state_dict(checkpoint["optimizer"])
    if learner.scaler is not None and checkpoint.get("scaler"):
        learner.scaler.load_state_dict(checkpoint["scaler"])
    states = checkpoint["rng"]
    if len(states) == procs.world:
        _set_rng_state(states[procs.rank], learner.runtime.device)
    else:
        procs.print(
            f"note: the checkpoint comes from {len(states)} processes, this run has {procs.world}: "
            "dropout draws will differ from an uninterrupted run"
        )
        _seed_everything(saved["seed"] + procs.rank + 1000 * checkpoint["epoch"])


def _train(session: _Session, checkpoint: dict[str, Any] | None) -> TrainResult:
    """Train from the checkpoint's epoch (else the first) up to ``config.epochs``, saving after each."""
    config, run_dir, procs = session.config, session.run_dir, session.procs
    history: list[dict[str, Any]] = list(checkpoint["history"]) if checkpoint else []
    start = checkpoint["epoch"] if checkpoint else 0
    if start >= config.epochs:
        procs.print(f"{run_dir} has finished its {start} epochs; nothing to do (raise epochs to train on)")
        if procs.main and not (run_dir / WEIGHTS).is_file():  # stopped between checkpoint and model.pt
            payload = weights_payload(
                checkpoint["model"], preset=config.run_preset(), class_names=session.videos.classes
            )
            atomic_save(payload, run_dir / WEIGHTS)
        return _result(run_dir, history, session.started, procs.rank)
    if checkpoint:
        changed = _changed_settings(checkpoint["config"], config)
        if changed:
            procs.print("resuming with changed settings:\n  " + "\n  ".join(changed))
    if procs.main:
        save_config(run_dir, config, session.videos.classes)

    learner = _learner(session, checkpoint)
    if learner.runtime.device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed clip shapes: pick the fastest convolution kernels
    loader, keys = _loader(session.videos, config, procs, learner.runtime.device)
    _announce(session, learner.runtime, start)

    learner.net.train()
    for epoch in range(start, config.epochs):
        record = _epoch(session, learner, loader, keys, epoch)
        history.append(record)
        _save_epoch(session, learner, history)
        if session.on_epoch is not None:
            session.on_epoch(record)

    if procs.main:
        model = learner.model
        payload = weights_payload(model.state_dict(), preset=model.preset, class_names=model.class_names)
        atomic_save(payload, run_dir / WEIGHTS)
    procs.barrier()  # model.pt exists before any process returns
    return _result(run_dir, history, session.started, procs.rank)


def _announce(session: _Session, runtime: Runtime, start: int) -> None:
    config, procs, device = session.config, session.procs, runtime.device
    if not procs.main:
        return
    where = "resuming at" if start else "from"
    how = f"{procs.world} processes on {device.type}" if procs.world > 1 else str(device)
    precision = f", {runtime.precision} autocast" if runtime.precision != "fp32" else ""
    procs.print(
        f"training {config.model} on {len(session.videos)} videos of {len(session.videos.classes)} classes, "
        f"{where} epoch {start + 1} to {config.epochs}, {config.batch_size} clips per step, {how}{precision} "
        f"-> {session.run_dir}"
    )


def _epoch(
    session: _Session, learner: _Learner, loader: DataLoader, keys: _EpochKeys, epoch: int
) -> dict[str, Any]:
    """Epoch ``epoch`` (0-based): its steps; returns its log record."""
    config, procs = session.config, session.procs
    keys.set_epoch(epoch)
    bar = tqdm(
        total=len(loader),
        desc=f"epoch {epoch + 1}/{config.epochs}",
        unit="batch",
        leave=False,
        dynamic_ncols=True,
        disable=not (session.progress and procs.main),
    )
    steps = len(loader)

    def lr(step: int) -> float:  # the rate of step `step` (0-based) of this epoch
        return config.lr * lr_factor(config, epoch, step, steps)

    t0 = time.perf_counter()
    loss_sum, correct, clips, skipped = _train_epoch(
        loader, learner, procs=procs, bar=bar, grad_clip=config.grad_clip, lr=lr
    )
    seconds = time.perf_counter() - t0
    bar.close()
    if clips == 0:
        raise ValueError(
            f"epoch {epoch + 1}: none of the {len(session.videos)} training videos could be decoded "
            f"({int(skipped)} skipped); check the dataset"
        )
    return {
        "epoch": epoch + 1,
        "lr": lr(0),  # the rate of its first step
        "loss": loss_sum / clips,
        "accuracy": correct / clips,
        "clips": int(clips),
        "skipped": int(skipped),
        "seconds": round(seconds, 3),
        "clips_per_s": round(clips / seconds, 2),
    }


def _save_epoch(session: _Session, learner: _Learner, history: list[dict[str, Any]]) -> None:
    """Gather every process's random streams; rank 0 writes the checkpoint, the log and the curves."""
    config, procs = session.config, session.procs
    rng = procs.gather(_rng_state(learner.runtime.device))  # every process's streams, to resume each of them
    if not procs.main:
        return
    state = {
        "format": _FORMAT,
        "epoch": history[-1]["epoch"],
        "model": learner.model.state_dict(),
        "optimizer": learner.optimizer.state_dict(),
        "scaler": learner.scaler.state_dict() if learner.scaler is not None else None,
        "rng": rng,
        "history": history,
        "config": config.to_dict(),
        "classes": list(session.videos.classes),
        "vidlens": WeightsRecord(learner.model.preset, learner.model.class_names).to_dict(),  # as model.pt's
    }
    atomic_save(state, session.run_dir / CHECKPOINT)  # first: the log never runs ahead of the checkpoint
    _write_log(session.run_dir, history)
    _plot_curves(session.run_dir / CURVES, history)
    procs.print(_summary(history[-1], config.epochs))


def _train_epoch(
    loader: DataLoader,
    learner: _Learner,
    *,
    procs: _Processes,
    bar: tqdm,
    grad_clip: float | None = None,
    lr: Callable[[int], float],
) -> list[float]:
    """One pass over the loader, step ``i`` (0-based) at the rate ``lr(i)``; returns ``[loss sum, correct,
    clips, skipped]`` over every process."""
    runtime = learner.runtime
    batch_norm = any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in learner.model.modules())
    loss_sum = torch.zeros((), dtype=torch.float64, device=runtime.device)
    correct = torch.zeros((), dtype=torch.int64, device=runtime.device)
    clips = skipped = 0
    t0 = time.perf_counter()
    batch: ClipBatch
    for step, batch in enumerate(loader, 1):
        skipped += batch.skipped
        n = len(batch.labels)
        # Every process must take part in every step (DDP averages gradients across them): when one of
        # them has nothing left of its batch (all its videos undecodable), all of them skip the step. So
        # they do when one has a single clip and the model batch-normalises (BatchNorm refuses a batch of
        # one in training mode): a last batch of 1 happens whenever the videos are 1 more than a multiple.
        n_global, n_empty = procs.sum([n, n == 0 or (n == 1 and batch_norm)])
        if n_empty:
            bar.update(1)
            continue
        for group in learner.optimizer.param_groups:
            group["lr"] = lr(step - 1)
        step_loss, step_correct = train_step(
            learner.net,
            learner.optimizer,
            runtime.input(batch.clips),
            batch.labels.to(runtime.device, non_blocking=True),
            normalizer=n_global / procs.world,
            runtime=runtime,
            scaler=learner.scaler,
            grad_clip=grad_clip,
        )
        loss_sum += step_loss
        correct += step_correct
        clips += n
        bar.update(1)
        if not bar.disable and (step % _BAR_EVERY == 0 or step == len(loader)):
            rate = clips * procs.world / (time.perf_counter() - t0)
            bar.set_postfix(loss=f"{step_loss.item() / n:.3f}", clips_s=f"{rate:.1f}")
    return procs.sum([loss_sum.item(), correct.item(), clips, skipped])
