"""Training and evaluation throughput: vidlens's loops against bare loops on the same tensors.

The training loop (``vidlens.train.train``: DataLoader workers decoding real video files, random clips,
crops, checkpoints) is compared with a bare loop of forward + backward + SGD step (``train_step``, the very
step the loop runs) over clips decoded beforehand and held in memory, at the same batch size. A ratio near
1 means decoding is hidden behind compute. Evaluation likewise: ``vidlens.evaluate.evaluate`` against a
bare ``model(clips)`` loop under ``torch.inference_mode``. Both loops also run with a frame cache
(``TrainConfig.frame_cache``: every video decoded once, clips cut from the stored frames; its first,
cache-filling epoch is not measured). All are measured in the same run, interleaved.

    python benchmarks/train.py [--model c3d_depth3 --width 8] [--videos-per-class 8] [--rounds 2]
    python benchmarks/train.py --quick   # a smoke run of seconds (width 4, 2 videos per class, one round)
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from _common import (
    arg_parser,
    motion_dataset,
    motion_train_config,
    paired,
    parse,
    rates_table,
    round_line,
    workdir,
)
from vidlens.data.datasets import ClipDataset, collate_clips, load_videos
from vidlens.evaluate import evaluate
from vidlens.runs import TrainConfig, build_model, build_optimizer
from vidlens.train import train, train_step


def _clips(config: TrainConfig, train_split: bool, clips_per_video: int = 1) -> ClipDataset:
    """The clips of the config's training or test split, prepared as the loops prepare them (with the
    config's frame cache, if any)."""
    return ClipDataset(
        load_videos(config.data, subset="train" if train_split else "test"),
        train=train_split,
        clip_len=config.clip_len,
        size=config.size,
        crop=config.crop,
        flip_p=config.flip_p,
        clips_per_video=clips_per_video,
        cache=config.frame_cache,
    )


def _decoded_batches(config: TrainConfig, train_split: bool, clips_per_video: int = 1) -> list:
    """Every batch the loop would see, decoded once up front (what the bare loops iterate over)."""
    dataset = _clips(config, train_split, clips_per_video)
    loader = DataLoader(dataset, batch_size=config.batch_size, collate_fn=collate_clips, num_workers=0)
    return [(b.clips, b.labels) for b in loader]


def bare_train(config: TrainConfig, batches: list, num_classes: int, epochs: int) -> float:
    """Clips/s of forward + backward + step over in-memory batches (after one warm-up epoch)."""
    torch.manual_seed(config.seed)
    model = build_model(config, num_classes).train()
    optimizer = build_optimizer(config, model)  # the optimiser vidlens.train builds
    for clips, labels in batches:  # warm-up
        train_step(model, optimizer, clips, labels)
    n, t0 = 0, time.perf_counter()
    for _ in range(epochs):
        for clips, labels in batches:
            loss, _ = train_step(model, optimizer, clips, labels)
            loss.item()
            n += len(labels)
    return n / (time.perf_counter() - t0)


def loop_train(config: TrainConfig, run_dir: Path, epochs: int) -> float:
    """Clips/s of vidlens's training loop, averaged over its epochs after the first (worker start-up)."""
    result = train(TrainConfig(**{**config.to_dict(), "epochs": epochs + 1}), run_dir, progress=False)
    return statistics.mean(result.clips_per_s[1:])


def bare_eval(model: torch.nn.Module, batches: list) -> float:
    model.eval()
    with torch.inference_mode():
        for clips, _ in batches[:1]:
            model(clips)
        n, t0 = 0, time.perf_counter()
        for clips, labels in batches:
            model(clips).argmax(1).tolist()
            n += len(labels)
    return n / (time.perf_counter() - t0)


def loop_eval(model: torch.nn.Module, config: TrainConfig, classes: list[str], clips_per_video: int) -> float:
    """Clips/s of vidlens's evaluation loop (with the config's frame cache, if any)."""
    videos = load_videos(config.data, subset="test")
    result = evaluate(
        model,
        videos,
        classes=classes,
        clips_per_video=clips_per_video,
        clip_len=config.clip_len,
        size=config.size,
        crop=config.crop,
        batch_size=config.batch_size,
        workers=config.workers,
        frame_cache=config.frame_cache,
        progress=False,
    )
    return result.n_clips / result.seconds


