"""Decoding benchmark: vidlens against plain PyAV, OpenCV and decord, plus memory.

Run from the repository root::

    python benchmarks/decode.py            # full run, a few minutes on 2 cores
    python benchmarks/decode.py --quick    # smoke run, under half a minute
    python benchmarks/decode.py --out results.json --markdown

What it does:

1. Writes its own H.264 test videos with ``vidlens.video.write_video`` in a temporary directory: 320x240
   (``--video-size``), 25 fps, a scrolling smooth texture with a moving square. The throughput video is
   1500 frames (1 minute, ``--frames``) at x264's default preset; the memory videos are 1 and 10 minutes
   (1500 / 15000 frames, ``--memory-frames``) at the same size with preset ultrafast, which writes 15000
   frames in ~20 s.
2. Throughput: frames/s of decode + resize to 128x171 RGB for vidlens (``iter_frames`` as it reads by default,
   decoding in a background thread, and with ``threads=1``, all in the calling thread; ``iter_clips``),
   plain PyAV, OpenCV and decord on the same file, in the same process, interleaved round-robin over
   several rounds; median and best per method, and each one's speed relative to vidlens ``iter_frames``
   (ratio of medians, and the median of per-round ratios, which cancels slow drifts of a shared box).
3. Memory: peak RSS (VmHWM) of streaming all clips of the 1-minute and the 10-minute video with
   ``iter_clips``, each in a fresh subprocess, and the ratio 10-min / 1-min; for contrast, the naive
   ``read_video`` + slicing.

The experiments on the knobs of the resize path (swscale interpolation and threads, planar RGB output,
decoder threads, a decode/convert thread pipeline, the GIL, resize quality) were retired once
``benchmarks/RESULTS.md`` recorded their outcome; the code is in git history (``git show
8d0ad5762ce7:benchmarks/decode.py``, ``--no-knobs`` there skips them). ``--no-knobs`` is accepted here as a
no-op.

Peers that cannot be imported are reported as unavailable. ``--out FILE`` writes every number as JSON.
"""

from __future__ import annotations

import functools
import importlib
import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import numpy as np

from _common import (
    Samples,
    add_memory_options,
    arg_parser,
    bench_video,
    interleaved,
    log,
    machine_info,
    paired_ratio,
    parse,
    parse_size,
    peak_rss_mib,
    rss_mib,
    run_child,
    table,
    workdir,
    write_json,
)

SIZE = (128, 171)  # (H, W): C3D's frame size
QUICK_MEMORY_FRAMES = [250, 2500]  # --quick: the memory videos
H, W = SIZE
CLIP_LEN = 16
# The commit whose decode.py still holds the resize-path knob experiments (swscale interpolation, threads,
# planar output, decoder threads, a decode/convert pipeline, the GIL check, resize quality), retired once
# benchmarks/RESULTS.md recorded their outcome ("Resize path knobs", "Recommendations for video.py").
RETIRED_AT = "8d0ad5762ce7"

# --------------------------------------------------------------------------------------------------------
# Methods: each reads the whole file and returns (frames delivered, first frame or None)
# --------------------------------------------------------------------------------------------------------

Method = Callable[[str], tuple[int, np.ndarray | None]]


def vidlens_frames(path: str, threads: int = 0) -> tuple[int, np.ndarray | None]:
    """``iter_frames`` as it reads by default (``threads=0``: decoding in a background thread), or with
    ``threads=1``: everything in the calling thread, as DataLoader workers read."""
    from vidlens.video import iter_frames

    n, first = 0, None
    for _, _, frame in iter_frames(path, SIZE, threads=threads):
        if first is None:
            first = frame
        n += 1
    return n, first


def vidlens_clips(path: str) -> tuple[int, np.ndarray | None]:
    from vidlens.video import iter_clips

    n, first = 0, None
    for clip in iter_clips(path, CLIP_LEN, CLIP_LEN, SIZE):
        if first is None:
            first = clip.frames[0]
        n += len(clip.frames)
    return n, first


