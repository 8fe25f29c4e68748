"""Does activation maximisation find the motion? Synthesise each class's clip and measure which way it moves.

On the synthetic motion data a class *is* a direction (MoveRight, MoveUp, ...), and no single frame carries
it. For each trained model (``vidlens reproduce`` runs), ``vidlens.interpret.actmax`` maximises every class
logit from noise with its defaults (one batch, one clip per class); :func:`vidlens.metrics.dominant_motion`
then measures the synthesised clip's displacement per frame by phase correlation of its temporal
differences. A class counts as *recovered* when the clip moves at least ``--min-speed`` pixels per frame and
the class direction nearest to its direction of motion is its own (within 45 degrees for four classes).

A net that encodes motion should move each class's clip its class's way; a single-frame net cannot encode
it, so its clips should not (still, or moving any way). Writes a Markdown table, the measurements as JSON,
and a contact sheet of every model's clips (``--out``).

    python benchmarks/actmax_directions.py RUN [RUN ...] --out benchmarks/results/actmax_directions
    python benchmarks/actmax_directions.py /tmp/r/fusion/*_seed0 --steps 64   # a quick look
    python benchmarks/actmax_directions.py --quick   # a smoke run of seconds on a run it trains first
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    arg_parser,
    machine_info,
    motion_dataset,
    motion_train_config,
    palette_png,
    parse,
    table,
    workdir,
    write_json,
)
from vidlens.cli.actmax import natural_clips
from vidlens.data.synthetic import DIRECTIONS
from vidlens.interpret import actmax, channel
from vidlens.metrics import angle_difference, dominant_motion, motion_direction
from vidlens.models import load_model, model_spec
from vidlens.runs import load_config
from vidlens.viz import clips_sheet, save_clips, save_figure


def measure(run: Path, args: argparse.Namespace) -> tuple[list[dict], np.ndarray, str]:
    """Every class of ``run``'s model: its synthesised clip's motion against its direction."""
    model = load_model(None, run=run).eval()
    config, classes = load_config(run)
    spec = model_spec(model)
    logits = spec.classifier if spec is not None and spec.classifier else "fc8"
    natural = None
    if Path(config.data).exists():  # the run's own data: how far beyond real clips the logits go
        shape = spec.input_shape if spec is not None else (3, 16, 112, 112)
        natural, _ = natural_clips(Path(config.data), model, args.natural_clips, shape[1])
    t0 = time.perf_counter()
    result = actmax(model, channel(logits, range(len(classes))), steps=args.steps, natural_clips=natural,
                    seed=args.seed, progress=not args.quiet)  # fmt: skip
    seconds = time.perf_counter() - t0
    rows = []
    for i, name in enumerate(classes):
        dy, dx = dominant_motion(result.frames[i])
        speed, angle = motion_direction(dy, dx)
        nearest = min(classes, key=lambda c: abs(angle_difference(angle, DIRECTIONS[c])))
        rows.append({
            "model": config.model, "run": str(run), "class": name, "dy": dy, "dx": dx, "speed": speed,
            "angle": angle, "class_angle": DIRECTIONS[name], "error": angle_difference(angle, DIRECTIONS[name]),
            "recovered": bool(speed >= args.min_speed and nearest == name), "logit": float(result.value[i]),
            "natural_best": None if result.natural_best is None else float(result.natural_best[i]),
            "seconds": seconds,
        })  # fmt: skip
    return rows, result.frames, config.model


def draw(out: Path, sheets: list[tuple[str, np.ndarray, list[str]]], steps: int) -> None:
    """The contact sheets: ``directions.png`` (the first run of each model) and ``directions_3d_2d.png`` (the
    first two models only, small enough for the README); 256 colours each."""
    shown, models = [], set()
    for name, frames, classes in sheets:
        if name.split(" ")[0] not in models:
            shown.append((name, frames, classes))
            models.add(name.split(" ")[0])
    title = f"class logits maximised ({steps} steps)"
    for stem, picked in (("directions", shown), ("directions_3d_2d", shown[:2])):
        clips = [clip for _, frames, _ in picked for clip in frames]
        labels = [f"{name.split(' ')[0]}\n{c}" for name, _, classes in picked for c in classes]
        palette_png(
            save_figure(
                clips_sheet(clips, labels, every=5, title=title, panel_inches=1.1), out / f"{stem}.png"
            )
        )


def redraw(out: Path) -> None:
    """The pictures again from ``out``'s directions.json and directions.npz, without optimising anything."""
    payload = json.loads((out / "directions.json").read_text())
    clips = np.load(out / "directions.npz")
    sheets = []
    for run in payload["settings"]["runs"]:
        rows = [r for r in payload["rows"] if r["run"] == run]
        sheets.append(
            (f"{rows[0]['model']} ({Path(run).name})", clips[Path(run).name], [r["class"] for r in rows])
        )
    draw(out, sheets, payload["settings"]["steps"])


