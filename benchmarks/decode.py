"""Decoding benchmark: vidlens against plain PyAV, OpenCV and decord, plus memory and swscale knobs.

Run from the repository root::

    python benchmarks/decode.py            # full run, about 2-4 minutes on 2 cores
    python benchmarks/decode.py --quick    # smoke run, under half a minute
    python benchmarks/decode.py --out results.json --markdown

What it does:

1. Writes its own H.264 test videos with ``vidlens.video.write_video`` in a temporary directory: 320x240
   (``--video-size``), 25 fps, a scrolling smooth texture with a moving square. The throughput video is
   1500 frames (1 minute, ``--frames``) at x264's default preset; the memory videos are 1 and 10 minutes
   (1500 / 15000 frames) at the same size with preset ultrafast, which writes 15000 frames in ~20 s.
2. Throughput: frames/s of decode + resize to 128x171 RGB for vidlens (``iter_frames``, ``iter_clips``),
   plain PyAV, OpenCV and decord on the same file, in the same process, interleaved round-robin over
   several rounds; median and best per method, and each one's speed relative to vidlens ``iter_frames``
   (ratio of medians, and the median of per-round ratios, which cancels slow drifts of a shared box).
3. Memory: peak RSS (VmHWM) of streaming all clips of the 1-minute and the 10-minute video with
   ``iter_clips``, each in a fresh subprocess, and the ratio 10-min / 1-min; for contrast, the naive
   ``read_video`` + slicing.
4. Knobs of the resize path (experiments, nothing in vidlens is changed): swscale interpolation (speed,
   and PSNR against antialiased references), swscale ``threads``, planar RGB output, decoder
   ``thread_count``, a decode-thread + convert-thread pipeline, and whether PyAV releases the GIL.

Peers that cannot be imported are reported as unavailable. ``--out FILE`` writes every number as JSON.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import json
import math
import queue
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from _common import (
    Samples,
    interleaved,
    machine_info,
    make_video,
    paired_ratio,
    peak_rss_mib,
    rss_mib,
    table,
)

SIZE = (128, 171)  # (H, W): C3D's frame size
H, W = SIZE
CLIP_LEN = 16
VIDEO_SIZE = (240, 320)  # (H, W) of the test videos
FPS = 25

# --------------------------------------------------------------------------------------------------------
# Methods: each reads the whole file and returns (frames delivered, first frame or None)
# --------------------------------------------------------------------------------------------------------

Method = Callable[[str], tuple[int, np.ndarray | None]]


def vidlens_frames(path: str) -> tuple[int, np.ndarray | None]:
    from vidlens.video import iter_frames

    n, first = 0, None
    for _, _, frame in iter_frames(path, SIZE):
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


def _open_pyav(path: str, thread_count: int | None = None) -> tuple[Any, Any]:
    container = av.open(path)
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    if thread_count is not None:
        stream.codec_context.thread_count = thread_count
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


def pyav_decode_only(path: str, thread_count: int | None = None) -> tuple[int, np.ndarray | None]:
    """The ceiling: decode to YUV frames, convert nothing."""
    container, stream = _open_pyav(path, thread_count)
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
    "vidlens_clips": ("(b) vidlens iter_clips 16/16", vidlens_clips, None, False),
    "pyav_to_ndarray": ("(c) PyAV to_ndarray(171x128)", pyav_to_ndarray, None, True),
    "pyav_decode_only": ("(d) PyAV decode only (ceiling)", pyav_decode_only, None, False),
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


def log(msg: str) -> None:
    print(msg, flush=True)


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
    cmd = [sys.executable, str(Path(__file__).resolve()), "--memory-child", mode, str(path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        return {"mode": mode, "error": proc.stderr.strip().splitlines()[-1:] or ["no output"]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


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
# Knobs of the resize path (experiments; vidlens itself is not changed)
# --------------------------------------------------------------------------------------------------------

INTERPOLATIONS = ["FAST_BILINEAR", "BILINEAR", "BICUBIC", "AREA", "LANCZOS"]
# The rows that match what vidlens does now: the baselines of the "speed vs now" columns.
CONVERSION_NOW = "BILINEAR threads=None"
E2E_NOW = "vidlens iter_frames (as shipped: decoder threads 0, gbrp, swscale threads=1)"


def decode_list(path: str, n: int, thread_count: int = 0) -> list[av.VideoFrame]:
    container, stream = _open_pyav(path, thread_count)
    frames = []
    with container:
        for frame in container.decode(stream):
            frames.append(frame)
            if len(frames) >= n:
                break
    return frames


def rgb_converter(
    interpolation: str = "BILINEAR", threads: int | None = None, output: str = "rgb24"
) -> Callable[[av.VideoFrame], np.ndarray]:
    """A frame -> uint8 (128, 171, 3) RGB function keeping its swscale context(s) between frames.

    ``output`` is how swscale writes RGB:

    - ``"rgb24"``: packed RGB, what vidlens does now (``to_ndarray`` then returns a padded view).
    - ``"gbrp"``: planar RGB, which ``to_ndarray`` interleaves into a fresh contiguous (H, W, 3) array;
      the pixels are the same as rgb24's (checked in :func:`bench_knobs`).
    - ``"yuv420p>rgb24"``: scale in YUV 4:2:0 first, then convert at the small size (swscale's unscaled
      SIMD yuv->rgb path); chroma ends up at 86x64 and is upsampled by repetition, so colours lose detail.
    """
    first, second = VideoReformatter(), VideoReformatter()
    if output == "yuv420p>rgb24":

        def convert(frame: av.VideoFrame) -> np.ndarray:
            small = first.reformat(
                frame, width=W, height=H, format="yuv420p", interpolation=interpolation, threads=threads
            )
            return second.reformat(small, format="rgb24", threads=threads).to_ndarray()

        return convert

    def convert(frame: av.VideoFrame) -> np.ndarray:
        return first.reformat(
            frame, width=W, height=H, format=output, interpolation=interpolation, threads=threads
        ).to_ndarray()

    return convert


def convert_all(
    frames: list[av.VideoFrame],
    interpolation: str = "BILINEAR",
    threads: int | None = None,
    output: str = "rgb24",
    shared: bool = True,
) -> int:
    """Resize + convert every frame to RGB; ``shared=False`` makes a new swscale context per frame,
    which is what ``frame.to_ndarray(width=, height=)`` does on each freshly decoded frame."""
    if shared:
        convert = rgb_converter(interpolation, threads, output)
        for f in frames:
            convert(f)
    else:
        for f in frames:
            rgb_converter(interpolation, threads, output)(f)
    return len(frames)


def replica(
    path: str,
    interpolation: str = "BILINEAR",
    sws_threads: int | None = None,
    dec_threads: int = 0,
    output: str = "rgb24",
) -> int:
    """vidlens's iter_frames loop written out with other settings (one reformatter for the stream)."""
    container, stream = _open_pyav(path, dec_threads)
    convert = rgb_converter(interpolation, sws_threads, output)
    n = 0
    with container:
        for frame in container.decode(stream):
            convert(frame)
            n += 1
    return n


