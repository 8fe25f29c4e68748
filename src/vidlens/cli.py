"""The ``vidlens`` command line: one small function per subcommand, calling the library.

vidlens info VIDEO...        frames, fps, size, duration and codec of videos
vidlens synth DIR            make the synthetic motion dataset (UCF101 layout)
vidlens models               the model registry: input size, parameters, multiply-adds, layers
vidlens train DATA ...       train a model (C3D recipe); vidlens evaluate RUN: clip/video hit@k
vidlens extract INPUT...     video descriptors (fc6 mean over clips) into a feature store
vidlens linear FEATURES      linear SVM on the descriptors (C by cross-validation on train), --pca K
vidlens embed FEATURES       t-SNE map of the descriptors coloured by class
vidlens demo                 synthesise, decode and run C3D on built-in data
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

__all__ = ["main"]


def _size(text: str) -> tuple[int, int]:
    """Parse ``HxW`` (e.g. ``128x171``)."""
    try:
        height, width = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HEIGHTxWIDTH such as 128x171, got {text!r}") from None
    if height < 1 or width < 1:
        raise argparse.ArgumentTypeError(f"sizes must be positive, got {text!r}")
    return height, width


# --------------------------------------------------------------------------------------------------------
# vidlens info
# --------------------------------------------------------------------------------------------------------


def cmd_info(args: argparse.Namespace) -> int:
    from vidlens.video import VideoError, probe

    failed = 0
    rows = []
    for path in args.videos:
        try:
            info = probe(path)
        except VideoError as err:
            print(f"error: {err}", file=sys.stderr)
            failed += 1
            continue
        if args.json:
            print(json.dumps(asdict(info)))
        else:
            rows.append(info)
    if rows:
        header = ("video", "frames", "fps", "size", "duration", "codec")
        table = [
            (r.path, str(r.n_frames), f"{r.fps:.3f}", f"{r.width}x{r.height}", f"{r.duration:.2f}s", r.codec)
            for r in rows
        ]
        _print_table(header, table)
    return 1 if failed else 0


def _print_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=True)]
    for i, row in enumerate([header, *rows]):
        print(
            "  ".join(
                str(c).ljust(w) if j == 0 else str(c).rjust(w)
                for j, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
        if i == 0:
            print("  ".join("-" * w for w in widths))


# --------------------------------------------------------------------------------------------------------
# vidlens synth
# --------------------------------------------------------------------------------------------------------


def _motion_config(args: argparse.Namespace):
    from vidlens.data.synthetic import MotionConfig

    height, width = args.size
    return MotionConfig(
        num_classes=args.classes,
        videos_per_class=args.videos_per_class,
        frames=args.frames,
        height=height,
        width=width,
        fps=args.fps,
        seed=args.seed,
    )


def cmd_synth(args: argparse.Namespace) -> int:
    from vidlens.data.synthetic import make_motion_dataset

    t0 = time.perf_counter()
    ds = make_motion_dataset(
        args.dir, _motion_config(args), overwrite=args.overwrite, progress=not args.quiet
    )
    verb = "found" if ds.reused else f"wrote in {time.perf_counter() - t0:.1f}s"
    print(
        f"{verb}: {ds.num_videos} videos ({len(ds.train)} train, {len(ds.test)} test) of "
        f"{len(ds.class_names)} motion classes in {ds.root}"
    )
    print(f"classes: {', '.join(ds.class_names)}")
    print(f"splits:  {ds.splits_dir}/classInd.txt, trainlist01.txt, testlist01.txt")
    return 0


def _add_synth_options(p: argparse.ArgumentParser, *, frames: int = 32, videos: int = 10) -> None:
    p.add_argument("--classes", type=int, default=4, help="motion classes, 2-8 (default 4)")
    p.add_argument("--videos-per-class", type=int, default=videos, help=f"(default {videos})")
    p.add_argument("--frames", type=int, default=frames, help=f"frames per video (default {frames})")
    p.add_argument("--size", type=_size, default=(112, 112), help="frame size HxW (default 112x112)")
    p.add_argument("--fps", type=int, default=25, help="frame rate written into the files (default 25)")
    p.add_argument("--seed", type=int, default=0, help="same seed, same dataset (default 0)")


# --------------------------------------------------------------------------------------------------------
# vidlens models
# --------------------------------------------------------------------------------------------------------


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
    _print_table(("model", "input (C,T,H,W)", "params", "MACs/clip", "preset"), rows)
    print()
    for i in infos:
        print(f"{i.name}: {i.description}\n  paper:  {i.paper}\n  layers: {', '.join(i.layers)}")
    return 0


# --------------------------------------------------------------------------------------------------------
# vidlens train / evaluate / reproduce
# --------------------------------------------------------------------------------------------------------


def _model_arg(text: str) -> tuple[str, object]:
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


def _train_config(args: argparse.Namespace):
    from vidlens.runs import TrainConfig

    overrides = {
        name: getattr(args, name)
        for name in (
            "layout", "split", "model", "init", "epochs", "batch_size", "lr", "lr_steps", "lr_gamma",
            "momentum", "weight_decay", "grad_clip", "clip_len", "size", "crop", "flip_p", "preset", "eval_clips",
            "workers", "device", "precision", "seed",
        )
        if getattr(args, name, None) is not None
    }  # fmt: skip
    if args.no_channels_last:
        overrides["channels_last"] = False
    return TrainConfig(data=args.data, model_kwargs=dict(args.model_arg or []), **overrides)


def cmd_train(args: argparse.Namespace) -> int:
    from vidlens.runs import load_config
    from vidlens.train import train

    if args.resume and (Path(args.out) / "config.json").is_file():
        # The run's own settings; only those that do not change its results may be given again.
        config, _ = load_config(args.out)
        for name in ("epochs", "workers", "device", "precision"):
            if getattr(args, name) is not None:
                setattr(config, name, getattr(args, name))
    else:
        config = _train_config(args)
    result = train(config, args.out, resume=args.resume, progress=not args.quiet)
    if result.rank == 0:
        print(
            f"trained {config.model} for {result.epochs} epochs in {result.seconds:.0f}s -> {result.run_dir}"
        )
        if result.skipped_clips:
            print(
                f"warning: {result.skipped_clips} clips were skipped because their videos could not be decoded"
            )
        print(f"evaluate with: vidlens evaluate {result.run_dir}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from vidlens.evaluate import evaluate_run

    result = evaluate_run(
        args.run,
        args.data,
        split=args.split,
        subset=args.subset,
        clips_per_video=args.clips_per_video,
        batch_size=args.batch_size,
        workers=args.workers,
        device=args.device,
        precision=args.precision,
        progress=not args.quiet,
    )
    print(result.table())
    if result.skipped_clips:
        print(f"warning: {result.skipped_clips} clips could not be decoded and were left out")
    print(f"metrics written to {Path(args.run) / 'metrics.json'} and {Path(args.run) / 'confusion.png'}")
    return 0


def cmd_reproduce(args: argparse.Namespace) -> int:
    from vidlens.reproduce import reproduce

    result = reproduce(
        args.experiment,
        args.out,
        scale=args.scale,
        seed=args.seed,
        epochs=args.epochs,
        videos_per_class=args.videos_per_class,
        workers=args.workers,
        device=args.device,
        progress=not args.quiet,
    )
    print()
    print(result.table())
    print(
        f"\n{result.seconds / 60:.1f} min; results in {Path(args.out) / args.experiment}/results.json and results.png"
    )
    return 0


def _add_train_parser(sub) -> None:
    from vidlens.runs import TrainConfig
    from vidlens.runtime import PRECISIONS

    d = TrainConfig()
    p = sub.add_parser("train", help="train a model on a video dataset (C3D recipe)")
    p.add_argument(
        "data", metavar="DATA", help="UCF101-layout root (class folders + splits/) or class folders"
    )
    p.add_argument("--out", required=True, metavar="RUN", help="run directory to create (or resume)")
    p.add_argument("--model", help=f"registry name (default {d.model}; see `vidlens models`)")
    p.add_argument("--model-arg", action="append", type=_model_arg, metavar="KEY=VALUE",
                   help="builder argument, e.g. --model-arg width=16 (repeatable)")  # fmt: skip
    p.add_argument("--resume", action="store_true", help="continue RUN from its last checkpoint")
    p.add_argument(
        "--init", metavar="PATH", help="start from these weights; the classifier is renewed if needed"
    )
    p.add_argument(
        "--layout", choices=["auto", "folders", "ucf101", "hmdb51"], help="dataset layout (default auto)"
    )
    p.add_argument("--split", type=int, help=f"official split 1-3 (default {d.split})")
    p.add_argument("--epochs", type=int, help=f"(default {d.epochs})")
    p.add_argument("--batch-size", type=int, help=f"clips per batch (default {d.batch_size}, as the paper)")
    p.add_argument("--lr", type=float, help=f"SGD learning rate (default {d.lr})")
    p.add_argument(
        "--lr-steps", type=int, nargs="*", help=f"epochs at which lr is divided (default {d.lr_steps})"
    )
    p.add_argument("--lr-gamma", type=float, help=f"factor at each step (default {d.lr_gamma})")
    p.add_argument("--momentum", type=float, help=f"(default {d.momentum})")
    p.add_argument("--weight-decay", type=float, help=f"(default {d.weight_decay})")
    p.add_argument("--grad-clip", type=float, help="clip the gradients' global norm to this (default: off)")
    p.add_argument("--clip-len", type=int, help=f"frames per clip (default {d.clip_len})")
    p.add_argument("--size", type=_size, help="frames are resized to HxW (default 128x171)")
    p.add_argument("--crop", type=int, help=f"square crop side (default {d.crop})")
    p.add_argument("--flip-p", type=float, help=f"horizontal flip probability (default {d.flip_p})")
    p.add_argument("--preset", help=f"preprocessing preset (default {d.preset})")
    p.add_argument("--eval-clips", type=int, help=f"clips per video when evaluating (default {d.eval_clips})")
    p.add_argument("--workers", type=int, help=f"DataLoader worker processes (default {d.workers})")
    p.add_argument("--device", help="auto, cpu, cuda, cuda:N (default auto)")
    p.add_argument(
        "--precision",
        choices=PRECISIONS,
        help="autocast: auto (bf16 or fp16 on GPU, fp32 on CPU; the default), fp32, bf16, fp16",
    )
    p.add_argument("--no-amp", dest="precision", action="store_const", const="fp32",
                   help="the same as --precision fp32 (kept for older scripts)")  # fmt: skip
    p.add_argument("--no-channels-last", action="store_true", help="no channels_last_3d on GPU")
    p.add_argument("--seed", type=int, help=f"(default {d.seed})")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_train)


# --------------------------------------------------------------------------------------------------------
# vidlens extract
# --------------------------------------------------------------------------------------------------------


def _extract_model(args: argparse.Namespace):
    """The model to extract with, the file its weights came from, its registry name and its own preset
    and frame size (a trained run's, else the model's)."""
    import warnings

    from vidlens.models import create_model, load_pretrained
    from vidlens.runs import CHECKPOINT, WEIGHTS, load_config, load_run_model

    if args.run is not None:
        model, config, _ = load_run_model(args.run)
        run = Path(args.run)
        weights = run / WEIGHTS if (run / WEIGHTS).is_file() else run / CHECKPOINT
        return model, weights, config.model, config.preset, tuple(config.size), config.crop
    if args.weights is None:
        warnings.warn(
            f"no --weights or --run: extracting with randomly initialised {args.model} weights (seed 0), "
            "which is only useful for testing the pipeline",
            stacklevel=2,
        )
        import torch

        torch.manual_seed(0)
        model = create_model(args.model, **dict(args.model_arg or []))
        return model, None, args.model, getattr(model, "default_preset", "plain"), (128, 171), None
    weights = Path(args.weights)
    run_config = weights.parent / "config.json"
    if run_config.is_file():  # RUN/model.pt of a vidlens run: its own classes, preset and frame size
        config, classes = load_config(weights.parent)
        model = create_model(config.model, num_classes=len(classes), **config.model_kwargs)
        load_pretrained(model, weights, classifier="auto")
        return model, weights, config.model, config.preset, tuple(config.size), config.crop
    model = create_model(args.model, **dict(args.model_arg or []))
    load_pretrained(model, weights, classifier="auto")
    # The public C3D weights are c3d-pytorch's port of the Sports-1M Caffe model: BGR, 0-255, mean-subtracted.
    preset = "sports1m" if args.model in ("c3d", "c3d_sports1m") else model.default_preset
    return model, weights, args.model, preset, (128, 171), None


def cmd_extract(args: argparse.Namespace) -> int:
    from vidlens.features.extract import extract_collection, resolve_inputs

    shard = (0, 1)
    if args.shard is not None:
        try:
            i, n = (int(v) for v in args.shard.split("/"))
        except ValueError:
            raise ValueError(f"--shard takes i/n such as 0/4, got {args.shard!r}") from None
        shard = (i, n)
    videos = resolve_inputs(args.inputs)
    model, weights, name, preset, size, crop = _extract_model(args)
    summary = extract_collection(
        model,
        videos,
        args.out,
        layers=args.layer or ["fc6"],
        model_name=name,
        weights=weights,
        clip_len=args.clip_len,
        stride=args.stride,
        size=args.size or size,
        crop=args.crop or crop,
        preset=args.preset or preset,
        batch_size=args.batch_size,
        workers=args.workers,
        device=args.device,
        precision=args.precision,
        pool=args.pool,
        fmt=args.format,
        shard=shard,
        progress=not args.quiet,
    )
    print(summary.summary())
    return 1 if summary.failed else 0


def _add_extract_parser(sub: argparse._SubParsersAction) -> None:
    from vidlens.runtime import PRECISIONS

    p = sub.add_parser(
        "extract",
        help="video descriptors (C3D fc6: mean over 16-frame clips, L2-normalised) for many videos",
        description="Extract per-clip activations and video descriptors into a feature store. A rerun "
        "skips finished videos and completes an interrupted run; exit status 1 when some videos failed.",
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="video files, folders, or @list.txt files")
    p.add_argument("--out", required=True, help="output folder (the feature store)")
    p.add_argument("--model", default="c3d", help="registry name (default c3d)")
    p.add_argument(
        "--weights", default=None, help="weights file (.pt/.pth/.safetensors, or a run's model.pt)"
    )
    p.add_argument("--run", default=None, help="a vidlens training run to take the model from")
    p.add_argument("--model-arg", action="append", type=_model_arg, metavar="KEY=VALUE",
                   help="builder argument, e.g. --model-arg width=16 (repeatable)")  # fmt: skip
    p.add_argument("--layer", action="append", help="tap name, repeatable (default fc6)")
    p.add_argument("--clip-len", type=int, default=16, help="frames per clip (default 16)")
    p.add_argument("--stride", type=int, default=8, help="frames between clip starts (default 8)")
    p.add_argument(
        "--preset", default=None, help="normalisation (default: the weights' own; sports1m for c3d)"
    )
    p.add_argument("--size", type=_size, default=None, help="decode size HxW (default 128x171)")
    p.add_argument("--crop", type=int, default=None, help="centre crop (default: the model's input size)")
    p.add_argument(
        "--pool", default="auto", choices=["auto", "mean", "flatten"], help="conv maps: mean or flatten"
    )
    p.add_argument("--batch-size", type=int, default=16, help="clips per forward pass (default 16)")
    p.add_argument("--workers", type=int, default=2, help="decoding processes (default 2)")
    p.add_argument("--device", default="auto")
    p.add_argument(
        "--precision",
        default="auto",
        choices=PRECISIONS,
        help="auto: bf16 on GPU if exact to 1e-2, fp32 on CPU; bf16 runs on CPU too (slowly)",
    )
    p.add_argument("--format", default="npy", choices=["npy", "hdf5"], help="per-video .npy files or one .h5")
    p.add_argument("--shard", default=None, metavar="I/N", help="process shard I of N (0-based)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_extract)


# --------------------------------------------------------------------------------------------------------
# vidlens demo
# --------------------------------------------------------------------------------------------------------


def cmd_demo(args: argparse.Namespace) -> int:
    import torch
    from tqdm import tqdm

    from vidlens.data.datasets import load_videos
    from vidlens.data.synthetic import make_motion_dataset
    from vidlens.data.transforms import center_crop
    from vidlens.models import count_macs, count_parameters, create_model
    from vidlens.presets import get_preset
    from vidlens.video import DEFAULT_SIZE, iter_clips

    root = Path(args.dir)
    print(f"1. synthetic motion dataset in {root}")
    t0 = time.perf_counter()
    ds = make_motion_dataset(root, _motion_config(args), progress=True)
    print(
        f"   {'reused' if ds.reused else 'made'} in {time.perf_counter() - t0:.1f}s: {ds.num_videos} videos"
    )

    print("2. reading it back through the UCF101 code path")
    train, test = load_videos(root, subset="train"), load_videos(root, subset="test")
    print(f"   layout {train.layout}, classes: {', '.join(train.classes)}")
    print(f"   videos: {len(train)} train, {len(test)} test")

    print(f"3. decoding every video into 16-frame clips (stride 8) at {DEFAULT_SIZE[0]}x{DEFAULT_SIZE[1]}")
    n_clips = n_frames = 0
    first_clip = None
    t0 = time.perf_counter()
    for record in tqdm(train.records + test.records, desc="   decode", unit="video", leave=False):
        for clip in iter_clips(record.path, clip_len=16, stride=8):
            n_clips += 1
            n_frames += len(clip) - clip.padded
            first_clip = first_clip if first_clip is not None else clip
    dt = time.perf_counter() - t0
    print(
        f"   {n_clips} clips from {len(train) + len(test)} videos in {dt:.2f}s ({n_frames / dt:,.0f} frames/s)"
    )

    print("4. C3D (Tran et al. 2015) forward pass on one clip")
    torch.manual_seed(0)
    model = create_model("c3d", num_classes=len(train.classes)).eval()
    preset = get_preset("plain")
    x = preset.normalize(center_crop(first_clip.frames, 112)).unsqueeze(0)  # (1, 3, 16, 112, 112)
    with torch.inference_mode():
        model(x)  # warm-up
        t0 = time.perf_counter()
        logits = model(x)
        dt = time.perf_counter() - t0
    print(f"   input {tuple(x.shape)} -> logits {tuple(logits.shape)} in {dt * 1000:.0f} ms on CPU")
    print(
        f"   {count_parameters(model) / 1e6:.1f}M parameters, "
        f"{count_macs(model, (1, 3, 16, 112, 112)) / 1e9:.1f}G multiply-adds per clip"
    )
    print(
        "   (untrained weights: train with `vidlens train` or `vidlens reproduce depth`; extract with `vidlens extract`)"
    )
    return 0


# --------------------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    from vidlens import __version__

    parser = argparse.ArgumentParser(
        prog="vidlens", description="Learn, extract and understand spatiotemporal features of 3D ConvNets."
    )
    parser.add_argument("--version", action="version", version=f"vidlens {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("info", help="frames, fps, size, duration and codec of videos")
    p.add_argument("videos", nargs="+", metavar="VIDEO")
    p.add_argument("--json", action="store_true", help="one JSON object per video")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("synth", help="make the synthetic motion dataset (UCF101 layout)")
    p.add_argument("dir", metavar="DIR")
    _add_synth_options(p)
    p.add_argument("--overwrite", action="store_true", help="write into a non-empty directory anyway")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_synth)

    p = sub.add_parser("models", help="list the model registry")
    p.add_argument("pattern", nargs="?", default=None, help="shell-style filter, e.g. 'c3d*'")
    p.add_argument("--json", action="store_true", help="one JSON object per model")
    p.set_defaults(func=cmd_models)

    _add_train_parser(sub)
    _add_extract_parser(sub)
    from vidlens.features import embed, linear
    from vidlens.runtime import PRECISIONS

    linear.add_parser(sub)
    embed.add_parser(sub)

    p = sub.add_parser("evaluate", help="clip and video hit@k of a trained run on its test split")
    p.add_argument("run", metavar="RUN")
    p.add_argument("data", nargs="?", default=None, metavar="DATA", help="dataset root (default: the run's)")
    p.add_argument("--split", type=int, default=None, help="official split (default: the run's)")
    p.add_argument("--subset", default="test", choices=["train", "test", "all"], help="(default test)")
    p.add_argument("--clips-per-video", type=int, default=None, help="(default: the run's eval_clips)")
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--workers", type=int, default=None)
    p.add_argument("--device", default=None)
    p.add_argument("--precision", default=None, choices=PRECISIONS, help="autocast (default: the run's)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("reproduce", help="the seeds' comparisons on synthetic motion data")
    p.add_argument("experiment", choices=["fusion", "depth"])
    p.add_argument("--out", default="runs/reproduce", help="where data and runs go (default runs/reproduce)")
    p.add_argument("--scale", type=int, default=1, help="multiply videos per class and epochs (default 1)")
    p.add_argument("--epochs", type=int, default=None, help="override the number of epochs")
    p.add_argument("--videos-per-class", type=int, default=None, help="override the dataset size")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--device", default="auto")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_reproduce)

    p = sub.add_parser("demo", help="synthesise, decode and run C3D on built-in data")
    p.add_argument("--dir", default="runs/demo/data", help="where the dataset goes (default runs/demo/data)")
    _add_synth_options(p)
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError, FileExistsError, KeyError, RuntimeError) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"vidlens {args.command}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
