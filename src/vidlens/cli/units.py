"""``vidlens redundancy | dependence | units``: redundant filters, dependent units, and which units see motion.

* ``redundancy``: every convolution's filters clustered by cosine distance (Ayinde et al. 2019); needs no
  video. Writes ``redundancy.csv`` / ``.md`` (one row per layer at ``--tau``), ``redundancy_curve.csv`` and
  ``.png`` (redundant filters over tau, per layer) and ``dendrogram_<layer>.png``.
* ``dependence``: Pearson correlation and mutual information between the channels of layers over natural
  clips (``--natural``, by default the training data of ``--run``). Writes ``dependence.csv`` / ``.md``
  (one row per layer), and per layer ``dependence_<layer>.png`` (heat maps), ``dependence_<layer>_pairs.csv``
  (high MI, low correlation) and the matrices as ``dependence_<layer>_correlation.npy`` / ``_mi.npy``.
* ``units``: temporal sensitivity over natural clips (frames shuffled, one frame held), and direction and
  speed tuning on drifting gratings and moving dots. Writes ``units.csv`` (one row per unit),
  ``units_layers.csv`` / ``.md`` (one row per layer, ranked by temporal sensitivity),
  ``temporal_sensitivity.png``, ``dsi.png``, ``preferred_speeds.png`` and ``tuning_<layer>.png`` (polar
  curves of each layer's most direction-selective units).

Layers default to the model's convolutional feature maps (:func:`vidlens.interpret.unit_layers`; for
``redundancy`` every Conv3d / Conv2d); ``--layers a,b`` names others. Files go into ``--out`` (default
``interpret/<command>/<model>/``); their paths are printed as ``wrote PATH`` lines.
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from vidlens.cli.actmax import _natural_source, natural_clips
from vidlens.cli.common import add_model_options, int_tuple, number_list, print_table, warnings_to_stderr
from vidlens.cli.interpret import _load, _Model, _report, _stem

if TYPE_CHECKING:
    import numpy as np
    import torch

__all__ = ["register"]


# --------------------------------------------------------------------------------------------------------
# What the commands share
# --------------------------------------------------------------------------------------------------------


def _write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[object]]) -> Path:
    from vidlens.io import atomic_write_text

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([["" if _missing(v) else v for v in row] for row in rows])
    return atomic_write_text(path, buffer.getvalue())


def _write_markdown(path: Path, title: str, header: Sequence[str], rows: Sequence[Sequence[str]]) -> Path:
    from vidlens.io import atomic_write_text
    from vidlens.viz import markdown_table

    return atomic_write_text(path, f"{title}\n\n{markdown_table(header, rows)}\n")


def _missing(value: object) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _fmt(value: float, digits: int = 2, percent: bool = False) -> str:
    """A number for tables: ``-`` for NaN."""
    if _missing(float(value)):
        return "-"
    return f"{100 * value:.0f}%" if percent else f"{value:.{digits}f}"


def _out(args: argparse.Namespace, model: _Model) -> Path:
    return Path(args.out) if args.out is not None else Path("interpret") / args.command / model.name


def _layer_list(text: str) -> list[str]:
    layers = [part.strip() for part in text.split(",") if part.strip()]
    if not layers:
        raise argparse.ArgumentTypeError(
            f"expected layer names separated by commas (conv3,conv5), got {text!r}"
        )
    return layers


def _positions(text: str) -> str | int:
    if text == "mean":
        return text
    if text.isdigit() and int(text) > 0:
        return int(text)
    raise argparse.ArgumentTypeError(f"expected 'mean' or a number of positions per clip (16), got {text!r}")


def _clip_len(model: _Model) -> int:
    from vidlens.models import model_spec

    spec = model_spec(model.net)
    return spec.input_shape[1] if spec is not None else 16


def _clips(args: argparse.Namespace, model: _Model, why: str) -> tuple[torch.Tensor, Path]:
    """Natural clips from ``--natural`` (or the run's data), as model input on the CPU, and their source."""
    source = _natural_source(args)
    if source is None:
        raise ValueError(
            f"{args.command} needs clips for {why}: give --natural PATH (a video or a folder of videos), or a "
            "--run whose training data is still there"
        )
    clips, _ = natural_clips(source, model.net, args.natural_clips, _clip_len(model))
    return clips, source


def _layers(args: argparse.Namespace, model: _Model, shape: Sequence[int] | None = None) -> list[str]:
    from vidlens.interpret import unit_layers
    from vidlens.models import get_layer

    if args.layers is None:
        return unit_layers(model.net, shape)
    for layer in args.layers:
        get_layer(model.net, layer)  # an unknown name fails here, listing the valid ones
    return args.layers


def _add_common(p: argparse.ArgumentParser, default: str) -> None:
    add_model_options(p)
    p.add_argument(
        "--layers", type=_layer_list, metavar="A,B", help=f"layers to measure (default: {default})"
    )
    p.add_argument("--out", metavar="DIR", help="output folder (default interpret/<command>/<model>)")
    p.add_argument("--device", default="auto", help="auto (a GPU if there is one), cpu, cuda, cuda:N")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _add_natural(p: argparse.ArgumentParser, count: int) -> None:
    g = p.add_argument_group("natural clips (one from the middle of each video, videos spread over PATH)")
    g.add_argument("--natural", metavar="PATH", help="a video or folder of videos (default: the training "
                   "data of --run, when it is there)")  # fmt: skip
    g.add_argument("--natural-clips", type=int, default=count, help=f"at most this many clips ({count})")
    g.add_argument("--batch-size", type=int, default=8, help="clips per forward pass (default 8)")
    g.add_argument("--seed", type=int, default=0, help="seed of shuffles, positions and samples (0)")


# --------------------------------------------------------------------------------------------------------
# vidlens redundancy
# --------------------------------------------------------------------------------------------------------


def cmd_redundancy(args: argparse.Namespace) -> int:
    from vidlens.interpret import model_redundancy
    from vidlens.viz import dendrogram_figure, redundancy_curve_figure, save_figure

    with warnings_to_stderr():
        model = _load(args)
        layers = model_redundancy(
            model.net,
            tau=args.tau,
            taus=args.taus,
            linkage=args.linkage,
            layers=args.layers,
            progress=not args.quiet,
        )
    out = _out(args, model)
    rows = [r.row() for r in layers]
    header = list(rows[0])
    written = [_write_csv(out / "redundancy.csv", header, [list(r.values()) for r in rows])]
    table_header = ["layer", "filters", "kernel", "clusters", "redundant", "redundant %"]
    table = [
        [r.layer, str(r.n_filters), "x".join(map(str, r.kernel[1:])), str(r.result.n_clusters),
         str(r.result.n_redundant), _fmt(r.result.redundant_fraction, percent=True)]
        for r in layers
    ]  # fmt: skip
    title = (
        f"{model.label}: redundant filters at tau = {args.tau:g} ({args.linkage} linkage, Ayinde et al. 2019)"
    )
    written.append(_write_markdown(out / "redundancy.md", f"**{title}**", table_header, table))
    curve_rows = [
        [r.layer, float(t), r.n_filters - int(n), int(n), round(int(n) / r.n_filters, 4)]
        for r in layers
        for t, n in zip(r.taus, r.curve, strict=True)
    ]
    written.append(
        _write_csv(
            out / "redundancy_curve.csv",
            ["layer", "tau", "clusters", "redundant", "redundant_fraction"],
            curve_rows,
        )
    )
    curve = redundancy_curve_figure(
        layers[0].taus,
        {r.layer: r.curve for r in layers},
        n_filters={r.layer: r.n_filters for r in layers},
        tau=args.tau,
        title=f"{model.label}: redundant filters over tau ({args.linkage} linkage)",
    )
    written.append(save_figure(curve, out / "redundancy_curve.png"))
    for r in layers:
        fig = dendrogram_figure(
            r.result.linkage_matrix, args.tau, linkage=args.linkage, title=f"{model.label} {r.layer}"
        )
        written.append(save_figure(fig, out / f"dendrogram_{_stem(r.layer)}.png"))
    print_table(table_header, table)
    total = sum(r.result.n_redundant for r in layers)
    filters = sum(r.n_filters for r in layers)
    return _report(f"{model.label}: {total} of {filters} filters redundant at tau = {args.tau:g}", written)


# --------------------------------------------------------------------------------------------------------
# vidlens dependence
# --------------------------------------------------------------------------------------------------------


def cmd_dependence(args: argparse.Namespace) -> int:
    import numpy as np

    from vidlens.interpret import activations_by_layer, dependence, nonlinear_pairs, subsample_units
    from vidlens.io import atomic_save_npy
    from vidlens.viz import dependence_figure, save_figure

    with warnings_to_stderr():
        model = _load(args)
        model.net.eval()
        clips, source = _clips(args, model, "the activations")
        layers = _layers(args, model, tuple(clips.shape[1:]))
        started = time.perf_counter()
        acts = activations_by_layer(
            model.net, clips, layers, positions=args.positions, batch_size=args.batch_size, seed=args.seed,
            progress=not args.quiet,
        )  # fmt: skip
        results = {}
        for layer in layers:
            results[layer] = dependence(
                acts[layer], args.method, n_neighbors=args.neighbors, bins=args.bins, max_units=args.max_units,
                seed=args.seed, progress=not args.quiet,
            )  # fmt: skip
        seconds = time.perf_counter() - started
    out = _out(args, model)
    written: list[Path] = []
    summary, table = [], []
    for layer in layers:
        corr, mi = results[layer]
        n_samples, n_units = acts[layer].shape
        units = subsample_units(n_units, args.max_units, args.seed)
        pairs = nonlinear_pairs(
            corr,
            mi,
            max_abs_correlation=args.max_correlation,
            min_mutual_information=args.min_mi,
            top=args.top,
        )
        stem = _stem("dependence", layer)
        written.append(atomic_save_npy(corr, out / f"{stem}_correlation.npy"))
        written.append(atomic_save_npy(mi, out / f"{stem}_mi.npy"))
        pair_rows = [
            [p.i, p.j, p.correlation, p.mutual_information, p.linear_mutual_information, p.excess]
            for p in pairs
        ]
        written.append(
            _write_csv(
                out / f"{stem}_pairs.csv",
                ["i", "j", "correlation", "mi", "mi_linear", "mi_excess"],
                pair_rows,
            )
        )
        sub = np.ix_(units, units)
        upper = np.triu(np.ones((len(units), len(units)), bool), k=1)
        r_values, mi_values = np.abs(corr[sub][upper]), mi[sub][upper]
        mean_r = float(np.nanmean(r_values)) if np.isfinite(r_values).any() else float("nan")
        mean_mi = float(np.nanmean(mi_values)) if np.isfinite(mi_values).any() else float("nan")
        top = (
            f"{pairs[0].i}-{pairs[0].j} (MI {pairs[0].mutual_information:.2f}, r {pairs[0].correlation:.2f})"
            if pairs
            else ""
        )
        summary.append(
            [layer, n_units, len(units), n_samples, round(mean_r, 4), round(mean_mi, 4), len(pairs), top]
        )
        table.append(
            [
                layer,
                str(n_units),
                str(len(units)),
                str(n_samples),
                _fmt(mean_r),
                _fmt(mean_mi),
                str(len(pairs)),
                top or "-",
            ]
        )
        title = f"{model.label} {layer}: {n_samples} samples, MI by {args.method}" + (
            "" if len(units) == n_units else f" on {len(units)} of {n_units} units drawn at random"
        )
        fig = dependence_figure(corr, mi, units=None if len(units) == n_units else units, title=title)
        written.append(save_figure(fig, out / f"{stem}.png"))
    header = [
        "layer",
        "units",
        "units_mi",
        "samples",
        "mean_abs_correlation",
        "mean_mi",
        "nonlinear_pairs",
        "top_pair",
    ]
    written.insert(0, _write_csv(out / "dependence.csv", header, summary))
    md_header = [
        "layer",
        "units",
        "MI on",
        "samples",
        "mean abs(r)",
        "mean MI (nats)",
        "non-linear pairs",
        "top pair",
    ]
    where = f"{len(clips)} clips from {source}, positions={args.positions}, MI by {args.method}"
    written.insert(1, _write_markdown(out / "dependence.md", f"**{model.label}: dependence between units** ({where}; "
                   f"non-linear: |r| <= {args.max_correlation:g}, MI >= {args.min_mi:g})", md_header, table))  # fmt: skip
    print_table(md_header, table)
    return _report(
        f"{model.label}: dependence of {len(layers)} layers over {where}, {seconds:.1f} s", written
    )


# --------------------------------------------------------------------------------------------------------
# vidlens units
# --------------------------------------------------------------------------------------------------------


def _median(values: np.ndarray) -> float:
    import numpy as np

    finite = values[np.isfinite(values)]
    return float(np.median(finite)) if len(finite) else float("nan")


def _share(values: np.ndarray, threshold: float) -> float:
    import numpy as np

    finite = values[np.isfinite(values)]
    return float(np.mean(finite > threshold)) if len(finite) else float("nan")


def cmd_units(args: argparse.Namespace) -> int:
    import numpy as np

    from vidlens.interpret import direction_tuning_by_layer, temporal_responses
    from vidlens.models import model_spec
    from vidlens.viz import (
        dsi_figure,
        preferred_speed_figure,
        save_figure,
        temporal_sensitivity_figure,
        tuning_polar_figure,
    )

    with warnings_to_stderr():
        model = _load(args)
        model.net.eval()
        spec = model_spec(model.net)
        shape = args.shape or (tuple(spec.input_shape[1:]) if spec is not None else (16, 112, 112))
        clips, source = (None, None) if not args.temporal else _clips(args, model, "temporal sensitivity")
        layers = _layers(args, model, (3, *shape))
        started = time.perf_counter()
        temporal = {}
        if clips is not None:
            temporal = temporal_responses(
                model.net, clips, layers, held_frames=args.held_frames, seed=args.seed, batch_size=args.batch_size,
                progress=not args.quiet,
            )  # fmt: skip
        tuning = direction_tuning_by_layer(
            model.net, layers, directions=args.directions, speeds=args.speeds, spatial_frequencies=args.frequencies,
            stimulus=args.stimulus, frames=shape[0], size=shape[1:], phases=args.phases,
            min_response=args.min_response, seed=args.seed, batch_size=args.batch_size, progress=not args.quiet,
        )  # fmt: skip
        seconds = time.perf_counter() - started

    out = _out(args, model)
    nan = float("nan")
    scores = {layer: r.score(min_response=args.min_response) for layer, r in temporal.items()}
    unit_rows, layer_rows = [], []
    for layer in layers:
        t = tuning[layer]
        parts = None
        if layer in temporal:
            parts = [temporal[layer].score(d, args.min_response) for d in ("shuffle", "repeat")]
        for c in range(t.n_units):
            k = int(t.preferred_stimulus[c])
            unit_rows.append(
                [layer, c]
                + ([round(float(scores[layer][c]), 4), round(float(parts[0][c]), 4), round(float(parts[1][c]), 4)]
                   if parts is not None else [nan, nan, nan])
                + [float(t.preferred_direction[c]), round(float(t.dsi[c]), 4), float(t.preferred_speed[c]),
                   round(float(t.speed_selectivity[c]), 4), t.stimuli[k] if k >= 0 else ""]
            )  # fmt: skip
        score = scores.get(layer, np.full(t.n_units, np.nan))
        unresponsive = int(np.isnan(t.dsi).sum())
        layer_rows.append(
            [layer, t.n_units, float(np.nanmean(score)) if np.isfinite(score).any() else nan,
             _share(score, 0.5), _median(t.dsi), _share(t.dsi, args.dsi_threshold), _median(t.preferred_speed),
             _median(t.speed_selectivity), unresponsive]
        )  # fmt: skip
    means = np.array([row[2] for row in layer_rows])
    order = np.argsort(np.where(np.isnan(means), -np.inf, -means), kind="stable")
    ranks = np.empty(len(layers), dtype=int)
    ranks[order] = np.arange(1, len(layers) + 1)
    for row, rank in zip(layer_rows, ranks, strict=True):
        row.insert(3, int(rank) if not _missing(row[2]) else "")
    unit_header = ["layer", "unit", "temporal_sensitivity", "ts_shuffle", "ts_repeat", "preferred_direction",
                   "dsi", "preferred_speed", "speed_selectivity", "preferred_stimulus"]  # fmt: skip
    written = [_write_csv(out / "units.csv", unit_header, unit_rows)]
    layer_header = ["layer", "units", "temporal_sensitivity", "temporal_rank", "time_sensitive_fraction",
                    "dsi_median", "direction_selective_fraction", "preferred_speed_median",
                    "speed_selectivity_median", "unresponsive_units"]  # fmt: skip
    written.append(
        _write_csv(out / "units_layers.csv", layer_header, [[_round(v) for v in row] for row in layer_rows])
    )
    md_header = ["layer", "units", "temporal sensitivity", "rank", "time-sensitive", "median DSI",
                 f"DSI > {args.dsi_threshold:g}", "median preferred speed", "median speed selectivity",
                 "unresponsive"]  # fmt: skip
    table = [
        [row[0], str(row[1]), _fmt(row[2]), str(row[3]) or "-", _fmt(row[4], percent=True), _fmt(row[5]),
         _fmt(row[6], percent=True), _fmt(row[7], 1), _fmt(row[8]), str(row[9])]
        for row in layer_rows
    ]  # fmt: skip
    stimuli = f"{args.stimulus} at {args.directions} directions, speeds {','.join(f'{s:g}' for s in args.speeds)} px/frame"
    where = (
        "no temporal sensitivity"
        if clips is None
        else f"temporal sensitivity over {len(clips)} clips from {source}"
    )
    written.append(_write_markdown(out / "units_layers.md", f"**{model.label}: units** ({where}; tuning: {stimuli}; "
                   "time-sensitive: score > 0.5)", md_header, table))  # fmt: skip
    if scores:
        fig = temporal_sensitivity_figure(
            scores, title=f"{model.label}: temporal sensitivity over {len(clips)} clips"
        )
        written.append(save_figure(fig, out / "temporal_sensitivity.png"))
    dsi = {layer: tuning[layer].dsi for layer in layers}
    fig = dsi_figure(
        dsi, threshold=args.dsi_threshold, title=f"{model.label}: direction selectivity ({stimuli})"
    )
    written.append(save_figure(fig, out / "dsi.png"))
    speeds = {layer: tuning[layer].preferred_speed for layer in layers}
    fig = preferred_speed_figure(
        tuning[layers[0]].speeds, speeds, title=f"{model.label}: preferred speeds by depth"
    )
    written.append(save_figure(fig, out / "preferred_speeds.png"))
    for layer in layers:
        t = tuning[layer]
        ranked = np.argsort(np.where(np.isnan(t.dsi), -np.inf, -t.dsi), kind="stable")[: args.polar_units]
        labels = [f"{layer}:{c} DSI {_fmt(t.dsi[c])}" for c in ranked]
        fig = tuning_polar_figure(
            t.directions, t.tuning_curve[ranked], labels=labels,
            title=f"{model.label} {layer}: the {len(ranked)} most direction-selective of {t.n_units} units",
        )  # fmt: skip
        written.append(save_figure(fig, out / f"tuning_{_stem(layer)}.png"))
    print_table(md_header, table)
    return _report(
        f"{model.label}: {len(layers)} layers ({where}; tuning: {stimuli}), {seconds:.1f} s", written
    )


def _round(value: object) -> object:
    return round(value, 4) if isinstance(value, float) and not _missing(value) else value


# --------------------------------------------------------------------------------------------------------
# Parsers
# --------------------------------------------------------------------------------------------------------


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "redundancy",
        help="redundant filters: each convolution's filters clustered by cosine distance (Ayinde et al. 2019)",
        description="Redundant filters (Ayinde, Inanc and Zurada 2019): every convolution's filters, flattened, "
        "clustered agglomeratively by cosine distance; clusters merge while their linkage distance stays at most "
        "1 - tau, and redundant filters = filters - clusters. Writes redundancy.csv/.md, redundancy_curve.csv/.png "
        "and dendrogram_<layer>.png into --out. Needs no video.",
    )
    _add_common(p, "every Conv3d / Conv2d")
    p.add_argument(
        "--tau", type=float, default=0.54, help="cosine similarity threshold (default 0.54, the authors')"
    )
    p.add_argument(
        "--linkage", choices=("complete", "average"), default="complete", help="(default complete)"
    )
    p.add_argument(
        "--taus",
        type=number_list(minimum=0),
        metavar="T1,T2,...",
        help="thresholds of the curve (default 0 to 1 by 0.02)",
    )
    p.set_defaults(func=cmd_redundancy)

    p = sub.add_parser(
        "dependence",
        help="correlation and mutual information between a layer's units, over natural clips",
        description="Dependence between units: each layer's channel activations over natural clips (spatial "
        "means, or sampled positions), their Pearson correlation and mutual information (k-nearest-neighbour or "
        "binned), heat maps, and the pairs with high MI but low correlation. Wide layers: MI between --max-units "
        "units drawn at random (said on stderr). Writes dependence.csv/.md and, per layer, dependence_<layer>.png, "
        "_pairs.csv, _correlation.npy and _mi.npy into --out.",
    )
    _add_common(p, "the convolutional feature maps")
    _add_natural(p, 32)
    g = p.add_argument_group("estimation (see vidlens.interpret.dependence)")
    g.add_argument("--positions", type=_positions, default=16, metavar="mean|K",
                   help="samples per clip: 'mean' (one: each channel's mean) or K random positions (default 16)")  # fmt: skip
    g.add_argument("--method", choices=("knn", "binned"), default="knn", help="MI estimator (default knn)")
    g.add_argument("--neighbors", type=int, default=3, help="k of the k-NN estimator (default 3)")
    g.add_argument("--bins", type=int, default=8, help="bins per unit of the binned estimator (default 8)")
    g.add_argument(
        "--max-units", type=int, default=64, help="MI between at most this many units (default 64)"
    )
    g.add_argument("--max-correlation", type=float, default=0.3, help="non-linear pairs: |r| at most (0.3)")
    g.add_argument("--min-mi", type=float, default=0.1, help="non-linear pairs: MI at least, nats (0.1)")
    g.add_argument("--top", type=int, default=20, help="non-linear pairs listed per layer (default 20)")
    p.set_defaults(func=cmd_dependence)

    p = sub.add_parser(
        "units",
        help="which units see motion: temporal sensitivity, direction and speed tuning",
        description="Motion or appearance: each unit's temporal sensitivity (its response to natural clips "
        "against the same clips with frames shuffled and with one frame held; 0 = time does not matter) and its "
        "direction and speed tuning on drifting gratings and moving dots (preferred direction, 0 = right, "
        "90 = up; DSI; preferred speed). Writes units.csv, units_layers.csv/.md, temporal_sensitivity.png, "
        "dsi.png, preferred_speeds.png and tuning_<layer>.png into --out.",
    )
    _add_common(p, "the convolutional feature maps")
    _add_natural(p, 16)
    g = p.add_argument_group("temporal sensitivity")
    g.add_argument("--no-temporal", dest="temporal", action="store_false",
                   help="skip it (no clips needed): direction tuning only")  # fmt: skip
    g.add_argument("--held-frames", type=int, metavar="K",
                   help="hold K frames spread over the clip (default: every frame, one pass each)")  # fmt: skip
    g = p.add_argument_group("direction and speed tuning")
    g.add_argument("--stimulus", choices=("grating", "dots", "both"), default="both", help="(default both)")
    g.add_argument("--directions", type=int, default=8, help="evenly spaced directions, even (default 8)")
    g.add_argument("--speeds", type=number_list(minimum=0), default=[0.5, 1.0, 2.0, 4.0], metavar="V1,V2,...",
                   help="pixels per frame (default 0.5,1,2,4)")  # fmt: skip
    g.add_argument("--frequencies", type=number_list(minimum=0), default=[0.04, 0.08], metavar="F1,F2,...",
                   help="grating spatial frequencies, cycles per pixel (default 0.04,0.08)")  # fmt: skip
    g.add_argument(
        "--shape",
        type=int_tuple(3, minimum=1),
        metavar="T,H,W",
        help="stimulus size (default: the model's input)",
    )
    g.add_argument(
        "--phases", type=int, default=4, help="phases (dot fields) averaged per stimulus (default 4)"
    )
    g.add_argument("--dsi-threshold", type=float, default=0.5, help="direction-selective: DSI above (0.5)")
    g.add_argument("--polar-units", type=int, default=12, help="units per layer in tuning_<layer>.png (12)")
    p.add_argument("--min-response", type=float, default=0.01,
                   help="units below this fraction of the layer's strongest response are unresponsive (0.01)")  # fmt: skip
    p.set_defaults(func=cmd_units)
