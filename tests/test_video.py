"""vidlens.video: decoding real files the tests encode themselves."""

from __future__ import annotations

import subprocess
import sys
import warnings
from fractions import Fraction

import av
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vidlens import video as V
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
