"""The ``vidlens`` command line: one small function per subcommand, calling the library.

vidlens info VIDEO...        frames, fps, size, duration and codec of videos
vidlens synth DIR            make the synthetic motion dataset (UCF101 layout)
vidlens models               the model registry: input size, parameters, multiply-adds, layers
vidlens demo                 synthesise, decode and run C3D on built-in data
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

__all__ = ["main"]


def _size(text: str) -> tuple[int, int]:
    """Parse ``HxW`` (e.g. ``128x171``)."""
    try:
        height, width = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HEIGHTxWIDTH such as 128x171, got {text!r}") from None
    if height < 1 or width < 1:
        raise argparse.ArgumentTypeError(f"sizes must be positive, got {text!r}")
    return height, width


# --------------------------------------------------------------------------------------------------------
# vidlens info
# --------------------------------------------------------------------------------------------------------


def cmd_info(args: argparse.Namespace) -> int:
    from vidlens.video import VideoError, probe

    failed = 0
    rows = []
    for path in args.videos:
        try:
            info = probe(path)
        except VideoError as err:
            print(f"error: {err}", file=sys.stderr)
            failed += 1
            continue
        if args.json:
            print(json.dumps(asdict(info)))
        else:
            rows.append(info)
    if rows:
        header = ("video", "frames", "fps", "size", "duration", "codec")
        table = [
            (r.path, str(r.n_frames), f"{r.fps:.3f}", f"{r.width}x{r.height}", f"{r.duration:.2f}s", r.codec)
            for r in rows
        ]
        _print_table(header, table)
    return 1 if failed else 0


def _print_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=True)]
    for i, row in enumerate([header, *rows]):
        print(
            "  ".join(
                str(c).ljust(w) if j == 0 else str(c).rjust(w)
                for j, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
        if i == 0:
            print("  ".join("-" * w for w in widths))


# --------------------------------------------------------------------------------------------------------
# vidlens synth
# --------------------------------------------------------------------------------------------------------


def _motion_config(args: argparse.Namespace):
    from vidlens.data.synthetic import MotionConfig

    height, width = args.size
    return MotionConfig(
        num_classes=args.classes,
        videos_per_class=args.videos_per_class,
        frames=args.frames,
        height=height,
        width=width,
        fps=args.fps,
        seed=args.seed,
    )


def cmd_synth(args: argparse.Namespace) -> int:
    from vidlens.data.synthetic import make_motion_dataset

    t0 = time.perf_counter()
    ds = make_motion_dataset(
        args.dir, _motion_config(args), overwrite=args.overwrite, progress=not args.quiet
    )
    verb = "found" if ds.reused else f"wrote in {time.perf_counter() - t0:.1f}s"
    print(
        f"{verb}: {ds.num_videos} videos ({len(ds.train)} train, {len(ds.test)} test) of "
        f"{len(ds.class_names)} motion classes in {ds.root}"
    )
    print(f"classes: {', '.join(ds.class_names)}")
    print(f"splits:  {ds.splits_dir}/classInd.txt, trainlist01.txt, testlist01.txt")
    return 0


def _add_synth_options(p: argparse.ArgumentParser, *, frames: int = 32, videos: int = 10) -> None:
    p.add_argument("--classes", type=int, default=4, help="motion classes, 2-8 (default 4)")
    p.add_argument("--videos-per-class", type=int, default=videos, help=f"(default {videos})")
    p.add_argument("--frames", type=int, default=frames, help=f"frames per video (default {frames})")
    p.add_argument("--size", type=_size, default=(112, 112), help="frame size HxW (default 112x112)")
    p.add_argument("--fps", type=int, default=25, help="frame rate written into the files (default 25)")
    p.add_argument("--seed", type=int, default=0, help="same seed, same dataset (default 0)")


# --------------------------------------------------------------------------------------------------------
# vidlens models
# --------------------------------------------------------------------------------------------------------


def cmd_models(args: argparse.Namespace) -> int:
    from vidlens.models import describe_models

    infos = describe_models(args.pattern)
    if not infos:
        print(f"no model matches {args.pattern!r}", file=sys.stderr)
        return 1
    if args.json:
        for info in infos:
            print(json.dumps(asdict(info)))
        return 0
    rows = [
        (
            i.name,
            "x".join(map(str, i.input_shape)),
            f"{i.params / 1e6:.1f}M",
            f"{i.macs / 1e9:.1f}G",
            i.preset,
        )
        for i in infos
    ]
    _print_table(("model", "input (C,T,H,W)", "params", "MACs/clip", "preset"), rows)
    print()
    for i in infos:
        print(f"{i.name}: {i.description}\n  paper:  {i.paper}\n  layers: {', '.join(i.layers)}")
    return 0


# --------------------------------------------------------------------------------------------------------
# vidlens demo
# --------------------------------------------------------------------------------------------------------


def cmd_demo(args: argparse.Namespace) -> int:
    import torch
    from tqdm import tqdm

    from vidlens.data.datasets import load_videos
    from vidlens.data.synthetic import make_motion_dataset
    from vidlens.data.transforms import center_crop
    from vidlens.models import count_macs, count_parameters, create_model
    from vidlens.presets import get_preset
    from vidlens.video import DEFAULT_SIZE, iter_clips

    root = Path(args.dir)
    print(f"1. synthetic motion dataset in {root}")
    t0 = time.perf_counter()
    ds = make_motion_dataset(root, _motion_config(args), progress=True)
    print(
        f"   {'reused' if ds.reused else 'made'} in {time.perf_counter() - t0:.1f}s: {ds.num_videos} videos"
    )

    print("2. reading it back through the UCF101 code path")
    train, test = load_videos(root, subset="train"), load_videos(root, subset="test")
    print(f"   layout {train.layout}, classes: {', '.join(train.classes)}")
    print(f"   videos: {len(train)} train, {len(test)} test")

    print(f"3. decoding every video into 16-frame clips (stride 8) at {DEFAULT_SIZE[0]}x{DEFAULT_SIZE[1]}")
    n_clips = n_frames = 0
    first_clip = None
    t0 = time.perf_counter()
    for record in tqdm(train.records + test.records, desc="   decode", unit="video", leave=False):
        for clip in iter_clips(record.path, clip_len=16, stride=8):
            n_clips += 1
            n_frames += len(clip) - clip.padded
            first_clip = first_clip if first_clip is not None else clip
    dt = time.perf_counter() - t0
    print(
        f"   {n_clips} clips from {len(train) + len(test)} videos in {dt:.2f}s ({n_frames / dt:,.0f} frames/s)"
    )

    print("4. C3D (Tran et al. 2015) forward pass on one clip")
    torch.manual_seed(0)
    model = create_model("c3d", num_classes=len(train.classes)).eval()
    preset = get_preset("plain")
    x = preset.normalize(center_crop(first_clip.frames, 112)).unsqueeze(0)  # (1, 3, 16, 112, 112)
    with torch.inference_mode():
        model(x)  # warm-up
        t0 = time.perf_counter()
        logits = model(x)
        dt = time.perf_counter() - t0
    print(f"   input {tuple(x.shape)} -> logits {tuple(logits.shape)} in {dt * 1000:.0f} ms on CPU")
    print(
        f"   {count_parameters(model) / 1e6:.1f}M parameters, "
        f"{count_macs(model, (1, 3, 16, 112, 112)) / 1e9:.1f}G multiply-adds per clip"
    )
    print("   (untrained weights: training and evaluation come with `vidlens train`, a later milestone)")
    return 0


# --------------------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    from vidlens import __version__

    parser = argparse.ArgumentParser(
        prog="vidlens", description="Learn, extract and understand spatiotemporal features of 3D ConvNets."
    )
    parser.add_argument("--version", action="version", version=f"vidlens {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("info", help="frames, fps, size, duration and codec of videos")
    p.add_argument("videos", nargs="+", metavar="VIDEO")
    p.add_argument("--json", action="store_true", help="one JSON object per video")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("synth", help="make the synthetic motion dataset (UCF101 layout)")
    p.add_argument("dir", metavar="DIR")
    _add_synth_options(p)
    p.add_argument("--overwrite", action="store_true", help="write into a non-empty directory anyway")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_synth)

    p = sub.add_parser("models", help="list the model registry")
    p.add_argument("pattern", nargs="?", default=None, help="shell-style filter, e.g. 'c3d*'")
    p.add_argument("--json", action="store_true", help="one JSON object per model")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("demo", help="synthesise, decode and run C3D on built-in data")
    p.add_argument("--dir", default="runs/demo/data", help="where the dataset goes (default runs/demo/data)")
    _add_synth_options(p)
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError, KeyError, RuntimeError) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"vidlens {args.command}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
