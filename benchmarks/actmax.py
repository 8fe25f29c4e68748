"""Activation maximisation: optimisation steps per second against the model's own forward + backward pass,
measured side by side in one run (interleaved rounds, ratios paired by round).

Each round runs, on one clip of the model's input size (C3D: 16 x 112 x 112):

* ``forward + backward (input)``: the model's output for the clip and the gradient of one channel's mean with
  respect to the clip only (parameters frozen), which is all a step of gradient ascent needs: the ceiling;
* ``forward + backward (all)``: the same with the parameters' gradients too, as training computes them;
* ``actmax``: ``vidlens.interpret.actmax`` with its defaults (Fourier parameterisation, colour
  decorrelation, jitter, zoom and time shift, both regularisers, the projection after each step) for
  ``--steps`` steps, its set-up and final forward pass included;
* ``actmax, bare``: pixels, no transforms, no regularisers: what the extras cost.

The ratio is actmax's steps per second over forward + backward passes per second (input only). Target:
>= 0.8 (the regularisers, parameterisation and transforms cost little next to the network).

    python benchmarks/actmax.py                        # C3D conv5b channel 7, 6 steps, 3 rounds
    python benchmarks/actmax.py --model c3d_depth3 --width 8 --layer conv5 --steps 16  # a quick run
    python benchmarks/actmax.py --quick   # a smoke run of seconds (c3d_depth3 width 4, 2 steps, one round)
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    add_device_option,
    add_model_options,
    arg_parser,
    interleaved,
    log,
    machine_info,
    paired_ratio,
    parse,
    ratios,
    seeded_model,
    synced,
    table,
    width_kwargs,
    write_json,
)
from vidlens.interpret import actmax, channel
from vidlens.models import FeatureTaps, model_spec


def main() -> None:
    parser = arg_parser(__doc__)
    add_model_options(parser, "c3d")
    parser.add_argument("--layer", default="conv5b", help="layer of the channel (default conv5b)")
    parser.add_argument("--channel", type=int, default=7, help="channel maximised (default 7)")
    parser.add_argument("--steps", type=int, default=6, help="actmax steps per round (default 6)")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds (default 3)")
    add_device_option(parser)
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    quick = {"model": "c3d_depth3", "width": 4, "layer": "conv5", "steps": 2, "repeats": 1}
    args = parse(parser, quick)

    device = torch.device(args.device)
    kwargs = width_kwargs(args.width)
    model = seeded_model(args.model, args.width).to(device)
    spec = model_spec(model)
    shape = (1, *(spec.input_shape if spec is not None else (3, 16, 112, 112)))
    clip = torch.randn(shape, device=device)
    objective = channel(args.layer, args.channel)
    print(
        f"{args.model} {kwargs or ''} {objective!r} on {device}, {torch.get_num_threads()} threads, clip {shape}",
        flush=True,
    )

    def forward_backward(parameters: bool) -> int:
        for p in model.parameters():
            p.requires_grad_(parameters)
        x = clip.detach().requires_grad_(True)
        with FeatureTaps(model, [args.layer]) as taps:
            objective(taps.run(x)).sum().backward()
        model.zero_grad(set_to_none=True)
        for p in model.parameters():
            p.requires_grad_(True)
        return 1

    def run_actmax(bare: bool) -> int:
        extras = (
            {"param": "pixels", "transforms": False, "kappa": 0.0, "chi": 0.0, "energy": 0.0} if bare else {}
        )
        actmax(model, objective, steps=args.steps, shape=shape, **extras)
        return args.steps

    methods = {
        "forward + backward (input)": synced(lambda: forward_backward(False), device),
        "forward + backward (all)": synced(lambda: forward_backward(True), device),
        "actmax": synced(lambda: run_actmax(False), device),
        "actmax, bare": synced(lambda: run_actmax(True), device),
    }
    t0 = time.perf_counter()
    methods["forward + backward (input)"]()  # warm-up
    actmax(model, objective, steps=1, shape=shape)
    runs = interleaved(methods, args.repeats, log=log)
    reference = runs["forward + backward (input)"]
    rows, results = [], {"model": args.model, "width": args.width, "objective": repr(objective), "device": str(device),
                         "steps": args.steps, "repeats": args.repeats, "machine": machine_info()}  # fmt: skip
    for name, samples in runs.items():
        if samples.error is not None:
            rows.append([name, "failed", samples.error, ""])
            continue
        rate = statistics.median(samples.fps)  # steps (or passes) per second
        ratio = paired_ratio(samples, reference)
        per_round = ratios(samples.fps, reference.fps)
        spread = f"{min(per_round):.2f}-{max(per_round):.2f}" if len(per_round) > 1 else ""
        target = ">= 0.8" if name == "actmax" else ""
        rows.append(
            [name, f"{rate:.3f}/s", f"{ratio:.2f}x ({spread})" if name != reference.name else "1", target]
        )
        results[name] = {"per_s": rate, "ratio": ratio, "ratios": per_round}
    print(f"measured in {time.perf_counter() - t0:.0f} s")
    print(table(["measurement", "steps or passes per second", "ratio to f+b (input), range", "target"], rows))
    if args.json:
        write_json(args.json, results)


if __name__ == "__main__":
    main()
