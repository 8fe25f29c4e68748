"""vidlens.video: decoding real files the tests encode themselves."""

from __future__ import annotations

import subprocess
import sys
import threading
import warnings
from fractions import Fraction

import av
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from av.stream import Disposition

from vidlens import video as V
from vidlens.data.cache import FrameCache
from vidlens.video import VideoError, VideoNotFoundError

from conftest import frame_index, indexed_frames, psnr

CODECS = [  # (file name, codec, frame count recorded by the container)
    ("x264.mp4", "libx264", True),
    ("mpeg4.avi", "mpeg4", True),
    ("vp9.webm", "libvpx-vp9", False),
    ("mjpeg.avi", "mjpeg", True),
    ("ffv1.mkv", "ffv1", False),
]


@pytest.mark.parametrize(("name", "codec", "_"), CODECS)
def test_decode_matches_encoded_frames(make_video, name, codec, _):
    n = 40
    path = make_video(name, n, codec=codec)
    frames = V.read_video(path, size=None)
    original = indexed_frames(n)
    assert frames.shape == original.shape and frames.dtype == np.uint8
    assert [frame_index(f) for f in frames] == list(range(n))
    assert psnr(frames, original) > 30


@pytest.mark.parametrize(("name", "codec", "_"), CODECS)
def test_probe(make_video, name, codec, _):
    path = make_video(name, 40, codec=codec)
    info = V.probe(path)
    assert (info.n_frames, info.width, info.height) == (40, 96, 64)
    assert info.fps == pytest.approx(25, rel=1e-3)
    assert info.duration == pytest.approx(1.6, abs=0.1)
    assert info.codec in {"h264", "mpeg4", "vp9", "libvpx-vp9", "mjpeg", "ffv1"}
    assert (info.stream_index, info.video_streams, info.rotation) == (0, (0,), 0)
    assert V.count_frames(path) == 40


@pytest.mark.parametrize("size", [(128, 171), (112, 112), (37, 53)])
def test_resize_on_decode(make_video, size):
    path = make_video("big.mp4", 12, height=240, width=320)
    frames = V.read_video(path, size=size)
    assert frames.shape == (12, *size, 3)
    # Compare with an antialiased resize of the encoded frames.
    ref = torch.from_numpy(indexed_frames(12, 240, 320)).permute(0, 3, 1, 2).float()
    ref = F.interpolate(ref, size=size, mode="bilinear", antialias=True, align_corners=False)
    ref = ref.round().clamp(0, 255).byte().permute(0, 2, 3, 1).numpy()
    assert psnr(frames, ref) > 25


def test_default_size_is_c3d(make_video):
    assert V.DEFAULT_SIZE == (128, 171)
    clip = next(V.iter_clips(make_video("x264.mp4", 40)))
    assert clip.frames.shape == (16, 128, 171, 3)


@pytest.mark.parametrize("n", [1, 5, 15, 16, 17, 23, 24, 25, 31, 32, 33, 40, 100])
@pytest.mark.parametrize(("clip_len", "stride"), [(16, 8), (16, 16), (8, 3), (4, 10)])
def test_clip_starts_rule(n, clip_len, stride):
    starts = V.clip_starts(n, clip_len, stride)
    if n < clip_len:
        assert starts == [0]
    else:
        expected, i = [], 0
        while i * stride + clip_len <= n:
            expected.append(i * stride)
            i += 1
        assert starts == expected


def test_clip_starts_edge_cases():
    assert V.clip_starts(0) == []
    with pytest.raises(ValueError, match="stride"):
        V.clip_starts(10, 16, 0)
    with pytest.raises(ValueError, match="clip_len"):
        V.clip_starts(10, 0, 8)


@pytest.mark.parametrize("n", [1, 7, 16, 17, 24, 40, 61])
@pytest.mark.parametrize(("clip_len", "stride"), [(16, 8), (16, 16), (4, 10)])
def test_iter_clips_starts_and_content(make_video, n, clip_len, stride):
    path = make_video(f"len{n}.mp4", n)
    clips = list(V.iter_clips(path, clip_len, stride, size=None))
    assert [c.start for c in clips] == V.clip_starts(n, clip_len, stride)
    for clip in clips:
        assert clip.frames.shape == (clip_len, 64, 96, 3)
        ids = [frame_index(f) for f in clip.frames]
        real = min(clip_len, n - clip.start)
        assert ids == list(range(clip.start, clip.start + real)) + [n - 1] * (clip_len - real)
        assert clip.padded == clip_len - real
        assert clip.time == pytest.approx(clip.start / 25, abs=1e-6)


