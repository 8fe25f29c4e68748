"""The frame cache: the same clips as decoding the file, decoded once, keyed by the file's identity."""

from __future__ import annotations

import os

import numpy as np
import pytest

from vidlens.data.cache import FrameCache
from vidlens.video import VideoError, read_clip, write_video

from conftest import frame_index, indexed_frames


@pytest.mark.parametrize("codec", ["libx264", "mpeg4"])
def test_cached_clips_equal_decoded_clips(make_video, tmp_path, codec):
    path = make_video("cache.mp4", 40, codec=codec, options={"g": "12"})  # keyframes every 12 frames
    cache = FrameCache(tmp_path / "frames")
    for size in [(64, 96), (32, 48), None]:
        for start in (0, 5, 12, 23, 30, 39):  # 30 and 39 run past the end: padded with the last frame
            want = read_clip(path, start, 16, size)
            got = cache.clip(path, start, 16, size)
            assert got.dtype == np.uint8 and got.shape == want.frames.shape
            assert np.array_equal(got, want.frames), (size, start)
    assert [frame_index(f) for f in cache.frames(path, (64, 96))] == list(range(40))
    assert len(list((tmp_path / "frames").rglob("*.npy"))) == 3  # one entry per frame size


def test_a_video_is_decoded_once(make_video, tmp_path, monkeypatch):
    import vidlens.data.cache as cache_module

    path = make_video("once.mp4", 24)
    cache = FrameCache(tmp_path)
    first = cache.clip(path, 3, 8, (64, 96))

    def no_decoding(*args, **kwargs):
        raise AssertionError("the cached video was decoded again")

    monkeypatch.setattr(cache_module, "_read_clips", no_decoding)
    assert np.array_equal(FrameCache(tmp_path).clip(path, 3, 8, (64, 96)), first)  # another instance too
    frames = cache.frames(path, (64, 96))
    assert not frames.flags.writeable  # a read-only map: no caller can corrupt the entry


def test_an_edited_video_is_decoded_again(tmp_path):
    path = tmp_path / "v.mp4"
    write_video(path, indexed_frames(20), options={"crf": "12"})
    cache = FrameCache(tmp_path / "frames")
    old = cache.entry(path, (64, 96))
    assert frame_index(cache.clip(path, 0, 4, (64, 96))[0]) == 0
    write_video(path, indexed_frames(20)[::-1].copy(), options={"crf": "12"})  # same name, new content
    os.utime(path, ns=(os.stat(path).st_atime_ns, os.stat(old.parent).st_mtime_ns + 10**9))
    assert cache.entry(path, (64, 96)) != old
    assert frame_index(cache.clip(path, 0, 4, (64, 96))[0]) == 19


def test_errors_say_what_is_wrong(tmp_path, make_video):
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError, match="give a directory"):
        FrameCache(tmp_path / "file")
    bad = tmp_path / "bad.mp4"
    bad.write_text("not a video")
    cache = FrameCache(tmp_path / "frames")
    with pytest.raises(VideoError, match="bad.mp4"):
        cache.clip(bad, 0, 8)
    assert not list((tmp_path / "frames").rglob("*.npy"))  # nothing cached for a file that fails
    path = make_video("short.mp4", 10)
    with pytest.raises(VideoError, match="decoding ended after 10 frames"):
        cache.clip(path, 10, 4, (64, 96))
    with pytest.raises(ValueError, match="start >= 0"):
        cache.clip(path, -1, 4, (64, 96))