def loading_cost(config: TrainConfig, n: int = 40) -> float:
    """CPU seconds one worker spends per training item (open, seek, decode 16 frames, crop, normalise; with
    the config's frame cache, a copy out of the stored frames instead), measured in this process with one
    torch thread."""
    dataset = _clips(config, train_split=True)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for i in range(min(n, len(dataset))):  # warm-up (frame counts; the frame cache, if any, filled)
            dataset[i]
        t0 = time.process_time()
        for i in range(n):
            dataset[i % len(dataset)]
        return (time.process_time() - t0) / n
    finally:
        torch.set_num_threads(threads)


def main() -> None:
    parser = arg_parser(__doc__)
    parser.add_argument("--model", default="c3d_depth3")
    parser.add_argument("--width", type=int, default=8)
    parser.add_argument("--videos-per-class", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=2, help="measured epochs per round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--eval-clips", type=int, default=10, help="clips per test video (C3D: 10)")
    quick = {"width": 4, "videos_per_class": 2, "epochs": 1, "rounds": 1, "eval_clips": 1}
    args = parse(parser, quick)
    with workdir(prefix="vidlens-bench-train-") as work:
        measure(args, work)


def measure(args: argparse.Namespace, work: Path) -> None:
    data = motion_dataset(work / "data", args.videos_per_class)
    config = motion_train_config(
        data, args.model, args.width, batch_size=args.batch_size, workers=args.workers
    )
    cached = TrainConfig(**{**config.to_dict(), "frame_cache": str(work / "frames")})
    classes = data.class_names
    train_batches = _decoded_batches(config, train_split=True)
    eval_clips = args.eval_clips
    eval_batches = _decoded_batches(config, train_split=False, clips_per_video=eval_clips)
    print(
        f"model {args.model} width {args.width}, batch {args.batch_size}, {len(data.train)} train / "
        f"{len(data.test)} test videos, {args.workers} workers, {torch.get_num_threads()} torch threads"
    )
    rows: dict[str, list[float]] = {
        "train loop": [], "train cached": [], "bare train": [], "eval loop": [], "eval cached": [], "bare eval": []
    }  # fmt: skip
    for r in range(args.rounds):
        rows["train loop"].append(loop_train(config, work / f"run{r}", args.epochs))
        rows["train cached"].append(loop_train(cached, work / f"cached{r}", args.epochs))
        rows["bare train"].append(bare_train(config, train_batches, len(classes), args.epochs))
        model = build_model(config, len(classes))
        rows["eval loop"].append(loop_eval(model, config, classes, eval_clips))
        rows["eval cached"].append(loop_eval(model, cached, classes, eval_clips))
        rows["bare eval"].append(bare_eval(model, eval_batches))
        print(round_line(r, args.rounds, rows))
    print()
    print(rates_table(rows, 12))

    def ratio(a: str, b: str) -> float:
        return paired(rows[a], rows[b])

    print(f"\ntraining loop / bare loop:   {ratio('train loop', 'bare train'):.3f}  (target >= 0.9)")
    print(f"evaluation loop / bare loop: {ratio('eval loop', 'bare eval'):.3f}  (target >= 0.9)")
    print(
        f"with the frame cache: training {ratio('train cached', 'bare train'):.3f}, evaluation "
        f"{ratio('eval cached', 'bare eval'):.3f} of the bare loops; "
        f"{ratio('train cached', 'train loop'):.2f}x and {ratio('eval cached', 'eval loop'):.2f}x the loops without"
    )
    # When the model's threads already keep every core busy, the workers' CPU time cannot hide: with
    # C cores, a bare step taking T s per clip and loading costing L CPU-s per clip, the loop needs at
    # least T + L / C per clip.
    load, load_cached = loading_cost(config), loading_cost(cached)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    step = 1 / statistics.median(rows["bare train"])
    print(
        f"loading: {1000 * load:.1f} CPU-ms per training clip; bare step {1000 * step:.1f} ms per clip on "
        f"{cores} cores -> CPU-bound ceiling for the training loop {step / (step + load / cores):.3f}"
    )
    print(
        f"loading from the frame cache: {1000 * load_cached:.1f} CPU-ms per training clip -> ceiling "
        f"{step / (step + load_cached / cores):.3f}"
    )


if __name__ == "__main__":
    main()
