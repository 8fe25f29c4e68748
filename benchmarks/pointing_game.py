"""Does the method find the motion? The energy-based pointing game on synthetic motion videos.

The classes of the synthetic motion data differ only in the direction their shapes move, and static shapes
that look just like them sit in every video (:mod:`vidlens.data.synthetic`); its masks say where the moving
shapes are in every frame. For a trained 3D ConvNet (c3d_depth3, width 8) and the single-frame net
(single_frame, width 24: it sees frame 8 of 16 alone, so it sits at chance by construction), each method's
map of each held-out clip, for the clip's true class, is scored by the share of its energy on the moving
shapes (:func:`vidlens.metrics.pointing_energy`, Wang et al. 2020), against the shapes' share of the area
(:func:`~vidlens.metrics.mask_share`: what a map constant over the clip scores), over whole clips and frame
by frame: Tran et al. 2015 (C3D, section 3.3) report that a 3D net attends to appearance in the first
frames and to the motion after, as their deconvolutions and later Grad-CAM studies showed.

Methods, each scored on a non-negative map (T, H, W) of the clip:

* saliency: |d logit / d pixel|, the largest over the colour channels (Simonyan et al. 2014);
* Grad-CAM of conv5 (one weight per channel), and time-resolved (one per channel and time step);
* Grad-CAM++ of conv5;
* occlusion: the drop of the logit when a window is hidden, negative drops set to 0 (--window, --stride);
* deconvolution of conv5's strongest activation: |projection|, the largest over the colour channels.

single_frame's conv5 has one time step, so its Grad-CAM is one map (where the shapes were in frame 8)
repeated on every frame; its saliency, occlusion and deconvolution are empty on the frames it never sees
(``-`` in the per-frame tables). A map that is zero all over a clip is left out of the mean ("clips n/a").

The models either come from vidlens runs (--run3d / --run2d, e.g. `vidlens reproduce` runs trained on the
same synthetic data) or are trained here first, in memory, on clips rendered afresh for every step (the
from-scratch recipe: batch norm, no dropout, AdamW lr 3e-4, weight decay 0.05, cosine schedule, batches of
8; --steps3d / --steps2d). The test clips are the two 16-frame halves of each test video of a dataset made
with masks (4 classes, 112x112, 32 frames; --videos-per-class), decoded at their own size.

    python benchmarks/pointing_game.py --figure benchmarks/results/pointing_game.png   # trains both first
    python benchmarks/pointing_game.py --run3d runs/d3 --run2d runs/sf
    python benchmarks/pointing_game.py --steps3d 20 --steps2d 10 --videos-per-class 3 --clips 4  # a check
    python benchmarks/pointing_game.py --quick   # a smoke run of seconds (2 steps each, 2 clips, 8 windows)
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import arg_parser, machine_info, motion_dataset, parse, train_on_rendered_clips, write_json
from vidlens.data.synthetic import load_motion_masks
from vidlens.interpret import deconvolve, grad_cam, grad_cam_pp, occlusion, saliency
from vidlens.metrics import mask_share, mask_share_per_frame, pointing_energy, pointing_energy_per_frame
from vidlens.models import create_model, load_model
from vidlens.presets import resolve_preset
from vidlens.runtime import select_device
from vidlens.video import read_clips
from vidlens.viz import markdown_table, pointing_game_figure, save_figure

# label -> (registry name, builder arguments of the from-scratch recipe, training steps option)
MODELS = {
    "3D (c3d_depth3)": ("c3d_depth3", {"width": 8, "norm": "batch", "dropout": 0.0}, "steps3d"),
    "2D (single_frame)": ("single_frame", {"width": 24, "norm": "batch", "dropout": 0.0}, "steps2d"),
}
CLIP_LEN = 16

Method = Callable[[torch.nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]


def methods(args: argparse.Namespace) -> dict[str, Method]:
    """Name -> function of (model, clips (N, 3, T, H, W), true classes (N,)) giving maps (N, T, H, W) >= 0."""
    layer = args.layer
    return {
        "saliency": lambda m, x, y: saliency(m, x, y).amax(dim=1),
        f"Grad-CAM {layer}": lambda m, x, y: grad_cam(m, x, layer, y),
        f"Grad-CAM {layer}, per time step": lambda m, x, y: grad_cam(m, x, layer, y, time_resolved=True),
        f"Grad-CAM++ {layer}": lambda m, x, y: grad_cam_pp(m, x, layer, y),
        "occlusion": lambda m, x, y: positive_drops(
            occlusion(m, x, y, window=args.window, stride=args.stride, batch_size=args.occlusion_batch)
        ),
        f"deconvolution {layer}": lambda m, x, y: deconvolve(m, x, layer).abs().amax(dim=1),
    }


def positive_drops(drops: torch.Tensor) -> torch.Tensor:
    """Occlusion's logit drops ``(N, T, H, W)`` with what is not evidence for the class set to 0: negative
    drops, and drops below 1e-4 of the clip's largest, which are float noise (the occluded clips run in
    batches, the whole clip alone: a window that changes nothing the model sees, e.g. one outside the single
    frame single_frame looks at, still "drops" the logit by ~1e-7)."""
    top = drops.abs().flatten(1).amax(dim=1)[:, None, None, None]  # (N, 1, 1, 1)
    return torch.where(drops > 1e-4 * top, drops, 0.0)


# ------------------------------------------------------------------------------------------------ data


def test_clips(root: Path, args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """Frames (N, 16, 112, 112, 3) uint8, masks (N, 16, 112, 112) bool, labels (N,) and the class names of
    the test split's clips: both 16-frame halves of each video, the classes taken in turn so that --clips
    covers them all."""
    ds = motion_dataset(root, args.videos_per_class, masks=True, seed=args.seed)
    by_class = [[v for v in ds.test if v[1] == label] for label in range(len(ds.class_names))]
    videos = [v for group in zip(*by_class, strict=False) for v in group]  # class 0, 1, 2, 3, 0, 1, ...
    frames, masks, labels = [], [], []
    for path, label in videos:
        moving = load_motion_masks(ds.root, path)  # (32, 112, 112)
        for clip in read_clips(ds.root / path, [0, CLIP_LEN], CLIP_LEN, size=None):
            frames.append(clip.frames)
            masks.append(moving[clip.start : clip.start + CLIP_LEN])
            labels.append(label)
    n = len(frames) if args.clips is None else min(args.clips, len(frames))
    return np.stack(frames[:n]), np.stack(masks[:n]), np.array(labels[:n]), ds.class_names


# ------------------------------------------------------------------------------------------------ models


def get_model(label: str, args: argparse.Namespace, classes: list[str], device: torch.device) -> dict:
    """The model of ``label``: loaded from its run, or trained here; with how it was made."""
    name, kwargs, steps_option = MODELS[label]
    run = args.run3d if name == "c3d_depth3" else args.run2d
    if run is not None:
        model = load_model(run=run).to(device)
        if model.class_names != classes:
            raise SystemExit(
                f"{run} was trained on the classes {model.class_names}, not the test data's {classes}"
            )
        return {"model": model, "source": f"run {run}", "train_s": None}
    torch.manual_seed(args.seed)
    model = create_model(name, num_classes=len(classes), **kwargs).to(device)
    model.class_names = list(classes)
    steps = getattr(args, steps_option)
    t0 = time.perf_counter()
    losses = train_on_rendered_clips(
        model, steps, batch_size=args.batch_size, seed=args.seed, device=device, desc=f"train {name}"
    )
    source = f"{name} {kwargs}, {steps} steps of {args.batch_size} rendered clips (final loss {np.mean(losses[-20:]):.3f})"
    return {"model": model, "source": source, "train_s": time.perf_counter() - t0}


# ------------------------------------------------------------------------------------------------ scoring


def score(model: torch.nn.Module, frames, masks, labels, args, device) -> tuple[float, dict[str, dict]]:
    """Held-out accuracy, and per method: per-clip shares (N,), per-frame shares (N, T), seconds per clip."""
    preset = resolve_preset(model)
    if preset.size not in (None, frames.shape[2:4]) or preset.crop not in (None, frames.shape[2]):
        print(
            f"note: the model's preset decodes at {preset.size} and crops {preset.crop}; the test clips are fed "
            f"at their own {frames.shape[2]}x{frames.shape[3]}",
            file=sys.stderr,
        )
    batches = range(0, len(frames), args.eval_batch)
    correct = 0
    with torch.no_grad():
        for i in batches:
            x = preset.normalize(frames[i : i + args.eval_batch]).to(device)
            correct += int(
                (model(x).argmax(1).cpu() == torch.as_tensor(labels[i : i + args.eval_batch])).sum()
            )
    results = {}
    for name, method in methods(args).items():
        if args.methods and name.split()[0].lower() not in args.methods:
            continue
        shares, per_frame, seconds = [], [], 0.0
        for i in tqdm(batches, desc=name, unit="batch", leave=False):
            x = preset.normalize(frames[i : i + args.eval_batch]).to(device)  # (B, 3, T, H, W)
            y = torch.as_tensor(labels[i : i + args.eval_batch], device=device)
            t0 = time.perf_counter()
            maps = method(model, x, y).detach().cpu().double().numpy()  # (B, T, H, W)
            seconds += time.perf_counter() - t0
            mask = masks[i : i + args.eval_batch]
            shares += [pointing_energy(m, k) for m, k in zip(maps, mask, strict=True)]  # NaN: a map of zeros
            per_frame.append(pointing_energy_per_frame(maps, mask))  # (B, T)
        results[name] = {
            "clips": np.array(shares),
            "frames": np.concatenate(per_frame),
            "s_per_clip": seconds / len(frames),
        }
    return correct / len(frames), results


def mean_se(values: np.ndarray) -> str:
    """``mean ± standard error`` over the finite values."""
    v = values[np.isfinite(values)]
    if not len(v):
        return "n/a"
    se = v.std(ddof=1) / np.sqrt(len(v)) if len(v) > 1 else float("nan")
    return f"{v.mean():.3f} ± {se:.3f}"


def fmt(value: float, digits: int = 3) -> str:
    """A share, or ``-`` where no map had energy (a frame single_frame never sees)."""
    return f"{value:.{digits}f}" if np.isfinite(value) else "-"


def nanmean(x: np.ndarray, **kw) -> np.ndarray:
    """``np.nanmean`` without its warning: a frame where every map was empty stays NaN."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(x, **kw)


