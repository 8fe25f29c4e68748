"""``vidlens models``: the model registry."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict

from vidlens.cli.common import print_table

__all__ = ["register"]


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
    # The preset foreign weights of each architecture get (a randomly initialised model uses "plain").
    print_table(("model", "input (C,T,H,W)", "params", "MACs/clip", "published preset"), rows)
    print()
    for i in infos:
        print(f"{i.name}: {i.description}\n  paper:  {i.paper}\n  layers: {', '.join(i.layers)}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list the model registry")
    p.add_argument("pattern", nargs="?", default=None, help="shell-style filter, e.g. 'c3d*'")
    p.add_argument("--json", action="store_true", help="one JSON object per model")
    p.set_defaults(func=cmd_models)
