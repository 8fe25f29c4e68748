"""The demo on built-in data (``make demo``): synthesise a motion dataset, read it back, decode it, run C3D.

Each step is a function that returns what it measured; ``vidlens demo`` (:mod:`vidlens.cli.demo`) prints
them. Nothing here needs a download: the data is made by :mod:`vidlens.data.synthetic`.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import torch
from tqdm.auto import tqdm

from vidlens.data.datasets import VideoList, load_videos
from vidlens.data.synthetic import MotionConfig, MotionDataset, make_motion_dataset
from vidlens.data.transforms import ClipTransform
from vidlens.models import count_macs, count_parameters, create_model
from vidlens.video import Clip, iter_clips

__all__ = ["DecodeStats", "ForwardStats", "decode_all", "forward_pass", "make_data", "read_back"]


def make_data(
    root: str | os.PathLike, config: MotionConfig, *, progress: bool = True
) -> tuple[MotionDataset, float]:
    """The synthetic motion dataset in ``root`` (made, or reused when it is there) and the seconds it took."""
    t0 = time.perf_counter()
    dataset = make_motion_dataset(root, config, progress=progress)
    return dataset, time.perf_counter() - t0


def read_back(root: str | os.PathLike) -> tuple[VideoList, VideoList]:
    """The train and test videos of ``root``, read through the UCF101 code path (split files)."""
    return load_videos(root, subset="train"), load_videos(root, subset="test")


@dataclass
class DecodeStats:
    """What decoding every video into clips measured."""

    videos: int
    clips: int
    frames: int  # frames decoded (padding excluded)
    seconds: float
    first_clip: Clip | None

    @property
    def frames_per_s(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


def decode_all(
    videos: VideoList,
    *,
    clip_len: int = 16,
    stride: int = 8,
    size: tuple[int, int] | None = None,
    progress: bool = True,
) -> DecodeStats:
    """Decode every video of ``videos`` into ``clip_len``-frame clips every ``stride`` frames (C3D's recipe)."""
    clips = frames = 0
    first: Clip | None = None
    t0 = time.perf_counter()
    for record in tqdm(videos.records, desc="decode", unit="video", leave=False, disable=not progress):
        for clip in iter_clips(record.path, clip_len=clip_len, stride=stride, size=size):
            clips += 1
            frames += len(clip) - clip.padded
            first = first if first is not None else clip
    return DecodeStats(len(videos), clips, frames, time.perf_counter() - t0, first)


@dataclass
class ForwardStats:
    """One C3D forward pass: shapes, time, size and cost."""

    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    milliseconds: float
    params: int
    macs: int


def forward_pass(clip: Clip, num_classes: int, *, seed: int = 0) -> ForwardStats:
    """C3D (Tran et al. 2015), randomly initialised, on one clip prepared by its preset (timed after a
    warm-up pass)."""
    torch.manual_seed(seed)
    model = create_model("c3d", num_classes=num_classes).eval()
    x = ClipTransform(preset=model.preset)(clip.frames).unsqueeze(0)  # (1, 3, 16, 112, 112)
    with torch.inference_mode():
        model(x)  # warm-up
        t0 = time.perf_counter()
        logits = model(x)
        seconds = time.perf_counter() - t0
    return ForwardStats(
        tuple(x.shape),
        tuple(logits.shape),
        seconds * 1000,
        count_parameters(model),
        count_macs(model, tuple(x.shape)),
    )
