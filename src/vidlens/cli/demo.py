"""``vidlens demo``: the built-in demo, step by step (:mod:`vidlens.demo`)."""

from __future__ import annotations

import argparse

from vidlens.cli.video import add_synth_options, motion_config

__all__ = ["register"]


def cmd_demo(args: argparse.Namespace) -> int:
    from vidlens import demo
    from vidlens.presets import PRESETS

    print(f"1. synthetic motion dataset in {args.dir}")
    dataset, seconds = demo.make_data(args.dir, motion_config(args))
    print(f"   {'reused' if dataset.reused else 'made'} in {seconds:.1f}s: {dataset.num_videos} videos")

    print("2. reading it back through the UCF101 code path")
    train, test = demo.read_back(args.dir)
    print(f"   layout {train.layout}, classes: {', '.join(train.classes)}")
    print(f"   videos: {len(train)} train, {len(test)} test")

    size = PRESETS["plain"].size
    print(f"3. decoding every video into 16-frame clips (stride 8) at {size[0]}x{size[1]}")
    stats = [demo.decode_all(videos, size=size) for videos in (train, test)]
    clips, frames, seconds = (sum(getattr(s, k) for s in stats) for k in ("clips", "frames", "seconds"))
    print(
        f"   {clips} clips from {len(train) + len(test)} videos in {seconds:.2f}s "
        f"({frames / seconds:,.0f} frames/s)"
    )

    print("4. C3D (Tran et al. 2015) forward pass on one clip")
    first = stats[0].first_clip or stats[1].first_clip
    if first is None:
        raise RuntimeError(f"no clip could be decoded from {args.dir}; check the files with `vidlens info`")
    f = demo.forward_pass(first, len(train.classes))
    print(f"   input {f.input_shape} -> logits {f.output_shape} in {f.milliseconds:.0f} ms on CPU")
    print(f"   {f.params / 1e6:.1f}M parameters, {f.macs / 1e9:.1f}G multiply-adds per clip")
    print(
        "   (untrained weights: train with `vidlens train` or `vidlens reproduce depth`; extract with "
        "`vidlens extract`)"
    )
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="synthesise, decode and run C3D on built-in data")
    p.add_argument("--dir", default="runs/demo/data", help="where the dataset goes (default runs/demo/data)")
    add_synth_options(p)
    p.set_defaults(func=cmd_demo)
