"""``vidlens demo``: the demo's report, built step by step (:mod:`vidlens.demo`); ``vidlens report DIR``: its
page, rebuilt from the finished steps (:mod:`vidlens.report`)."""

from __future__ import annotations

import argparse

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
    print(f"wrote {page}: open it in a browser")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from vidlens.report import collect_report, render_html, save_report

    report = collect_report(args.dir, title=args.title)
    print(f"wrote {save_report(report, args.dir)}")
    print(f"wrote {render_html(report, args.dir)}")
    return 0


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
    p.set_defaults(func=cmd_report)
