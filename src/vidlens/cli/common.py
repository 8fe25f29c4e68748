"""What the command modules share: argument types, the model options, warnings on stderr, tables."""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = [
    "add_model_options",
    "int_tuple",
    "load_model_from_args",
    "model_arg",
    "number_list",
    "print_table",
    "size_arg",
    "warnings_to_stderr",
]


def size_arg(text: str) -> tuple[int, int]:
    """Parse ``HxW`` (e.g. ``128x171``)."""
    try:
        height, width = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HEIGHTxWIDTH such as 128x171, got {text!r}") from None
    if height < 1 or width < 1:
        raise argparse.ArgumentTypeError(f"sizes must be positive, got {text!r}")
    return height, width


def model_arg(text: str) -> tuple[str, object]:
    """Parse ``key=value`` for a model builder; values become int, float, bool or stay strings."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE such as width=16, got {text!r}")
    for cast in (int, float):
        try:
            return key, cast(value)
        except ValueError:
            pass
    return key, {"true": True, "false": False}.get(value.lower(), value)


def number_list(minimum: float | None = None) -> Callable[[str], list[float]]:
    """An argparse type: numbers separated by commas (``0.5,1,2``), each at least ``minimum`` when given."""

    def parse(text: str) -> list[float]:
        try:
            values = [float(v) for v in text.split(",")]
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected numbers separated by commas (0.5,1,2), got {text!r}"
            ) from None
        if minimum is not None and any(v < minimum for v in values):
            raise argparse.ArgumentTypeError(f"every number must be >= {minimum:g}, got {text!r}")
        return values

    return parse


def int_tuple(count: int, minimum: int = 0) -> Callable[[str], tuple[int, ...]]:
    """An argparse type: exactly ``count`` integers separated by commas (``16,112,112``), each >= ``minimum``."""

    def parse(text: str) -> tuple[int, ...]:
        try:
            values = tuple(int(v) for v in text.split(","))
        except ValueError:
            values = ()
        if len(values) != count or min(values) < minimum:
            raise argparse.ArgumentTypeError(
                f"expected {count} integers >= {minimum} separated by commas, got {text!r}"
            )
        return values

    return parse


def add_model_options(p: argparse.ArgumentParser) -> None:
    """The options that name a model, the same for every command that loads one (see
    :func:`load_model_from_args` and :func:`vidlens.models.load_model`)."""
    g = p.add_argument_group("model (a registry name with or without weights, or a training run)")
    g.add_argument("--model", default=None, help="registry name (default c3d; a run names its own)")
    g.add_argument(
        "--weights", default=None, help="weights file (.pt/.pth/.pickle/.safetensors, or a run's model.pt)"
    )
    g.add_argument("--run", default=None, help="a vidlens training run to take the model from")
    g.add_argument("--model-arg", action="append", type=model_arg, metavar="KEY=VALUE",
                   help="builder argument, e.g. --model-arg width=16 (repeatable)")  # fmt: skip
    g.add_argument(
        "--preset",
        default=None,
        help="preprocessing preset (default: the weights' own, see `vidlens models`)",
    )


def load_model_from_args(args: argparse.Namespace) -> tuple[Any, str, Path | None]:
    """The model the options of :func:`add_model_options` name, its registry name, and the file its weights
    came from (``None`` for random initialisation, which warns: it only tests the pipeline)."""
    import torch

    from vidlens.models import load_model
    from vidlens.runs import is_run, load_config, run_weights

    kwargs = dict(args.model_arg or [])
    weights = Path(args.weights) if args.weights is not None else None
    run = Path(args.run) if args.run is not None else None
    if run is None and weights is not None and is_run(weights.parent):
        run = weights.parent  # RUN/model.pt: the run's model
    if run is not None:
        model = load_model(args.model, run=args.run, weights=weights, preset=args.preset, **kwargs)
        return model, load_config(run)[0].model, weights if weights is not None else run_weights(run)
    name = args.model or "c3d"
    if weights is None:
        warnings.warn(
            f"no --weights or --run: using randomly initialised {name} weights (seed 0), which is only "
            "useful for testing the pipeline",
            stacklevel=2,
        )
        torch.manual_seed(0)
    return load_model(name, weights=weights, preset=args.preset, **kwargs), name, weights


@contextmanager
def warnings_to_stderr() -> Iterator[None]:
    """Print the warnings raised inside the block as ``warning: ...`` lines on stderr, also when the block
    fails (its error then reaches ``vidlens.cli.main``, which prints it and exits with status 2)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RuntimeWarning)
        try:
            yield
        finally:
            for w in caught:
                print(f"warning: {w.message}", file=sys.stderr)


def print_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Print an aligned text table (:func:`vidlens.viz.text_table`)."""
    from vidlens.viz import text_table

    print(text_table(header, rows))
