"""Why do the small nets not learn the synthetic motion task from scratch? (issue 10)

Trains each model in memory, on clips rendered by :func:`vidlens.data.synthetic.render_motion_video` (4 motion
directions, 16 frames of 112x112, every single frame independent of the class), with the paper recipe and
with the from-scratch recipe (``norm="batch"`` + AdamW), the same clips and steps for both, and prints per
run: the loss at the start and end, train and held-out accuracy, and two health signs read with feature
taps on 16 training clips: the standard deviation of conv5's activations (how much signal reaches the top
of the trunk) and the fraction of fc6 units that fire for at least one clip (dead ReLUs).

    python benchmarks/diagnose_training.py                      # every model, both recipes (~10 min, 2 cores)
    python benchmarks/diagnose_training.py --models slow_fusion --steps 200
    python benchmarks/diagnose_training.py --fresh --recipes "batch+adamw, no dropout"   # unlimited data
    # reproduce's recipe (warm-up + cosine over the steps), test accuracy every 250 steps, another peak rate:
    python benchmarks/diagnose_training.py --models early_fusion --recipes scratch --fresh --steps 1500 \
        --eval-every 250 --lr 1e-3
    python benchmarks/diagnose_training.py --quick   # a smoke run of seconds (c3d_depth3, 2 steps, 16 clips)

Held-out accuracy is on other rendered clips (chance 0.25). This isolates the model and optimiser from the
data pipeline; ``vidlens reproduce`` measures the whole loop on encoded videos.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from _common import arg_parser, fit_in_memory, parse, rendered_clips
from vidlens.models import FeatureTaps, create_model
from vidlens.presets import PRESETS
from vidlens.reproduce import RECIPES as REPRODUCE
from vidlens.runs import TrainConfig
from vidlens.viz import markdown_table

# (label, model kwargs, TrainConfig fields): the paper-style recipe of `vidlens reproduce` today, and the
# from-scratch recipe under test.
RECIPES = {
    "paper": ({}, {"optimizer": "sgd", "lr": 0.03, "grad_clip": 1.0}),
    "batch+adamw": ({"norm": "batch"}, {"optimizer": "adamw", "lr": 3e-4, "weight_decay": 0.05}),
    # The same without dropout: with 4 classes and small fc layers, dropout 0.5 may be what holds them back.
    "batch+adamw, no dropout": (
        {"norm": "batch", "dropout": 0.0},
        {"optimizer": "adamw", "lr": 3e-4, "weight_decay": 0.05},
    ),
    # `vidlens reproduce`'s recipe: the same plus its warm-up and cosine decay, here over the run's steps.
    "scratch": (
        REPRODUCE["scratch"].model_kwargs,
        {**REPRODUCE["scratch"].train, "epochs": 1, "warmup_epochs": REPRODUCE["scratch"].warmup},
    ),
}
WIDTHS = {"c3d_depth3": 8, "single_frame": 24, "early_fusion": 24, "late_fusion": 24, "slow_fusion": 24}


def clips(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` rendered clips, normalised (plain preset), and their labels."""
    frames, labels = rendered_clips(n, np.random.default_rng(seed))  # (n, 16, 112, 112, 3)
    return PRESETS["plain"].normalize(frames), torch.as_tensor(labels)  # (n, 3, 16, 112, 112)


def health(model: torch.nn.Module, x: torch.Tensor) -> tuple[float, float]:
    """conv5 activation std and the fraction of fc6 units alive (positive for some clip), in eval mode."""
    model.eval()
    with torch.no_grad(), FeatureTaps(model, ["conv5", "fc6"]) as taps:
        model(x)
    return float(taps["conv5"].std()), float((taps["fc6"] > 0).any(0).float().mean())


def accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Clip accuracy of ``model`` (eval mode) on ``x``, in batches of 64."""
    model.eval()
    with torch.no_grad():
        logits = torch.cat([model(x[i : i + 64]) for i in range(0, len(x), 64)])
    return (logits.argmax(1) == y).float().mean().item()


def run(
    name: str,
    recipe: str,
    data: tuple,
    steps: int,
    batch: int,
    seed: int,
    fresh: bool = False,
    lr: float | None = None,
    eval_every: int = 0,
) -> list[str]:
    """Train ``name`` with ``recipe`` for ``steps`` batches (drawn from the fixed training clips, or rendered
    afresh for every step with ``fresh``) and return its row of the table; ``lr`` overrides the recipe's
    (peak) rate, and ``eval_every`` prints the held-out accuracy every that many steps."""
    (x_train, y_train), (x_test, y_test) = data
    model_kwargs, fields = RECIPES[recipe]
    torch.manual_seed(seed)
    model = create_model(name, num_classes=4, width=WIDTHS[name], **model_kwargs)
    config = TrainConfig(**{**fields, **({"lr": lr} if lr is not None else {})})
    std0, alive0 = health(model, x_train[:16])
    order = torch.Generator().manual_seed(seed)

    def draw(step: int) -> tuple[torch.Tensor, torch.Tensor]:
        if fresh:  # a new batch of never-seen clips: no clip is ever repeated
            return clips(batch, int(torch.randint(0, 2**31, (1,), generator=order)))
        idx = torch.randint(0, len(x_train), (batch,), generator=order)
        return x_train[idx], y_train[idx]

    def report(step: int, losses: list[float]) -> None:
        acc = accuracy(model, x_test, y_test)
        print(f"  {name} {recipe} step {step}: loss {np.mean(losses[-eval_every:]):.3f} test {acc:.3f}")

    t0 = time.perf_counter()
    losses = fit_in_memory(
        model, config, draw, steps, every=eval_every, on_every=report, desc=f"{name} {recipe}", progress=False
    )
    seconds = time.perf_counter() - t0
    std1, alive1 = health(model, x_train[:16])
    train_acc, test_acc = accuracy(model, x_train[:256], y_train[:256]), accuracy(model, x_test, y_test)
    return [
        name,
        recipe + (f", lr {config.lr:g}" if lr is not None else "") + (", fresh clips" if fresh else ""),
        f"{np.mean(losses[:10]):.2f} -> {np.mean(losses[-20:]):.2f}",
        f"{train_acc:.2f}",
        f"{test_acc:.2f}",
        f"{std0:.3f} -> {std1:.3f}",
        f"{alive0:.2f} -> {alive1:.2f}",
        f"{seconds:.0f}",
    ]


def main() -> None:
    parser = arg_parser(__doc__)
    parser.add_argument("--models", nargs="+", default=list(WIDTHS), choices=list(WIDTHS))
    parser.add_argument("--recipes", nargs="+", default=list(RECIPES)[:2], choices=list(RECIPES))
    parser.add_argument("--train-clips", type=int, default=1024)
    parser.add_argument("--test-clips", type=int, default=192, help="held-out clips (default 192)")
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fresh", action="store_true", help="render new clips for every step (no repeats)")
    parser.add_argument("--lr", type=float, help="override the recipes' (peak) learning rate")
    parser.add_argument("--eval-every", type=int, default=0, help="print held-out accuracy every N steps")
    quick = {"models": ["c3d_depth3"], "train_clips": 16, "test_clips": 16, "steps": 2}
    args = parse(parser, quick)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    data = clips(args.train_clips, 1), clips(args.test_clips, 2)
    header = [
        "model",
        "recipe",
        "loss (first 10 -> last 20)",
        "train acc",
        "test acc",
        "conv5 std",
        "fc6 alive",
        "s",
    ]
    rows = []
    for name in args.models:
        for recipe in args.recipes:
            rows.append(
                run(
                    name,
                    recipe,
                    data,
                    args.steps,
                    args.batch_size,
                    args.seed,
                    args.fresh,
                    args.lr,
                    args.eval_every,
                )
            )
            print(" | ".join(rows[-1]), flush=True)
    print()
    print(markdown_table(header, rows))


if __name__ == "__main__":
    main()
