"""``vidlens train``, ``vidlens evaluate`` and ``vidlens reproduce``."""

from __future__ import annotations

import argparse
from pathlib import Path

from vidlens.cli.common import model_arg, size_arg

__all__ = ["register"]


def _train_config(args: argparse.Namespace):
    from vidlens.runs import TrainConfig

    overrides = {
        name: getattr(args, name)
        for name in (
            "layout", "split", "model", "init", "epochs", "batch_size", "optimizer", "lr", "schedule", "lr_steps",
            "lr_gamma", "warmup_epochs", "momentum", "weight_decay", "grad_clip", "clip_len", "size", "crop", "flip_p", "preset", "eval_clips",
            "workers", "frame_cache", "device", "precision", "seed",
        )
        if getattr(args, name, None) is not None
    }  # fmt: skip
    if args.no_channels_last:
        overrides["channels_last"] = False
    return TrainConfig(data=args.data, model_kwargs=dict(args.model_arg or []), **overrides)


def cmd_train(args: argparse.Namespace) -> int:
    from vidlens.runs import is_run, load_config
    from vidlens.train import train

    if args.resume and is_run(args.out):
        # The run's own settings; only those that do not change its results may be given again.
        config, _ = load_config(args.out)
        for name in ("epochs", "workers", "frame_cache", "device", "precision"):
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
        recipe=args.recipe,
        data=args.data,
        seeds=args.seeds,
        scale=args.scale,
        seed=args.seed,
        epochs=args.epochs,
        videos_per_class=args.videos_per_class,
        models=args.models,
        workers=args.workers,
        frame_cache="auto"
        if args.frame_cache is None
        else (None if args.frame_cache == "none" else args.frame_cache),
        device=args.device,
        progress=not args.quiet,
    )
    print()
    print(result.table())
    print(
        f"\n{result.seconds / 60:.1f} min; results in {Path(args.out) / args.experiment}/results.json and results.png"
    )
    return 0


_FRAME_CACHE_HELP = (
    "decode every video once into DIR (uint8 frames, T x H x W x 3 bytes per video) and cut clips from "
    "there: the same clips, without decoding each epoch (default: decode every clip)"
)


def _add_train_parser(sub: argparse._SubParsersAction) -> None:
    from vidlens.runs import OPTIMIZERS, SCHEDULES, TrainConfig
    from vidlens.runtime import PRECISIONS

    d = TrainConfig()
    p = sub.add_parser("train", help="train a model on a video dataset (C3D recipe)")
    p.add_argument(
        "data", metavar="DATA", help="UCF101-layout root (class folders + splits/) or class folders"
    )
    p.add_argument("--out", required=True, metavar="RUN", help="run directory to create (or resume)")
    p.add_argument("--model", help=f"registry name (default {d.model}; see `vidlens models`)")
    p.add_argument("--model-arg", action="append", type=model_arg, metavar="KEY=VALUE",
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
    p.add_argument("--optimizer", choices=OPTIMIZERS, help=f"sgd (C3D's) or adamw (default {d.optimizer})")
    p.add_argument("--lr", type=float, help=f"learning rate (default {d.lr})")
    p.add_argument(
        "--lr-steps", type=int, nargs="*", help=f"epochs at which lr is divided (default {d.lr_steps})"
    )
    p.add_argument("--lr-gamma", type=float, help=f"factor at each step (default {d.lr_gamma})")
    p.add_argument(
        "--schedule",
        choices=SCHEDULES,
        help=f"step: lr times --lr-gamma at --lr-steps (C3D's); cosine: down to 0 step by step (default {d.schedule})",
    )
    p.add_argument(
        "--warmup-epochs", type=float, help="epochs of linear warm-up from 0 to --lr (default 0: none)"
    )
    p.add_argument("--momentum", type=float, help=f"(default {d.momentum})")
    p.add_argument("--weight-decay", type=float, help=f"(default {d.weight_decay})")
    p.add_argument("--grad-clip", type=float, help="clip the gradients' global norm to this (default: off)")
    p.add_argument("--clip-len", type=int, help=f"frames per clip (default {d.clip_len})")
    p.add_argument("--size", type=size_arg, help="frames are resized to HxW (default: the preset's, 128x171)")
    p.add_argument("--crop", type=int, help="square crop side (default: the preset's, 112)")
    p.add_argument("--flip-p", type=float, help=f"horizontal flip probability (default {d.flip_p})")
    p.add_argument("--preset", help="preprocessing preset (default: the --init weights' own, else plain)")
    p.add_argument("--eval-clips", type=int, help=f"clips per video when evaluating (default {d.eval_clips})")
    p.add_argument("--workers", type=int, help=f"DataLoader worker processes (default {d.workers})")
    p.add_argument("--frame-cache", metavar="DIR", help=_FRAME_CACHE_HELP)
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


def register(sub: argparse._SubParsersAction) -> None:
    from vidlens.reproduce import EXPERIMENTS, RECIPES
    from vidlens.runtime import PRECISIONS

    _add_train_parser(sub)

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

    p = sub.add_parser("reproduce", help="the seeds' comparisons (fusion, temporal depth) on any dataset")
    p.add_argument("experiment", choices=list(EXPERIMENTS))
    p.add_argument(
        "--recipe",
        choices=list(RECIPES),
        default="scratch",
        help="; ".join(f"{r.name}: {r.description}" for r in RECIPES.values()) + " (default scratch)",
    )
    p.add_argument(
        "--data",
        default=None,
        metavar="ROOT",
        help="a dataset (UCF101/HMDB51 splits, class folders); default: the built-in synthetic motion data",
    )
    p.add_argument(
        "--seeds", type=int, default=1, help="runs per model (mean +- std in the table; default 1)"
    )
    p.add_argument("--out", default="runs/reproduce", help="where data and runs go (default runs/reproduce)")
    p.add_argument("--scale", type=int, default=1, help="multiply videos per class and epochs (default 1)")
    p.add_argument("--epochs", type=int, default=None, help="override the recipe's number of epochs")
    p.add_argument("--videos-per-class", type=int, default=None, help="override the synthetic dataset's size")
    p.add_argument("--seed", type=int, default=0, help="first seed (and the synthetic data's; default 0)")
    p.add_argument(
        "--models", nargs="+", metavar="NAME", help="only these rows (registry names; default all)"
    )
    p.add_argument("--workers", type=int, default=2)
    p.add_argument(
        "--frame-cache",
        metavar="DIR",
        help="where videos are decoded once for every run (default: OUT/frames for the synthetic data, "
        "nothing for --data; 'none' decodes every clip)",
    )
    p.add_argument("--device", default="auto")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_reproduce)
