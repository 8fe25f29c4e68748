"""``vidlens extract``, ``vidlens linear`` and ``vidlens embed``: C3D's descriptors and their evaluation."""

from __future__ import annotations

import argparse
import math

from vidlens.cli.common import add_model_options, load_model_from_args, size_arg, warnings_to_stderr

__all__ = ["register"]


def cmd_extract(args: argparse.Namespace) -> int:
    from vidlens.features.extract import ClipRecipe, extract_collection, resolve_inputs
    from vidlens.presets import FROM_PRESET

    shard = (0, 1)
    if args.shard is not None:
        try:
            i, n = (int(v) for v in args.shard.split("/"))
        except ValueError:
            raise ValueError(f"--shard takes i/n such as 0/4, got {args.shard!r}") from None
        shard = (i, n)
    videos = resolve_inputs(args.inputs)
    model, name, weights = load_model_from_args(args)
    recipe = ClipRecipe(
        args.clip_len,
        args.stride,
        size=args.size if args.size is not None else FROM_PRESET,
        crop=args.crop if args.crop is not None else FROM_PRESET,
    )
    summary = extract_collection(
        model,
        videos,
        args.out,
        layers=args.layer or ["fc6"],
        model_name=name,
        weights=weights,
        clips=recipe,
        batch_size=args.batch_size,
        workers=args.workers,
        device=args.device,
        precision=args.precision,
        pool=args.pool,
        fmt=args.format,
        shard=shard,
        progress=not args.quiet,
        stream=args.stream,
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
    add_model_options(p)
    p.add_argument("--layer", action="append", help="tap name, repeatable (default fc6)")
    p.add_argument("--clip-len", type=int, default=16, help="frames per clip (default 16)")
    p.add_argument("--stride", type=int, default=8, help="frames between clip starts (default 8)")
    p.add_argument(
        "--size", type=size_arg, default=None, help="decode size HxW (default: the preset's, 128x171)"
    )
    p.add_argument("--crop", type=int, default=None, help="centre crop (default: the preset's, 112)")
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
    p.add_argument(
        "--stream",
        type=int,
        default=None,
        metavar="N",
        help="read the stream with index N of every video (vidlens info lists a file's video streams) "
        "instead of the one FFmpeg picks",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_extract)


def _cs_arg(text: str) -> list[float]:
    """Parse ``0.01,0.1,1`` into a list of positive floats."""
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated numbers such as 0.1,1,10, got {text!r}"
        ) from None
    if not values or any(not math.isfinite(v) or v <= 0 for v in values):
        raise argparse.ArgumentTypeError(f"C values must be positive, got {text!r}")
    return values


def cmd_linear(args: argparse.Namespace) -> int:
    """``vidlens linear``: print the table (errors are reported by ``vidlens.cli.main``)."""
    from vidlens.features.linear import linear_eval

    with warnings_to_stderr():
        result = linear_eval(
            args.features,
            layer=args.layer,
            data=args.data,
            split=args.split,
            labels=args.labels,
            pca=args.pca,
            cs=args.c,
            folds=args.folds,
            seed=args.seed,
            test_fraction=args.test_fraction,
            out=args.out,
        )
    print(result.table())
    print(
        f"labels: {result.split}; {result.n_train} train and {result.n_test} test videos, "
        f"{result.ignored} store videos in no split, {sum(map(len, result.missing.values()))} split videos "
        "missing from the store"
    )
    if result.cv_scores:
        scores = ", ".join(f"C={c:g}: {100 * s:.1f}" for c, s in result.cv_scores.items())
        print(f"{result.folds}-fold CV accuracy on the train split: {scores}")
    if args.out:
        print(f"metrics written to {args.out}")
    return 0


def cmd_embed(args: argparse.Namespace) -> int:
    """``vidlens embed``: say where the figure and coordinates went (errors are reported by
    ``vidlens.cli.main``)."""
    from vidlens.features.embed import embed

    with warnings_to_stderr():
        result = embed(
            args.features,
            layer=args.layer,
            data=args.data,
            split=args.split,
            labels=args.labels,
            out=args.out,
            perplexity=args.perplexity,
            seed=args.seed,
            pca_first=args.pca_first or None,
        )
    labelled = sum(name is not None for name in result.labels)
    print(
        f"t-SNE of {len(result.ids)} videos ({labelled} labelled, {len(result.classes)} classes, "
        f"perplexity {result.perplexity:g}) -> {result.png}"
    )
    print(f"coordinates: {result.coords_file}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    _add_extract_parser(sub)
    p = sub.add_parser("linear", help="linear-SVM accuracy of extracted video descriptors (C3D's protocol)")
    p.add_argument("features", metavar="FEATURES", help="feature store folder (or .h5) of `vidlens extract`")
    p.add_argument(
        "--data", metavar="ROOT", help="dataset root with its split files (UCF101, HMDB51, folders)"
    )
    p.add_argument("--split", type=int, default=1, help="official split of --data (default 1)")
    p.add_argument("--labels", metavar="FILE", help="labels file: lines 'ID_OR_PATH LABEL [train|test]'")
    p.add_argument("--layer", metavar="NAME", help="layer to evaluate when the store holds several")
    p.add_argument("--pca", type=int, metavar="K", help="compress descriptors to K dims first (C3D: 10)")
    from vidlens.features.linear import DEFAULT_CS

    p.add_argument("--c", type=_cs_arg, default=list(DEFAULT_CS), metavar="C,C,...",
                   help="SVM constants tried by cross-validation (default 0.01,0.1,1,10,100)")  # fmt: skip
    p.add_argument(
        "--folds", type=int, default=5, help="cross-validation folds on the train split (default 5)"
    )
    p.add_argument(
        "--test-fraction",
        type=float,
        default=0.3,
        help="held out per class when there is no split (default 0.3)",
    )
    p.add_argument("--seed", type=int, default=0, help="folds, PCA and any random split (default 0)")
    p.add_argument("--out", metavar="PATH", help="write the metrics as JSON to PATH")
    p.set_defaults(func=cmd_linear)

    p = sub.add_parser("embed", help="t-SNE map of extracted video descriptors, coloured by class")
    p.add_argument("features", metavar="FEATURES", help="feature store folder (or .h5) of `vidlens extract`")
    p.add_argument("--data", metavar="ROOT", help="dataset root whose classes colour the map")
    p.add_argument("--split", type=int, default=1, help="official split of --data to read (default 1)")
    p.add_argument("--labels", metavar="FILE", help="labels file: lines 'ID_OR_PATH LABEL [train|test]'")
    p.add_argument("--layer", metavar="NAME", help="layer to map when the store holds several")
    p.add_argument("--out", default="embed.png", metavar="PNG", help="the figure (default embed.png)")
    p.add_argument("--perplexity", type=float, default=30.0, help="t-SNE perplexity (default 30)")
    p.add_argument(
        "--pca-first", type=int, default=50, help="PCA dimensions before t-SNE, 0: none (default 50)"
    )
    p.add_argument("--seed", type=int, default=0, help="(default 0)")
    p.set_defaults(func=cmd_embed)
