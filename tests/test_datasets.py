"""Dataset layouts (folders, UCF101 splits, HMDB51 splits), clip datasets, transforms, DataLoader."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from vidlens.data import transforms as T
from vidlens.data.datasets import (
    ClipDataset,
    find_videos,
    folder_videos,
    hmdb51_videos,
    load_videos,
    read_class_index,
    ucf101_videos,
)
from vidlens.presets import get_preset
from vidlens.video import write_video

from conftest import frame_index, indexed_frames

CLASSES = ["ApplyEyeMakeup", "Basketball", "YoYo"]


@pytest.fixture(scope="module")
def ucf_root(tmp_path_factory) -> Path:
    """A miniature UCF101: 3 classes x 3 videos (.avi), official-style split files."""
    root = tmp_path_factory.mktemp("ucf")
    for c, name in enumerate(CLASSES):
        for g in range(1, 4):
            write_video(
                root / name / f"v_{name}_g{g:02d}_c01.avi", indexed_frames(24 + 8 * g, seed=c), codec="mpeg4"
            )
    splits = root / "ucfTrainTestlist"
    splits.mkdir()
    (splits / "classInd.txt").write_text("".join(f"{i} {n}\n" for i, n in enumerate(CLASSES, 1)))
    train = [f"{n}/v_{n}_g{g:02d}_c01.avi {i}" for i, n in enumerate(CLASSES, 1) for g in (1, 2)]
    test = [f"{n}/v_{n}_g03_c01.avi" for n in CLASSES]
    (splits / "trainlist01.txt").write_text("\r\n".join(train) + "\r\n")  # the official files use CRLF
    (splits / "testlist01.txt").write_text("\n".join(test) + "\n")
    return root


def test_read_class_index(tmp_path):
    f = tmp_path / "classInd.txt"
    f.write_text("1 A\n2 B\n\n3 C\n")
    assert read_class_index(f) == ["A", "B", "C"]
    f.write_text("1 A\n3 C\n")
    with pytest.raises(ValueError, match="1-based, no gaps"):
        read_class_index(f)
    f.write_text("A 1\n")
    with pytest.raises(ValueError, match="classInd.txt:1"):
        read_class_index(f)


def test_ucf101_splits(ucf_root):
    train = ucf101_videos(ucf_root, split=1, subset="train")
    test = ucf101_videos(ucf_root, split=1, subset="test")
    assert train.classes == CLASSES and train.layout == "ucf101"
    assert len(train) == 6 and len(test) == 3
    assert train.labels == [0, 0, 1, 1, 2, 2] and test.labels == [0, 1, 2]
    assert test[1].video_id == "Basketball/v_Basketball_g03_c01"
    assert test[1].path == ucf_root / "Basketball" / "v_Basketball_g03_c01.avi"
    assert {r.video_id for r in train}.isdisjoint(r.video_id for r in test)
    assert len(ucf101_videos(ucf_root, subset="all")) == 9
    assert train.class_counts() == dict.fromkeys(CLASSES, 2)


def test_ucf101_errors(ucf_root, tmp_path):
    with pytest.raises(FileNotFoundError, match="trainlist02.txt"):
        ucf101_videos(ucf_root, split=2)
    with pytest.raises(FileNotFoundError, match="classInd.txt"):
        ucf101_videos(tmp_path)
    bad = tmp_path / "bad"
    (bad / "splits").mkdir(parents=True)
    (bad / "splits" / "classInd.txt").write_text("1 A\n")
    (bad / "splits" / "trainlist01.txt").write_text("A/x.avi 1\nA/y.avi 1\n")
    with pytest.raises(FileNotFoundError, match="2 of the 2 videos .* are missing"):
        ucf101_videos(bad)
    (bad / "splits" / "trainlist01.txt").write_text("A/x.avi 7\n")
    with pytest.raises(ValueError, match=r"trainlist01.txt:1: label must be 1..1"):
        ucf101_videos(bad)
    (bad / "splits" / "trainlist01.txt").write_text("\n")
    with pytest.raises(ValueError, match="lists no train videos"):
        ucf101_videos(bad)


def test_hmdb51_splits(tmp_path):
    root = tmp_path / "hmdb"
    names = {"brush_hair": ["a.avi", "b.avi", "c.avi"], "wave": ["d.avi", "e.avi", "f.avi"]}
    for cls, videos in names.items():
        for v in videos:
            write_video(root / cls / v, indexed_frames(8), codec="mpeg4")
    splits = root / "testTrainMulti_7030_splits"
    splits.mkdir()
    for cls, (a, b, c) in names.items():
        (splits / f"{cls}_test_split1.txt").write_text(f"{a} 1 \n{b} 2 \n{c} 0 \n")
        (splits / f"{cls}_test_split2.txt").write_text(f"{a} 2\n{b} 1\n{c} 1\n")
    train = hmdb51_videos(root, split=1, subset="train")
    assert train.classes == ["brush_hair", "wave"]
    assert [r.video_id for r in train] == ["brush_hair/a", "wave/d"]
    assert [r.video_id for r in hmdb51_videos(root, 1, "test")] == ["brush_hair/b", "wave/e"]
    assert len(hmdb51_videos(root, 2, "train")) == 4
    assert load_videos(root, split=2, subset="test").layout == "hmdb51"
    with pytest.raises(FileNotFoundError, match="_test_split3"):
        hmdb51_videos(root, split=3)
    (splits / "wave_test_split1.txt").write_text("d.avi train\n")
    with pytest.raises(ValueError, match="wave_test_split1.txt:1"):
        hmdb51_videos(root, split=1)


def test_folder_layout_and_autodetect(ucf_root, tmp_path):
    videos = folder_videos(ucf_root)
    assert videos.classes == CLASSES and len(videos) == 9  # the split folder holds no videos: not a class
    assert load_videos(ucf_root).layout == "ucf101"
    assert len(find_videos(ucf_root)) == 9
    (tmp_path / "empty_class").mkdir()
    with pytest.raises(ValueError, match="found no video files"):
        folder_videos(tmp_path)
    with pytest.raises(FileNotFoundError):
        load_videos(tmp_path / "missing")


def test_transforms():
    clip = np.random.default_rng(0).integers(0, 256, (4, 128, 171, 3), dtype=np.uint8)
    center = T.center_crop(clip, 112)
    np.testing.assert_array_equal(center, clip[:, 8:120, 29:141])
    rng = np.random.default_rng(1)
    for _ in range(20):
        crop = T.random_crop(clip, 112, rng)
        assert crop.shape == (4, 112, 112, 3)
        # the crop is a window of the clip: find its offset from the first pixel row
        assert any(
            np.array_equal(crop, clip[:, y : y + 112, x : x + 112]) for y in range(17) for x in range(60)
        )
    np.testing.assert_array_equal(T.hflip(clip)[:, :, 0], clip[:, :, -1])
    with pytest.raises(ValueError, match="cannot crop 200x200"):
        T.center_crop(clip, 200)
    out = T.ClipTransform(preset="plain", crop=112)(clip)
    assert out.shape == (3, 4, 112, 112) and out.dtype == torch.float32


def test_sports1m_preset_is_bgr_minus_mean():
    clip = np.zeros((2, 4, 4, 3), dtype=np.uint8)
    clip[..., 0], clip[..., 1], clip[..., 2] = 200, 100, 50  # R, G, B
    x = get_preset("sports1m").normalize(clip)  # (3, T, H, W), channels B, G, R
    assert x.shape == (3, 2, 4, 4)
    assert torch.allclose(x[:, 0, 0, 0], torch.tensor([50 - 90.25, 100 - 97.66, 200 - 101.41]))
    plain = get_preset("plain").normalize(clip)
    assert torch.allclose(plain[:, 0, 0, 0], (torch.tensor([200, 100, 50]) / 255 - 0.45) / 0.225)
    with pytest.raises(KeyError, match="available presets"):
        get_preset("imagenet21k")


def test_clip_dataset_eval_positions(ucf_root):
    test = ucf101_videos(ucf_root, subset="test")
    ds = ClipDataset(test, train=False, clip_len=8, size=None, crop=None, clips_per_video=3, preset="plain")
    assert len(ds) == 9 and ds.num_classes == 3
    n_frames = 24 + 8 * 3
    for i in range(len(ds)):
        video, k = ds.clip_location(i)
        clip, label = ds[i]
        assert label == video and clip.shape == (3, 8, 64, 96)
        frames = ((clip.permute(1, 2, 3, 0) * 0.225 + 0.45) * 255).round().clamp(0, 255).byte().numpy()
        start = [0, (n_frames - 8) // 2, n_frames - 8][k]
        assert [frame_index(f) for f in frames] == list(range(start, start + 8))
    with pytest.raises(IndexError):
        ds[9]


def test_clip_dataset_train_is_random_and_seedable(ucf_root):
    train = ucf101_videos(ucf_root)
    ds = ClipDataset(train, train=True, clip_len=8, size=(64, 96), crop=48)
    assert len(ds) == 6
    clip, label = ds[2]
    assert clip.shape == (3, 8, 48, 48) and label == 1
    torch.manual_seed(0)
    a = [ds[0][0] for _ in range(4)]
    torch.manual_seed(0)
    b = [ds[0][0] for _ in range(4)]
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    assert not all(torch.equal(a[0], x) for x in a[1:])  # different clips, crops or flips


def test_dataloader_with_workers(ucf_root):
    ds = ClipDataset(ucf101_videos(ucf_root), train=True, clip_len=8, size=(64, 96), crop=48)

    def run() -> tuple[torch.Tensor, torch.Tensor]:
        loader = DataLoader(
            ds, batch_size=3, shuffle=True, num_workers=2, generator=torch.Generator().manual_seed(7)
        )
        clips, labels = zip(*loader, strict=True)
        return torch.cat(clips), torch.cat(labels)

    clips1, labels1 = run()
    clips2, labels2 = run()
    assert clips1.shape == (6, 3, 8, 48, 48)
    assert sorted(labels1.tolist()) == [0, 0, 1, 1, 2, 2]
    assert torch.equal(labels1, labels2) and torch.equal(clips1, clips2)  # reproducible across workers


def test_clip_dataset_validation(ucf_root):
    videos = ucf101_videos(ucf_root)
    with pytest.raises(ValueError, match="clips_per_video"):
        ClipDataset(videos, train=False, clips_per_video=0)
    with pytest.raises(ValueError, match="flip_p"):
        ClipDataset(videos, train=True, flip_p=2.0)


def test_corrupt_videos_are_skipped_and_counted(ucf_root, tmp_path):
    import shutil

    from vidlens.data.datasets import collate_clips

    root = tmp_path / "ucf"
    shutil.copytree(ucf_root, root)
    bad = root / "Basketball" / "v_Basketball_g01_c01.avi"
    bad.write_text("this is no longer a video")
    videos = ucf101_videos(root)
    strict = ClipDataset(videos, train=True, clip_len=8, size=(64, 96), crop=48)
    with pytest.raises(Exception, match="v_Basketball_g01_c01.avi"):
        strict[2]
    ds = ClipDataset(
        videos, train=True, clip_len=8, size=(64, 96), crop=48, on_error="skip", return_index=True
    )
    with pytest.warns(RuntimeWarning, match="skipping a clip.*v_Basketball_g01_c01.avi"):
        batch = collate_clips([ds[i] for i in range(len(ds))])
    assert batch.skipped == 1 and batch.clips.shape == (5, 3, 8, 48, 48)
    assert batch.indices.tolist() == [0, 1, 3, 4, 5] and batch.labels.tolist() == [0, 0, 1, 2, 2]
    empty = collate_clips([(None, 0)])
    assert empty.skipped == 1 and empty.clips.numel() == 0


def test_video_clips_dataset_matches_clip_items(ucf_root):
    from vidlens.data.datasets import VideoClipsDataset, collate_video_clips

    test = ucf101_videos(ucf_root, subset="test")
    clips = ClipDataset(test, train=False, clip_len=8, size=(64, 96), crop=48, clips_per_video=3)
    per_video = VideoClipsDataset(clips)
    assert len(per_video) == len(test) == 3
    batch = collate_video_clips([per_video[v] for v in range(len(per_video))])
    assert batch.clips.shape == (9, 3, 8, 48, 48) and batch.skipped == 0
    assert batch.indices.tolist() == list(range(9))
    assert batch.labels.tolist() == [clips[i][1] for i in range(9)]
    for i in range(9):  # one decoder pass per video gives exactly the clip-by-clip items
        assert torch.equal(batch.clips[i], clips[i][0])
    with pytest.raises(ValueError, match="train=False"):
        VideoClipsDataset(ClipDataset(test, train=True))
    with pytest.raises(IndexError):
        per_video[3]


def test_video_clips_dataset_skips_corrupt_videos(ucf_root, tmp_path):
    import shutil

    from vidlens.data.datasets import VideoClipsDataset, collate_video_clips

    root = tmp_path / "ucf"
    shutil.copytree(ucf_root, root)
    test = ucf101_videos(root, subset="test")
    test.records[1].path.write_bytes(b"not a video at all")
    strict = VideoClipsDataset(
        ClipDataset(test, train=False, clip_len=8, size=(64, 96), crop=48, clips_per_video=2)
    )
    with pytest.raises(Exception, match=test.records[1].path.name):
        strict[1]
    ds = VideoClipsDataset(
        ClipDataset(test, train=False, clip_len=8, size=(64, 96), crop=48, clips_per_video=2, on_error="skip")
    )
    with pytest.warns(RuntimeWarning, match="skipping a clip"):
        batch = collate_video_clips([ds[v] for v in range(3)])
    assert batch.skipped == 2 and batch.indices.tolist() == [0, 1, 4, 5]
    assert batch.labels.tolist() == [test.records[0].label] * 2 + [test.records[2].label] * 2


def test_clip_dataset_with_a_cache_gives_the_same_items(ucf_root, tmp_path):
    from vidlens.data.cache import FrameCache
    from vidlens.data.datasets import VideoClipsDataset, collate_video_clips

    train = ucf101_videos(ucf_root)
    plain = ClipDataset(train, train=True, clip_len=8, size=(64, 96), crop=48)
    cached = ClipDataset(train, train=True, clip_len=8, size=(64, 96), crop=48, cache=tmp_path / "c")
    for i in range(len(train)):
        torch.manual_seed(i)
        a, label_a = plain[i]
        torch.manual_seed(i)
        b, label_b = cached[i]
        assert torch.equal(a, b) and label_a == label_b
    test = ucf101_videos(ucf_root, subset="test")
    kwargs = {"train": False, "clip_len": 8, "size": (64, 96), "crop": 48, "clips_per_video": 3}
    plain = ClipDataset(test, **kwargs)
    cached = ClipDataset(test, **kwargs, cache=FrameCache(tmp_path / "c"))
    for i in range(len(plain)):
        assert torch.equal(plain[i][0], cached[i][0])
    a = collate_video_clips([VideoClipsDataset(plain)[v] for v in range(len(test))])
    b = collate_video_clips([VideoClipsDataset(cached)[v] for v in range(len(test))])
    assert torch.equal(a.clips, b.clips)
