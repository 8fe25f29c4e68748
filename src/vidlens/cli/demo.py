"""``vidlens demo``: the built-in demo, step by step (:mod:`vidlens.demo`); ``vidlens report DIR``: its page,
rebuilt from the finished steps (:mod:`vidlens.report`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from vidlens.cli.video import add_synth_options, motion_config

__all__ = ["register"]


def cmd_demo(args: argparse.Namespace) -> int:
    from vidlens import demo
    from vidlens.presets import PRESETS

    if args.out is not None:  # the report demo (issue 14): resumable steps, DIR/index.html
        page = demo.run_demo(
            args.out, args.scale, redo=tuple(args.redo), only=tuple(args.only) or None, workers=args.workers
        )
        print(f"wrote {page}")
        return 0

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
    print("   (untrained weights; step 5 trains two small nets)")
    if args.no_train:
        return 0

    from vidlens.reproduce import RECIPES, reproduce

    models = ["single_frame", "c3d_depth3"]
    out = Path(args.dir).parent
    print(
        "5. the seeds' claim: a single-frame net against a 3D ConvNet, trained from scratch on motion that no "
        f"single frame shows ({RECIPES['scratch'].description}; ~15 min on 2 CPU cores, reused when rerun)"
    )
    result = reproduce("fusion", out, recipe="scratch", models=models, workers=args.workers)
    print(result.table())
    print(f"   chance is 25%; results in {out / 'fusion'} (`vidlens reproduce fusion` adds the fusion nets)")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from vidlens.report import collect_report, render_html, save_report

    report = collect_report(args.dir, title=args.title)
    print(f"wrote {save_report(report, args.dir)}")
    print(f"wrote {render_html(report, args.dir)}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="synthesise, decode, run C3D and train a 3D net against a single-frame one, on built-in data",
    )
    p.add_argument("--dir", default="runs/demo/data", help="where the dataset goes (default runs/demo/data)")
    p.add_argument(
        "--no-train", action="store_true", help="skip step 5 (training two nets, ~15 min on a CPU)"
    )
    p.add_argument("--workers", type=int, default=2, help="decoding processes while training (default 2)")
    p.add_argument(
        "--out",
        default=None,
        metavar="DIR",
        help="build the report instead: resumable steps into DIR/steps, the page DIR/index.html (e.g. build/demo)",
    )
    p.add_argument(
        "--scale",
        default="small",
        choices=["small", "tiny"],
        help="with --out: small (default) or tiny (tests)",
    )
    p.add_argument("--redo", action="append", default=[], metavar="STEP", help="with --out: rerun STEP")
    p.add_argument(
        "--only", action="append", default=[], metavar="STEP", help="with --out: run only STEP (repeatable)"
    )
    add_synth_options(p)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser(
        "report",
        help="rebuild DIR/index.html from the finished steps in DIR/steps (computes nothing)",
    )
    p.add_argument("dir", metavar="DIR", help="a report folder (what `vidlens demo --out DIR` wrote)")
    p.add_argument("--title", default=None, help="the page's title (default: the saved one)")
    p.set_defaults(func=cmd_report)
