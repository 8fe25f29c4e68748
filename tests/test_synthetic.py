"""Tests of the synthetic motion dataset: files and splits, determinism, and that motion alone is the class."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from vidlens.data import synthetic
from vidlens.data.synthetic import (
    DIRECTIONS,
    MotionConfig,
    load_motion_masks,
    make_motion_dataset,
    motion_class_names,
    motion_mask_path,
    render_motion_video,
)

# A small dataset for the file tests: an odd class count and a split that does not divide evenly.
SMALL = MotionConfig(num_classes=3, videos_per_class=4, frames=6, height=48, width=64, test_fraction=0.3)


def decode(path: Path) -> tuple[np.ndarray, list[bool]]:
    """All frames of a file as uint8 ``(T, H, W, 3)`` RGB, and whether each frame is a key frame."""
    with av.open(str(path)) as container:
        frames = list(container.decode(video=0))
    return np.stack([f.to_ndarray(format="rgb24") for f in frames]), [f.key_frame for f in frames]


def read_lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


def mp4_files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*.mp4"))


# ---------------------------------------------------------------------------------------------- config


def test_class_names_are_sorted_camel_case_directions():
    assert motion_class_names(4) == ["MoveDown", "MoveLeft", "MoveRight", "MoveUp"]
    assert MotionConfig().class_names == motion_class_names(4)
    names8 = motion_class_names(8)
    assert names8 == sorted(DIRECTIONS) and len(set(names8)) == 8
    assert all(re.fullmatch(r"Move(Up|Down)?(Left|Right)?", n) for n in names8)
    assert motion_class_names(2) == ["MoveLeft", "MoveRight"]  # opposite directions first


@pytest.mark.parametrize(
    ("changes", "error", "match"),
    [
        ({"num_classes": 9}, ValueError, r"num_classes must be in \[2, 8\]"),
        ({"num_classes": 1}, ValueError, "num_classes"),
        ({"num_classes": 4.0}, TypeError, "num_classes must be an int"),
        ({"videos_per_class": 1}, ValueError, "a train and a test video"),
        ({"frames": 1}, ValueError, "at least two frames"),
        ({"height": 8}, ValueError, "height"),
        ({"seed": -1}, ValueError, "seed"),
        ({"test_fraction": 1.0}, ValueError, "test_fraction"),
        ({"test_fraction": 0.0}, ValueError, "test_fraction"),
        ({"moving_objects": (3, 2)}, ValueError, "moving_objects"),
        ({"moving_objects": (0, 2)}, ValueError, "moving_objects"),
        ({"moving_objects": (1.5, 2)}, TypeError, "moving_objects"),
        ({"object_size": (0.2, 0.6)}, ValueError, "object_size"),
        ({"object_size": (0.0, 0.3)}, ValueError, "positive"),
        ({"speed": (1.0, 40.0)}, ValueError, "speed"),
        ({"speed": 2.0}, TypeError, "speed must be a"),
        ({"direction_jitter": 30.0}, ValueError, "overlap"),
        ({"noise": -1.0}, ValueError, "noise"),
        ({"qp": 52}, ValueError, "qp"),
        ({"static_objects": -1}, ValueError, "static_objects"),
    ],
)
def test_config_validation_errors(changes, error, match):
    with pytest.raises(error, match=match):
        MotionConfig(**changes)


def test_config_pairs_from_json_lists_become_tuples():
    config = MotionConfig(speed=[1, 2], object_size=[0.1, 0.2], moving_objects=[1, 1])
    assert (config.speed, config.object_size, config.moving_objects) == ((1, 2), (0.1, 0.2), (1, 1))
    hash(config)  # still usable as a key


def test_split_sizes_keep_one_video_per_side():
    assert MotionConfig(videos_per_class=10, test_fraction=0.3).num_test_per_class == 3
    assert MotionConfig(videos_per_class=2, test_fraction=0.1).num_test_per_class == 1
    assert MotionConfig(videos_per_class=2, test_fraction=0.9).num_test_per_class == 1


# ------------------------------------------------------------------------------------------- rendering


def test_render_shape_dtype_and_determinism():
    config = MotionConfig(frames=5, height=40, width=56)
    video = render_motion_video(1, 7, config)
    assert video.shape == (5, 40, 56, 3) and video.dtype == np.uint8
    np.testing.assert_array_equal(video, render_motion_video(1, np.random.default_rng(7), config))
    assert not np.array_equal(video, render_motion_video(1, 8, config))
    assert not np.array_equal(video[0], video[-1])  # something moves
    with pytest.raises(ValueError, match=r"label must be an int in \[0, 4\)"):
        render_motion_video(4, 0, config)


def test_render_moves_by_the_class_velocity():
    # One shape, no distractor, no jitter, 2 px per frame: every pixel that changes between two frames is
    # the shape at its new place, so frame 1 shifted by the class's displacement explains all of them,
    # and that shift explains more of them than any other shift.
    config = MotionConfig(
        frames=4, moving_objects=(1, 1), static_objects=0, speed=(2.0, 2.0), direction_jitter=0.0
    )
    for label, name in enumerate(config.class_names):
        video = render_motion_video(label, 3, config)
        angle = math.radians(DIRECTIONS[name])
        expected = (round(-2 * math.sin(angle)), round(2 * math.cos(angle)))  # (dy, dx), rows grow down
        changed = np.any(video[2] != video[1], axis=-1)  # (H, W)
        matches = {
            (dy, dx): int((np.all(np.roll(video[1], (dy, dx), (0, 1)) == video[2], axis=-1) & changed).sum())
            for dy in range(-3, 4)
            for dx in range(-3, 4)
        }
        best = max(matches, key=matches.get)
        assert best == expected, (name, best, expected)
        assert sorted(matches.values())[-2] < matches[best]  # a strict winner


# SHA-256 of rendered frames, recorded from the renderer before masks existed: the masks must not change a
# pixel nor a draw from the random stream (datasets on disk and the papers' numbers depend on both).
FRAME_HASHES = [
    (
        MotionConfig(frames=6, height=48, width=64),
        0,
        7,
        "1a6c99651fe00c50f0646092581b4d11371f0e839eef980828ab7ab5f72dda6d",
    ),
    (
        MotionConfig(num_classes=8, frames=5, height=40, width=56, noise=8.0, static_objects=2),
        5,
        11,
        "d709225e84f8173c1524eadf5b3d4816beee9ef7e11f8f0e77065b43e276e25f",
    ),
    (
        MotionConfig(frames=4, height=32, width=33, moving_objects=(3, 3)),
        2,
        123,
        "79cabddc0a687ec11def0c9271ca7d3cc7dadef03b8d0b821aa5bbf98800778e",
    ),
]


@pytest.mark.parametrize(("config", "label", "seed", "digest"), FRAME_HASHES)
def test_frames_are_those_rendered_before_masks_existed(config, label, seed, digest):
    video = render_motion_video(label, seed, config)
    assert hashlib.sha256(video.tobytes()).hexdigest() == digest
    frames, masks = render_motion_video(label, seed, config, return_masks=True)
    np.testing.assert_array_equal(frames, video)
    assert masks.shape == video.shape[:3] and masks.dtype == np.bool_


def test_masks_cover_every_pixel_that_changes_and_only_moving_shapes():
    # Outside the masks of two frames, what shows is the background or a static shape (topmost there):
    # neither moves, so such a pixel keeps its colour. Distractors and several moving shapes included.
    config = MotionConfig(frames=6, height=48, width=64, moving_objects=(2, 3), static_objects=3)
    for seed in range(4):
        frames, masks = render_motion_video(seed % 4, seed, config, return_masks=True)
        assert masks.any(axis=(1, 2)).all() and not masks.all()
        for t in range(config.frames - 1):
            changed = np.any(frames[t] != frames[t + 1], axis=-1)  # (H, W)
            assert not (changed & ~masks[t] & ~masks[t + 1]).any()
    # Noise is drawn after the shapes: the same seed gives the same masks with or without it.
    _, noisy = render_motion_video(1, 3, dataclasses.replace(config, noise=8.0), return_masks=True)
    np.testing.assert_array_equal(noisy, render_motion_video(1, 3, config, return_masks=True)[1])


def test_mask_of_one_shape_moves_with_it():
    # One moving shape, nothing over it, 2 px per frame along an axis: its mask is the same silhouette
    # shifted by the class's displacement every frame (wrapping around the torus).
    config = MotionConfig(
        frames=4,
        height=40,
        width=48,
        moving_objects=(1, 1),
        static_objects=0,
        speed=(2.0, 2.0),
        direction_jitter=0.0,
    )
    for label, name in enumerate(config.class_names):
        _, masks = render_motion_video(label, 5, config, return_masks=True)
        angle = math.radians(DIRECTIONS[name])
        shift = (round(-2 * math.sin(angle)), round(2 * math.cos(angle)))  # (dy, dx)
        for t in range(config.frames - 1):
            np.testing.assert_array_equal(masks[t + 1], np.roll(masks[t], shift, (0, 1)))
    # With a static shape stacked over it, part of the moving one may hide: the mask shows what is visible.
    crowded = dataclasses.replace(config, static_objects=6, object_size=(0.3, 0.45))
    areas = [render_motion_video(0, seed, crowded, return_masks=True)[1].sum((1, 2)) for seed in range(6)]
    assert any(len(set(a.tolist())) > 1 for a in areas)  # some shape went under a distractor


# ---------------------------------------------------------------------------------------------- files


@pytest.fixture(scope="module")
def small_dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("motion")
    return make_motion_dataset(root, SMALL, progress=False)


def test_layout_and_split_files(small_dataset):
    root = small_dataset.root
    names = SMALL.class_names
    assert small_dataset.class_names == names and not small_dataset.reused
    assert sorted(p.name for p in root.iterdir()) == sorted([*names, "splits", "synth.json"])

    class_ind = [line.split() for line in read_lines(root / "splits" / "classInd.txt")]
    assert class_ind == [[str(i + 1), name] for i, name in enumerate(names)]  # 1-based, sorted
    label_of = {name: int(i) for i, name in class_ind}

    train = [line.split() for line in read_lines(root / "splits" / "trainlist01.txt")]
    test = read_lines(root / "splits" / "testlist01.txt")
    assert all(len(fields) == 2 for fields in train) and all(len(line.split()) == 1 for line in test)
    train_paths = [path for path, _ in train]
    for path, label in train:
        assert int(label) == label_of[path.split("/")[0]]  # 1-based label of the file's class folder
    # Every video listed once, train and test disjoint, and nothing listed that is not on disk.
    assert len(set(train_paths)) == len(train_paths) and len(set(test)) == len(test)
    assert not set(train_paths) & set(test)
    assert sorted(train_paths + test) == mp4_files(root)
    assert len(train_paths) + len(test) == SMALL.num_classes * SMALL.videos_per_class == 12
    # UCF101 naming, in the class's folder.
    for path in train_paths + test:
        folder, name = path.split("/")
        assert re.fullmatch(rf"v_{folder}_g\d\d_c01\.mp4", name), path
    # Stratified: round(4 * 0.3) = 1 test video per class, the rest train.
    for name in names:
        assert sum(p.startswith(name + "/") for p in test) == 1
        assert sum(p.startswith(name + "/") for p in train_paths) == 3
    # The returned object says the same as the files.
    assert [(p, label + 1) for p, label in small_dataset.train] == [(p, int(lab)) for p, lab in train]
    assert [p for p, _ in small_dataset.test] == test
    assert small_dataset.num_videos == 12 and small_dataset.splits_dir == root / "splits"


def test_files_decode_to_the_rendered_frames(small_dataset):
    root = small_dataset.root
    for path, _ in small_dataset.train + small_dataset.test:
        frames, key = decode(root / path)
        assert frames.shape == (SMALL.frames, SMALL.height, SMALL.width, 3)
        assert all(key)  # intra_only: every frame is a key frame
    # The file is the rendered video up to H.264 loss: group g03 is index 2 of its class.
    path, label = next((p, lab) for p, lab in small_dataset.train if "_g03_" in p)
    name = SMALL.class_names[label]
    rendered = render_motion_video(label, np.random.default_rng(synthetic._video_seed(SMALL, name, 2)), SMALL)
    decoded, _ = decode(root / path)
    error = np.abs(decoded.astype(np.float64) - rendered).mean()
    assert error < 12, error  # chroma subsampling of colourful textures costs a few levels, not more
    other = render_motion_video(label, 12345, SMALL)
    assert np.abs(decoded.astype(np.float64) - other).mean() > 2 * error


def test_same_seed_same_files_other_seed_other_videos(small_dataset, tmp_path):
    again = make_motion_dataset(tmp_path / "again", SMALL, progress=False)
    other = make_motion_dataset(tmp_path / "other", dataclasses.replace(SMALL, seed=1), progress=False)
    assert mp4_files(again.root) == mp4_files(small_dataset.root) == mp4_files(other.root)
    for rel in mp4_files(again.root):
        first, _ = decode(small_dataset.root / rel)
        np.testing.assert_array_equal(decode(again.root / rel)[0], first)
        # One x264 thread makes the encoding itself reproducible, byte for byte.
        assert (again.root / rel).read_bytes() == (small_dataset.root / rel).read_bytes()
        assert not np.array_equal(decode(other.root / rel)[0], first)
    for split in ("classInd.txt", "trainlist01.txt", "testlist01.txt"):
        assert (again.root / "splits" / split).read_text() == (
            small_dataset.root / "splits" / split
        ).read_text()


def test_rerun_reuses_an_identical_dataset(tmp_path):
    config = dataclasses.replace(SMALL, num_classes=2, videos_per_class=3, frames=3)
    first = make_motion_dataset(tmp_path, config, progress=False)
    stamps = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*") if p.is_file()}
    second = make_motion_dataset(tmp_path, config, progress=False)
    assert second.reused and not first.reused
    assert (second.train, second.test, second.class_names) == (first.train, first.test, first.class_names)
    assert {
        p: p.stat().st_mtime_ns for p in tmp_path.rglob("*") if p.is_file()
    } == stamps  # nothing rewritten

    # A missing video means the dataset is not complete: it is made again.
    (tmp_path / first.train[0][0]).unlink()
    assert not make_motion_dataset(tmp_path, config, progress=False).reused
    assert (tmp_path / first.train[0][0]).is_file()

    # An interrupted run (manifest not marked complete) is made again too.
    manifest = json.loads((tmp_path / "synth.json").read_text())
    (tmp_path / "synth.json").write_text(json.dumps({**manifest, "complete": False}))
    assert not make_motion_dataset(tmp_path, config, progress=False).reused
    assert json.loads((tmp_path / "synth.json").read_text())["complete"] is True


def test_other_config_replaces_a_previous_synthetic_dataset(tmp_path):
    config = dataclasses.replace(SMALL, num_classes=3, videos_per_class=3, frames=3)
    make_motion_dataset(tmp_path, config, progress=False)
    smaller = dataclasses.replace(config, num_classes=2, videos_per_class=2)
    made = make_motion_dataset(tmp_path, smaller, progress=False)
    assert not made.reused
    # Only the new dataset's files are left: the third class and the extra videos are gone.
    assert mp4_files(tmp_path) == sorted(p for p, _ in made.train + made.test)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [*smaller.class_names, "splits", "synth.json"]
    )


TINY = MotionConfig(num_classes=2, videos_per_class=2, frames=3, height=32, width=48)


def test_masks_are_written_next_to_the_same_videos(tmp_path):
    plain = make_motion_dataset(tmp_path / "plain", TINY, progress=False)
    made = make_motion_dataset(tmp_path / "masked", TINY, masks=True, progress=False)
    assert made.masks and not plain.masks
    # A dataset without masks has the synth.json it always had; the videos are the same bytes either way.
    assert "masks" not in json.loads((plain.root / "synth.json").read_text())
    assert json.loads((made.root / "synth.json").read_text())["masks"] is True
    assert mp4_files(made.root) == mp4_files(plain.root)
    for rel in mp4_files(plain.root):
        assert (made.root / rel).read_bytes() == (plain.root / rel).read_bytes()
    for path, label in made.train + made.test:
        masks = load_motion_masks(made.root, path)
        name = TINY.class_names[label]
        index = int(re.search(r"_g(\d+)_", path)[1]) - 1
        rng = np.random.default_rng(synthetic._video_seed(TINY, name, index))
        np.testing.assert_array_equal(masks, render_motion_video(label, rng, TINY, return_masks=True)[1])
        assert masks.shape == (3, 32, 48) and masks.dtype == np.bool_
        # The same file whichever way the video is named: relative, under the root, or absolute.
        np.testing.assert_array_equal(load_motion_masks(made.root, made.root / path), masks)
        np.testing.assert_array_equal(load_motion_masks(made.root, (made.root / path).resolve()), masks)
    path = made.train[0][0]
    expected = made.root / "masks" / path.replace(".mp4", ".npz")
    assert motion_mask_path(made.root, path) == expected and expected.is_file()
    with np.load(expected) as archive:
        assert archive.files == ["moving"]


def test_masks_are_part_of_what_makes_a_dataset_reusable(tmp_path):
    first = make_motion_dataset(tmp_path, TINY, progress=False)
    path = first.test[0][0]
    with pytest.raises(FileNotFoundError, match=r"made without masks.*masks=True.*vidlens synth .* --masks"):
        load_motion_masks(tmp_path, path)
    # Asked for masks, a dataset without them is made again (same videos), not silently reused.
    again = make_motion_dataset(tmp_path, TINY, masks=True, progress=False)
    assert not again.reused and again.masks
    assert load_motion_masks(tmp_path, path).shape == (3, 32, 48)
    # One with masks serves both askers; a missing mask file means it is incomplete.
    assert make_motion_dataset(tmp_path, TINY, progress=False).reused
    assert make_motion_dataset(tmp_path, TINY, masks=True, progress=False).reused
    motion_mask_path(tmp_path, path).unlink()
    assert not make_motion_dataset(tmp_path, TINY, masks=True, progress=False).reused
    # A dataset made again without masks drops the old ones with the files it listed.
    smaller = dataclasses.replace(TINY, frames=2)
    assert not make_motion_dataset(tmp_path, smaller, progress=False).masks
    assert not (tmp_path / "masks").exists()


def test_load_motion_masks_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no synthetic motion dataset"):
        load_motion_masks(tmp_path, "MoveLeft/v_MoveLeft_g01_c01.mp4")
    made = make_motion_dataset(tmp_path / "d", TINY, masks=True, progress=False)
    with pytest.raises(
        FileNotFoundError, match=r"missing \(is MoveUp/v_MoveUp_g01_c01.mp4 a video of this dataset\?\)"
    ):
        load_motion_masks(made.root, "MoveUp/v_MoveUp_g01_c01.mp4")
    with pytest.raises(ValueError, match="not under the dataset root"):
        load_motion_masks(made.root, tmp_path / "elsewhere" / "v.mp4")


def test_refuses_a_foreign_non_empty_directory(tmp_path, capsys):
    mine = tmp_path / "notes.txt"
    mine.write_text("not a dataset")
    config = dataclasses.replace(SMALL, num_classes=2, videos_per_class=2, frames=2)
    with pytest.raises(FileExistsError, match=r"overwrite=True"):
        make_motion_dataset(tmp_path, config, progress=False)
    assert sorted(tmp_path.iterdir()) == [mine]  # nothing written

    made = make_motion_dataset(tmp_path, config, overwrite=True)  # with the progress bar this time
    assert mine.read_text() == "not a dataset"  # others' files are left alone
    assert len(mp4_files(tmp_path)) == made.num_videos == 4
    assert "4/4" in capsys.readouterr().err  # tqdm reports every video

    with pytest.raises(NotADirectoryError, match="directory"):
        make_motion_dataset(mine, config, progress=False)


def test_odd_frame_size_like_ucf101_after_resize_and_inter_coding(tmp_path):
    config = MotionConfig(
        num_classes=2, videos_per_class=2, frames=3, height=128, width=171, intra_only=False
    )
    made = make_motion_dataset(tmp_path, config, progress=False)
    frames, key = decode(tmp_path / made.test[0][0])
    assert frames.shape == (3, 128, 171, 3)
    assert key[0] and not all(key)  # motion-compensated frames after the first


# ------------------------------------------------------------------------------ motion is the only signal
#
# A class carries no information in a single frame, and all of it in two: a multinomial logistic
# regression on single-frame features must stay at chance, while the same classifier on a two-frame
# feature must be nearly perfect. To show that the single-frame test can fail, the same classifier must
# detect realistic rendering leaks (a motion trail, motion blur, shapes placed by their class).

LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def frame_features(frame: np.ndarray) -> np.ndarray:
    """107 features of one uint8 ``(H, W, 3)`` frame (H, W multiples of 4) in which a leak would show:
    where colour is and where edges are (4x4 grids of mean RGB and of gradient magnitude: shapes have
    sharp edges, the background does not), which colours (8-bin histograms), and which way edges point
    (16-bin signed gradient-orientation histogram and the gradient's second moments: blur or trails
    are anisotropic)."""
    f = frame.astype(np.float32) / 255  # (H, W, 3)
    H, W, _ = f.shape
    colour_grid = f.reshape(4, H // 4, 4, W // 4, 3).mean((1, 3)).ravel()  # (48,)
    bins = np.minimum(frame >> 5, 7).astype(np.int64) + 8 * np.arange(3)  # (H, W, 3) in 0..23
    histogram = np.bincount(bins.ravel(), minlength=24) / (H * W)  # (24,)
    gray = f @ LUMA  # (H, W)
    gx, gy = np.roll(gray, -1, 1) - gray, np.roll(gray, -1, 0) - gray
    magnitude = np.hypot(gx, gy)  # (H, W)
    edge_grid = magnitude.reshape(4, H // 4, 4, W // 4).mean((1, 3)).ravel()  # (16,)
    sector = ((np.arctan2(gy, gx) + np.pi) * (16 / (2 * np.pi))).astype(np.int64) % 16
    orientation = np.bincount(sector.ravel(), magnitude.ravel(), 16)  # (16,)
    moments = np.array([(gx * gx).mean(), (gy * gy).mean(), (gx * gy).mean()])  # (3,)
    return np.concatenate(
        [
            colour_grid,
            edge_grid / edge_grid.mean(),
            histogram,
            orientation / orientation.sum(),
            moments / moments[:2].sum(),
        ]
    )  # (107,)


def leaky_frame(label: int, rng: np.random.Generator, config: MotionConfig) -> np.ndarray:
    """A frame as a naive renderer would draw it: the same backgrounds and shapes, but each shape starts
    in the middle half of the canvas set back 32 px against its direction (so that it crosses the
    middle), then moves for up to 16 frames: where shapes are depends on the class. ``(H, W, 3)``."""
    H, W = config.height, config.width
    frame = synthetic._background(rng, H, W)  # (H, W, 3)
    angle = math.radians(DIRECTIONS[config.class_names[label]])
    direction = np.array([-math.sin(angle), math.cos(angle)])  # (dy, dx)
    t = rng.integers(16)
    for _ in range(rng.integers(2, 5)):
        size = round(min(H, W) * rng.uniform(*config.object_size))
        colours, mask = synthetic._sprite(rng, size)
        centre = rng.uniform(0.25, 0.75, size=2) * (H, W) - 32 * direction + direction * rng.uniform(1, 3) * t
        dy, dx = np.nonzero(mask)
        corner = np.floor(centre - size / 2).astype(np.int64)
        frame[(corner[0] + dy) % H, (corner[1] + dx) % W] = colours[dy, dx]
    return frame


def motion_features(first: np.ndarray, second: np.ndarray, radius: int) -> np.ndarray:
    """How much better ``first`` shifted by ``s`` matches ``second`` than shifted by ``-s``, for the
    shifts ``s`` in [-radius, radius]^2 before (0, 0) in row-major order: ``((2 * radius + 1)^2 // 2,)``.

    The match is the mean squared difference on the torus (by FFT). Static content (background, static
    shapes) matches equally badly at ``s`` and ``-s``, so the difference keeps only what moved."""
    a, b = first.astype(np.float32) @ LUMA, second.astype(np.float32) @ LUMA  # (H, W) each
    a, b = a - a.mean(), b - b.mean()
    H, W = a.shape
    # correlation[s] = mean_x a(x) b(x + s)
    correlation = np.fft.irfft2(np.conj(np.fft.rfft2(a)) * np.fft.rfft2(b), s=(H, W)) / (H * W)
    shifts = np.arange(-radius, radius + 1)
    correlation = correlation[shifts[:, None] % H, shifts[None, :] % W].ravel()  # ((2r + 1)^2,)
    msd = (a * a).mean() + (b * b).mean() - 2 * correlation  # msd[i] at shift s_i; msd[::-1] at -s_i
    return ((msd[::-1] - msd) / msd.mean())[: len(msd) // 2]


def logistic_regression_accuracy(features: np.ndarray, labels: np.ndarray, num_classes: int) -> float:
    """Fit an L2-regularised multinomial logistic regression on the first 2/3 of the samples and return
    its accuracy on the last 1/3."""
    x = torch.as_tensor(features, dtype=torch.float64)  # (N, F)
    y = torch.as_tensor(labels)  # (N,)
    n_train = len(y) * 2 // 3
    mean, std = x[:n_train].mean(0), x[:n_train].std(0) + 1e-8
    x = (x - mean) / std
    weight = torch.zeros(x.shape[1], num_classes, dtype=torch.float64, requires_grad=True)
    bias = torch.zeros(num_classes, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([weight, bias], max_iter=200, line_search_fn="strong_wolfe")

    def loss() -> torch.Tensor:
        optimizer.zero_grad()
        logits = x[:n_train] @ weight + bias  # (n_train, K)
        value = torch.nn.functional.cross_entropy(logits, y[:n_train]) + 1e-2 * weight.square().sum()
        value.backward()
        return value

    optimizer.step(loss)
    with torch.no_grad():
        predicted = (x[n_train:] @ weight + bias).argmax(1)
    return float((predicted == y[n_train:]).double().mean())


def chance_bound(n: int, num_classes: int, alpha: float = 1e-4) -> float:
    """Accuracy that a classifier on features independent of the labels reaches with probability at
    most ``alpha`` on ``n`` class-balanced test samples.

    Its predictions are then independent of the test labels, so the number right is a sum of n
    independent Bernoulli trials whose means add up to n / K (labels are balanced); Hoeffding (1956)
    bounds the upper tail of such a sum, beyond n / K + 1, by that of the binomial Bin(n, 1/K), whose
    exact tail gives the bound.
    """
    p = 1 / num_classes
    tail, c = 0.0, n
    while c >= 0 and tail + math.comb(n, c) * p**c * (1 - p) ** (n - c) <= alpha:
        tail += math.comb(n, c) * p**c * (1 - p) ** (n - c)
        c -= 1
    return (c + 1) / n


@pytest.fixture(scope="module")
def features_of_many_videos():
    """Features of 1200 rendered videos of the default config (4 classes, 112x112): a single frame at a
    random time, the pair (that frame, the next one), and frames spoiled by three rendering leaks."""
    config = dataclasses.replace(MotionConfig(), frames=8)
    rng = np.random.default_rng(2024)
    labels = np.arange(1200) % config.num_classes
    single, pair, trail, blur, position = [], [], [], [], []
    for label in labels:
        video = render_motion_video(int(label), rng, config)  # (8, 112, 112, 3)
        t = int(rng.integers(1, config.frames - 1))
        single.append(frame_features(video[t]))
        pair.append(motion_features(video[t], video[t + 1], radius=4))  # speeds <= 3 px/frame
        # Leak 1: a trail, a faint copy where the shapes were one frame before (the sign of the motion).
        trail.append(frame_features((0.7 * video[t] + 0.3 * video[t - 1]).astype(np.uint8)))
        # Leak 2: motion blur over three frames (the axis of the motion).
        blur.append(frame_features(video[t - 1 : t + 2].mean(0).astype(np.uint8)))
        # Leak 3: where the shapes are (a renderer that places shapes according to their direction).
        position.append(frame_features(leaky_frame(int(label), rng, config)))
    return {
        "labels": labels,
        "single": np.array(single),
        "pair": np.array(pair),
        "trail": np.array(trail),
        "blur": np.array(blur),
        "position": np.array(position),
        "num_classes": config.num_classes,
    }


@pytest.mark.slow  # end to end: a few seconds or more on 2 cores
def test_a_single_frame_carries_no_class_information(features_of_many_videos):
    data = features_of_many_videos
    labels, k = data["labels"], data["num_classes"]
    bound = chance_bound(len(labels) - len(labels) * 2 // 3, k)
    accuracy = logistic_regression_accuracy(data["single"], labels, k)
    print(f"single-frame accuracy {accuracy:.3f} (chance {1 / k:.3f}, bound {bound:.3f})")
    assert accuracy < bound


@pytest.mark.parametrize("leak", ["trail", "blur", "position"])
def test_the_single_frame_check_detects_rendering_leaks(features_of_many_videos, leak):
    # The same features and classifier on frames with a direction-dependent artefact: the check above
    # would fail for a renderer with such a leak, so passing it means something.
    data = features_of_many_videos
    labels, k = data["labels"], data["num_classes"]
    bound = chance_bound(len(labels) - len(labels) * 2 // 3, k)
    accuracy = logistic_regression_accuracy(data[leak], labels, k)
    print(f"single frame with a {leak}: accuracy {accuracy:.3f} (bound {bound:.3f})")
    assert accuracy > bound


def test_two_frames_reveal_the_class(features_of_many_videos):
    data = features_of_many_videos
    accuracy = logistic_regression_accuracy(data["pair"], data["labels"], data["num_classes"])
    print(f"two-frame accuracy {accuracy:.3f}")
    assert accuracy > 0.9


@pytest.mark.slow  # end to end: a few seconds or more on 2 cores
def test_two_frames_reveal_eight_directions_despite_noise_and_distractors():
    # Diagonals at the lowest speed move by (0.7, 0.7) px per frame, which whole-pixel rendering turns
    # into steps of 0 or 1 px; frames three apart show the direction clearly.
    config = MotionConfig(num_classes=8, frames=4, noise=8.0, static_objects=2)
    rng = np.random.default_rng(8)
    labels = np.arange(480) % 8
    videos = (render_motion_video(int(label), rng, config) for label in labels)
    pair = np.array([motion_features(v[0], v[3], radius=10) for v in videos])
    accuracy = logistic_regression_accuracy(pair, labels, 8)
    print(f"two-frame accuracy, 8 classes: {accuracy:.3f}")
    assert accuracy > 0.9
