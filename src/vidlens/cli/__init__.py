"""The ``vidlens`` command line: one small module per command group, each function calling the library.

vidlens info VIDEO...        frames, fps, size, duration and codec of videos
vidlens synth DIR            make the synthetic motion dataset (UCF101 layout)
vidlens models               the model registry: input size, parameters, multiply-adds, layers
vidlens train DATA ...       train a model (C3D recipe); vidlens evaluate RUN: clip/video hit@k
vidlens extract INPUT...     video descriptors (fc6 mean over clips) into a feature store
vidlens linear FEATURES      linear SVM on the descriptors (C by cross-validation on train), --pca K
vidlens embed FEATURES       t-SNE map of the descriptors coloured by class
vidlens featuremaps|deconv|saliency|cam|occlusion VIDEO   look inside a model on one clip (.npy, GIF, MP4, PNG)
vidlens filters              a convolution's learned kernels
vidlens actmax               the clip a unit likes best (activation maximisation), --chi-sweep slow to fast
vidlens redundancy           filters that repeat each other: cosine clustering per convolution, curve over tau
vidlens dependence           correlation and mutual information between a layer's units over natural clips
vidlens units                which units see motion: temporal sensitivity, direction and speed tuning
vidlens demo                 the whole story on built-in data as one page: train, extract, look inside (index.html)
vidlens report DIR           rebuild a report's index.html from its finished steps (computes nothing)
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from vidlens.cli import actmax, demo, features, interpret, models, training, units, video

__all__ = ["build_parser", "main"]

# Command groups in the order `vidlens --help` lists them; each module's register() adds its subcommands.
_GROUPS = (video, models, training, features, interpret, actmax, units, demo)


def build_parser() -> argparse.ArgumentParser:
    from vidlens import __version__

    parser = argparse.ArgumentParser(
        prog="vidlens", description="Learn, extract and understand spatiotemporal features of 3D ConvNets."
    )
    parser.add_argument("--version", action="version", version=f"vidlens {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in _GROUPS:
        group.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError, FileExistsError, KeyError, IndexError, RuntimeError) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"vidlens {args.command}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