def test_short_video_gives_one_padded_clip(make_video):
    clips = list(V.iter_clips(make_video("len5.mp4", 5), size=None))
    assert len(clips) == 1 and clips[0].padded == 11
    np.testing.assert_array_equal(clips[0].frames[5:], np.broadcast_to(clips[0].frames[4], (11, 64, 96, 3)))
    clip = V.read_clip(make_video("len5.mp4", 5), 0, size=None)
    assert clip.padded == 11 and [frame_index(f) for f in clip.frames] == [0, 1, 2, 3, 4] + [4] * 11


@pytest.mark.parametrize(("name", "codec", "_"), CODECS)
def test_read_clip_random_access(make_video, name, codec, _):
    path = make_video(name, 150, codec=codec, options={"g": "30"})
    for start in [0, 3, 47, 90, 120, 134, 149]:
        clip = V.read_clip(path, start, 16, size=None)
        real = min(16, 150 - start)
        assert [frame_index(f) for f in clip.frames[:real]] == list(range(start, start + real)), start
        assert clip.start == start and clip.padded == 16 - real
        assert clip.time == pytest.approx(start / 25, abs=1e-6)


def test_read_clips_any_order_matches_iter_clips(make_video):
    path = make_video("long.mp4", 300, options={"g": "25"})
    streamed = {c.start: c.frames for c in V.iter_clips(path, 16, 8)}
    starts = [200, 0, 8, 280, 96, 8, 120]
    clips = V.read_clips(path, starts)
    assert [c.start for c in clips] == starts
    for c in clips:
        np.testing.assert_array_equal(c.frames, streamed[c.start])


def test_read_clips_rejects_bad_starts(make_video):
    path = make_video("x264.mp4", 40)
    with pytest.raises(ValueError, match="past the end"):
        V.read_clip(path, 40)
    with pytest.raises(ValueError, match=">= 0"):
        V.read_clip(path, -1)


def test_uniform_and_random_starts():
    assert V.uniform_starts(100, 5, 16) == [0, 21, 42, 63, 84]
    assert V.uniform_starts(10, 3, 16) == [0, 0, 0]
    assert V.uniform_starts(100, 1, 16) == [0]
    rng = np.random.default_rng(0)
    draws = {V.random_start(20, 16, rng) for _ in range(200)}
    assert draws == {0, 1, 2, 3, 4}
    assert V.random_start(5, 16, rng) == 0


def test_iter_frames_range(make_video):
    path = make_video("x264.mp4", 40)
    got = [(i, frame_index(f)) for i, _, f in V.iter_frames(path, None, start=10, stop=14)]
    assert got == [(10, 10), (11, 11), (12, 12), (13, 13)]


def _decoding_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "vidlens-decode"]


def test_streaming_in_a_background_thread_gives_the_same_frames(make_video):
    """threads=0 (the default) decodes in a background thread: the frames and clips are those of
    threads=1, which does everything in the caller's thread, and no thread outlives the reader."""
    path = make_video("x264.mp4", 40)
    for size in (None, (32, 48)):
        serial = list(V.iter_frames(path, size, threads=1))
        background = list(V.iter_frames(path, size, threads=0))
        assert [(i, t) for i, t, _ in background] == [(i, t) for i, t, _ in serial]
        for (_, _, a), (_, _, b) in zip(background, serial, strict=True):
            np.testing.assert_array_equal(a, b)
    for a, b in zip(V.iter_clips(path, 16, 8, threads=0), V.iter_clips(path, 16, 8, threads=1), strict=True):
        assert (a.start, a.time, a.padded) == (b.start, b.time, b.padded)
        np.testing.assert_array_equal(a.frames, b.frames)
    assert [frame_index(f) for _, _, f in V.iter_frames(path, None, start=30, stop=33)] == [30, 31, 32]
    assert not _decoding_threads()


