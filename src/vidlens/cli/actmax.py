"""``vidlens actmax``: the clip a unit likes best, synthesised by activation maximisation.

Runs :func:`vidlens.interpret.actmax` (Feichtenhofer et al. 2018, eqs. 1-3) for one unit or a batch of units
of a model and writes into ``--out`` (default ``interpret/actmax/<model>/``):

* ``<stem>.npy``: the optimised model input ``(N, 3, T, H, W)`` (with ``--chi-sweep``, one
  ``<stem>_chi<X>.npy`` per temporal weight);
* ``<stem>.gif`` and ``<stem>.mp4``: the clips side by side (a sweep: one row per temporal weight, slow to
  fast, as the paper's figure 3); ``<stem>.png``: a contact sheet, one labelled row per clip;
* ``<stem>_curve.png``: the objective step by step, next to the most a natural clip drives it;
* ``<stem>.json``: the settings, and each clip's activation against the natural clips' best and mean.

The unit is ``--layer`` with ``--channel`` (several, comma separated: one clip each, a layer's atlas in one
run; a class name picks that logit of a classifier layer), optionally ``--position T,Y,X`` for one neuron, or
any objective string (``--objective "conv5b:7"``, ``"fc8:3"``, ``"conv5b:7@0,3,3"``). Natural clips (eq. 1's
a_hat, and the comparison) come from ``--natural`` (a video or a folder of videos), by default from the
training data of ``--run`` when it is still there.
"""

from __future__ import annotations

import argparse
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vidlens.cli.common import add_model_options, int_tuple, number_list, print_table, warnings_to_stderr
from vidlens.cli.interpret import _add_output_options, _load, _Model, _prepare_clip, _report, _save_npy, _stem

if TYPE_CHECKING:
    import numpy as np
    import torch
    from torch import nn

    from vidlens.interpret.actmax import ActMax, Objective

__all__ = ["natural_clips", "register"]


def _channels(text: str, model: _Model) -> list[int]:
    """``--channel``: indices, or class names where the weights carry them (a logit of the classifier)."""
    names = getattr(model.net, "class_names", None)
    channels = []
    for part in (p.strip() for p in text.split(",")):
        if part.isdigit():
            channels.append(int(part))
        elif names is not None and part in names:
            channels.append(list(names).index(part))
        else:
            known = f" or a class name ({', '.join(names)})" if names is not None else ""
            raise ValueError(f"--channel {part!r}: give a channel index{known}; several: 0,1,2")
    return channels


def _objective(args: argparse.Namespace, model: _Model) -> tuple[Objective, str, list[str]]:
    """The objective the options name, its text (for titles and file names) and one label per clip."""
    from vidlens.interpret.actmax import channel, neuron, parse_objective
    from vidlens.models import list_layers, model_spec

    if args.objective is not None:
        if args.layer is not None or args.channel is not None or args.position is not None:
            raise ValueError("give --objective, or --layer with --channel and --position, not both")
        objective = parse_objective(args.objective)
        n = objective.batch_size or 1
        labels = [
            " + ".join(str(t.unit) for t in objective.terms if t.element in (None, i)) for i in range(n)
        ]
        return objective, args.objective, labels if n > 1 else [args.objective]
    if args.layer is None:
        raise ValueError(
            f"actmax needs --layer (with --channel) or --objective; {model.name}'s layers: "
            f"{', '.join(list_layers(model.net))}"
        )
    if args.channel is None:
        if args.position is not None:
            raise ValueError("--position needs --channel: a neuron is a channel at one position")
        return parse_objective(args.layer), args.layer, [args.layer]
    channels = _channels(args.channel, model)
    names = getattr(model.net, "class_names", None)
    spec = model_spec(model.net)
    logits = args.layer == (spec.classifier if spec is not None and spec.classifier else "fc8")

    def label(c: int) -> str:
        where = "" if args.position is None else "@" + ",".join(map(str, args.position))
        named = f" ({names[c]})" if logits and names is not None and c < len(names) else ""  # a class logit
        return f"{args.layer}:{c}{where}{named}"

    one = channels if len(channels) > 1 else channels[0]
    objective = channel(args.layer, one) if args.position is None else neuron(args.layer, one, *args.position)
    text = f"{args.layer}:{','.join(map(str, channels))}"
    if args.position is not None:
        text += "@" + ",".join(map(str, args.position))
    return objective, text, [label(c) for c in channels]


# The options the summary records as they were given.
_SETTINGS = ("steps", "lr", "kappa", "alpha", "bound", "energy", "param", "transforms", "optimizer", "seed")


def _natural_source(args: argparse.Namespace) -> Path | None:
    """``--natural``, else the training data of ``--run`` (or of the run a ``--weights`` file lies in)."""
    from vidlens.runs import is_run, load_config

    if args.natural is not None:
        return None if args.natural.lower() == "none" else Path(args.natural)
    run = Path(args.run) if args.run is not None else None
    if run is None and args.weights is not None and is_run(Path(args.weights).parent):
        run = Path(args.weights).parent
    if run is None:
        return None
    data = Path(load_config(run)[0].data)
    return data if data.exists() else None


