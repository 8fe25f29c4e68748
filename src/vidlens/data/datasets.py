"""Video datasets: lists of labelled videos from common layouts, and a torch Dataset of clips.

Layouts read here:

* **folders**: ``root/<class>/<video>`` (any depth below the class folder);
* **UCF101** (Soomro et al. 2012) with its official splits: ``classInd.txt`` (``idx name``, 1-based),
  ``trainlist0N.txt`` (``Class/file.avi label``) and ``testlist0N.txt`` (``Class/file.avi``), found in
  ``root/splits`` or ``root/ucfTrainTestlist`` unless given;
* **HMDB51** (Kuehne et al. 2011) split files ``<class>_test_split{1,2,3}.txt`` whose lines are
  ``video.avi k`` with k = 0 unused, 1 train, 2 test.

:func:`vidlens.data.synthetic.make_motion_dataset` writes the UCF101 layout, so one code path reads both.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, NamedTuple

import numpy as np
import torch
from torch.utils.data import Dataset

from vidlens.data.cache import FrameCache
from vidlens.data.transforms import ClipTransform
from vidlens.presets import FROM_PRESET, FromPreset, Preset, override
from vidlens.video import (
    Size,
    VideoError,
    count_frames,
    random_start,
    read_clips,
    uniform_starts,
)

__all__ = [
    "VIDEO_EXTENSIONS",
    "ClipBatch",
    "ClipDataset",
    "VideoClipsDataset",
    "VideoList",
    "VideoRecord",
    "collate_clips",
    "collate_video_clips",
    "find_videos",
    "folder_videos",
    "hmdb51_videos",
    "load_videos",
    "read_class_index",
    "ucf101_videos",
]

# Containers vidlens looks for in folders: the usual ones, phone video (.3gp/.3g2, of the MP4 family) and raw
# H.264 streams (.264/.h264).
VIDEO_EXTENSIONS = (
    *(".mp4", ".avi", ".mkv", ".webm", ".mov", ".m4v", ".mpg", ".mpeg", ".flv", ".wmv", ".ogv"),
    *(".3gp", ".3g2", ".264", ".h264"),
)
Subset = Literal["train", "test", "all"]


@dataclass(frozen=True)
class VideoRecord:
    """One labelled video."""

    path: Path
    label: int  # 0-based class index
    video_id: str  # path relative to the dataset root without its extension, e.g. "Class/v_Class_g01_c01"


@dataclass
class VideoList:
    """The labelled videos of one split, with the dataset's class names (index = label)."""

    records: list[VideoRecord]
    classes: list[str]
    root: Path
    layout: str = "folders"
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int) -> VideoRecord:
        return self.records[i]

    @property
    def labels(self) -> list[int]:
        return [r.label for r in self.records]

    def class_counts(self) -> dict[str, int]:
        counts = dict.fromkeys(self.classes, 0)
        for r in self.records:
            counts[self.classes[r.label]] += 1
        return counts


def _video_id(path: Path, root: Path) -> str:
    try:
        rel = path.relative_to(root)
    except ValueError:
        rel = Path(path.name)
    return rel.with_suffix("").as_posix()


def find_videos(root: str | Path, extensions: Sequence[str] = VIDEO_EXTENSIONS) -> list[Path]:
    """Every video file below ``root`` (recursively, by extension, case-insensitive), sorted."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"no such directory: {root}")
    exts = {e.lower() for e in extensions}
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in exts and p.is_file())


def folder_videos(root: str | Path, extensions: Sequence[str] = VIDEO_EXTENSIONS) -> VideoList:
    """Videos in ``root/<class>/...``: one sub-folder per class, classes sorted by name."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"no such directory: {root}")
    classes, records = [], []
    for class_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        videos = find_videos(class_dir, extensions)
        if not videos:
            continue  # e.g. a splits/ folder
        label = len(classes)
        classes.append(class_dir.name)
        records += [VideoRecord(v, label, _video_id(v, root)) for v in videos]
    if not records:
        raise ValueError(
            f"found no video files in sub-folders of {root}; expected root/<class>/<video> with extensions "
            f"{', '.join(extensions)}"
        )
    return VideoList(records, classes, root, "folders")


