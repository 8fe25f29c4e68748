"""``vidlens info`` and ``vidlens synth``: look at videos, make the synthetic motion dataset."""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict

from vidlens.cli.common import print_table, size_arg

__all__ = ["add_synth_options", "motion_config", "register"]


def cmd_info(args: argparse.Namespace) -> int:
    from vidlens.video import VideoError, probe

    failed = 0
    rows = []
    for path in args.videos:
        try:
            info = probe(path, stream=args.stream)
        except VideoError as err:
            print(f"error: {err}", file=sys.stderr)
            failed += 1
            continue
        if args.json:
            print(json.dumps(asdict(info)))
        else:
            rows.append(info)
    if rows:
        # size: as displayed (the display matrix applied); rotation: what the matrix says, in degrees
        # counter-clockwise as ffprobe prints it; stream: the stream read, and the others to choose from.
        header = ("video", "stream", "frames", "fps", "size", "rotation", "duration", "codec")
        table = [
            (
                r.path,
                _stream_text(r.stream_index, r.video_streams),
                str(r.n_frames),
                f"{r.fps:.3f}",
                f"{r.width}x{r.height}",
                str(r.rotation),
                f"{r.duration:.2f}s",
                r.codec,
            )
            for r in rows
        ]
        print_table(header, table)
    return 1 if failed else 0


def _stream_text(index: int, video_streams: tuple[int, ...]) -> str:
    """``3`` for the stream read, ``3 (of 0,3)`` when the file has other video streams to choose from."""
    if len(video_streams) > 1:
        return f"{index} (of {','.join(map(str, video_streams))})"
    return str(index)


def motion_config(args: argparse.Namespace):
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
        args.dir, motion_config(args), masks=args.masks, overwrite=args.overwrite, progress=not args.quiet
    )
    verb = "found" if ds.reused else f"wrote in {time.perf_counter() - t0:.1f}s"
    print(
        f"{verb}: {ds.num_videos} videos ({len(ds.train)} train, {len(ds.test)} test) of "
        f"{len(ds.class_names)} motion classes in {ds.root}"
    )
    print(f"classes: {', '.join(ds.class_names)}")
    print(f"splits:  {ds.splits_dir}/classInd.txt, trainlist01.txt, testlist01.txt")
    if ds.masks:
        print(f"masks:   {ds.root}/masks/<class>/<video>.npz (moving shapes, bool (T, H, W) under 'moving')")
    return 0


def add_synth_options(p: argparse.ArgumentParser, *, frames: int = 32, videos: int = 10) -> None:
    p.add_argument("--classes", type=int, default=4, help="motion classes, 2-8 (default 4)")
    p.add_argument("--videos-per-class", type=int, default=videos, help=f"(default {videos})")
    p.add_argument("--frames", type=int, default=frames, help=f"frames per video (default {frames})")
    p.add_argument("--size", type=size_arg, default=(112, 112), help="frame size HxW (default 112x112)")
    p.add_argument("--fps", type=int, default=25, help="frame rate written into the files (default 25)")
    p.add_argument("--seed", type=int, default=0, help="same seed, same dataset (default 0)")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "info",
        help="stream, frames, fps, displayed size, rotation, duration and codec of videos",
        description="What vidlens reads from each video: the video stream FFmpeg picks by default (or "
        "--stream), its frame count, frame rate, size as displayed (rotation applied), the rotation its "
        "display matrix asks for, duration and codec. Exit status 1 when a video cannot be read.",
    )
    p.add_argument("videos", nargs="+", metavar="VIDEO")
    p.add_argument("--json", action="store_true", help="one JSON object per video")
    p.add_argument(
        "--stream",
        type=int,
        default=None,
        metavar="N",
        help="read the stream with index N (as ffprobe numbers them; the stream column lists a file's "
        "video streams) instead of the one FFmpeg picks",
    )
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("synth", help="make the synthetic motion dataset (UCF101 layout)")
    p.add_argument("dir", metavar="DIR")
    add_synth_options(p)
    p.add_argument(
        "--masks",
        action="store_true",
        help="also write where the moving shapes are, per frame (masks/<class>/<video>.npz), the ground "
        "truth of pointing games; the videos are the same with or without",
    )
    p.add_argument("--overwrite", action="store_true", help="write into a non-empty directory anyway")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_synth)