def natural_clips(source: Path, net: nn.Module, count: int, clip_len: int) -> tuple[torch.Tensor, list[Path]]:
    """Up to ``count`` clips from the middle of videos spread evenly over ``source`` (a video or a folder,
    searched recursively, so that a dataset's classes all take part), prepared as ``net``'s preset says:
    ``(M, 3, T, H, W)`` on the CPU, and the videos they came from."""
    import numpy as np
    import torch

    from vidlens.data.datasets import find_videos
    from vidlens.presets import resolve_preset
    from vidlens.video import count_frames

    if not source.exists():
        raise FileNotFoundError(f"--natural {source}: no such video or folder")
    videos = [source] if source.is_file() else find_videos(source)
    if not videos:
        raise FileNotFoundError(f"--natural {source} holds no videos; give a video, a folder, or 'none'")
    picks = sorted({int(i) for i in np.linspace(0, len(videos) - 1, min(count, len(videos))).round()})
    chosen = [videos[i] for i in picks]
    preset = resolve_preset(net)
    clips = []
    for video in chosen:
        start = max(0, (count_frames(video) - clip_len) // 2)
        clips.append(_prepare_clip(video, start, clip_len, preset)[1])
    return torch.cat(clips), chosen  # (M, 3, T, H, W)


def _motion(frames: np.ndarray) -> dict[str, float] | None:
    """A clip's dominant motion (:func:`vidlens.metrics.dominant_motion`): displacement in pixels per frame,
    its speed and its direction in degrees (0 right, 90 up); None for clips of under 3 frames."""
    from vidlens.metrics import dominant_motion, motion_direction

    if len(frames) < 3:
        return None
    dy, dx = (float(v) for v in dominant_motion(frames))
    speed, direction = motion_direction(dy, dx)
    return {"dy": dy, "dx": dx, "speed": speed, "direction": direction}


def _chunk(found: ActMax, start: int, n: int) -> ActMax:
    """Clips ``start .. start + n`` of an actmax batch, as if they had been optimised alone."""
    from dataclasses import replace

    part = slice(start, start + n)
    return replace(
        found,
        input=found.input[part],
        frames=found.frames[part],
        history=found.history[:, part],
        value=found.value[part],
        natural_values=None if found.natural_values is None else found.natural_values[:, part],
    )


def cmd_actmax(args: argparse.Namespace) -> int:
    import numpy as np

    from vidlens.interpret.actmax import Transforms, actmax
    from vidlens.io import atomic_write_json
    from vidlens.models import model_spec
    from vidlens.viz import objective_curve_figure, save_clips, save_figure

    with warnings_to_stderr():
        model = _load(args)
        model.net.eval()
        objective, text, clip_labels = _objective(args, model)
        spec = model_spec(model.net)
        shape = args.shape or (tuple(spec.input_shape[1:]) if spec is not None else (16, 112, 112))
        natural, natural_videos, source = None, [], _natural_source(args)
        if source is not None:
            natural, natural_videos = natural_clips(source, model.net, args.natural_clips, shape[0])
            natural = natural.to(model.device)
            if args.shape is None:
                shape = tuple(natural.shape[2:])
        chis = args.chi_sweep or [args.chi]
        n = objective.batch_size or 1  # clips per temporal weight
        started = time.perf_counter()
        # A sweep is one batch: the objective's clips once per chi, each with its own temporal weight.
        found = actmax(
            model.net,
            objective.repeat(len(chis)),
            steps=args.steps,
            lr=args.lr,
            kappa=args.kappa,
            chi=[chi for chi in chis for _ in range(n)],
            alpha=args.alpha,
            bound=None if args.bound <= 0 else args.bound,
            energy=args.energy,
            param=args.param,
            transforms=Transforms() if args.transforms else False,
            natural_clips=natural,
            shape=(len(chis) * n, 3, *shape),
            optimizer=args.optimizer,
            seed=args.seed,
            progress=not args.quiet,
        )
        results = [_chunk(found, k * n, n) for k in range(len(chis))]
        seconds = time.perf_counter() - started

    out = Path(args.out) if args.out is not None else Path("interpret") / "actmax" / model.name
    sweep = args.chi_sweep is not None
    stem = _stem("actmax", text, "chi-sweep" if sweep else f"chi{chis[0]:g}")
    labels, clips, rows = [], [], []
    for chi, result in zip(chis, results, strict=True):
        for i, label in enumerate(clip_labels):
            labels.append(
                f"chi={chi:g}"
                if sweep and len(clip_labels) == 1
                else label + (f", chi={chi:g}" if sweep else "")
            )
            clips.append(result.frames[i])
            best = None if result.natural_best is None else float(result.natural_best[i])
            mean = None if result.natural_values is None else float(result.natural_values[:, i].mean())
            value = float(result.value[i])
            ratio = value / best if best else None
            rows.append(
                {
                    "label": labels[-1],
                    "chi": chi,
                    "value": value,
                    "natural_best": best,
                    "natural_mean": mean,
                    "ratio": ratio,
                    "motion": _motion(result.frames[i]),
                }
            )
    written = []
    for chi, result in zip(chis, results, strict=True):
        written.append(_save_npy(result.input, out / (f"{stem}_chi{chi:g}.npy" if sweep else f"{stem}.npy")))
    title = f"{model.label} {text}\nactivation maximisation, kappa={args.kappa:g}, " + (
        f"chi={','.join(f'{c:g}' for c in chis)} (slow to fast)" if sweep else f"chi={chis[0]:g}"
    )
    cols = len(clip_labels) if sweep else min(len(clips), 8)
    files = save_clips(out, stem, clips, labels, fps=args.fps, title=title, every=args.every, cols=cols)
    written += list(files.values())
    history = np.concatenate([r.history for r in results], axis=1)  # (steps, K * N)
    natural_best = [r["natural_best"] for r in rows] if natural is not None else None
    curve = objective_curve_figure(history, labels, natural_best=natural_best, title=title)
    written.append(save_figure(curve, out / f"{stem}_curve.png"))
    summary: dict[str, Any] = {
        "model": model.label,
        "objective": text,
        "settings": {key: getattr(args, key) for key in _SETTINGS} | {"chi": chis, "shape": [3, *shape]},
        "natural": None
        if natural is None
        else {
            "source": str(source),
            "clips": len(natural_videos),
            "videos": [str(v) for v in natural_videos],
        },
        "clips": rows,
        "seconds": round(seconds, 2),
    }
    written.append(atomic_write_json(out / f"{stem}.json", summary))
    table = [
        [r["label"], f"{r['value']:.3g}"]
        + (
            []
            if natural is None
            else [f"{r['natural_best']:.3g}", f"{r['ratio']:.1f}x" if r["ratio"] else "-"]
        )
        + (
            ["-"]
            if r["motion"] is None
            else [f"{r['motion']['speed']:.2f} px/frame at {r['motion']['direction']:.0f} deg"]
        )
        for r in rows
    ]
    header = ["unit", "activation"] + ([] if natural is None else ["best natural clip", "ratio"]) + ["motion"]
    print_table(header, table)
    where = "" if natural is None else f", against {len(natural_videos)} natural clips from {source}"
    return _report(
        f"{model.label} {text}: {args.steps} steps x {len(chis)} in {seconds:.1f} s{where}", written
    )


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "actmax",
        help="activation maximisation: the clip a unit likes best (Feichtenhofer et al. 2018)",
        description=re.sub(r":\w+:`([^`]+)`", r"\1", __doc__.split("\n\n", 1)[1]).replace("``", "'"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_model_options(p)
    g = p.add_argument_group("unit (a channel, neuron, class logit or whole layer)")
    g.add_argument("--layer", help="tap name or module path (`vidlens models` lists a model's layers)")
    g.add_argument("--channel", help="channel index, several (0,1,2: one clip each), or a class name")
    g.add_argument("--position", type=int_tuple(3), metavar="T,Y,X", help="one neuron of the channel's map")
    g.add_argument("--objective", help="an objective string instead: 'conv5b:7', 'fc8:3', 'conv5b:7@0,3,3'")
    g = p.add_argument_group("natural clips (eq. 1's a_hat, and what the result is compared with)")
    g.add_argument("--natural", metavar="PATH", help="a video or folder of videos; 'none' for none "
                   "(default: the training data of --run, when it is there)")  # fmt: skip
    g.add_argument("--natural-clips", type=int, default=16, help="clips, from videos spread over PATH (16)")
    g = p.add_argument_group("optimisation (defaults: see vidlens.interpret.actmax)")
    g.add_argument("--steps", type=int, default=256, help="gradient steps (default 256)")
    g.add_argument("--lr", type=float, default=0.05, help="learning rate (default 0.05)")
    g.add_argument("--kappa", type=float, default=30.0, help="weight of spatial differences, R_TV (30)")
    g.add_argument("--chi", type=float, default=30.0, help="weight of temporal differences, R_TV (30)")
    g.add_argument("--chi-sweep", type=number_list(minimum=0), metavar="X,Y,...",
                   help="render the unit at each temporal weight, e.g. 10,5,1,0 (slow to fast)")  # fmt: skip
    g.add_argument("--alpha", type=float, default=6.0, help="exponent of the local energy R_B (6)")
    g.add_argument("--bound", type=float, default=0.5, help="B, largest colour norm; 0 for none (0.5)")
    g.add_argument("--energy", type=float, default=1.0, help="weight of R_B (1)")
    g.add_argument("--param", choices=("fft", "pixels"), default="fft", help="parameterisation (fft)")
    g.add_argument("--no-transforms", dest="transforms", action="store_false",
                   help="no jitter, zoom or time shift")  # fmt: skip
    g.add_argument("--optimizer", choices=("adam", "sgd"), default="adam", help="(default adam)")
    g.add_argument("--seed", type=int, default=0, help="seed of the start noise and transforms (0)")
    g.add_argument(
        "--shape", type=int_tuple(3, minimum=1), metavar="T,H,W", help="clip size (default: the model's)"
    )
    _add_output_options(p, default="interpret/actmax/<model>")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_actmax)
