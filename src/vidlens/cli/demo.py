"""``vidlens demo``: the demo's report, built step by step (:mod:`vidlens.demo`); ``vidlens report DIR``: its
page, rebuilt from the finished steps (:mod:`vidlens.report`)."""

from __future__ import annotations

import argparse
import sys

__all__ = ["register"]


def cmd_demo(args: argparse.Namespace) -> int:
    from vidlens.demo import run_demo

    page = run_demo(
        args.out,
        args.scale,
        data=args.data,
        run=args.run,
        redo=tuple(args.redo),
        only=tuple(args.only) or None,
        workers=args.workers,
    )
    print(f"wrote {page}")
    print(f"open it in a browser: {page.resolve().as_uri()}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from vidlens.report import check_in_browser, collect_report, render_html, save_report

    report = collect_report(args.dir, title=args.title)
    print(f"wrote {save_report(report, args.dir)}")
    page = render_html(report, args.dir)
    print(f"wrote {page}")
    if args.screenshot is None:
        return 0
    seen = check_in_browser(page, screenshot=args.screenshot)
    print(f"wrote {seen.screenshot}")
    loaded = len(seen.media) - len(seen.broken)
    print(f"in Chromium: {loaded} of {len(seen.media)} images and videos loaded", file=sys.stderr)
    for src in seen.broken:
        print(f"  did not load: {src}", file=sys.stderr)
    for message in seen.console_errors + [f"dialog: {d}" for d in seen.dialogs]:
        print(f"  console: {message}", file=sys.stderr)
    return 0 if seen.ok else 1


def register(sub: argparse._SubParsersAction) -> None:
    from vidlens.demo import SIZES

    p = sub.add_parser(
        "demo",
        help="the whole story on built-in data, as one page: a 3D net against a single-frame one, its "
        "features, and what it learned (DIR/index.html)",
        description="Synthesise a motion dataset, train a 3D ConvNet and a single-frame net on it with the same "
        "budget, evaluate both, extract and evaluate fc6 descriptors, and look inside the trained nets (feature "
        "maps, filters, deconvolution, Grad-CAM, saliency, activation maximisation, redundancy, dependence, "
        "motion units); write DIR/index.html. Steps are resumable: a rerun reuses what is finished.",
    )
    p.add_argument(
        "--out", default="build/demo", metavar="DIR", help="the report's folder (default build/demo)"
    )
    p.add_argument(
        "--scale",
        default="small",
        choices=list(SIZES),
        help="small (default: about 7 min on 2 CPU cores) or tiny (seconds, for tests: nothing is learnt)",
    )
    p.add_argument(
        "--data", default=None, metavar="ROOT", help="your dataset (UCF101, HMDB51 or class folders) instead of "
        "the synthetic one; the demo's two nets are trained on it unless --run is given",
    )  # fmt: skip
    p.add_argument(
        "--run", default=None, metavar="RUN", help="your trained run (`vidlens train --out RUN`) instead of "
        "training the demo's nets; its data, unless --data is given",
    )  # fmt: skip
    p.add_argument("--redo", action="append", default=[], metavar="STEP", help="run STEP again (repeatable)")
    p.add_argument("--only", action="append", default=[], metavar="STEP", help="run only STEP (repeatable)")
    p.add_argument("--workers", type=int, default=2, help="decoding processes (default 2)")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser(
        "report",
        help="rebuild DIR/index.html from the finished steps in DIR/steps (computes nothing)",
    )
    p.add_argument("dir", metavar="DIR", help="a report folder (what `vidlens demo --out DIR` wrote)")
    p.add_argument("--title", default=None, help="the page's title (default: the saved one)")
    p.add_argument(
        "--screenshot",
        default=None,
        metavar="PNG",
        help="also open the page in headless Chromium (needs Playwright and Chromium), check that every image "
        "and video loads without console errors (exit status 1 otherwise) and save the top of the page as PNG",
    )
    p.set_defaults(func=cmd_report)