def _open_pyav(path: str, threads: int = 0) -> tuple[Any, Any]:
    container = av.open(path)
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    stream.codec_context.thread_count = threads
    return container, stream


def pyav_to_ndarray(path: str) -> tuple[int, np.ndarray | None]:
    """What PyAV users write: ``to_ndarray`` with a size, which makes a new swscale context per frame."""
    container, stream = _open_pyav(path)
    n, first = 0, None
    with container:
        for frame in container.decode(stream):
            rgb = frame.to_ndarray(format="rgb24", width=W, height=H)
            if first is None:
                first = rgb
            n += 1
    return n, first


def pyav_decode_only(path: str, threads: int = 0) -> tuple[int, np.ndarray | None]:
    """The ceiling: decode to YUV frames, convert nothing, with FFmpeg's threads (``threads=0``) or
    ``threads`` of them (1: vidlens's choice up to 640x480, in a thread of its own)."""
    container, stream = _open_pyav(path, threads)
    n = 0
    with container:
        for _ in container.decode(stream):
            n += 1
    return n, None


def pyav_full_rgb(path: str) -> tuple[int, np.ndarray | None]:
    container, stream = _open_pyav(path)
    n = 0
    with container:
        for frame in container.decode(stream):
            frame.to_ndarray(format="rgb24")
            n += 1
    return n, None


def opencv_resize(path: str) -> tuple[int, np.ndarray | None]:
    """cv2.VideoCapture + cv2.resize (INTER_LINEAR, the default) + BGR->RGB (vidlens returns RGB)."""
    import cv2

    cap = cv2.VideoCapture(path, cv2.CAP_FFMPEG)
    if not cap.isOpened():
        raise RuntimeError(f"cv2.VideoCapture cannot open {path}")
    n, first = 0, None
    try:
        while True:
            ok, bgr = cap.read()
            if not ok:
                break
            rgb = cv2.cvtColor(cv2.resize(bgr, (W, H), interpolation=cv2.INTER_LINEAR), cv2.COLOR_BGR2RGB)
            if first is None:
                first = rgb
            n += 1
    finally:
        cap.release()
    return n, first


def decord_batches(path: str, batch: int = 32) -> tuple[int, np.ndarray | None]:
    """decord ``VideoReader(width=, height=)`` read in order, ``batch`` frames per ``get_batch``."""
    import decord

    vr = decord.VideoReader(path, ctx=decord.cpu(0), width=W, height=H, num_threads=0)
    n, first = 0, None
    for i in range(0, len(vr), batch):
        arr = vr.get_batch(list(range(i, min(i + batch, len(vr))))).asnumpy()  # (B, H, W, 3) RGB
        if first is None:
            first = arr[0]
        n += len(arr)
    return n, first


def decord_next(path: str) -> tuple[int, np.ndarray | None]:
    """decord ``VideoReader(width=, height=)`` iterated frame by frame with ``next()``."""
    import decord

    vr = decord.VideoReader(path, ctx=decord.cpu(0), width=W, height=H, num_threads=0)
    n, first = 0, None
    for _ in range(len(vr)):
        rgb = vr.next().asnumpy()
        if first is None:
            first = rgb
        n += 1
    return n, first


# key: (label, function, needs, is a peer for the target)
METHODS: dict[str, tuple[str, Method, str | None, bool]] = {
    "vidlens_frames": ("(a) vidlens iter_frames", vidlens_frames, None, False),
    "vidlens_frames_1thread": (
        "(a') vidlens iter_frames threads=1",
        functools.partial(vidlens_frames, threads=1),
        None,
        False,
    ),
    "vidlens_clips": ("(b) vidlens iter_clips 16/16", vidlens_clips, None, False),
    "pyav_to_ndarray": ("(c) PyAV to_ndarray(171x128)", pyav_to_ndarray, None, True),
    "pyav_decode_only": ("(d) PyAV decode only (ceiling)", pyav_decode_only, None, False),
    "pyav_decode_only_1thread": (
        "(d') PyAV decode only, 1 thread",
        functools.partial(pyav_decode_only, threads=1),
        None,
        False,
    ),
    "pyav_full_rgb": ("(e) PyAV full-size RGB", pyav_full_rgb, None, False),
    "opencv": ("(f) OpenCV read+resize+RGB", opencv_resize, "cv2", True),
    "decord_batch": ("(g) decord get_batch(32)", decord_batches, "decord", True),
    "decord_next": ("(g') decord next()", decord_next, "decord", True),
}