def read_class_index(path: str | Path) -> list[str]:
    """Class names from a UCF101 ``classInd.txt`` (lines ``idx name``, idx 1-based and contiguous)."""
    path = Path(path)
    entries: dict[int, str] = {}
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or not parts[0].isdigit():
            raise ValueError(f"{path}:{lineno}: expected 'index ClassName', got {line!r}")
        idx = int(parts[0])
        if idx in entries:
            raise ValueError(f"{path}:{lineno}: class index {idx} appears twice")
        entries[idx] = parts[1]
    if not entries:
        raise ValueError(f"{path} lists no classes")
    if sorted(entries) != list(range(1, len(entries) + 1)):
        raise ValueError(f"{path}: class indices must be 1..{len(entries)} (1-based, no gaps)")
    return [entries[i] for i in range(1, len(entries) + 1)]


def _find_split_dir(root: Path, split_dir: str | Path | None, marker: str) -> Path:
    if split_dir is not None:
        split_dir = Path(split_dir)
        return split_dir if split_dir.is_absolute() or split_dir.exists() else root / split_dir
    for name in ("splits", "ucfTrainTestlist", "testTrainMulti_7030_splits"):
        if list((root / name).glob(marker)):
            return root / name
    return root / "splits"


def _check_split(split: int, allowed: Sequence[int]) -> None:
    if split not in allowed:
        raise ValueError(f"split must be one of {list(allowed)}, got {split}")


def _records_from_paths(
    root: Path, entries: list[tuple[str, int]], where: str, classes: list[str]
) -> list[VideoRecord]:
    missing = [rel for rel, _ in entries if not (root / rel).is_file()]
    if missing:
        raise FileNotFoundError(
            f"{len(missing)} of the {len(entries)} videos listed in {where} are missing under {root}, "
            f"e.g. {', '.join(missing[:3])}; check the dataset root"
        )
    return [VideoRecord(root / rel, label, _video_id(root / rel, root)) for rel, label in entries]


def ucf101_videos(
    root: str | Path, split: int = 1, subset: Subset = "train", split_dir: str | Path | None = None
) -> VideoList:
    """The videos of one UCF101 split (``split`` 1-3) and ``subset`` ("train", "test" or "all")."""
    root = Path(root)
    _check_split(split, range(1, 10))
    sdir = _find_split_dir(root, split_dir, "classInd.txt")
    class_file = sdir / "classInd.txt"
    if not class_file.is_file():
        raise FileNotFoundError(
            f"no classInd.txt in {sdir}; a UCF101-layout dataset needs splits/classInd.txt, "
            f"trainlist0{split}.txt and testlist0{split}.txt (or pass split_dir=)"
        )
    classes = read_class_index(class_file)
    by_name = {c.lower(): i for i, c in enumerate(classes)}
    entries: list[tuple[str, int]] = []
    subsets = ["train", "test"] if subset == "all" else [subset]
    for which in subsets:
        list_file = sdir / f"{which}list{split:02d}.txt"
        if not list_file.is_file():
            raise FileNotFoundError(f"split file {list_file} not found (split {split}, subset {which!r})")
        for lineno, line in enumerate(list_file.read_text().splitlines(), 1):
            parts = line.split()
            if not parts:
                continue
            rel = parts[0]
            class_name = rel.split("/")[0]
            if len(parts) >= 2:
                if not parts[1].isdigit() or not 1 <= int(parts[1]) <= len(classes):
                    raise ValueError(
                        f"{list_file}:{lineno}: label must be 1..{len(classes)}, got {parts[1]!r}"
                    )
                label = int(parts[1]) - 1
            elif class_name.lower() in by_name:
                label = by_name[class_name.lower()]
            else:
                raise ValueError(
                    f"{list_file}:{lineno}: class {class_name!r} of {rel!r} is not in {class_file}"
                )
            entries.append((rel, label))
    if not entries:
        raise ValueError(f"split {split} lists no {subset} videos in {sdir}")
    return VideoList(
        _records_from_paths(root, entries, f"{sdir} split {split}", classes), classes, root, "ucf101"
    )