def test_background_thread_stops_with_the_reader(make_video, monkeypatch):
    """A reader the caller abandons stops its decoding thread (before the file closes), and an error
    raised while decoding reaches the caller."""
    path = make_video("x264.mp4", 40)
    frames = V.iter_frames(path, None)
    next(frames)
    assert _decoding_threads(), "threads=0 should decode in a background thread"
    frames.close()
    assert not _decoding_threads()

    numbered = V._Decoder.numbered

    def failing(self):
        for n, item in enumerate(numbered(self)):
            if n == 11:
                raise VideoError(self.path, "decoding failed on purpose")
            yield item

    monkeypatch.setattr(V._Decoder, "numbered", failing)
    with pytest.raises(VideoError, match="on purpose"):
        list(V.iter_clips(path, 4, 4))
    assert not _decoding_threads()


def test_decoding_threads_follow_the_picture_size(make_video):
    """threads=0: one FFmpeg decoding thread up to 640x480 (frame threading costs more CPU than it saves
    on small pictures), FFmpeg's own choice above; an explicit count is kept."""
    small = make_video("x264.mp4", 40)
    large = make_video("x264.mp4", 2, height=496, width=656)
    for path, threads, chosen in [(small, 0, 1), (large, 0, 0), (small, 3, 3), (large, 1, 1)]:
        with V._Decoder(path, None, V.DEFAULT_INTERPOLATION, threads, None) as dec:
            assert (dec.threads, dec.background) == (chosen, threads == 0)
            assert dec.stream.codec_context.thread_count == chosen


def test_grayscale_video(video_dir):
    gray = indexed_frames(20)[..., 0]
    path = V.write_video(video_dir / "gray.mkv", gray, codec="ffv1", pix_fmt="gray")
    assert V.probe(path).pix_fmt == "gray"
    frames = V.read_video(path, size=None)
    assert frames.shape == (20, 64, 96, 3)
    np.testing.assert_array_equal(frames[..., 0], frames[..., 1])
    assert psnr(frames[..., 0], gray) > 40


@pytest.mark.parametrize(("height", "width"), [(67, 99), (99, 131)])
def test_odd_sizes(video_dir, height, width):
    original = indexed_frames(10, height, width)
    path = V.write_video(video_dir / f"odd{height}x{width}.mkv", original, codec="ffv1")
    frames = V.read_video(path, size=None)
    assert frames.shape == (10, height, width, 3)
    assert psnr(frames, original) > 35
    assert V.read_video(path).shape == (10, 128, 171, 3)


def test_variable_frame_rate(video_dir):
    """Irregular timestamps: clips are cut by frame index and located exactly through timestamps."""
    n = 120
    frames = indexed_frames(n)
    rng = np.random.default_rng(1)
    steps = rng.choice([20, 40, 100], size=n)
    times_ms = np.cumsum(steps) - steps[0]  # irregular, first frame at 0 ms
    path = video_dir / "vfr.mkv"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 96, 64, "yuv420p"
        stream.codec_context.time_base = Fraction(1, 1000)
        stream.options = {"crf": "12", "g": "20"}
        for t in range(n):
            frame = av.VideoFrame.from_ndarray(frames[t], format="rgb24")
            frame.pts, frame.time_base = int(times_ms[t]), Fraction(1, 1000)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    assert V.count_frames(path) == n
    clips = list(V.iter_clips(path, 16, 8, size=None))
    assert [c.start for c in clips] == V.clip_starts(n)
    for c in clips:
        assert [frame_index(f) for f in c.frames] == list(range(c.start, c.start + 16))
        assert c.time == pytest.approx(times_ms[c.start] / 1000, abs=1e-3)
    for start in [5, 64, 100]:
        clip = V.read_clip(path, start, size=None)
        assert [frame_index(f) for f in clip.frames] == list(range(start, start + 16))
        assert clip.time == pytest.approx(times_ms[start] / 1000, abs=1e-3)


# ------------------------------------------------------------------------------------------------------
# Rotation: frames come out as displayed, whichever reader decodes them
# ------------------------------------------------------------------------------------------------------

needs_display_matrix = pytest.mark.skipif(
    not hasattr(av.video.stream.VideoStream, "set_display_rotation"),
    reason="writing a display matrix needs PyAV >= 18",
)


