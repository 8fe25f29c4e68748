"""The command line, run in-process through vidlens.cli.main."""

from __future__ import annotations

import json

import av
import pytest

from vidlens.cli import main
from vidlens.data.datasets import load_videos


def test_info_table_json_and_errors(make_video, tmp_path, capsys):
    video = make_video("x264.mp4", 40)
    assert main(["info", str(video)]) == 0
    out = capsys.readouterr().out
    assert "frames" in out and "40" in out and "96x64" in out and "h264" in out
    assert main(["info", "--json", str(video)]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["n_frames"] == 40 and row["codec"] == "h264"
    bogus = tmp_path / "bogus.mp4"
    bogus.write_text("not a video")
    assert main(["info", str(video), str(bogus)]) == 1  # one bad file: reported, the others still listed
    captured = capsys.readouterr()
    assert "bogus.mp4" in captured.err and "not a video file" in captured.err and "h264" in captured.out


@pytest.mark.skipif(
    not hasattr(av.video.stream.VideoStream, "set_display_rotation"), reason="needs PyAV >= 18 to write"
)
def test_info_shows_displayed_size_rotation_and_stream(tmp_path, capsys):
    from vidlens.video import write_video

    from conftest import indexed_frames

    video = write_video(tmp_path / "phone.mp4", indexed_frames(8), rotation=-90)  # stored 96x64 (W x H)
    assert main(["info", str(video)]) == 0
    out = capsys.readouterr().out
    assert "rotation" in out and "stream" in out
    assert "64x96" in out and "-90" in out  # as displayed: turned a quarter, 64 wide and 96 tall
    assert main(["info", "--json", str(video)]) == 0
    row = json.loads(capsys.readouterr().out)
    assert (row["width"], row["height"], row["rotation"], row["stream_index"]) == (64, 96, -90, 0)
    assert row["video_streams"] == [0]
    assert main(["info", "--stream", "0", str(video)]) == 0
    capsys.readouterr()
    assert main(["info", "--stream", "3", str(video)]) == 1
    assert "no stream 3" in capsys.readouterr().err


def synth_argv(root, videos_per_class: int, frames: int) -> list[str]:
    """`vidlens synth ROOT` for 2 classes of 32x48 frames."""
    sizes = ["--videos-per-class", str(videos_per_class), "--frames", str(frames), "--size", "32x48"]
    return ["synth", str(root), "--classes", "2", *sizes]


def test_synth_writes_ucf101_layout(tmp_path, capsys):
    root = tmp_path / "motion"
    args = synth_argv(root, videos_per_class=3, frames=8)
    assert main([*args, "--quiet"]) == 0
    assert "6 videos" in capsys.readouterr().out
    train = load_videos(root, subset="train")
    assert train.layout == "ucf101" and len(train.classes) == 2
    assert main([*args, "--quiet"]) == 0
    assert capsys.readouterr().out.startswith("found")


def test_synth_masks(tmp_path, capsys):
    from vidlens.data.synthetic import load_motion_masks

    root = tmp_path / "motion"
    args = synth_argv(root, videos_per_class=2, frames=3)
    assert main([*args, "--quiet"]) == 0
    assert "masks:" not in capsys.readouterr().out and not (root / "masks").exists()
    assert main([*args, "--masks", "--quiet"]) == 0  # asked for masks: made again, with them
    out = capsys.readouterr().out
    assert out.startswith("wrote") and "masks:" in out
    assert load_motion_masks(root, "MoveLeft/v_MoveLeft_g01_c01.mp4").shape == (3, 32, 48)


def test_bad_arguments_give_clear_errors(tmp_path, capsys):
    assert main(["synth", str(tmp_path / "x"), "--classes", "99", "--quiet"]) == 2
    assert "num_classes" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["synth", str(tmp_path / "x"), "--size", "big"])
    assert "HEIGHTxWIDTH" in capsys.readouterr().err


def test_models_lists_c3d(capsys):
    assert main(["models", "c3d"]) == 0
    out = capsys.readouterr().out
    assert "c3d" in out and "3x16x112x112" in out and "38.5G" in out and "fc6" in out
    assert main(["models", "no_such_model*"]) == 1
