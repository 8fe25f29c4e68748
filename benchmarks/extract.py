"""Feature extraction: end-to-end throughput and memory of ``vidlens extract`` against the model alone and
against the simplest pipeline a user would write.

Throughput (one process, interleaved rounds): clips/s of
  * **vidlens**: ``extract_collection`` from video files to descriptors written on disk (decoding in
    DataLoader workers, batches across videos);
  * **forward only**: the same model over the same number of clips of the same shape, decoded beforehand
    and held in memory (the ceiling: target vidlens / forward >= 0.95 at 120+ clips, issue 15);
  * **naive**: per video, decode the whole video into memory (``read_video``), cut its clips, run the model
    over them in batches, average and normalise, ``np.save``.

Memory (each measurement in a fresh subprocess, decoding in-process): peak RSS extracting one 10-minute
video against one 1-minute video (target ratio <= 1.1), for vidlens and for the naive pipeline.

    python benchmarks/extract.py [--model c3d] [--videos 6] [--frames 48] [--rounds 2]
    python benchmarks/extract.py --memory-only --memory-model c3d_depth1
    python benchmarks/extract.py --quick   # a smoke run of seconds (c3d_depth3 width 8, short videos)
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    add_memory_options,
    add_model_options,
    arg_parser,
    bench_video,
    duration,
    paired,
    parse,
    peak_mib,
    rates_table,
    ratios,
    round_line,
    run_child,
    seeded_model,
    workdir,
)
from vidlens.data.transforms import ClipTransform
from vidlens.features.extract import ClipRecipe, extract_collection, resolve_inputs
from vidlens.models import extract
from vidlens.video import clip_starts, iter_clips, read_video

SIZE = (128, 171)
QUICK_MEMORY_FRAMES = [50, 500]  # --quick: the memory videos


def naive_extract(model: torch.nn.Module, paths: list[Path], out: Path, batch_size: int) -> int:
    """What a user writes first: the whole video in memory, then its clips through the model."""
    transform = ClipTransform(preset="plain", crop=112)
    n = 0
    for path in paths:
        video = read_video(path, SIZE)  # (T, H, W, 3) uint8: all of it
        clips = torch.stack([transform(video[s : s + 16]) for s in clip_starts(len(video), 16, 8)])
        feats = [
            extract(model, clips[i : i + batch_size], "fc6")["fc6"] for i in range(0, len(clips), batch_size)
        ]
        mean = torch.cat(feats).mean(0)
        np.save(out / f"{path.stem}.npy", (mean / mean.norm()).numpy())
        n += len(clips)
    return n


def forward_only(model: torch.nn.Module, clips: torch.Tensor, batch_size: int) -> None:
    for i in range(0, len(clips), batch_size):
        extract(model, clips[i : i + batch_size], "fc6")


def throughput(args: argparse.Namespace, work: Path) -> dict[str, list[float]]:
    paths = [bench_video(work, f"v{k}", args.frames, seed=k)[0] for k in range(args.videos)]
    model = seeded_model(args.model, args.width, num_classes=101)
    transform = ClipTransform(preset="plain", crop=112)
    clips = torch.stack(
        [transform(c.frames) for p in paths for c in iter_clips(p, 16, 8, SIZE)]
    )  # (N, 3, 16, 112, 112)
    n = len(clips)
    print(f"{args.model}: {args.videos} videos x {args.frames} frames = {n} clips, batch {args.batch_size}, "
          f"{args.workers} workers, {torch.get_num_threads()} torch threads")  # fmt: skip
    forward_only(model, clips[: args.batch_size], args.batch_size)  # warm-up
    rows: dict[str, list[float]] = {"vidlens": [], "forward only": [], "naive": []}
    videos = resolve_inputs([str(p) for p in paths])
    for r in range(args.rounds):
        t0 = time.perf_counter()
        summary = extract_collection(
            model, videos, work / f"out{r}", clips=ClipRecipe(preset="plain"), batch_size=args.batch_size, workers=args.workers,
            device="cpu", progress=False,
        )  # fmt: skip
        rows["vidlens"].append(summary.clips / (time.perf_counter() - t0))
        t0 = time.perf_counter()
        forward_only(model, clips, args.batch_size)
        rows["forward only"].append(n / (time.perf_counter() - t0))
        (work / f"naive{r}").mkdir()
        t0 = time.perf_counter()
        naive_extract(model, paths, work / f"naive{r}", args.batch_size)
        rows["naive"].append(n / (time.perf_counter() - t0))
        print(round_line(r, args.rounds, rows))
    return rows


def memory_child(mode: str, path: str, model_name: str, width: int | None) -> None:
    model = seeded_model(model_name, width, num_classes=101)
    with workdir(prefix="vidlens-bench-mem-") as out:
        t0 = time.perf_counter()
        if mode == "vidlens":
            summary = extract_collection(
                model,
                resolve_inputs([path]),
                out,
                clips=ClipRecipe(preset="plain"),
                workers=0,
                device="cpu",
                progress=False,
            )
            clips = summary.clips
        else:
            clips = naive_extract(model, [Path(path)], out, 16)
        seconds = time.perf_counter() - t0
    print(json.dumps({"mode": mode, "clips": clips, "seconds": seconds, "peak_rss_mib": peak_mib()}))


def run_memory_child(mode: str, path: Path, args: argparse.Namespace) -> dict[str, Any]:
    width = ["--memory-width", str(args.memory_width)] if args.memory_width else []
    try:
        return run_child(__file__, mode, str(path), "--memory-model", args.memory_model, *width)
    except subprocess.CalledProcessError as err:
        raise RuntimeError(err.stderr) from None


def memory(args: argparse.Namespace, work: Path) -> dict[str, dict[str, Any]]:
    """Peak RSS of each pipeline on the short and the long video (``--memory-frames``), keyed "MODE LENGTH"
    (e.g. "vidlens 10 min")."""
    videos = {duration(n): bench_video(work, "memory", n, preset="ultrafast")[0] for n in args.memory_frames}
    results = {}
    for mode in ("vidlens", "naive"):
        for name, path in videos.items():
            results[f"{mode} {name}"] = run_memory_child(mode, path, args)
            r = results[f"{mode} {name}"]
            print(
                f"{mode:8} {name:>6}: {r['clips']} clips, peak RSS {r['peak_rss_mib']:.0f} MiB, {r['seconds']:.1f} s"
            )
    return results


def main() -> None:
    parser = arg_parser(__doc__)
    add_model_options(parser, "c3d")
    parser.add_argument("--videos", type=int, default=6)
    parser.add_argument("--frames", type=int, default=48, help="frames per video (48: 5 clips)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--memory-model", default="c3d_depth1", help="model for the memory runs (10-min video)"
    )
    parser.add_argument("--memory-width", type=int, default=None)
    parser.add_argument("--memory-only", action="store_true")
    parser.add_argument("--throughput-only", action="store_true")
    add_memory_options(parser, ("MODE", "VIDEO"), QUICK_MEMORY_FRAMES)
    quick = {"model": "c3d_depth3", "width": 8, "videos": 2, "frames": 24, "rounds": 1, "memory_width": 8,
             "memory_frames": QUICK_MEMORY_FRAMES}  # fmt: skip
    args = parse(parser, quick)
    if args.memory_child:
        memory_child(*args.memory_child, args.memory_model, args.memory_width)
        return
    with workdir(prefix="vidlens-bench-extract-") as work:
        measure(args, work)


def measure(args: argparse.Namespace, work: Path) -> None:
    if not args.memory_only:
        rows = throughput(args, work)
        print(f"\n{rates_table(rows, 14)}")
        ratio = ratios(rows["vidlens"], rows["forward only"])
        print(
            f"vidlens / forward only: {statistics.median(ratio):.3f} (per round {[round(x, 3) for x in ratio]}; target >= 0.95)"
        )
        print(f"vidlens / naive:        {paired(rows['vidlens'], rows['naive']):.3f} (target >= 1.0)")
    if not args.throughput_only:
        print(f"\nmemory ({args.memory_model}, decoding in-process, 320x240 H.264 at 25 fps):")
        m = memory(args, work)
        short, long = (duration(n) for n in args.memory_frames)
        for mode in ("vidlens", "naive"):
            ratio = m[f"{mode} {long}"]["peak_rss_mib"] / m[f"{mode} {short}"]["peak_rss_mib"]
            print(
                f"{mode}: peak RSS {long} / {short} = {ratio:.2f}"
                + (" (target <= 1.1)" if mode == "vidlens" else "")
            )
        print(f"naive / vidlens peak RSS on the {duration(args.memory_frames[1], adjective=True)} video: "
              f"{m[f'naive {long}']['peak_rss_mib'] / m[f'vidlens {long}']['peak_rss_mib']:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