def peer_versions() -> dict[str, str | None]:
    """Version of each optional peer, or None when it cannot be imported (reason in the log)."""
    out: dict[str, str | None] = {}
    for mod in ("cv2", "decord"):
        try:
            out[mod] = getattr(importlib.import_module(mod), "__version__", "?")
        except Exception as err:  # ImportError, or a broken native library
            log(f"  {mod} unavailable: {type(err).__name__}: {err}")
            out[mod] = None
    return out


# --------------------------------------------------------------------------------------------------------
# Throughput
# --------------------------------------------------------------------------------------------------------


def check_methods(path: str, n_frames: int, versions: dict[str, str | None]) -> dict[str, dict[str, Any]]:
    """Run every method once on a short video: availability, frame count, and agreement with vidlens.

    The first frame of each method is compared with vidlens's (mean absolute difference in uint8 RGB);
    a large value would mean a method returns BGR or another size, i.e. does not do the same work.
    """
    checks: dict[str, dict[str, Any]] = {}
    reference = None
    for key, (_label, fn, needs, _peer) in METHODS.items():
        if needs is not None and versions.get(needs) is None:
            checks[key] = {"available": False, "error": f"{needs} not importable"}
            continue
        try:
            n, first = fn(path)
        except Exception as err:
            checks[key] = {"available": False, "error": f"{type(err).__name__}: {err}"}
            continue
        info: dict[str, Any] = {"available": True, "frames": n}
        if key == "vidlens_frames":
            reference = first
        if first is not None:
            info["shape"] = list(first.shape)
            if reference is not None and first.shape == reference.shape:
                info["mad_vs_vidlens"] = float(np.abs(first.astype(np.int16) - reference).mean())
        expected = (n_frames // CLIP_LEN) * CLIP_LEN if key == "vidlens_clips" else n_frames
        if n != expected:
            info["warning"] = f"delivered {n} frames, expected {expected}"
        checks[key] = info
    return checks


def bench_throughput(path: str, rounds: int, checks: dict[str, dict[str, Any]]) -> dict[str, Samples]:
    methods: dict[str, Callable[[], int]] = {}
    for key, (_label, fn, _needs, _peer) in METHODS.items():
        if checks[key]["available"]:
            methods[key] = functools.partial(lambda f, p: f(p)[0], fn, path)
    return interleaved(methods, rounds, log=log)


def throughput_rows(results: dict[str, Samples], checks: dict[str, dict[str, Any]]) -> list[list[str]]:
    ref = results["vidlens_frames"].median_fps
    rows = []
    for key, (label, _fn, _needs, _peer) in METHODS.items():
        if not checks[key]["available"]:
            rows.append([label, "unavailable", "", "", "", "", checks[key]["error"][:60]])
            continue
        s = results[key]
        if s.error:
            rows.append([label, "failed", "", "", "", "", s.error[:60]])
            continue
        mad = checks[key].get("mad_vs_vidlens")
        note = "" if mad is None else f"first frame MAD {mad:.2f}"
        rows.append(
            [
                label,
                f"{s.median_fps:.0f}",
                f"{s.best_fps:.0f}",
                f"{s.cpu_ms_per_frame:.2f}",
                f"{s.median_fps / ref:.2f}x",
                f"{paired_ratio(s, results['vidlens_frames']):.2f}x",
                note,
            ]
        )
    return rows


THROUGHPUT_HEADERS = [
    "method",
    "median fps",
    "best fps",
    "CPU ms/frame",
    "vs vidlens (medians)",
    "vs vidlens (paired)",
    "note",
]


def verdict(results: dict[str, Samples]) -> dict[str, Any]:
    """Is vidlens iter_frames at least as fast as the fastest peer (plain PyAV / OpenCV / decord)?"""
    peers = {k: results[k] for k, (_l, _f, _n, is_peer) in METHODS.items() if is_peer and k in results}
    peers = {k: s for k, s in peers.items() if not s.error and s.fps}
    vl = results["vidlens_frames"]
    if not peers:
        return {"fastest_peer": None}
    fastest = max(peers, key=lambda k: peers[k].median_fps)
    return {
        "fastest_peer": fastest,
        "fastest_peer_median_fps": peers[fastest].median_fps,
        "vidlens_median_fps": vl.median_fps,
        "ratio_median": vl.median_fps / peers[fastest].median_fps,
        "ratio_best": vl.best_fps / max(s.best_fps for s in peers.values()),
        "ratio_paired": 1 / paired_ratio(peers[fastest], vl),
        "vidlens_at_least_fastest_peer": vl.median_fps >= peers[fastest].median_fps,
    }


def target_lines(results: dict[str, Samples]) -> list[str]:
    """Issue 15's decoding targets against this run: at least 1.1x OpenCV and 0.8 of the decode-only
    ceiling (paired by round), and less CPU time per frame than OpenCV."""
    vl = results["vidlens_frames"]
    lines = []
    for key, what, target in [
        ("opencv", "OpenCV", 1.1),
        ("pyav_decode_only", "the decode-only ceiling", 0.8),
        ("pyav_decode_only_1thread", "decoding alone with 1 thread", None),
    ]:
        if key in results and not results[key].error and results[key].fps:
            ratio = 1 / paired_ratio(results[key], vl)
            goal = f" (target >= {target}: {'met' if ratio >= target else 'NOT met'})" if target else ""
            lines.append(f"vidlens / {what}, paired by round: {ratio:.2f}x{goal}")
    if "opencv" in results and not results["opencv"].error and results["opencv"].fps:
        theirs = results["opencv"].cpu_ms_per_frame
        for key, what in [("vidlens_frames", "vidlens"), ("vidlens_frames_1thread", "vidlens threads=1")]:
            if key in results and not results[key].error and results[key].fps:
                ours = results[key].cpu_ms_per_frame
                lines.append(
                    f"CPU ms per frame: {what} {ours:.3f}, OpenCV {theirs:.3f} "
                    f"(target lower: {'met' if ours < theirs else 'NOT met'})"
                )
    return lines


# --------------------------------------------------------------------------------------------------------
# Memory (each measurement in a fresh subprocess)
# --------------------------------------------------------------------------------------------------------


def memory_child(mode: str, path: str) -> None:
    """Runs in the subprocess: report baseline RSS after imports, stream or slurp the video, report peak."""
    import vidlens.video as vv

    baseline = rss_mib()
    peak_before = peak_rss_mib()
    t0 = time.perf_counter()
    n_clips = 0
    if mode == "stream":
        for clip in vv.iter_clips(path, CLIP_LEN, 8, SIZE):
            n_clips += clip.frames.shape[0] > 0
    elif mode == "naive":
        video = vv.read_video(path, SIZE)
        for start in vv.clip_starts(len(video), CLIP_LEN, 8):
            clip = video[start : start + CLIP_LEN]  # views; a naive loader at its most frugal
            n_clips += clip.shape[0] > 0
    else:
        raise ValueError(mode)
    seconds = time.perf_counter() - t0
    peak = peak_rss_mib()
    print(
        json.dumps(
            {
                "mode": mode,
                "clips": n_clips,
                "seconds": seconds,
                "baseline_rss_mib": baseline,
                "baseline_hwm_mib": peak_before["vmhwm"],
                "peak_rss_mib": peak["vmhwm"] if peak["vmhwm"] is not None else peak["ru_maxrss"],
                "vmhwm_mib": peak["vmhwm"],
                "ru_maxrss_mib": peak["ru_maxrss"],
            }
        )
    )


def run_memory_child(mode: str, path: Path) -> dict[str, Any]:
    try:
        return run_child(__file__, mode, str(path))
    except subprocess.CalledProcessError as err:
        return {"mode": mode, "error": err.stderr.strip().splitlines()[-1:] or ["no output"]}


def bench_memory(short: Path, long: Path, naive_long: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    jobs = [
        ("stream_short", "stream", short),
        ("stream_long", "stream", long),
        ("naive_short", "naive", short),
    ]
    if naive_long:
        jobs.append(("naive_long", "naive", long))
    for key, mode, path in jobs:
        log(f"  {key}: {mode} {path.name}")
        out[key] = run_memory_child(mode, path)
    s, lg = out["stream_short"], out["stream_long"]
    if "error" not in s and "error" not in lg:
        out["ratio_long_short"] = lg["peak_rss_mib"] / s["peak_rss_mib"]
        out["ratio_long_short_above_baseline"] = (lg["peak_rss_mib"] - lg["baseline_rss_mib"]) / max(
            s["peak_rss_mib"] - s["baseline_rss_mib"], 1e-9
        )
    return out


def memory_rows(mem: dict[str, Any], n_short: int, n_long: int) -> list[list[str]]:
    names = {
        "stream_short": f"iter_clips, {n_short} frames",
        "stream_long": f"iter_clips, {n_long} frames",
        "naive_short": f"read_video + slices, {n_short} frames",
        "naive_long": f"read_video + slices, {n_long} frames",
    }
    rows = []
    for key, label in names.items():
        if key not in mem:
            continue
        r = mem[key]
        if "error" in r:
            rows.append([label, "failed", "", "", "", r["error"][0][:60]])
            continue
        rows.append(
            [
                label,
                f"{r['peak_rss_mib']:.0f}",
                f"{r['baseline_rss_mib']:.0f}",
                f"{r['peak_rss_mib'] - r['baseline_rss_mib']:.0f}",
                f"{r['ru_maxrss_mib']:.0f}" if r.get("ru_maxrss_mib") is not None else "n/a",
                f"{r['seconds']:.1f}",
            ]
        )
    return rows


MEMORY_HEADERS = ["what", "peak RSS MiB", "baseline MiB", "peak-baseline", "ru_maxrss MiB", "seconds"]


# --------------------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = arg_parser(__doc__, quick_help="short videos and few rounds: a smoke run")
    ap.add_argument(
        "--frames",
        type=int,
        default=1500,
        help="frames in the throughput video (default 1500 = 1 min, quick 200)",
    )
    ap.add_argument(
        "--rounds", type=int, default=5, help="interleaved rounds per method (default 5, quick 2)"
    )
    ap.add_argument(
        "--video-size", default="320x240", metavar="WxH", help="size of the test videos (default 320x240)"
    )
    ap.add_argument("--out", type=Path, help="write all numbers to this JSON file")
    ap.add_argument("--workdir", type=Path, help="keep (and reuse) the test videos here, not in a temp dir")
    ap.add_argument("--no-memory", action="store_true", help="skip the memory measurements")
    ap.add_argument(
        "--no-knobs",
        action="store_true",
        help="no-op, kept for the commands benchmarks/RESULTS.md and README.md quote: the swscale/threading "
        f"experiments it skipped were retired (git show {RETIRED_AT}:benchmarks/decode.py)",
    )
    ap.add_argument("--markdown", action="store_true", help="print all tables again as Markdown at the end")
    add_memory_options(ap, ("MODE", "PATH"), QUICK_MEMORY_FRAMES)
    args = parse(ap, {"frames": 200, "rounds": 2, "memory_frames": QUICK_MEMORY_FRAMES}, argv)

    if args.memory_child:
        memory_child(*args.memory_child)
        return 0

    video_size = parse_size(args.video_size)
    n_frames, rounds = args.frames, args.rounds
    n_short, n_long = args.memory_frames

    results: dict[str, Any] = {"machine": machine_info(), "argv": sys.argv[1:], "section_s": {}}
    tables: list[tuple[str, list[str], list[list[str]]]] = []
    t_start = t_section = time.perf_counter()

    def section_done(name: str) -> None:
        nonlocal t_section
        now = time.perf_counter()
        results["section_s"][name] = now - t_section
        t_section = now

    def show(title: str, headers: list[str], rows: list[list[str]]) -> None:
        tables.append((title, headers, rows))
        print(f"\n{title}\n{table(headers, rows)}\n", flush=True)

    log(f"machine: {results['machine']}")
    with workdir(args.workdir) as folder:

        def video(name: str, n: int, preset: str | None) -> tuple[Path, float | None]:
            return bench_video(folder, name, n, video_size, preset=preset, log=log)

        log("peers:")
        versions = peer_versions()
        results["peers"] = versions
        log(f"  {versions}")

        log("test videos:")
        main_video, t_main = video("throughput", n_frames, None)
        warm_video, _ = video("warmup", 64, None)
        results["videos"] = {"throughput": {"path": main_video.name, "frames": n_frames, "write_s": t_main}}
        if not args.no_memory:
            short, t_short = video("memory", n_short, "ultrafast")
            long, t_long = video("memory", n_long, "ultrafast")
            results["videos"]["memory_short"] = {"path": short.name, "frames": n_short, "write_s": t_short}
            results["videos"]["memory_long"] = {"path": long.name, "frames": n_long, "write_s": t_long}
        section_done("videos")

        if not args.no_memory:
            log("memory (a fresh subprocess each):")
            mem = bench_memory(short, long, naive_long=True)
            results["memory"] = mem
            show(
                "peak memory (VmHWM) of reading every clip (16 frames, stride 8)",
                MEMORY_HEADERS,
                memory_rows(mem, n_short, n_long),
            )
            if "ratio_long_short" in mem:
                log(
                    f"peak RSS ratio {n_long}/{n_short} frames (iter_clips): {mem['ratio_long_short']:.3f} "
                    f"(target <= 1.1); above baseline: {mem['ratio_long_short_above_baseline']:.2f}"
                )
            section_done("memory")

        log("checking methods on a 64-frame video:")
        checks = check_methods(str(warm_video), 64, versions)
        results["checks"] = checks
        for key, c in checks.items():
            log(f"  {key}: {c}")

        log(
            f"throughput: {n_frames} frames, {video_size[1]}x{video_size[0]} H.264 -> {W}x{H} RGB, {rounds} rounds"
        )
        thr = bench_throughput(str(main_video), rounds, checks)
        results["throughput"] = {k: s.as_dict() for k, s in thr.items()}
        show(
            f"throughput, {n_frames} frames, {rounds} interleaved rounds",
            THROUGHPUT_HEADERS,
            throughput_rows(thr, checks),
        )
        v = verdict(thr)
        results["verdict"] = v
        if v["fastest_peer"]:
            log(
                f"vidlens iter_frames {v['vidlens_median_fps']:.0f} fps vs fastest peer {v['fastest_peer']} "
                f"{v['fastest_peer_median_fps']:.0f} fps: ratio {v['ratio_median']:.2f} (median), "
                f"{v['ratio_best']:.2f} (best), {v['ratio_paired']:.2f} (paired by round) "
                "-> vidlens >= fastest peer: "
                f"{'YES' if v['vidlens_at_least_fastest_peer'] else 'NO'}"
            )
        for line in target_lines(thr):
            log(line)
        section_done("throughput")

    results["total_s"] = time.perf_counter() - t_start
    log(
        f"sections (s): { {k: round(v, 1) for k, v in results['section_s'].items()} }, total {results['total_s']:.0f} s"
    )
    if args.markdown:
        for title, headers, rows in tables:
            print(f"\n**{title}**\n\n{table(headers, rows, markdown=True)}")
    if args.out:
        write_json(args.out, results)
        log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
