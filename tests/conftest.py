"""Shared fixtures: videos the tests encode themselves, whose frames carry their own index."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from vidlens.video import write_video

BITS = 10  # frame indices up to 1023
BLOCK = 8  # pixels per bit, square blocks survive lossy compression


# High-quality settings per encoder, so decoded frames can be compared with what was encoded.
QUALITY = {
    "libx264": {"crf": "12"},
    "mpeg4": {"b": "4M"},
    "mjpeg": {"b": "8M"},
    "libvpx-vp9": {"crf": "10", "b": "0", "deadline": "realtime", "cpu-used": "8"},
}


def indexed_frames(n: int, height: int = 64, width: int = 96, seed: int = 0) -> np.ndarray:
    """``n`` RGB frames ``(n, H, W, 3)``: a smooth moving picture whose top band writes the frame index
    in binary (white/black blocks of BLOCK pixels), so a decoded frame tells which frame it is."""
    assert width >= BITS * BLOCK and height >= 2 * BLOCK
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    phase = rng.uniform(0, 2 * np.pi, 3)
    frames = np.empty((n, height, width, 3), dtype=np.uint8)
    for t in range(n):
        for c in range(3):
            wave = np.sin(xx / 9.0 + yy / 13.0 + 0.2 * t + phase[c] + c)
            frames[t, ..., c] = (127 + 80 * wave).astype(np.uint8)
        bits = (t >> np.arange(BITS)) & 1
        band = np.repeat(bits * 255, BLOCK).astype(np.uint8)  # (BITS * BLOCK,)
        frames[t, :BLOCK, : BITS * BLOCK] = band[None, :, None]
        frames[t, :BLOCK, BITS * BLOCK :] = 0
    return frames


def frame_index(frame: np.ndarray) -> int:
    """Read back the index :func:`indexed_frames` wrote into a decoded frame at its original size."""
    band = frame[1 : BLOCK - 1, : BITS * BLOCK].astype(np.float32).mean(axis=(0, 2))  # (BITS * BLOCK,)
    bits = band.reshape(BITS, BLOCK)[:, 2:-2].mean(axis=1) > 127
    return int(sum(int(b) << i for i, b in enumerate(bits)))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


@pytest.fixture(scope="session")
def video_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("videos")


@pytest.fixture(scope="session")
def make_video(video_dir):
    """``make_video(name, n_frames, codec=..., **kw) -> Path``: an indexed video, made once per session."""
    cache: dict[tuple, Path] = {}

    def make(
        name: str, n_frames: int, codec: str = "libx264", height: int = 64, width: int = 96, **kw
    ) -> Path:
        key = (name, n_frames, codec, height, width, repr(sorted(kw.items())))
        if key not in cache:
            stem, dot, ext = name.rpartition(".")
            path = video_dir / f"{stem}_{len(cache)}{dot}{ext}"  # distinct files for distinct keys
            options = {**QUALITY.get(codec, {}), **kw.pop("options", {})}
            write_video(path, indexed_frames(n_frames, height, width), codec=codec, options=options, **kw)
            cache[key] = path
        return cache[key]

    return make


@pytest.fixture(scope="module")
def ported_model() -> Iterator[str]:
    """Registry name of a tiny C3D-shaped model whose *published* weights are C3D's: a foreign state dict
    of it gets the ``sports1m`` preset (BGR, 0-255 minus the mean), as one of ``c3d`` does. C3D itself has
    80 M parameters, too many for a quick test. Registered for the module that asks for it, then removed,
    so that registry sweeps elsewhere never see it."""
    from vidlens.models import C3DDepth, register_model, registry

    class PortedC3D(C3DDepth):
        spec = dataclasses.replace(C3DDepth.spec, published_preset="sports1m")

    def tiny_ported_c3d(**kwargs) -> PortedC3D:
        return PortedC3D((1, 1, 1, 1, 1), **{"width": 2, **kwargs})

    register_model(tiny_ported_c3d)
    try:
        yield "tiny_ported_c3d"
    finally:
        registry._model_entrypoints.pop("tiny_ported_c3d")


# --------------------------------------------------------------------------------------------------------
# Command-line tests
# --------------------------------------------------------------------------------------------------------

MAGIC = {".gif": b"GIF89a", ".png": b"\x89PNG\r\n\x1a\n", ".mp4": b"ftyp", ".npy": b"\x93NUMPY"}
MOTION_CLASSES = ["MoveDown", "MoveLeft", "MoveRight", "MoveUp"]  # the synthetic data's 4 classes, sorted


def run_cli(capsys, *argv: object) -> tuple[int, dict[str, Path], str, str]:
    """Run ``vidlens ARGV``: exit status, the files it says it wrote (by name; each checked to exist and to
    begin as its suffix says), its stdout and its stderr."""
    from vidlens.cli import main

    status = main([str(a) for a in argv])
    captured = capsys.readouterr()
    written = [
        Path(line.removeprefix("wrote ")) for line in captured.out.splitlines() if line.startswith("wrote ")
    ]
    for path in written:
        assert path.exists(), path
        if path.suffix in MAGIC:
            assert MAGIC[path.suffix] in path.read_bytes()[:12], path
    return status, {p.name: p for p in written}, captured.out, captured.err


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory) -> Path:
    """c3d_depth3 at width 2 with random weights (seed 0) saved with the synthetic data's class names."""
    import torch

    from vidlens.models import create_model, save_weights

    torch.manual_seed(0)
    model = create_model("c3d_depth3", width=2, num_classes=len(MOTION_CLASSES))
    model.class_names = list(MOTION_CLASSES)
    return save_weights(model, tmp_path_factory.mktemp("weights") / "d3.pt")


@pytest.fixture
def tiny_model_args(tiny_weights) -> list[str]:
    """The model options naming :func:`tiny_weights`."""
    return ["--model", "c3d_depth3", "--model-arg", "width=2", "--weights", str(tiny_weights)]


# --------------------------------------------------------------------------------------------------------
# Interpretation tests
# --------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def one_thread() -> Iterator[None]:
    """One torch thread for a module of tiny tensors: a second only adds overhead, and stalls on a busy
    machine. Use with ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def model_state(model) -> dict:
    """Everything an interpretation call must leave as it found it: hooks, requires_grad flags, train/eval
    modes, in-place ReLUs and gradients."""
    from torch import nn

    return {
        "hooks": [
            (name, len(d))
            for name, m in model.named_modules()
            for d in (m._forward_hooks, m._forward_pre_hooks, m._backward_hooks, m._backward_pre_hooks)
            if d
        ],
        "requires_grad": {name: p.requires_grad for name, p in model.named_parameters()},
        "training": {name: m.training for name, m in model.named_modules()},
        "inplace": {name: m.inplace for name, m in model.named_modules() if isinstance(m, nn.ReLU)},
        "grads": {name: p.grad for name, p in model.named_parameters()},
    }
