"""Make the README's pictures of ``vidlens.interpret``: docs/images/*.png.

Trains a small 3D ConvNet in memory (c3d_depth3, width 8, batch norm, no dropout; AdamW on 16-frame
112x112 motion clips rendered afresh for every step, ``benchmarks/_common.train_on_rendered_clips``), saves
its weights with its class names, renders one synthetic video of a class, and runs the ``vidlens`` commands
on it, printing each command as it runs it. The contact sheets they write are copied to docs/images/ with
at most 256 colours (a third of the size).

    nice -n 19 python docs/make_images.py   # ~10 min on 2 idle cores, mostly training; build/docs/ keeps the rest
    python docs/make_images.py --weights build/docs/c3d_depth3.pt   # reuse the trained weights
    python docs/make_images.py --weights build/docs/c3d_depth3.pt --only actmax.png   # one picture
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from _common import palette_png, train_on_rendered_clips
from vidlens.cli import main as vidlens
from vidlens.data.synthetic import MotionConfig, render_motion_video
from vidlens.models import create_model, save_weights
from vidlens.runs import is_run
from vidlens.video import write_video

ROOT = Path(__file__).resolve().parents[1]
ARCH = ["--model", "c3d_depth3", "--model-arg", "width=8", "--model-arg", "norm=batch"]
# README picture -> (the command and its options besides the model and --out, the contact sheet it writes)
PICTURES = {
    "featuremaps.png": (["featuremaps", "{video}", "--layer", "conv2", "--grid", "3"], "featuremaps_conv2_grid_f0.png"),
    "filters.png": (["filters", "--layer", "conv1"], "filters_conv1.png"),
    "deconv.png": (["deconv", "{video}", "--layer", "conv5"], "deconv_conv5_f0.png"),
    "saliency.png": (["saliency", "{video}", "--target", "{cls}"], "saliency_{cls}_f0.png"),
    "gradcam.png": (["cam", "{video}", "--layer", "conv5", "--target", "{cls}"], "gradcam_conv5_{cls}_f0.png"),
    "gradcam_time.png": (["cam", "{video}", "--layer", "conv5", "--target", "{cls}", "--method", "time"],
                         "gradcam-time_conv5_{cls}_f0.png"),
    "occlusion.png": (["occlusion", "{video}", "--target", "{cls}", "--window", "4", "24", "24", "--stride", "2",
                       "12", "12", "--quiet"], "occlusion_{cls}_f0.png"),
    "actmax.png": (["actmax", "--layer", "fc8", "--channel", "{cls}", "--chi-sweep", "10000,1000,100,0",
                    "--every", "5", "--quiet"], "actmax_fc8-{label}_chi-sweep.png"),
}  # fmt: skip
MAX_BYTES = 150_000


def held_out_accuracy(model: torch.nn.Module, n: int = 64, seed: int = 12345) -> float:
    """Clip accuracy on ``n`` rendered clips the training never drew."""
    config = MotionConfig(num_classes=4, frames=16, height=112, width=112)
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 4, n)
    frames = np.stack([render_motion_video(int(y), rng, config) for y in labels])
    with torch.no_grad():
        predicted = torch.cat(
            [model(model.preset.normalize(frames[i : i + 8])).argmax(1) for i in range(0, n, 8)]
        )
    return float((predicted.numpy() == labels).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=300, help="training steps of 8 clips (default 300)")
    parser.add_argument(
        "--weights",
        type=Path,
        help="trained weights to reuse instead of training (a run's model.pt: that run's c3d_depth3)",
    )
    parser.add_argument("--work", type=Path, default=Path("build/docs"), help="(default build/docs)")
    parser.add_argument("--label", type=int, default=2, help="class of the video (default 2, MoveRight)")
    parser.add_argument("--seed", type=int, default=3, help="seed of the video (default 3)")
    parser.add_argument("--only", nargs="+", choices=list(PICTURES), help="make these pictures only")
    args = parser.parse_args()
    work, images = args.work, ROOT / "docs" / "images"
    work.mkdir(parents=True, exist_ok=True)
    classes = MotionConfig(num_classes=4).class_names

    weights = args.weights
    if weights is None:
        torch.manual_seed(0)
        model = create_model("c3d_depth3", num_classes=4, width=8, norm="batch", dropout=0.0)
        model.class_names = list(classes)
        train_on_rendered_clips(model, args.steps, desc="train c3d_depth3")
        print(f"held-out clip accuracy after {args.steps} steps: {held_out_accuracy(model):.3f}")
        weights = save_weights(model, work / "c3d_depth3.pt")

    config = MotionConfig(num_classes=4, frames=16, height=112, width=112)
    video = write_video(
        work / f"{classes[args.label]}.mp4", render_motion_video(args.label, args.seed, config), 25
    )
    out = work / "out"
    images.mkdir(exist_ok=True)
    cls = classes[args.label]
    for name, (command, sheet) in PICTURES.items():
        if args.only and name not in args.only:
            continue
        argv = [a.format(video=video, cls=cls) for a in command]
        argv += (
            ["--run", str(weights.parent)] if is_run(weights.parent) else [*ARCH, "--weights", str(weights)]
        )
        argv += ["--out", str(out)] + (["--every", "5"] if "{video}" in command else [])  # 4 of 16 frames
        print(f"$ vidlens {shlex.join(argv)}", flush=True)
        if vidlens(argv) != 0:
            raise SystemExit(f"vidlens {command[0]} failed")
        target = palette_png(out / sheet.format(cls=cls, label=args.label), images / name)
        size = target.stat().st_size
        print(f"-> {target.relative_to(ROOT)} ({size / 1000:.0f} kB)")
        if size > MAX_BYTES:
            print(f"warning: {name} is over {MAX_BYTES / 1000:.0f} kB", file=sys.stderr)


if __name__ == "__main__":
    main()
