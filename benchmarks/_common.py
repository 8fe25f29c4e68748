"""Helpers shared by the benchmarks: the command line (``--quick`` and the options several scripts take), a
work folder, synthetic test videos, interleaved timing and ratios paired by round, memory probes in fresh
subprocesses, tables and JSON, and a short in-memory training on rendered motion clips (also used by
``docs/make_images.py``).

Nothing here is part of vidlens; it only uses its public API (``write_video``, the synthetic renderer, the
training recipe's optimiser and schedule).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

# --------------------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------------------

QUICK_HELP = (
    "smallest sizes, one round where there are rounds, seconds in all: a smoke run (what `make bench` "
    "runs), not a measurement"
)


def arg_parser(doc: str, *, quick_help: str = QUICK_HELP) -> argparse.ArgumentParser:
    """An argument parser described by the first paragraph of ``doc`` (the script's docstring), with
    ``--quick``; read it with :func:`parse`."""
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help=quick_help)
    return ap


_UNSET = object()


def parse(
    ap: argparse.ArgumentParser, quick: dict[str, Any], argv: Sequence[str] | None = None
) -> argparse.Namespace:
    """``ap.parse_args(argv)``, where with ``--quick`` each option named in ``quick`` (by its dest) that the
    command line leaves out takes its quick value instead of its default; one given explicitly wins."""
    defaults = {key: ap.get_default(key) for key in quick}
    ap.set_defaults(**dict.fromkeys(quick, _UNSET))
    try:
        args = ap.parse_args(argv)
    finally:
        ap.set_defaults(**defaults)
    for key, value in quick.items():
        if getattr(args, key) is _UNSET:
            setattr(args, key, value if args.quick else defaults[key])
    return args


def add_model_options(ap: argparse.ArgumentParser, default: str) -> None:
    """``--model`` (a registry name) and ``--width`` (for the models that take one)."""
    ap.add_argument("--model", default=default, help=f"registry name (default {default})")
    ap.add_argument(
        "--width", type=int, default=None, help="width for models that take one (c3d_depth, fusion)"
    )


def add_device_option(ap: argparse.ArgumentParser) -> None:
    """``--device``: cuda where there is one, else cpu."""
    import torch

    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")


def width_kwargs(width: int | None) -> dict[str, int]:
    """The builder arguments ``--width`` stands for: none when it is not given."""
    return {"width": width} if width else {}


def seeded_model(name: str, width: int | None, **kwargs: Any) -> Any:
    """The registered model ``name`` (``--width`` applied) built after ``torch.manual_seed(0)``, in eval mode."""
    import torch

    from vidlens.models import create_model

    torch.manual_seed(0)
    return create_model(name, **width_kwargs(width), **kwargs).eval()


def log(msg: str) -> None:
    """Print a progress line at once (the benchmarks' output is often piped to a file)."""
    print(msg, flush=True)


@contextlib.contextmanager
def workdir(path: Path | None = None, prefix: str = "vidlens-bench-") -> Iterator[Path]:
    """``path`` (made if missing, kept), or a temporary folder removed on exit."""
    if path is not None:
        path.mkdir(parents=True, exist_ok=True)
        yield path
        return
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        yield Path(tmp)


# --------------------------------------------------------------------------------------------------------
# Synthetic videos
# --------------------------------------------------------------------------------------------------------


def palette_png(source: Path, target: Path | None = None) -> Path:
    """``source`` (a PNG) with at most 256 colours (Pillow's median cut, as the GIFs have), written to
    ``target`` (default: over ``source``): about a third of matplotlib's RGBA file, small enough for a
    README."""
    from PIL import Image

    target = source if target is None else target
    image = Image.open(source).convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT)
    image.save(target, format="PNG", optimize=True)
    return target


def _blurred_noise(
    rng: np.random.Generator, height: int, width: int, channels: int, grain: int
) -> np.ndarray:
    """Random values on a grid ``grain`` pixels apart, upsampled and box-blurred twice along each axis.

    The blur is circular, so the result tiles without seams. Values are float, mean 0, std 1.
    """
    noise = rng.standard_normal((-(-height // grain), -(-width // grain), channels)).astype(np.float32)
    noise = np.repeat(np.repeat(noise, grain, axis=0), grain, axis=1)[:height, :width]
    for axis in (0, 1):
        for _ in range(2):
            noise = sum(np.roll(noise, k - grain // 2, axis=axis) for k in range(grain)) / grain
    return (noise - noise.mean()) / noise.std()


def smooth_texture(height: int, width: int, *, seed: int = 0, grain: int = 8) -> np.ndarray:
    """A periodic, smooth random RGB texture ``(height, width, 3)`` uint8.

    Blurred noise in brightness (detail about ``grain`` pixels across) plus coarser, fainter colour
    blotches: it compresses and decodes like camera footage of textured surfaces, whereas raw per-pixel
    noise would be unrealistically expensive to decode.
    """
    rng = np.random.default_rng(seed)
    luma = _blurred_noise(rng, height, width, 1, grain)
    tint = _blurred_noise(rng, height, width, 3, 4 * grain)
    tex = 128 + 50 * luma + 30 * tint
    return np.clip(tex, 0, 255).astype(np.uint8)


def synthetic_frames(n: int, height: int = 240, width: int = 320, *, seed: int = 0) -> Iterator[np.ndarray]:
    """``n`` RGB frames ``(height, width, 3)`` uint8: a scrolling texture with a moving square over it.

    The texture is made once, tiled 2x2 and then cut at a moving offset, so a frame costs one slice copy
    (about 0.1 ms at 320x240); this is what lets the 10-minute video be written in seconds.
    """
    th, tw = 2 * height, 2 * width  # texture period
    tex = np.tile(smooth_texture(th, tw, seed=seed), (2, 2, 1))  # any (height, width) window fits
    r = max(height // 8, 2)
    for i in range(n):
        y0, x0 = i % th, (2 * i) % tw  # scroll 1 px down, 2 px right per frame
        frame = tex[y0 : y0 + height, x0 : x0 + width].copy()
        cy = int(height / 2 + height / 3 * np.sin(i / 20))
        cx = int(width / 2 + width / 3 * np.cos(i / 31))
        frame[cy - r : cy + r, cx - r : cx + r] = (230, 60, 40)
        yield frame


def make_video(
    path: str | Path,
    n_frames: int,
    size: tuple[int, int] = (240, 320),
    *,
    fps: int = 25,
    preset: str | None = None,
    seed: int = 0,
) -> tuple[Path, float]:
    """Write an H.264 test video with :func:`vidlens.video.write_video`; return it and the seconds taken.

    ``preset`` is the libx264 preset (None: x264's default, "medium").
    """
    from vidlens.video import write_video

    t0 = time.perf_counter()
    options = {"preset": preset} if preset else None
    out = write_video(path, synthetic_frames(n_frames, *size, seed=seed), fps, options=options)
    return out, time.perf_counter() - t0


VIDEO_SIZE = (240, 320)  # (H, W) of the test videos
FPS = 25


def bench_video(
    folder: Path,
    stem: str,
    n_frames: int,
    size: tuple[int, int] = VIDEO_SIZE,
    *,
    preset: str | None = None,
    seed: int = 0,
    fps: int = FPS,
    log: Callable[[str], None] | None = None,
) -> tuple[Path, float | None]:
    """:func:`make_video` into ``folder``, named after what it holds, or the one already there (a kept
    ``--workdir``): the video and the seconds writing it took (None when reused). ``log`` hears of a write."""
    path = folder / f"{stem}_{n_frames}f_{size[1]}x{size[0]}_{preset or 'medium'}.mp4"
    if path.exists():
        return path, None
    if log is not None:
        log(f"  writing {path.name} ({n_frames} frames, x264 preset {preset or 'medium (default)'})")
    _, seconds = make_video(path, n_frames, size, fps=fps, preset=preset, seed=seed)
    return path, seconds


def parse_size(text: str) -> tuple[int, int]:
    """``"WxH"`` (as ``--video-size`` takes it) as ``(H, W)``."""
    width, height = (int(v) for v in text.lower().split("x"))
    return height, width


def duration(n_frames: int, fps: int = FPS, *, adjective: bool = False) -> str:
    """A video's length in words: ``1 min``, ``10 min``, ``10 s``; ``10-minute``, ``10-second`` as an
    adjective."""
    seconds = n_frames / fps
    if seconds >= 60 and seconds % 60 == 0:
        value, unit, word = seconds / 60, "min", "minute"
    else:
        value, unit, word = seconds, "s", "second"
    return f"{value:g}-{word}" if adjective else f"{value:g} {unit}"


# --------------------------------------------------------------------------------------------------------
# Synthetic motion data and training
# --------------------------------------------------------------------------------------------------------


def motion_dataset(root: str | Path, videos_per_class: int, *, masks: bool = False, seed: int = 0) -> Any:
    """The synthetic motion data the benchmarks use, written to ``root`` by
    :func:`vidlens.data.synthetic.make_motion_dataset`: 4 directions, ``videos_per_class`` videos of 32
    frames of 112x112 each (30% of them test videos), with the moving shapes' masks if ``masks``."""
    from vidlens.data.synthetic import MotionConfig, make_motion_dataset

    config = MotionConfig(
        num_classes=4, videos_per_class=videos_per_class, frames=32, height=112, width=112, seed=seed
    )
    return make_motion_dataset(root, config, masks=masks, progress=False)


def motion_train_config(
    data: Any, model: str, width: int, *, batch_size: int = 8, workers: int = 2, **fields: Any
) -> Any:
    """The :class:`vidlens.runs.TrainConfig` the benchmarks train ``model`` (at ``width``) with on a
    :func:`motion_dataset`: SGD at lr 0.01 without steps, whole 112x112 frames, no flips, on the CPU;
    ``fields`` set the rest (``epochs``, ``frame_cache``, ...)."""
    from vidlens.runs import TrainConfig

    return TrainConfig(
        data=str(data.root),
        model=model,
        model_kwargs={"width": width},
        batch_size=batch_size,
        lr=0.01,
        lr_steps=(),
        size=(112, 112),
        crop=112,
        flip_p=0.0,
        workers=workers,
        device="cpu",
        **fields,
    )


def rendered_clips(
    n: int, rng: np.random.Generator, *, num_classes: int = 4
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` motion clips ``(n, 16, 112, 112, 3)`` uint8 drawn by
    :func:`vidlens.data.synthetic.render_motion_video` (random directions of ``num_classes``), and their
    labels ``(n,)``."""
    from vidlens.data.synthetic import MotionConfig, render_motion_video

    motion = MotionConfig(num_classes=num_classes, frames=16, height=112, width=112)
    labels = rng.integers(0, num_classes, n)
    return np.stack([render_motion_video(int(y), rng, motion) for y in labels]), labels


def fit_in_memory(
    model: Any,
    config: Any,
    batches: Callable[[int], tuple[Any, Any]],
    steps: int,
    *,
    every: int = 0,
    on_every: Callable[[int, list[float]], None] | None = None,
    desc: str = "train",
    progress: bool = True,
) -> list[float]:
    """Train ``model`` in place for ``steps`` batches ``batches(step) -> (clips, labels)`` (tensors on the
    model's device) with the optimiser, schedule and gradient clipping of ``config`` (a
    :class:`vidlens.runs.TrainConfig`; the whole run counts as its one epoch, so a cosine schedule falls to 0
    at the last step and ``warmup_epochs`` is a fraction of the run), by :func:`vidlens.train.train_step`,
    the step ``vidlens train`` runs. Returns the losses; ``on_every(step, losses)`` is called every
    ``every`` steps. A tqdm bar shows the running loss and accuracy. The model is left in train mode."""
    from tqdm.auto import tqdm

    from vidlens.runs import build_optimizer, lr_factor
    from vidlens.train import train_step

    optimizer = build_optimizer(config, model)
    losses: list[float] = []
    hits: list[float] = []
    bar = tqdm(range(steps), desc=desc, unit="step", disable=not progress)
    for step in bar:
        for group in optimizer.param_groups:
            group["lr"] = config.lr * lr_factor(config, 0, step, steps)
        clips, labels = batches(step)
        model.train()
        loss_sum, correct = train_step(model, optimizer, clips, labels, grad_clip=config.grad_clip)
        losses.append(loss_sum.item() / len(labels))
        hits.append(correct.item() / len(labels))
        bar.set_postfix(loss=f"{np.mean(losses[-20:]):.3f}", acc=f"{np.mean(hits[-20:]):.2f}")
        if every and on_every is not None and (step + 1) % every == 0:
            on_every(step + 1, losses)
    return losses


def train_on_rendered_clips(
    model: Any,
    steps: int,
    *,
    batch_size: int = 8,
    lr: float = 3e-4,
    weight_decay: float = 0.05,
    num_classes: int = 4,
    seed: int = 0,
    device: Any = "cpu",
    desc: str = "train",
) -> list[float]:
    """Train ``model`` in place on motion clips rendered afresh for every step, and return the losses.

    The from-scratch recipe of ``benchmarks/RESULTS.md`` (issue 10) without files: AdamW (``lr``,
    ``weight_decay``), a cosine schedule from ``lr`` to 0 over ``steps``, batches of ``batch_size``
    :func:`rendered_clips` (never the same clip twice) normalised with the model's preset, on ``device``
    (where the model is), by :func:`fit_in_memory`. The model is left in eval mode, its preset saying that
    it saw whole 112x112 frames (as ``vidlens reproduce`` runs on the synthetic data record it), so that
    ``vidlens cam`` and friends decode videos at that size.
    """
    import torch

    from vidlens.presets import override, resolve_preset
    from vidlens.runs import TrainConfig

    recipe = TrainConfig(optimizer="adamw", lr=lr, weight_decay=weight_decay, schedule="cosine", epochs=1)
    preset = override(resolve_preset(model), size=(112, 112), crop=112)
    rng = np.random.default_rng(seed)

    def batch(step: int) -> tuple[Any, Any]:
        frames, labels = rendered_clips(batch_size, rng, num_classes=num_classes)
        return preset.normalize(frames).to(device), torch.as_tensor(labels, device=device)

    losses = fit_in_memory(model, recipe, batch, steps, desc=desc)
    model.preset = preset
    model.eval()
    return losses


# --------------------------------------------------------------------------------------------------------
# Interleaved timing
# --------------------------------------------------------------------------------------------------------


@dataclass
class Samples:
    """Repeated measurements of one method: frames delivered, wall seconds and process CPU seconds."""

    name: str
    frames: list[int] = field(default_factory=list)
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    error: str | None = None

    @property
    def fps(self) -> list[float]:
        return [f / w for f, w in zip(self.frames, self.wall, strict=True) if w > 0]

    @property
    def median_fps(self) -> float:
        return statistics.median(self.fps) if self.fps else float("nan")

    @property
    def best_fps(self) -> float:
        return max(self.fps) if self.fps else float("nan")

    @property
    def cpu_ms_per_frame(self) -> float:
        per = [1000 * c / f for f, c in zip(self.frames, self.cpu, strict=True) if f]
        return statistics.median(per) if per else float("nan")

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "median_fps": self.median_fps,
            "best_fps": self.best_fps,
            "cpu_ms_per_frame": self.cpu_ms_per_frame,
            "fps": self.fps,
            "frames": self.frames,
            "wall_s": self.wall,
            "cpu_s": self.cpu,
            "error": self.error,
        }


def ratios(values: Sequence[float], reference: Sequence[float]) -> list[float]:
    """``values[r] / reference[r]`` for every round ``r`` both have (rounds where the reference is 0 left out)."""
    return [a / b for a, b in zip(values, reference, strict=False) if b > 0]


def paired(values: Sequence[float], reference: Sequence[float]) -> float:
    """The median over rounds of ``values`` divided by ``reference`` in the same round (rates, e.g. clips/s).

    Pairing by round cancels the slow drifts of a shared machine (other jobs starting or stopping) that
    a ratio of two medians still carries.
    """
    per_round = ratios(values, reference)
    return statistics.median(per_round) if per_round else float("nan")


def all_ran(runs: dict[str, Samples]) -> dict[str, Samples]:
    """``runs`` (from :func:`interleaved`), after a RuntimeError naming any method that failed: for the
    benchmarks where no method may (a ratio to a failed method would print as nan)."""
    failed = {name: s.error for name, s in runs.items() if s.error is not None}
    if failed:
        raise RuntimeError(f"failed: {failed}")
    return runs


def paired_ratio(s: Samples, ref: Samples) -> float:
    """Median over rounds of ``s``'s frames/s divided by ``ref``'s in the same round (:func:`paired`)."""
    return paired(s.fps, ref.fps)


def round_line(r: int, rounds: int, rates: dict[str, list[float]], unit: str = "clips/s") -> str:
    """The progress line after round ``r`` (0-based): every method's rate in it."""
    return f"round {r + 1}/{rounds}: " + ", ".join(f"{k} {v[-1]:.2f} {unit}" for k, v in rates.items())


def rates_table(rates: dict[str, list[float]], width: int, unit: str = "clips/s") -> str:
    """Median and best rate of every method over the rounds, one line each, names ``width`` wide."""
    lines = [f"{'what':<{width}} {'median ' + unit:>15} {'best':>8}"]
    lines += [f"{k:<{width}} {statistics.median(v):>15.2f} {max(v):>8.2f}" for k, v in rates.items()]
    return "\n".join(lines)


def synced(fn: Callable[[], int], device: Any) -> Callable[[], int]:
    """``fn`` followed by a device synchronisation, so that wall time covers the work it queued."""

    def run() -> int:
        n = fn()
        if device.type == "cuda":
            import torch

            torch.cuda.synchronize(device)
        return n

    return run


def interleaved(
    methods: dict[str, Callable[[], int]], rounds: int, *, log: Callable[[str], None] | None = None
) -> dict[str, Samples]:
    """Run every method once per round, round-robin, starting each round one method later.

    Interleaving spreads the machine's slow moments over all methods instead of penalising whichever ran
    during them. Each method returns the number of frames it delivered. A method that raises is recorded
    with its error and dropped from later rounds.
    """
    names = list(methods)
    results = {name: Samples(name) for name in names}
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            s = results[name]
            if s.error is not None:
                continue
            c0, t0 = time.process_time(), time.perf_counter()
            try:
                n = methods[name]()
            except Exception as err:  # a peer that breaks is reported, not fatal
                s.error = f"{type(err).__name__}: {err}"
                continue
            s.wall.append(time.perf_counter() - t0)
            s.cpu.append(time.process_time() - c0)
            s.frames.append(n)
        if log:
            log(f"  round {r + 1}/{rounds} done")
    return results


# --------------------------------------------------------------------------------------------------------
# Memory
# --------------------------------------------------------------------------------------------------------


def _proc_status_kib(key: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def rss_mib() -> float | None:
    """Current resident set size of this process in MiB (None where it cannot be read)."""
    kib = _proc_status_kib("VmRSS")
    if kib is not None:
        return kib / 1024
    try:
        import psutil
    except ImportError:
        return None
    return psutil.Process().memory_info().rss / 2**20


def peak_rss_mib() -> dict[str, float | None]:
    """High-water marks of this process's RSS in MiB: ``vmhwm`` and ``ru_maxrss``.

    ``ru_maxrss`` (getrusage) is the usual measure, but Linux carries it across ``execve``: a child
    started by ``subprocess`` (vfork + exec) inherits the parent's high-water mark. ``VmHWM`` from
    /proc/self/status belongs to the process's own address space and starts afresh at exec, so it is
    the one to trust on Linux; both are reported.
    """
    out: dict[str, float | None] = {"vmhwm": None, "ru_maxrss": None}
    kib = _proc_status_kib("VmHWM")
    if kib is not None:
        out["vmhwm"] = kib / 1024
    try:
        import resource
    except ImportError:
        return out
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out["ru_maxrss"] = maxrss / 2**20 if sys.platform == "darwin" else maxrss / 1024  # bytes vs KiB
    return out


def peak_mib() -> float | None:
    """This process's peak RSS in MiB: VmHWM where Linux gives it, else ``ru_maxrss`` (see :func:`peak_rss_mib`)."""
    peak = peak_rss_mib()
    return peak["vmhwm"] if peak["vmhwm"] is not None else peak["ru_maxrss"]


MEMORY_CHILD = "--memory-child"
MEMORY_FRAMES = [1500, 15000]  # the memory videos: 1 and 10 minutes at 25 fps


def add_memory_options(ap: argparse.ArgumentParser, child_metavar: tuple[str, str], quick: list[int]) -> None:
    """``--memory-frames SHORT LONG`` (``quick``: its ``--quick`` value, for the help) and the hidden
    ``--memory-child`` that :func:`run_child` passes."""
    ap.add_argument(
        "--memory-frames",
        type=int,
        nargs=2,
        default=MEMORY_FRAMES,
        metavar=("SHORT", "LONG"),
        help=f"frames of the short and the long memory video (default {MEMORY_FRAMES[0]} {MEMORY_FRAMES[1]}: "
        f"1 and 10 minutes; quick {quick[0]} {quick[1]})",
    )
    ap.add_argument(MEMORY_CHILD, nargs=2, metavar=child_metavar, help=argparse.SUPPRESS)


def run_child(script: str | Path, *args: str) -> dict[str, Any]:
    """Run ``script`` with ``--memory-child`` and ``args`` in a fresh Python process (so that its peak RSS is
    its own) and return the JSON object the last line of its output holds; CalledProcessError (with the
    child's stderr) when it fails."""
    cmd = [sys.executable, str(Path(script).resolve()), MEMORY_CHILD, *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise subprocess.CalledProcessError(proc.returncode, cmd, proc.stdout, proc.stderr)
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------------------------------------
# Reporting
# --------------------------------------------------------------------------------------------------------


def write_json(path: str | Path, payload: Any, *, indent: int = 2) -> Path:
    """``payload`` as JSON in ``path`` (what JSON cannot hold written as its ``str``)."""
    Path(path).write_text(json.dumps(payload, indent=indent, default=str) + "\n")
    return Path(path)


def machine_info() -> dict[str, Any]:
    """What the numbers were measured on."""
    info: dict[str, Any] = {
        "cpus": os.cpu_count(),
        "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
    }
    try:
        with open("/proc/cpuinfo") as f:
            info["cpu_model"] = next(
                (line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), None
            )
    except OSError:
        info["cpu_model"] = None
    try:
        import av

        info["pyav"] = av.__version__
        info["ffmpeg"] = getattr(av, "ffmpeg_version_info", None)
    except ImportError:
        pass
    if hasattr(os, "getloadavg"):
        info["loadavg"] = os.getloadavg()
    return info


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], *, markdown: bool = False) -> str:
    """Rows as an aligned text table, or a Markdown table with ``markdown=True``."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    if markdown:
        lines = ["| " + " | ".join(cells[0]) + " |", "|" + "|".join("---" for _ in headers) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in cells[1:]]
        return "\n".join(lines)
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def fmt(row: list[str]) -> str:
        return "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))
        )

    sep = "  ".join("-" * w for w in widths)
    return "\n".join([fmt(cells[0]), sep] + [fmt(row) for row in cells[1:]])
