"""Interpretation: what vidlens.interpret costs, measured side by side in one run (interleaved rounds).

1. Random-filter feature maps: 64 random 3x3x3 filters over one 16x112x112 clip, vidlens
   (``random_filter_maps``, one conv3d) against a direct loop over output voxels (numpy per voxel). The loop
   runs on a random subset of output voxels (``--loop-voxels``) and its time is extrapolated to all of them;
   its values are checked against vidlens' on that subset. Target: >= 1000x.
2. Grad-CAM: time of ``grad_cam`` over one forward + backward pass of the same model and clip (the target
   logit's gradient with respect to the clip and the parameters, as ``logit.backward()`` computes it).
   Target: <= 1.5x.
3. Occlusion: occluded clips per second inside ``occlusion`` against clips per second of plain forward
   passes in batches of the same size (the ceiling).

    python benchmarks/interpret.py [--model c3d_depth3] [--width 64] [--layer conv5] [--repeats 3]
    python benchmarks/interpret.py --quick   # a smoke run of seconds (width 4, one round, 8x56x56 windows)
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    add_device_option,
    add_model_options,
    all_ran,
    arg_parser,
    interleaved,
    machine_info,
    paired_ratio,
    parse,
    seeded_model,
    synced,
    table,
    width_kwargs,
    write_json,
)
from vidlens.interpret import grad_cam, occlusion, random_filter_maps, random_filters

CLIP = (1, 3, 16, 112, 112)


def loop_maps(clip: np.ndarray, weights: np.ndarray, voxels: np.ndarray) -> np.ndarray:
    """Random-filter maps the direct way, one output voxel at a time: ``voxels`` rows are (f, t, y, x)."""
    kt, kh, kw = weights.shape[2:]
    out = np.empty(len(voxels), dtype=np.float32)
    for i, (f, t, y, x) in enumerate(voxels):
        out[i] = np.sum(clip[:, t : t + kt, y : y + kh, x : x + kw] * weights[f])
    return out


def bench_filter_maps(clip: torch.Tensor, args: argparse.Namespace) -> tuple[list, dict]:
    """Part 1: vidlens against the voxel loop (measured on a subset and extrapolated)."""
    num_filters, kernel = 64, (3, 3, 3)
    maps = random_filter_maps(clip, num_filters, kernel)  # (1, 64, 14, 110, 110)
    shape = (num_filters, *maps.shape[2:])
    total = math.prod(shape)
    rng = np.random.default_rng(0)
    flat = rng.choice(total, size=min(args.loop_voxels, total), replace=False)
    voxels = np.stack(np.unravel_index(flat, shape), axis=1)  # (K, 4): (f, t, y, x)
    clip_np = clip[0].cpu().numpy()
    weights = random_filters(num_filters, kernel).numpy()

    loop_values: dict[str, np.ndarray] = {}

    def vidlens_run() -> int:
        random_filter_maps(clip, num_filters, kernel)
        return total

    def loop_run() -> int:
        loop_values["out"] = loop_maps(clip_np, weights, voxels)
        return len(voxels)

    device = clip.device
    runs = all_ran(interleaved({"vidlens": synced(vidlens_run, device), "loop": loop_run}, args.repeats))
    expected = maps[0].cpu().numpy()[tuple(voxels.T)]
    max_diff = float(np.abs(loop_values["out"] - expected).max())
    if not np.allclose(loop_values["out"], expected, rtol=1e-4, atol=1e-5):
        raise AssertionError(f"the voxel loop and vidlens disagree (max abs difference {max_diff:.3g})")
    # voxels per second of each; the loop's rate is extrapolated to all `total` voxels.
    ratio = paired_ratio(runs["vidlens"], runs["loop"])
    vidlens_s = statistics.median(runs["vidlens"].wall)
    loop_s = total / runs["loop"].median_fps
    rows = [
        ["random filter maps: vidlens (conv3d)", f"{vidlens_s * 1000:.1f} ms", "", ""],
        [
            f"random filter maps: voxel loop, {len(voxels)} of {total} voxels, extrapolated",
            f"{loop_s:.1f} s",
            f"{ratio:.0f}x",
            ">= 1000x",
        ],
    ]
    return rows, {
        "vidlens_s": vidlens_s,
        "loop_s_extrapolated": loop_s,
        "speedup": ratio,
        "max_diff": max_diff,
    }


def bench_grad_cam(model: torch.nn.Module, clip: torch.Tensor, args: argparse.Namespace) -> tuple[list, dict]:
    """Part 2: grad_cam against one forward + backward pass."""
    device = clip.device
    target = 0

    def forward_backward() -> int:
        x = clip.detach().requires_grad_(True)
        model(x)[:, target].sum().backward()
        model.zero_grad(set_to_none=True)
        return len(clip)

    def cam() -> int:
        grad_cam(model, clip, args.layer, target)
        return len(clip)

    methods = {"forward + backward": synced(forward_backward, device), "grad_cam": synced(cam, device)}
    for fn in methods.values():  # warm-up
        fn()
    runs = all_ran(interleaved(methods, args.repeats))
    ratio = paired_ratio(runs["forward + backward"], runs["grad_cam"])  # time of grad_cam / time of f+b
    rows = [
        ["forward + backward", f"{statistics.median(runs['forward + backward'].wall) * 1000:.1f} ms", "", ""],
        [
            f"grad_cam ({args.layer})",
            f"{statistics.median(runs['grad_cam'].wall) * 1000:.1f} ms",
            f"{ratio:.2f}x",
            "<= 1.5x",
        ],
    ]
    return rows, {"grad_cam_over_forward_backward": ratio}


def bench_occlusion(
    model: torch.nn.Module, clip: torch.Tensor, args: argparse.Namespace
) -> tuple[list, dict]:
    """Part 3: occluded clips per second against plain forward passes of the same batch size."""
    device = clip.device
    window, stride = tuple(args.window), tuple(args.stride)
    positions = [-(-(d - min(w, d)) // s) + 1 for d, w, s in zip(clip.shape[2:], window, stride, strict=True)]
    clips = math.prod(positions) + 1  # every window, plus the unoccluded clip
    batch = torch.randn(args.batch_size, *clip.shape[1:], device=device)
    forward_batches = -(-clips // args.batch_size)

    def occlude() -> int:
        occlusion(model, clip, 0, window=window, stride=stride, batch_size=args.batch_size)
        return clips

    def forward() -> int:
        with torch.no_grad():
            for _ in range(forward_batches):
                model(batch)
        return forward_batches * args.batch_size

    methods = {"forward": synced(forward, device), "occlusion": synced(occlude, device)}
    runs = all_ran(interleaved(methods, args.repeats))
    ratio = paired_ratio(runs["occlusion"], runs["forward"])
    rows = [
        [f"forward, batches of {args.batch_size}", f"{runs['forward'].median_fps:.1f} clips/s", "", ""],
        [
            f"occlusion, {clips} clips (window {window}, stride {stride})",
            f"{runs['occlusion'].median_fps:.1f} clips/s",
            f"{ratio:.2f}x",
            "(ceiling 1.0x)",
        ],
    ]
    return rows, {"occlusion_clips_per_s": runs["occlusion"].median_fps, "over_forward": ratio}


def main() -> None:
    parser = arg_parser(__doc__)
    add_model_options(parser, "c3d_depth3")
    parser.add_argument("--layer", default="conv5", help="Grad-CAM layer (default conv5; C3D: conv5b)")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds per measurement")
    parser.add_argument("--loop-voxels", type=int, default=2000, help="output voxels the loop computes")
    parser.add_argument("--window", type=int, nargs=3, default=(4, 16, 16), metavar=("T", "H", "W"))
    parser.add_argument("--stride", type=int, nargs=3, default=(2, 8, 8), metavar=("T", "H", "W"))
    parser.add_argument("--batch-size", type=int, default=16, help="occluded clips per forward pass")
    add_device_option(parser)
    parser.add_argument("--skip", nargs="*", default=[], choices=["maps", "cam", "occlusion"])
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    quick = {"width": 4, "repeats": 1, "loop_voxels": 200, "window": [8, 56, 56], "stride": [8, 56, 56]}
    args = parse(parser, quick)

    device = torch.device(args.device)
    kwargs = width_kwargs(args.width)
    model = seeded_model(args.model, args.width, num_classes=101).to(device)
    clip = torch.randn(CLIP, device=device)
    print(
        f"{args.model} {kwargs or ''} on {device}, {torch.get_num_threads()} threads, clip {CLIP}", flush=True
    )

    rows, results = (
        [],
        {"model": args.model, "width": args.width, "device": str(device), "machine": machine_info()},
    )
    parts = {
        "maps": lambda: bench_filter_maps(clip, args),
        "cam": lambda: bench_grad_cam(model, clip, args),
        "occlusion": lambda: bench_occlusion(model, clip, args),
    }
    for name, part in parts.items():
        if name in args.skip:
            continue
        t0 = time.perf_counter()
        part_rows, part_results = part()
        rows += part_rows
        results[name] = part_results
        print(f"  {name} measured in {time.perf_counter() - t0:.0f} s", flush=True)
    print(table(["measurement", "time or rate", "ratio", "target"], rows))
    if args.json:
        write_json(args.json, results)


if __name__ == "__main__":
    main()