def quick_run(work: Path) -> Path:
    """A run for ``--quick`` to measure when it is given none: c3d_depth3 width 4 trained for one epoch on
    8 synthetic motion videos by ``vidlens.train.train`` (seconds; it learns nothing, it only has to run)."""
    from vidlens.train import train

    data = motion_dataset(work / "data", videos_per_class=2)
    train(motion_train_config(data, "c3d_depth3", 4, workers=0, epochs=1), work / "run", progress=False)
    return work / "run"


def main() -> None:
    parser = arg_parser(
        __doc__,
        quick_help="8 actmax steps, 2 natural clips, no progress bars; without runs, on a tiny one trained "
        "first: a smoke run of seconds (what `make bench` runs), not a measurement",
    )
    parser.add_argument("runs", nargs="*", type=Path, help="training runs on the synthetic motion data")
    parser.add_argument("--steps", type=int, default=256, help="actmax steps (default 256, the API's)")
    parser.add_argument("--seed", type=int, default=0, help="actmax seed (default 0)")
    parser.add_argument("--min-speed", type=float, default=0.5, help="pixels per frame to count as motion")
    parser.add_argument("--natural-clips", type=int, default=16, help="natural clips from the run's data")
    parser.add_argument(
        "--out",
        type=Path,
        help="folder for directions.json, .md, .png (the first run of each "
        "model) and .npz (every run's clips, uint8 (classes, T, H, W, 3) by run name)",
    )
    parser.add_argument("--gifs", action="store_true", help="also a GIF, MP4 and PNG per model (large)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument(
        "--redraw", action="store_true", help="only redraw the pictures of --out from its files"
    )
    args = parse(parser, {"steps": 8, "natural_clips": 2, "quiet": True})
    if args.redraw or not (args.runs or args.quick):
        if not (args.redraw and args.out):
            parser.error("give training runs to measure, --quick, or --redraw with --out")
        return redraw(args.out)
    with workdir(prefix="vidlens-bench-actmax-") as work:
        if not args.runs:
            args.runs = [quick_run(work)]
        measure_all(args)


def measure_all(args: argparse.Namespace) -> None:
    all_rows, sheets = [], []
    for run in args.runs:
        rows, frames, model = measure(run, args)
        all_rows += rows
        sheets.append((f"{model} ({run.name})", frames, [r["class"] for r in rows]))
        hits = sum(r["recovered"] for r in rows)
        print(
            f"{run.name}: {hits}/{len(rows)} directions recovered in {rows[0]['seconds']:.0f} s", flush=True
        )

    header = [
        "model",
        "run",
        "class",
        "motion (px/frame)",
        "direction",
        "error",
        "recovered",
        "logit",
        "best natural",
    ]
    lines = [
        [r["model"], Path(r["run"]).name, r["class"], f"{r['speed']:.2f}", f"{r['angle']:.0f} deg",
         f"{r['error']:+.0f} deg", "yes" if r["recovered"] else "no", f"{r['logit']:.1f}",
         "" if r["natural_best"] is None else f"{r['natural_best']:.1f}"]
        for r in all_rows
    ]  # fmt: skip
    print(table(header, lines))
    by_model: dict[str, list[bool]] = {}
    for r in all_rows:
        by_model.setdefault(r["model"], []).append(r["recovered"])
    summary = [[m, f"{sum(v)}/{len(v)}"] for m, v in by_model.items()]
    print(table(["model", "directions recovered"], summary))
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        payload = {"settings": vars(args) | {"runs": [str(r) for r in args.runs], "out": str(args.out)},
                   "rows": all_rows, "machine": machine_info()}  # fmt: skip
        write_json(args.out / "directions.json", payload)
        (args.out / "directions.md").write_text(
            table(header, lines, markdown=True)
            + "\n\n"
            + table(["model", "recovered"], summary, markdown=True)
            + "\n"
        )
        np.savez_compressed(
            args.out / "directions.npz",
            **{Path(run).name: f for run, (_, f, _) in zip(args.runs, sheets, strict=True)},
        )
        draw(args.out, sheets, args.steps)
        for name, frames, classes in sheets if args.gifs else ():  # one GIF per model, classes side by side
            save_clips(
                args.out, Path(name.split("(")[1].rstrip(")")).name, list(frames), classes, fps=8, title=name
            )


if __name__ == "__main__":
    main()