def main() -> None:
    parser = arg_parser(__doc__)
    parser.add_argument("--run3d", metavar="RUN", help="a vidlens run of c3d_depth3 on 4 motion classes")
    parser.add_argument("--run2d", metavar="RUN", help="a vidlens run of single_frame on 4 motion classes")
    parser.add_argument("--steps3d", type=int, default=600, help="training steps of c3d_depth3 (default 600)")
    parser.add_argument(
        "--steps2d", type=int, default=300, help="training steps of single_frame (default 300)"
    )
    parser.add_argument("--batch-size", type=int, default=8, help="training clips per step (default 8)")
    parser.add_argument("--videos-per-class", type=int, default=20,
                        help="videos per class of the dataset; 30%% are test videos, 2 clips each (default 20: 48 clips)")  # fmt: skip
    parser.add_argument("--clips", type=int, help="score only the first N test clips (classes in turn)")
    parser.add_argument(
        "--data", metavar="DIR", help="where the dataset is made (default: a temporary folder)"
    )
    parser.add_argument(
        "--layer", default="conv5", help="layer of Grad-CAM and deconvolution (default conv5)"
    )
    parser.add_argument("--methods", nargs="+", choices=["saliency", "grad-cam", "grad-cam++", "occlusion",
                        "deconvolution"], help="a subset of the methods (default: all)")  # fmt: skip
    parser.add_argument("--window", type=int, nargs=3, default=[4, 28, 28], metavar=("T", "H", "W"),
                        help="occlusion window (default 4 28 28)")  # fmt: skip
    parser.add_argument("--stride", type=int, nargs=3, default=[4, 14, 14], metavar=("T", "H", "W"),
                        help="occlusion stride (default 4 14 14: 196 windows per clip)")  # fmt: skip
    parser.add_argument("--occlusion-batch", type=int, default=28, help="occluded clips per forward pass")
    parser.add_argument(
        "--eval-batch", type=int, default=8, help="test clips per call of a method (default 8)"
    )
    parser.add_argument(
        "--early", type=int, default=4, help="'first frames' are frames 0..EARLY-1 (default 4)"
    )
    parser.add_argument("--seed", type=int, default=0, help="dataset, initialisation and training clips")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--figure", metavar="PNG", help="write the per-frame curves there")
    parser.add_argument("--json", metavar="PATH", help="write every number there")
    quick = {"steps3d": 2, "steps2d": 2, "videos_per_class": 2, "clips": 2, "window": [8, 56, 56],
             "stride": [8, 56, 56]}  # fmt: skip
    args = parse(parser, quick)
    t_start = time.perf_counter()
    device = select_device(args.device)
    print(f"$ python {shlex.join(sys.argv)}")
    print(
        f"machine: {json.dumps(machine_info())}, torch {torch.__version__}, {torch.get_num_threads()} threads"
    )

    with tempfile.TemporaryDirectory() as tmp:
        frames, masks, labels, classes = test_clips(Path(args.data or tmp) / "motion", args)
    chance_clip = np.array([mask_share(m) for m in masks])  # (N,)
    chance_frames = mask_share_per_frame(masks)  # (N, T)
    print(
        f"{len(frames)} test clips of {', '.join(classes)}: moving shapes cover {mean_se(chance_clip)} of the area"
    )

    summary, per_frame_rows, curves, chance_curves, record = [], {}, {}, {}, {}
    setting_rows = []
    for label in MODELS:
        made = get_model(label, args, classes, device)
        accuracy, results = score(made["model"], frames, masks, labels, args, device)
        train = f"{made['train_s']:.0f}" if made["train_s"] is not None else "-"
        setting_rows.append([label, made["source"], f"{accuracy:.3f}", train])
        print(f"{label}: held-out clip accuracy {accuracy:.3f} ({made['source']})", flush=True)
        chance_t = nanmean(chance_frames, axis=0)  # (T,)
        curves[label], chance_curves[label] = {}, chance_t
        rows = []
        for name, r in results.items():
            ratio = nanmean(r["clips"]) / chance_clip.mean()
            early = nanmean(r["frames"][:, : args.early])
            late = nanmean(r["frames"][:, args.early :])
            chance_early, chance_late = (
                chance_frames[:, : args.early].mean(),
                chance_frames[:, args.early :].mean(),
            )
            summary.append([
                label, name, mean_se(r["clips"]), f"{chance_clip.mean():.3f}", f"{ratio:.2f}",
                f"{fmt(early)} ({chance_early:.3f})", f"{fmt(late)} ({chance_late:.3f})",
                f"{int(np.isnan(r['clips']).sum())}", f"{r['s_per_clip']:.2f}",
            ])  # fmt: skip
            curve = nanmean(r["frames"], axis=0)  # (T,)
            curves[label][name] = curve
            rows.append([name, *(fmt(v, 2) for v in curve)])
        rows.append(["chance (area)", *(f"{v:.2f}" for v in chance_t)])
        per_frame_rows[label] = rows
        record[label] = {
            "source": made["source"],
            "accuracy": accuracy,
            "train_s": made["train_s"],
            "methods": {
                n: {
                    "clips": r["clips"].tolist(),
                    "per_frame": curves[label][n].tolist(),
                    "s_per_clip": r["s_per_clip"],
                }
                for n, r in results.items()
            },
            "chance_per_frame": chance_t.tolist(),
        }

    print("\n### Models\n")
    print(markdown_table(["model", "how it was made", "held-out clip accuracy", "training s"], setting_rows))
    print(f"\n### Energy on the moving shapes ({len(frames)} test clips, target: the true class)\n")
    header = [
        "model", "method", "on moving shapes (mean ± s.e.)", "chance (area)", "x chance",
        f"frames 0-{args.early - 1} (chance)", f"frames {args.early}-{CLIP_LEN - 1} (chance)", "clips n/a",
        "s/clip",
    ]  # fmt: skip
    print(markdown_table(header, summary))
    for label, rows in per_frame_rows.items():
        print(f"\n### Per frame, {label}: energy share on the moving shapes, mean over clips\n")
        print(markdown_table(["method", *(f"t={t}" for t in range(CLIP_LEN))], rows))
    if args.figure:
        fig = pointing_game_figure(curves, chance_curves, title=f"pointing game, {len(frames)} test clips")
        print(f"\nfigure: {save_figure(fig, args.figure)}")
    if args.json:
        write_json(args.json, {"argv": sys.argv, "clips": len(frames), "models": record}, indent=1)
        print(f"numbers: {args.json}")
    print(f"\ntotal {time.perf_counter() - t_start:.0f} s")


if __name__ == "__main__":
    main()