def pipelined(
    path: str, sws_threads: int | None = None, dec_threads: int = 0, output: str = "rgb24", depth: int = 8
) -> int:
    """Decode in a Python thread, convert in this one, handing frames over through a bounded queue."""
    q: queue.Queue[Any] = queue.Queue(maxsize=depth)
    done = object()

    def produce() -> None:
        try:
            container, stream = _open_pyav(path, dec_threads)
            with container:
                for frame in container.decode(stream):
                    q.put(frame)
        except BaseException as err:  # handed to the consumer, which raises it
            q.put(err)
        finally:
            q.put(done)

    worker = threading.Thread(target=produce, daemon=True)
    worker.start()
    convert = rgb_converter("BILINEAR", sws_threads, output)
    n = 0
    while (item := q.get()) is not done:
        if isinstance(item, BaseException):
            raise item
        convert(item)
        n += 1
    worker.join()
    return n


def _speedup_two_threads(work: Callable[[], object], repeats: int) -> dict[str, float]:
    """``work`` twice in a row vs twice at once in two Python threads.

    With the GIL released the two threads overlap: speedup towards 2 and process CPU time per wall
    second towards 2 (``cores_busy``). With the GIL held both stay near 1. On a loaded machine the
    speedup is capped by what the other processes leave, so ``cores_busy`` is the steadier sign.
    """
    seq, par, busy = [], [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        work()
        work()
        seq.append(time.perf_counter() - t0)
        threads = [threading.Thread(target=work) for _ in range(2)]
        c0, t0 = time.process_time(), time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        par.append(time.perf_counter() - t0)
        busy.append((time.process_time() - c0) / par[-1])
    return {
        "sequential_s": statistics.median(seq),
        "two_threads_s": statistics.median(par),
        "speedup": statistics.median(seq) / statistics.median(par),
        "cores_busy": statistics.median(busy),
    }


def gil_check(path: str, frames: list[av.VideoFrame], repeats: int) -> dict[str, dict[str, float]]:
    def python_loop() -> int:
        x = 0
        for i in range(2_000_000):
            x += i
        return x

    return {
        "pure Python loop (GIL held: control)": _speedup_two_threads(python_loop, repeats),
        "PyAV decode, thread_count=1": _speedup_two_threads(
            functools.partial(pyav_decode_only, path, 1), repeats
        ),
        "swscale reformat, threads=1": _speedup_two_threads(
            functools.partial(convert_all, frames, "BILINEAR", 1), repeats
        ),
    }


# Quality ------------------------------------------------------------------------------------------------


def _weights(n_in: int, n_out: int, kind: str) -> np.ndarray:
    """(n_out, n_in) resampling matrix: exact area averaging, or Lanczos-3 widened by the scale factor."""
    scale = n_in / n_out
    w = np.zeros((n_out, n_in))
    for i in range(n_out):
        lo, hi = i * scale, (i + 1) * scale
        if kind == "area":
            for j in range(int(lo), min(math.ceil(hi), n_in)):
                w[i, j] = min(hi, j + 1) - max(lo, j)
        else:  # lanczos3, antialiased: the kernel is stretched to the input's pixel pitch when shrinking
            support = 3 * max(scale, 1.0)
            center = (lo + hi) / 2
            j = np.arange(max(int(center - support), 0), min(math.ceil(center + support), n_in))
            x = (j + 0.5 - center) / max(scale, 1.0)
            w[i, j] = np.where(np.abs(x) < 3, np.sinc(x) * np.sinc(x / 3), 0.0)
        w[i] /= w[i].sum()
    return w


def reference_resize(rgb: np.ndarray, kind: str) -> np.ndarray:
    """Float64 ``(H, W, 3)`` resize of a full-size RGB frame, computed in numpy (independent of swscale)."""
    wy = _weights(rgb.shape[0], H, kind)  # (H, h)
    wx = _weights(rgb.shape[1], W, kind)  # (W, w)
    rows = np.tensordot(wy, rgb.astype(np.float64), axes=(1, 0))  # (H, w, 3)
    return np.tensordot(wx, rows, axes=(1, 1)).transpose(1, 0, 2)  # (H, W, 3)


def psnr(img: np.ndarray, ref: np.ndarray, mask: np.ndarray | None = None) -> float:
    err = (img.astype(np.float64) - np.clip(ref, 0, 255)) ** 2
    mse = float(np.mean(err[mask] if mask is not None else err))
    return 10 * math.log10(255**2 / mse) if mse > 0 else float("inf")


def zone_plate(height: int, width: int) -> tuple[av.VideoFrame, float]:
    """A yuv420p gray zone plate ``cos(pi r^2 / d)`` and its ``d``.

    Its local frequency is ``r / d`` cycles per pixel: 0 at the centre, Nyquist (0.5) at the corners. The
    classic aliasing test: a resize that does not filter before shrinking turns the fine outer rings into
    coarse moire patterns.
    """
    y, x = np.mgrid[0:height, 0:width].astype(np.float64) + 0.5
    r2 = (y - height / 2) ** 2 + (x - width / 2) ** 2
    d = 2 * math.sqrt((height / 2) ** 2 + (width / 2) ** 2)
    gray = np.round(127.5 + 127.5 * np.cos(math.pi * r2 / d)).astype(np.uint8)
    rgb = np.repeat(gray[:, :, None], 3, axis=2)
    frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(
        format="yuv420p", interpolation="LANCZOS"
    )
    return frame, d


def _resizes(frame: av.VideoFrame, full: np.ndarray, cv2_available: bool) -> dict[str, np.ndarray]:
    """The same frame resized to 128x171 RGB by every candidate; ``full`` is its full-size RGB."""
    out = {
        f"swscale {interp}": VideoReformatter()
        .reformat(frame, width=W, height=H, format="rgb24", interpolation=interp)
        .to_ndarray()
        for interp in INTERPOLATIONS
    }
    out["swscale BILINEAR, planar gbrp output"] = rgb_converter("BILINEAR", 1, "gbrp")(frame)
    out["swscale BILINEAR, scaled in yuv420p first"] = rgb_converter("BILINEAR", 1, "yuv420p>rgb24")(frame)
    if cv2_available:
        import cv2

        full = np.ascontiguousarray(full)
        out["cv2 INTER_LINEAR (OpenCV peer)"] = cv2.resize(full, (W, H), interpolation=cv2.INTER_LINEAR)
        out["cv2 INTER_AREA"] = cv2.resize(full, (W, H), interpolation=cv2.INTER_AREA)
    out["numpy area (reference)"] = reference_resize(full, "area")
    out["numpy lanczos3 (reference)"] = reference_resize(full, "lanczos3")
    return out


def quality(frames: list[av.VideoFrame], cv2_available: bool) -> dict[str, dict[str, float]]:
    """How close each resize comes to antialiased references, on the test video and on a zone plate.

    References are computed in float with numpy from the full-size RGB frame (swscale's yuv->rgb at the
    same size, LANCZOS for the chroma upsampling, so luma is untouched): exact area averaging and
    Lanczos-3 widened by the shrink factor. Columns:

    - ``video PSNR vs area/lanczos3``: mean PSNR (dB) over 12 frames of the test video.
    - ``zone plate passband PSNR``: PSNR vs Lanczos-3 where the plate's frequency is below half the
      output's Nyquist limit, i.e. detail every good resize keeps.
    - ``zone plate alias %``: spread of the output where the plate's frequency is above 1.5x the
      output's Nyquist limit (past the transition band of Lanczos-3), in % of the plate's own; an ideal
      resize leaves flat gray there (0 %), an aliasing one draws moire rings.
    """
    scores: dict[str, dict[str, list[float]]] = {}
    step = max(len(frames) // 12, 1)
    for frame in frames[::step][:12]:
        full = frame.to_ndarray(format="rgb24", interpolation="LANCZOS")  # (240, 320, 3), no scaling
        imgs = _resizes(frame, full, cv2_available)
        for ref_name in ("area", "lanczos3"):
            ref = imgs[f"numpy {ref_name} (reference)"]
            for name, img in imgs.items():
                value = psnr(img, ref) if img is not ref else float("nan")  # nan: the reference itself
                scores.setdefault(name, {}).setdefault(f"video PSNR vs {ref_name}", []).append(value)

    plate, d = zone_plate(*VIDEO_SIZE)
    full = plate.to_ndarray(format="rgb24", interpolation="LANCZOS")
    imgs = _resizes(plate, full, cv2_available)
    sy, sx = VIDEO_SIZE[0] / H, VIDEO_SIZE[1] / W
    y, x = np.mgrid[0:H, 0:W].astype(np.float64) + 0.5
    freq = np.sqrt((y * sy - VIDEO_SIZE[0] / 2) ** 2 + (x * sx - VIDEO_SIZE[1] / 2) ** 2) / d  # cycles/px
    nyquist = 0.5 / max(sy, sx)  # the output's Nyquist limit, in cycles per input pixel
    passband, stopband = freq < 0.5 * nyquist, freq > 1.5 * nyquist
    ref = imgs["numpy lanczos3 (reference)"].mean(axis=2)
    for name, img in imgs.items():
        gray = img.astype(np.float64).mean(axis=2)
        scores[name]["zone plate passband PSNR"] = [psnr(gray, ref, passband)]
        scores[name]["zone plate alias %"] = [100 * float(gray[stopband].std()) / (127.5 / math.sqrt(2))]
    return {name: {k: statistics.mean(v) for k, v in cols.items()} for name, cols in scores.items()}


def bench_knobs(path: str, rounds: int, n_frames: int, cv2_available: bool) -> dict[str, Any]:
    from vidlens.video import iter_frames

    out: dict[str, Any] = {}
    frames = decode_list(path, n_frames)

    log("  conversion only (decoded frames held in memory): interpolation x swscale threads")
    conv: dict[str, Callable[[], int]] = {}
    for interp in INTERPOLATIONS:
        for th in (None, 1, 2):
            conv[f"{interp} threads={th}"] = functools.partial(convert_all, frames, interp, th)
        for th in (None, 1) if interp == "BILINEAR" else (1,):
            conv[f"{interp} threads={th}, gbrp output"] = functools.partial(
                convert_all, frames, interp, th, "gbrp"
            )
    for th in (None, 1):
        conv[f"BILINEAR threads={th}, fresh context per frame (to_ndarray)"] = functools.partial(
            convert_all, frames, "BILINEAR", th, shared=False
        )
    conv["BILINEAR threads=1, scaled in yuv420p, then rgb24"] = functools.partial(
        convert_all, frames, "BILINEAR", 1, "yuv420p>rgb24"
    )
    out["conversion"] = {k: s.as_dict() for k, s in interleaved(conv, rounds).items()}
    convert_rgb, convert_gbrp = rgb_converter("BILINEAR", 1, "rgb24"), rgb_converter("BILINEAR", 1, "gbrp")
    out["gbrp_vs_rgb24_max_abs_diff"] = max(
        int(np.abs(convert_rgb(f).astype(np.int16) - convert_gbrp(f)).max()) for f in frames
    )

    log("  end to end (decode + resize), interleaved")
    e2e: dict[str, Callable[[], int]] = {
        E2E_NOW: functools.partial(lambda p: sum(1 for _ in iter_frames(p, SIZE)), path),
        "vidlens iter_frames threads=1 (decoder)": functools.partial(
            lambda p: sum(1 for _ in iter_frames(p, SIZE, threads=1)), path
        ),
        "vidlens iter_frames threads=2 (decoder)": functools.partial(
            lambda p: sum(1 for _ in iter_frames(p, SIZE, threads=2)), path
        ),
        "same loop, rgb24, swscale threads=1": functools.partial(replica, path, "BILINEAR", 1, 0),
        "same loop, gbrp, swscale threads auto": functools.partial(
            replica, path, "BILINEAR", None, 0, "gbrp"
        ),
        "same loop, gbrp, swscale threads=1": functools.partial(replica, path, "BILINEAR", 1, 0, "gbrp"),
        "same loop, gbrp, swscale threads=1, decoder threads=1": functools.partial(
            replica, path, "BILINEAR", 1, 1, "gbrp"
        ),
        "same loop, gbrp, BICUBIC, swscale threads=1": functools.partial(
            replica, path, "BICUBIC", 1, 0, "gbrp"
        ),
        "same loop, yuv420p scale then rgb24, swscale threads=1": functools.partial(
            replica, path, "BILINEAR", 1, 0, "yuv420p>rgb24"
        ),
        "pipeline: decode thread -> convert thread (rgb24, swscale auto)": functools.partial(
            pipelined, path, None, 0
        ),
        "pipeline: decode thread -> convert thread (gbrp, swscale threads=1)": functools.partial(
            pipelined, path, 1, 0, "gbrp"
        ),
        "decode only, thread_count=0": functools.partial(lambda p: pyav_decode_only(p, 0)[0], path),
        "decode only, thread_count=1": functools.partial(lambda p: pyav_decode_only(p, 1)[0], path),
        "decode only, thread_count=2": functools.partial(lambda p: pyav_decode_only(p, 2)[0], path),
    }
    if cv2_available:
        e2e["OpenCV read+resize+RGB (peer, for scale)"] = functools.partial(
            lambda p: opencv_resize(p)[0], path
        )
    out["end_to_end"] = {k: s.as_dict() for k, s in interleaved(e2e, rounds, log=log).items()}

    log("  GIL: two Python threads vs one after the other")
    out["gil"] = gil_check(path, frames, max(rounds, 2))

    log("  quality: PSNR against numpy references")
    out["quality"] = quality(frames, cv2_available)
    return out


# --------------------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------------------


def _video(workdir: Path, name: str, n: int, preset: str | None) -> tuple[Path, float | None]:
    """Make (or reuse, when --workdir already holds it) an H.264 test video."""
    path = workdir / f"{name}_{n}f_{VIDEO_SIZE[1]}x{VIDEO_SIZE[0]}_{preset or 'medium'}.mp4"
    if path.exists():
        return path, None
    log(f"  writing {path.name} ({n} frames, x264 preset {preset or 'medium (default)'})")
    _, seconds = make_video(path, n, VIDEO_SIZE, fps=FPS, preset=preset)
    return path, seconds


def knob_rows(knobs: dict[str, Any], section: str, unit: str, baseline: str) -> list[list[str]]:
    """Rows of one knob table; the last column is each row's speed over ``baseline``'s, paired by round."""
    base = knobs[section][baseline]
    rows = []
    for name, s in knobs[section].items():
        if s["error"]:
            rows.append([name, "failed", "", "", s["error"][:60]])
            continue
        ratios = [a / b for a, b in zip(s["fps"], base["fps"], strict=False)]
        speed = f"{statistics.median(ratios):.2f}x" if ratios else "n/a"
        if unit == "ms":
            per = [1000 * w / f for f, w in zip(s["frames"], s["wall_s"], strict=True)]
            rows.append(
                [
                    name,
                    f"{statistics.median(per):.3f}",
                    f"{min(per):.3f}",
                    f"{s['cpu_ms_per_frame']:.3f}",
                    speed,
                ]
            )
        else:
            rows.append(
                [
                    name,
                    f"{s['median_fps']:.0f}",
                    f"{s['best_fps']:.0f}",
                    f"{s['cpu_ms_per_frame']:.2f}",
                    speed,
                ]
            )
    return rows


def knob_tables(knobs: dict[str, Any]) -> list[tuple[str, list[str], list[list[str]]]]:
    gil_rows = [
        [
            k,
            f"{g['sequential_s']:.3f}",
            f"{g['two_threads_s']:.3f}",
            f"{g['speedup']:.2f}x",
            f"{g['cores_busy']:.2f}",
        ]
        for k, g in knobs["gil"].items()
    ]
    q = knobs["quality"]
    q_cols = list(next(iter(q.values())))
    q_rows = [[k] + ["ref" if math.isnan(v[c]) else f"{v[c]:.1f}" for c in q_cols] for k, v in q.items()]
    return [
        (
            "resize + RGB conversion only (decoded frames held in memory)",
            [
                "interpolation, swscale threads",
                "median ms/frame",
                "best ms/frame",
                "CPU ms/frame",
                "speed vs now",
            ],
            knob_rows(knobs, "conversion", "ms", CONVERSION_NOW),
        ),
        (
            "end to end: decode + resize to 128x171 RGB",
            ["configuration", "median fps", "best fps", "CPU ms/frame", "speed vs now"],
            knob_rows(knobs, "end_to_end", "fps", E2E_NOW),
        ),
        (
            "GIL: the same work twice, one after the other vs in two Python threads",
            ["work", "sequential s", "2 threads s", "speedup", "CPU s per wall s (2 threads)"],
            gil_rows,
        ),
        ("resize quality (higher PSNR / lower alias % is better)", ["resize", *q_cols], q_rows),
    ]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="short videos and few rounds: a smoke run")
    ap.add_argument("--frames", type=int, help="frames in the throughput video (default 1500 = 1 min)")
    ap.add_argument("--rounds", type=int, help="interleaved rounds per method (default 5, quick 2)")
    ap.add_argument(
        "--video-size", default="320x240", metavar="WxH", help="size of the test videos (default 320x240)"
    )
    ap.add_argument("--out", type=Path, help="write all numbers to this JSON file")
    ap.add_argument("--workdir", type=Path, help="keep (and reuse) the test videos here, not in a temp dir")
    ap.add_argument("--no-memory", action="store_true", help="skip the memory measurements")
    ap.add_argument("--no-knobs", action="store_true", help="skip the swscale/threading experiments")
    ap.add_argument("--markdown", action="store_true", help="print all tables again as Markdown at the end")
    ap.add_argument("--memory-child", nargs=2, metavar=("MODE", "PATH"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.memory_child:
        memory_child(*args.memory_child)
        return 0

    global VIDEO_SIZE
    width, height = (int(v) for v in args.video_size.lower().split("x"))
    VIDEO_SIZE = (height, width)
    n_frames = args.frames or (200 if args.quick else 1500)
    rounds = args.rounds or (2 if args.quick else 5)
    n_short, n_long = (250, 2500) if args.quick else (1500, 15000)
    knob_frames = 100 if args.quick else 300
    knob_rounds = 1 if args.quick else 5

    tmp = None
    if args.workdir:
        workdir = args.workdir
        workdir.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="vidlens-bench-")
        workdir = Path(tmp.name)

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
    try:
        log("peers:")
        versions = peer_versions()
        results["peers"] = versions
        log(f"  {versions}")

        log("test videos:")
        main_video, t_main = _video(workdir, "throughput", n_frames, None)
        warm_video, _ = _video(workdir, "warmup", 64, None)
        results["videos"] = {"throughput": {"path": main_video.name, "frames": n_frames, "write_s": t_main}}
        if not args.no_memory:
            short, t_short = _video(workdir, "memory", n_short, "ultrafast")
            long, t_long = _video(workdir, "memory", n_long, "ultrafast")
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
            f"throughput: {n_frames} frames, {VIDEO_SIZE[1]}x{VIDEO_SIZE[0]} H.264 -> {W}x{H} RGB, {rounds} rounds"
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
        section_done("throughput")

        if not args.no_knobs:
            log(f"knobs ({knob_frames} frames held for conversion-only, {knob_rounds} rounds):")
            knobs = bench_knobs(str(main_video), knob_rounds, knob_frames, versions.get("cv2") is not None)
            results["knobs"] = knobs
            for t in knob_tables(knobs):
                show(*t)
            section_done("knobs")
    finally:
        if tmp is not None:
            tmp.cleanup()

    results["total_s"] = time.perf_counter() - t_start
    log(
        f"sections (s): { {k: round(v, 1) for k, v in results['section_s'].items()} }, total {results['total_s']:.0f} s"
    )
    if args.markdown:
        for title, headers, rows in tables:
            print(f"\n**{title}**\n\n{table(headers, rows, markdown=True)}")
    if args.out:
        args.out.write_text(json.dumps(results, indent=2, default=str))
        log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