def _resized(frames: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """An antialiased bilinear resize of uint8 ``(T, H, W, 3)`` frames, the reference for swscale's."""
    x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float()
    x = F.interpolate(x, size=size, mode="bilinear", antialias=True, align_corners=False)
    return x.round().clamp(0, 255).byte().permute(0, 2, 3, 1).numpy()


@needs_display_matrix
@pytest.mark.parametrize("rotation", [90, -90, 180])
def test_rotated_video_is_read_as_displayed(video_dir, tmp_path, rotation):
    """A phone video: stored 64x96, with a display matrix turning it by ``rotation`` degrees
    counter-clockwise (FFmpeg's sign, -90 = clockwise). Every reader returns it turned, and a frame size
    means the displayed geometry."""
    original = indexed_frames(24)  # (24, 64, 96, 3)
    path = V.write_video(video_dir / f"rot{rotation}.mp4", original, options={"crf": "12"}, rotation=rotation)
    displayed = np.rot90(original, k=rotation // 90, axes=(1, 2))  # what a player shows
    info = V.probe(path)
    assert (info.height, info.width, info.rotation) == (
        *displayed.shape[1:3],
        rotation if rotation != 180 else -180,
    )
    frames = V.read_video(path, size=None)
    assert frames.shape == displayed.shape and psnr(frames, displayed) > 30
    # the index band is readable once the frame is turned back: frames are in order and upright
    assert [frame_index(np.rot90(f, k=-(rotation // 90))) for f in frames] == list(range(24))
    for _, _, frame in V.iter_frames(path, size=None, stop=2):
        assert frame.flags.c_contiguous  # a turned frame is a view; iter_frames hands out a plain array
    streamed = list(V.iter_clips(path, 16, 8, size=None))
    np.testing.assert_array_equal(streamed[1].frames, frames[8:24])
    np.testing.assert_array_equal(V.read_clip(path, 8, 16, size=None).frames, frames[8:24])
    np.testing.assert_array_equal(FrameCache(tmp_path).clip(path, 8, 16, None), frames[8:24])
    # A size is the displayed (H, W): resized frames are the turned picture, resized.
    small = V.read_video(path, size=(40, 30))
    assert small.shape == (24, 40, 30, 3)
    assert psnr(small, _resized(displayed, (40, 30))) > 25
    assert V.read_clip(path, 0, 16, size=(40, 30)).frames.shape == (16, 40, 30, 3)


@needs_display_matrix
@pytest.mark.parametrize(("hflip", "vflip"), [(True, False), (False, True)])
def test_mirrored_video_is_read_as_displayed(video_dir, hflip, vflip):
    original = indexed_frames(5)
    path = video_dir / f"mirror{int(hflip)}{int(vflip)}.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt, stream.options = 96, 64, "yuv420p", {"crf": "12"}
        stream.set_display_rotation(0, hflip=hflip, vflip=vflip)
        for frame in original:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode(None))
    want = original[:, :, ::-1] if hflip else original[:, ::-1]
    assert psnr(V.read_video(path, size=None), want) > 30


# ------------------------------------------------------------------------------------------------------
# Stream choice: FFmpeg's default, or the one asked for
# ------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def two_streams(tmp_path_factory):
    """An MKV with a small video (stream 0, not default), a larger one (stream 1, default, so FFmpeg's
    av_find_best_stream picks it) and an audio stream (2)."""
    path = tmp_path_factory.mktemp("streams") / "two.mkv"
    small, large = indexed_frames(30), indexed_frames(30, 128, 192, seed=1)
    with av.open(str(path), "w") as container:
        a = container.add_stream("libx264", rate=25)
        b = container.add_stream("libx264", rate=25)
        for s, (h, w) in ((a, (64, 96)), (b, (128, 192))):
            s.height, s.width, s.pix_fmt, s.options = h, w, "yuv420p", {"crf": "12"}
        a.disposition, b.disposition = Disposition(0), Disposition.default
        audio = container.add_stream("pcm_s16le", rate=8000)
        for t in range(30):
            container.mux(a.encode(av.VideoFrame.from_ndarray(small[t], format="rgb24")))
            container.mux(b.encode(av.VideoFrame.from_ndarray(large[t], format="rgb24")))
        samples = (np.sin(np.arange(8000) / 5) * 3000).astype(np.int16)[None]
        tone = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
        tone.sample_rate = 8000
        container.mux(audio.encode(tone))
        for s in (a, b, audio):
            container.mux(s.encode(None))
    return path


def test_default_stream_is_ffmpegs_choice(two_streams):
    info = V.probe(two_streams)
    assert (info.stream_index, info.video_streams, info.width, info.height) == (1, (0, 1), 192, 128)
    assert V.read_video(two_streams, size=None).shape == (30, 128, 192, 3)
    clip = next(V.iter_clips(two_streams, size=None))
    assert clip.frames.shape == (16, 128, 192, 3)
    assert V.read_clip(two_streams, 10, size=None).frames.shape == (16, 128, 192, 3)


def test_stream_parameter_reads_another_stream(two_streams):
    info = V.probe(two_streams, stream=0)
    assert (info.stream_index, info.width, info.height, info.n_frames) == (0, 96, 64, 30)
    frames = V.read_video(two_streams, size=None, stream=0)
    assert [frame_index(f) for f in frames] == list(range(30))
    clips = list(V.iter_clips(two_streams, 16, 8, size=None, stream=0))
    np.testing.assert_array_equal(clips[1].frames, frames[8:24])
    np.testing.assert_array_equal(V.read_clip(two_streams, 8, size=None, stream=0).frames, frames[8:24])
    assert V.count_frames(two_streams, stream=0) == 30


def test_stream_parameter_errors_list_the_video_streams(two_streams):
    with pytest.raises(
        VideoError, match=r"two.mkv.*stream 2 is audio, not video.*0 \(96x64 h264\), 1 \(192x128"
    ):
        V.probe(two_streams, stream=2)
    with pytest.raises(VideoError, match=r"no stream 7 \(its streams are 0..2\)"):
        list(V.iter_clips(two_streams, stream=7))
    with pytest.raises(TypeError, match="stream index"):
        V.probe(two_streams, stream="1")


# ------------------------------------------------------------------------------------------------------
# Damaged files: streaming and random access return the same frames, or fail the same way
# ------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def damaged(tmp_path_factory):
    """80 intra-coded frames whose packets 20 and 50..60 the decoder rejects (their NAL length is broken),
    as in a file damaged on disk."""
    folder = tmp_path_factory.mktemp("damaged")
    path = V.write_video(folder / "intra.mp4", indexed_frames(80), options={"crf": "12", "g": "1"})
    with av.open(str(path)) as container:
        packets = [(p.pos, p.size) for p in container.demux(video=0) if p.size]
    data = bytearray(path.read_bytes())
    for k in [20, *range(50, 61)]:
        pos = packets[k][0]
        data[pos : pos + 4] = b"\x7f\xff\xff\xff"  # a NAL unit longer than the packet
    broken = folder / "broken.mp4"
    broken.write_bytes(bytes(data))
    return broken


def test_damaged_file_same_clips_streamed_and_random(damaged, tmp_path):
    with pytest.warns(RuntimeWarning, match=r"broken.mp4: skipped 12 corrupt packet.*left out 1 clip"):
        streamed = list(V.iter_clips(damaged, 16, 8, size=None))
    # clip 48 (frames 48..63) lost 11 of its 16 frames: left out; the others are served
    assert [c.start for c in streamed] == [0, 8, 16, 24, 32, 40, 56, 64]
    by_start = {c.start: c for c in streamed}
    assert by_start[16].missing == (4,) and by_start[40].missing == tuple(range(10, 16))
    # a lost frame repeats the next decodable frame of the video, even past the clip's end
    assert [frame_index(f) for f in by_start[16].frames[3:6]] == [19, 21, 21]
    assert [frame_index(f) for f in by_start[40].frames[9:]] == [49] + [61] * 6
    assert [frame_index(f) for f in by_start[56].frames[:7]] == [61] * 6 + [62]
    cache = FrameCache(tmp_path)
    for threads in (0, 1, 2):  # FFmpeg's frame threading changes concealment: damaged parts use one thread
        for clip in streamed:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                again = V.read_clip(damaged, clip.start, 16, size=None, threads=threads)
            np.testing.assert_array_equal(again.frames, clip.frames)
            assert again.missing == clip.missing
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for clip in streamed:
            np.testing.assert_array_equal(cache.clip(damaged, clip.start, 16, None), clip.frames)
        for read in (
            lambda: V.read_clip(damaged, 48, 16, size=None),
            lambda: cache.clip(damaged, 48, 16, None),
        ):
            with pytest.raises(VideoError, match=r"broken.mp4.*11 of the 16 frames of the clip at frame 48"):
                read()


def test_damaged_frames_do_not_depend_on_decoding_threads(video_dir):
    """With B-frames, how FFmpeg conceals a lost reference depends on its frame threading; vidlens decodes
    what follows a corrupt packet with one thread, so every reader sees the same frames."""
    path = V.write_video(
        video_dir / "bframes.mp4", indexed_frames(80), options={"crf": "12", "g": "40", "bf": "2"}
    )
    with av.open(str(path)) as container:
        packets = [(p.pos, p.size) for p in container.demux(video=0) if p.size]
    data = bytearray(path.read_bytes())
    for k in (10, 11):
        data[packets[k][0] : packets[k][0] + 4] = b"\x7f\xff\xff\xff"
    broken = video_dir / "bframes_broken.mp4"
    broken.write_bytes(bytes(data))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = list(V.iter_clips(broken, 16, 8, size=None, threads=1))
        for threads in (4, 0):
            for clip, again in zip(
                reference, V.iter_clips(broken, 16, 8, size=None, threads=threads), strict=True
            ):
                np.testing.assert_array_equal(again.frames, clip.frames)
            for clip in reference[:3]:
                np.testing.assert_array_equal(
                    V.read_clip(broken, clip.start, size=None, threads=threads).frames, clip.frames
                )


def test_size_change_mid_stream(video_dir):
    """A raw H.264 stream whose frames grow from 64x96 to 128x192 half-way: size=None decodes every frame
    at the first frame's size (what probe reports), in every reader."""
    first = V.write_video(video_dir / "part1.h264", indexed_frames(20), options={"crf": "12"})
    second = V.write_video(video_dir / "part2.h264", indexed_frames(20, 128, 192), options={"crf": "12"})
    joined = video_dir / "joined.h264"
    joined.write_bytes(first.read_bytes() + second.read_bytes())
    frames = V.read_video(joined, size=None)
    assert frames.shape == (40, 64, 96, 3)
    assert (V.probe(joined).height, V.probe(joined).width) == (64, 96)
    clips = list(V.iter_clips(joined, 16, 8, size=None))
    assert [c.start for c in clips] == [0, 8, 16, 24]
    for clip in clips:
        np.testing.assert_array_equal(clip.frames, frames[clip.start : clip.start + 16])
        np.testing.assert_array_equal(V.read_clip(joined, clip.start, size=None).frames, clip.frames)
    assert psnr(frames[25:], _resized(indexed_frames(20, 128, 192)[5:], (64, 96))) > 25


def test_avi_with_b_frames_is_read_in_decoding_order(video_dir):
    """AVI stores no presentation timestamps: with a codec that reorders frames (B-frames), FFmpeg's
    guessed timestamps cannot locate frames (real UCF101 clips come out with pts swapped in pairs), so
    frames are counted as decoded and random access decodes from the start."""
    path = V.write_video(
        video_dir / "bframes.avi", indexed_frames(60), codec="mpeg4", options={"b": "4M", "bf": "2"}
    )
    streamed = {c.start: c for c in V.iter_clips(path, 16, 8, size=None)}
    for start in (40, 0, 24):
        clip = V.read_clip(path, start, size=None)
        assert [frame_index(f) for f in clip.frames] == list(range(start, start + 16))
        np.testing.assert_array_equal(clip.frames, streamed[start].frames)


# ------------------------------------------------------------------------------------------------------
# Bad input: a clear VideoError naming the file and the cause
# ------------------------------------------------------------------------------------------------------

READERS = {
    "probe": V.probe,
    "iter_clips": lambda p: list(V.iter_clips(p)),
    "read_clip": lambda p: V.read_clip(p, 0),
    "read_video": V.read_video,
}


@pytest.mark.parametrize("reader", READERS)
def test_missing_file(tmp_path, reader):
    path = tmp_path / "nope.mp4"
    with pytest.raises(VideoNotFoundError, match=r"nope.mp4.*no such file"):
        READERS[reader](path)
    with pytest.raises(FileNotFoundError):
        READERS[reader](path)


@pytest.mark.parametrize("reader", READERS)
def test_not_a_video(tmp_path, reader):
    path = tmp_path / "notes.mp4"
    path.write_text("these are my notes, not a video\n" * 20)
    with pytest.raises(VideoError, match=r"notes.mp4.*not a video file"):
        READERS[reader](path)


@pytest.mark.parametrize("reader", READERS)
def test_empty_file_and_directory(tmp_path, reader):
    empty = tmp_path / "empty.mp4"
    empty.touch()
    with pytest.raises(VideoError, match="empty"):
        READERS[reader](empty)
    with pytest.raises(VideoError, match="directory"):
        READERS[reader](tmp_path)


@pytest.mark.parametrize("reader", READERS)
def test_audio_only(tmp_path, reader):
    path = tmp_path / "tone.wav"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("pcm_s16le", rate=8000)
        samples = (np.sin(np.arange(8000) / 5) * 3000).astype(np.int16)[None]
        frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
        frame.sample_rate = 8000
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    with pytest.raises(VideoError, match=r"tone.wav.*no video stream \(audio only\)"):
        READERS[reader](path)


@pytest.mark.parametrize("reader", READERS)
def test_truncated_mp4(make_video, tmp_path, reader):
    data = make_video("x264.mp4", 40).read_bytes()
    path = tmp_path / "cut.mp4"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(VideoError, match=r"cut.mp4.*(corrupt or truncated|truncated)"):
        READERS[reader](path)


def test_truncated_avi_warns_and_reports_missing_frames(make_video, tmp_path):
    data = make_video("mpeg4.avi", 120, codec="mpeg4").read_bytes()
    path = tmp_path / "cut.avi"
    path.write_bytes(data[: len(data) // 2])
    with pytest.warns(RuntimeWarning, match="probably truncated"):
        clips = list(V.iter_clips(path, size=None))
    assert 0 < len(clips) < len(V.clip_starts(120))
    with pytest.raises(ValueError, match="past the end"):
        V.read_clip(path, 100)


def test_zero_decodable_frames(tmp_path):
    path = tmp_path / "garbage.mkv"
    frames = indexed_frames(10)
    V.write_video(path, frames, codec="ffv1")
    # Keep the container's headers, destroy every frame's payload.
    data = bytearray(path.read_bytes())
    start = data.find(b"\x1f\x43\xb6\x75")  # the first Matroska cluster
    rng = np.random.default_rng(0)
    data[start + 64 :] = rng.integers(0, 256, len(data) - start - 64, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(VideoError, match=r"garbage.mkv.*(no decodable frames|corrupt)"):
            list(V.iter_clips(path))


def test_corrupt_middle_never_crashes_the_process(make_video, tmp_path):
    """Random bytes inside the stream: a VideoError or concealed frames, but the interpreter survives."""
    data = bytearray(make_video("long.mp4", 300, options={"g": "25"}).read_bytes())
    rng = np.random.default_rng(0)
    for offset in (len(data) // 3, len(data) // 2):
        data[offset : offset + 3000] = rng.integers(0, 256, 3000, dtype=np.uint8).tobytes()
    path = tmp_path / "corrupt.mp4"
    path.write_bytes(bytes(data))
    code = (
        "import warnings, sys\n"
        "from vidlens import video as V\n"
        "warnings.simplefilter('ignore')\n"
        f"p = {str(path)!r}\n"
        "try:\n"
        "    n = len(list(V.iter_clips(p)))\n"
        "    c = V.read_clip(p, 250)\n"
        "    print('ok', n)\n"
        "except V.VideoError as e:\n"
        "    print('error', e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(("ok", "error cannot read video")), out.stdout


def test_write_video_validates_frames(tmp_path):
    with pytest.raises(ValueError, match="no frames"):
        V.write_video(tmp_path / "x.mp4", [])
    with pytest.raises(ValueError, match="uint8"):
        V.write_video(tmp_path / "x.mp4", np.zeros((2, 8, 8, 3), dtype=np.float32))
