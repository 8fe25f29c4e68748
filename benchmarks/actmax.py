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
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import interleaved, machine_info, paired_ratio, table
from vidlens.interpret import actmax, channel
from vidlens.models import FeatureTaps, create_model, model_spec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="c3d", help="registry name (default c3d)")
    parser.add_argument("--width", type=int, default=None, help="width for models that take one")
    parser.add_argument("--layer", default="conv5b", help="layer of the channel (default conv5b)")
    parser.add_argument("--channel", type=int, default=7, help="channel maximised (default 7)")
    parser.add_argument("--steps", type=int, default=6, help="actmax steps per round (default 6)")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args()

    device = torch.device(args.device)
    torch.manual_seed(0)
    kwargs = {"width": args.width} if args.width else {}
    model = create_model(args.model, **kwargs).eval().to(device)
    spec = model_spec(model)
    shape = (1, *(spec.input_shape if spec is not None else (3, 16, 112, 112)))
    clip = torch.randn(shape, device=device)
    objective = channel(args.layer, args.channel)
    print(
        f"{args.model} {kwargs or ''} {objective!r} on {device}, {torch.get_num_threads()} threads, clip {shape}",
        flush=True,
    )

    def synced(n: int) -> int:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return n

    def forward_backward(parameters: bool) -> int:
        for p in model.parameters():
            p.requires_grad_(parameters)
        x = clip.detach().requires_grad_(True)
        with FeatureTaps(model, [args.layer]) as taps:
            objective(taps.run(x)).sum().backward()
        model.zero_grad(set_to_none=True)
        for p in model.parameters():
            p.requires_grad_(True)
        return synced(1)

    def run_actmax(bare: bool) -> int:
        extras = (
            {"param": "pixels", "transforms": False, "kappa": 0.0, "chi": 0.0, "energy": 0.0} if bare else {}
        )
        actmax(model, objective, steps=args.steps, shape=shape, **extras)
        return synced(args.steps)

    methods = {
        "forward + backward (input)": lambda: forward_backward(False),
        "forward + backward (all)": lambda: forward_backward(True),
        "actmax": lambda: run_actmax(False),
        "actmax, bare": lambda: run_actmax(True),
    }
    t0 = time.perf_counter()
    forward_backward(False)  # warm-up
    actmax(model, objective, steps=1, shape=shape)
    runs = interleaved(methods, args.repeats, log=lambda line: print(line, flush=True))
    reference = runs["forward + backward (input)"]
    rows, results = [], {"model": args.model, "width": args.width, "objective": repr(objective), "device": str(device),
                         "steps": args.steps, "repeats": args.repeats, "machine": machine_info()}  # fmt: skip
    for name, samples in runs.items():
        if samples.error is not None:
            rows.append([name, "failed", samples.error, ""])
            continue
        rate = statistics.median(samples.fps)  # steps (or passes) per second
        ratio = paired_ratio(samples, reference)
        ratios = [a / b for a, b in zip(samples.fps, reference.fps, strict=False)]
        spread = f"{min(ratios):.2f}-{max(ratios):.2f}" if len(ratios) > 1 else ""
        target = ">= 0.8" if name == "actmax" else ""
        rows.append(
            [name, f"{rate:.3f}/s", f"{ratio:.2f}x ({spread})" if name != reference.name else "1", target]
        )
        results[name] = {"per_s": rate, "ratio": ratio, "ratios": ratios}
    print(f"measured in {time.perf_counter() - t0:.0f} s")
    print(table(["measurement", "steps or passes per second", "ratio to f+b (input), range", "target"], rows))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