_HMDB_SPLIT = re.compile(r"^(?P<cls>.+)_test_split(?P<split>\d)\.txt$")


def hmdb51_videos(
    root: str | Path, split: int = 1, subset: Subset = "train", split_dir: str | Path | None = None
) -> VideoList:
    """The videos of one HMDB51 split: ``<class>_test_split{N}.txt`` lines ``name.avi k`` (1 train, 2 test)."""
    root = Path(root)
    _check_split(split, (1, 2, 3))
    sdir = _find_split_dir(root, split_dir, "*_test_split*.txt")
    files = sorted(sdir.glob(f"*_test_split{split}.txt"))
    if not files:
        raise FileNotFoundError(
            f"no HMDB51 split files '*_test_split{split}.txt' in {sdir} (pass split_dir=)"
        )
    wanted = {"train": {1}, "test": {2}, "all": {1, 2}}[subset]
    classes = [_HMDB_SPLIT.match(f.name)["cls"] for f in files]  # type: ignore[index]
    entries: list[tuple[str, int]] = []
    for label, (class_name, f) in enumerate(zip(classes, files, strict=True)):
        for lineno, line in enumerate(f.read_text().splitlines(), 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 2 or parts[1] not in ("0", "1", "2"):
                raise ValueError(f"{f}:{lineno}: expected 'video.avi k' with k in 0/1/2, got {line!r}")
            if int(parts[1]) in wanted:
                entries.append((f"{class_name}/{parts[0]}", label))
    if not entries:
        raise ValueError(f"HMDB51 split {split} lists no {subset} videos in {sdir}")
    return VideoList(
        _records_from_paths(root, entries, f"{sdir} split {split}", classes), classes, root, "hmdb51"
    )


def load_videos(
    root: str | Path,
    *,
    layout: Literal["auto", "folders", "ucf101", "hmdb51"] = "auto",
    split: int = 1,
    subset: Subset = "train",
    split_dir: str | Path | None = None,
) -> VideoList:
    """Read a dataset, detecting its layout: UCF101 split files, HMDB51 split files, else class folders."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"dataset root {root} is not a directory")
    if layout == "auto":
        if (_find_split_dir(root, split_dir, "classInd.txt") / "classInd.txt").is_file():
            layout = "ucf101"
        elif list(_find_split_dir(root, split_dir, "*_test_split*.txt").glob("*_test_split*.txt")):
            layout = "hmdb51"
        else:
            layout = "folders"
    if layout == "ucf101":
        return ucf101_videos(root, split, subset, split_dir)
    if layout == "hmdb51":
        return hmdb51_videos(root, split, subset, split_dir)
    if layout == "folders":
        return folder_videos(root)
    raise ValueError(f"unknown layout {layout!r}; use auto, folders, ucf101 or hmdb51")


class ClipDataset(Dataset):
    """``(clip, label)`` pairs from a :class:`VideoList`, ready for a DataLoader (worker processes too).

    * ``train=True``: one item per video; each access draws a random clip of ``clip_len`` frames, a random
      ``crop x crop`` window and a horizontal flip with probability ``flip_p`` (C3D's recipe), so every
      epoch sees a different clip of every video.
    * ``train=False``: ``clips_per_video`` items per video, at evenly spaced fixed positions, centre-cropped.
      ``clip_location(i)`` says which video and clip an item is.

    Clips are float ``(3, clip_len, crop, crop)`` tensors prepared by ``preset``: frames decoded at its
    ``size``, cropped to its ``crop`` and normalised (``size=`` and ``crop=`` override the preset's; ``None``
    keeps the video's size or whole frames). Randomness comes from
    torch's generator, so DataLoader's per-worker seeding makes runs reproducible with a seeded generator.

    ``cache`` (a :class:`vidlens.data.cache.FrameCache` or its directory) decodes every video once and cuts
    later clips from its stored frames: the same clips, without decoding a file each epoch.

    ``return_index=True`` yields ``(clip, label, index)``. ``on_error="skip"`` turns a video that cannot be
    decoded into ``clip=None`` with a warning instead of an exception, so that one corrupt file does not end
    an epoch; :func:`collate_clips` drops such items and counts them.
    """

    def __init__(
        self,
        videos: VideoList,
        *,
        train: bool,
        clip_len: int = 16,
        preset: Preset | str = "plain",
        size: Size | FromPreset = FROM_PRESET,
        crop: int | FromPreset | None = FROM_PRESET,
        clips_per_video: int = 1,
        flip_p: float = 0.5,
        decode_threads: int = 1,
        cache: FrameCache | str | Path | None = None,
        return_index: bool = False,
        on_error: Literal["raise", "skip"] = "raise",
    ) -> None:
        if len(videos) == 0:
            raise ValueError("the video list is empty: nothing to load")
        if clips_per_video < 1:
            raise ValueError(f"clips_per_video must be >= 1, got {clips_per_video}")
        if on_error not in ("raise", "skip"):
            raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
        self.videos = videos
        self.train = train
        self.clip_len = clip_len
        self.preset = override(preset, size=size, crop=crop)
        self.size = self.preset.size
        self.clips_per_video = 1 if train else clips_per_video
        self.transform = ClipTransform(preset=self.preset, train=train, flip_p=flip_p)
        self.decode_threads = decode_threads
        self.cache = cache if cache is None or isinstance(cache, FrameCache) else FrameCache(cache)
        self.return_index = return_index
        self.on_error = on_error

    @property
    def classes(self) -> list[str]:
        return self.videos.classes

    @property
    def num_classes(self) -> int:
        return len(self.videos.classes)

    @property
    def video_ids(self) -> list[str]:
        return [r.video_id for r in self.videos.records]

    def __len__(self) -> int:
        return len(self.videos) * self.clips_per_video

    def clip_location(self, index: int) -> tuple[int, int]:
        """``(video index, clip index within the video)`` of item ``index``."""
        return divmod(index, self.clips_per_video)

    def __getitem__(self, index: int) -> tuple:
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} items")
        video, k = self.clip_location(index)
        record = self.videos.records[video]
        try:
            clip = self._load(record, k)
        except VideoError as err:
            if self.on_error == "raise":
                raise
            warnings.warn(f"skipping a clip: {err}", RuntimeWarning, stacklevel=2)
            clip = None
        return (clip, record.label, index) if self.return_index else (clip, record.label)

    def _load(self, record: VideoRecord, k: int) -> torch.Tensor:
        n_frames = count_frames(record.path)
        if self.train:
            # Seed numpy from torch's generator so that DataLoader worker seeding governs every draw.
            rng = np.random.default_rng(int(torch.randint(0, 2**62, (1,)).item()))
            start = random_start(n_frames, self.clip_len, rng)
        else:
            rng = None
            start = uniform_starts(n_frames, self.clips_per_video, self.clip_len)[k]
        return self.transform(self._read(record, [start])[0], rng)

    def _read(self, record: VideoRecord, starts: list[int]) -> list[np.ndarray]:
        """The uint8 frames ``(clip_len, H, W, 3)`` of the clips at ``starts``: from the frame cache when
        there is one, else decoded in one pass over the file."""
        if self.cache is not None:
            return [self.cache.clip(record.path, s, self.clip_len, self.size) for s in starts]
        clips = read_clips(record.path, starts, self.clip_len, self.size, threads=self.decode_threads)
        return [clip.frames for clip in clips]

    def video_clips(self, video: int) -> torch.Tensor:
        """All ``clips_per_video`` evaluation clips of video ``video``, decoded in one pass over the file:
        ``(clips_per_video, 3, clip_len, crop, crop)``. Items ``video * clips_per_video + k`` hold the same
        clips one at a time (each opening the file again)."""
        if self.train:
            raise ValueError(
                "video_clips() reads the fixed evaluation clips; build the dataset with train=False"
            )
        record = self.videos.records[video]
        starts = uniform_starts(count_frames(record.path), self.clips_per_video, self.clip_len)
        return torch.stack([self.transform(frames) for frames in self._read(record, starts)])


class VideoClipsDataset(Dataset):
    """One item per video of an evaluation :class:`ClipDataset`: all its clips, read in one decoder pass.

    Evaluating clip by clip opens and seeks every file ``clips_per_video`` times; this view decodes each
    video once (:func:`vidlens.video.read_clips`). Item ``v`` is ``(clips (K, 3, T, H, W), label, indices
    (K,), skipped)`` where ``indices`` are the clips' item numbers in the wrapped dataset, so that
    :func:`collate_video_clips` yields the same :class:`ClipBatch` as :func:`collate_clips` over the clip
    dataset. When the one-pass read fails and the dataset skips errors (``on_error="skip"``), the video's
    clips are read one by one instead, so that the clips before a truncation are still kept; ``skipped``
    counts those that could not be read (``clips`` is ``None`` when none could).
    """

    def __init__(self, clips: ClipDataset) -> None:
        if clips.train:
            raise ValueError(
                "VideoClipsDataset groups the fixed evaluation clips; pass a ClipDataset with train=False"
            )
        self.clips = clips

    def __len__(self) -> int:
        return len(self.clips.videos)

    def __getitem__(self, video: int) -> tuple[torch.Tensor | None, int, torch.Tensor, int]:
        if not 0 <= video < len(self):
            raise IndexError(f"video {video} out of range for {len(self)} videos")
        label = self.clips.videos.records[video].label
        k = self.clips.clips_per_video
        try:
            return self.clips.video_clips(video), label, torch.arange(video * k, (video + 1) * k), 0
        except VideoError:
            if self.clips.on_error == "raise":
                raise
        items = [(self.clips[i][0], i) for i in range(video * k, (video + 1) * k)]  # warns per failed clip
        kept = [(clip, i) for clip, i in items if clip is not None]
        if not kept:
            return None, label, torch.empty(0, dtype=torch.long), k
        clips = torch.stack([clip for clip, _ in kept])  # (K', 3, T, H, W)
        return clips, label, torch.tensor([i for _, i in kept]), k - len(kept)


class ClipBatch(NamedTuple):
    """A mini-batch from :func:`collate_clips`."""

    clips: torch.Tensor  # (N, 3, T, H, W) float; N may be 0 when every item was skipped
    labels: torch.Tensor  # (N,) int64
    indices: torch.Tensor | None  # (N,) dataset indices, when the dataset returns them
    skipped: int  # items dropped because their video could not be decoded


def collate_clips(items: list[tuple]) -> ClipBatch:
    """DataLoader ``collate_fn`` for :class:`ClipDataset`: stacks clips, drops (and counts) skipped ones."""
    kept = [item for item in items if item[0] is not None]
    skipped = len(items) - len(kept)
    if not kept:
        return ClipBatch(torch.empty(0), torch.empty(0, dtype=torch.long), None, skipped)
    clips = torch.stack([item[0] for item in kept])  # (N, 3, T, H, W)
    labels = torch.tensor([item[1] for item in kept], dtype=torch.long)  # (N,)
    indices = torch.tensor([item[2] for item in kept], dtype=torch.long) if len(kept[0]) > 2 else None
    return ClipBatch(clips, labels, indices, skipped)


def collate_video_clips(items: list[tuple]) -> ClipBatch:
    """DataLoader ``collate_fn`` for :class:`VideoClipsDataset`: every clip of a batch of videos in one
    :class:`ClipBatch` (labels repeated per clip), with the clips that could not be decoded counted."""
    kept = [item for item in items if item[0] is not None]
    skipped = sum(item[3] for item in items)
    if not kept:
        empty = torch.empty(0, dtype=torch.long)
        return ClipBatch(torch.empty(0), empty, empty, skipped)
    clips = torch.cat([item[0] for item in kept])  # (N, 3, T, H, W)
    labels = torch.cat([torch.full((len(item[0]),), item[1], dtype=torch.long) for item in kept])  # (N,)
    indices = torch.cat([item[2] for item in kept])  # (N,)
    return ClipBatch(clips, labels, indices, skipped)
