"""``vidlens featuremaps | filters | deconv | saliency | cam | occlusion``, end to end through vidlens.cli.main.

One synthetic motion video (20 frames, 112x112) and one tiny model (c3d_depth3, width 4, random weights
saved with class names, so that titles and file names carry them); every command writes its .npy, GIF, MP4
and PNG, and mistakes end in a message with exit status 2, never a traceback.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from vidlens.cli import main
from vidlens.data.synthetic import MotionConfig, render_motion_video
from vidlens.models import create_model, save_weights
from vidlens.video import write_video

CLASSES = MotionConfig(num_classes=4).class_names  # MoveDown, MoveLeft, MoveRight, MoveUp
MAGIC = {".gif": b"GIF89a", ".png": b"\x89PNG\r\n\x1a\n"}


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    frames = render_motion_video(1, 0, MotionConfig(frames=20, height=112, width=112))  # (20, 112, 112, 3)
    return write_video(tmp_path_factory.mktemp("interpret_cli") / "clip.mp4", frames, 25)


@pytest.fixture(scope="module")
def model_args(tmp_path_factory) -> list[str]:
    """Options naming c3d_depth3 width 4 with weights that carry class names (random values, seed 0)."""
    torch.manual_seed(0)
    model = create_model("c3d_depth3", width=4, num_classes=len(CLASSES))
    model.class_names = list(CLASSES)
    weights = save_weights(model, tmp_path_factory.mktemp("weights") / "d3.pt")
    return ["--model", "c3d_depth3", "--model-arg", "width=4", "--weights", str(weights)]


def run(capsys, *argv: str) -> tuple[int, list[Path], str]:
    """Exit status, the files the command says it wrote, and its stderr."""
    status = main([str(a) for a in argv])
    captured = capsys.readouterr()
    written = [
        Path(line.removeprefix("wrote ")) for line in captured.out.splitlines() if line.startswith("wrote ")
    ]
    return status, written, captured.err


def check_files(written: list[Path], stem: str) -> np.ndarray:
    """Every file exists and is what its suffix says; returns ``<stem>.npy``."""
    by_name = {p.name: p for p in written}
    for suffix in (".npy", ".gif", ".mp4", ".png"):
        assert f"{stem}{suffix}" in by_name, (stem, sorted(by_name))
    for path in written:
        head = path.read_bytes()[:12]
        if path.suffix in MAGIC:
            assert head.startswith(MAGIC[path.suffix]), path
        elif path.suffix == ".mp4":
            assert head[4:8] == b"ftyp", path
    return np.load(by_name[f"{stem}.npy"])


@pytest.mark.parametrize(
    ("method", "stem"),
    [("gradcam", "gradcam_conv5_MoveLeft_f0"), ("gradcam++", "gradcampp_conv4_MoveLeft_f0"),
     ("time", "gradcam-time_conv4_MoveLeft_f0")],
)  # fmt: skip
def test_cam(video, model_args, tmp_path, capsys, method, stem):
    layer = stem.split("_")[1]
    status, written, err = run(
        capsys, "cam", video, *model_args, "--layer", layer, "--method", method, "--target", "MoveLeft",
        "--out", tmp_path,
    )  # fmt: skip
    assert status == 0, err
    cam = check_files(written, stem)
    assert cam.shape == (16, 112, 112) and cam.min() >= 0 and cam.max() <= 1


def test_featuremaps_channel_and_grid(video, model_args, tmp_path, capsys):
    status, written, err = run(
        capsys, "featuremaps", video, *model_args, "--layer", "conv2", "--out", tmp_path
    )
    assert status == 0, err
    stem = next(p.stem for p in written if p.suffix == ".npy")  # the most active channel names it
    maps = check_files(written, stem)
    assert maps.shape == (8, 16, 56, 56) and maps.min() >= 0  # conv2 of width 4: 8 channels, after its ReLU
    assert {p.name for p in written} >= {f"featuremaps_conv2_grid_f0{s}" for s in (".gif", ".mp4", ".png")}

    status, written, _ = run(
        capsys, "featuremaps", video, *model_args, "--layer", "conv2", "--channel", "3", "--out", tmp_path
    )
    assert status == 0 and not any("grid" in p.name for p in written)
    check_files(written, "featuremaps_conv2_c3_f0")


def test_filters_first_and_deeper_layer(model_args, tmp_path, capsys):
    status, written, err = run(capsys, "filters", *model_args, "--out", tmp_path)
    assert status == 0, err
    assert check_files(written, "filters_conv1").shape == (4, 3, 3, 3, 3)
    status, written, err = run(capsys, "filters", *model_args, "--layer", "conv3", "--out", tmp_path)
    assert status == 0, err
    assert check_files(written, "filters_conv3").shape == (16, 8, 3, 3, 3)
    assert (tmp_path / "filters_conv3_norms.png").read_bytes().startswith(MAGIC[".png"])


def test_deconv_from_a_later_frame(video, model_args, tmp_path, capsys):
    status, written, err = run(
        capsys, "deconv", video, *model_args, "--layer", "conv5", "--channel", "2", "--frame", "4",
        "--out", tmp_path,
    )  # fmt: skip
    assert status == 0, err
    assert check_files(written, "deconv_conv5_c2_f4").shape == (3, 16, 112, 112)
    assert {p.name for p in written} >= {"deconv_conv5_c2_f4_rgb.gif", "deconv_conv5_c2_f4_rgb.png"}


def test_saliency_by_time_into_the_default_folder(video, model_args, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    status, written, err = run(capsys, "saliency", video, *model_args, "--start", "0.1", "--target", "2")
    assert status == 0, err
    grads = check_files(written, "saliency_MoveRight_f2")  # 0.1 s at 25 fps: the clip of frames 2-17
    assert grads.shape == (3, 16, 112, 112) and grads.min() >= 0
    assert all(p.parent == Path("interpret") / "clip" for p in written)


def test_occlusion_shows_progress(video, model_args, tmp_path, capsys):
    status, written, err = run(
        capsys, "occlusion", video, *model_args, "--window", "16", "56", "56", "--stride", "16", "56", "56",
        "--batch-size", "1", "--target", "0", "--out", tmp_path,
    )  # fmt: skip
    assert status == 0, err
    assert "occlusion" in err and "4/4" in err  # the progress bar: four windows, one per batch
    drops = check_files(written, "occlusion_MoveDown_f0")
    assert drops.shape == (16, 112, 112)
    assert len(np.unique(drops)) <= 4  # one drop per window, and the windows do not overlap


def test_mistakes_are_messages(video, model_args, tmp_path, capsys):
    status, written, err = run(capsys, "cam", video, *model_args, "--layer", "conv9", "--out", tmp_path)
    assert status == 2 and not written and "Traceback" not in err
    assert "unknown C3DDepth layer 'conv9'" in err and "choose from: conv1, pool1, conv2" in err
    status, _, err = run(capsys, "deconv", video, *model_args, "--out", tmp_path)
    assert status == 2 and "deconv needs --layer" in err and "conv5, pool5, fc6" in err
    status, _, err = run(capsys, "saliency", video, *model_args, "--target", "Jump", "--out", tmp_path)
    assert status == 2 and "MoveDown, MoveLeft, MoveRight, MoveUp" in err
    status, _, err = run(capsys, "occlusion", video, *model_args, "--target", "9", "--out", tmp_path)
    assert status == 2 and "out of range" in err
    status, _, err = run(
        capsys, "cam", video, *model_args, "--layer", "conv5", "--frame", "20", "--out", tmp_path
    )
    assert status == 2 and "--frame 20: " in err and "has 20 frames, 0..19" in err
    status, _, err = run(capsys, "filters", *model_args, "--layer", "pool2", "--out", tmp_path)
    assert status == 2 and "not a convolution" in err
    assert not list(tmp_path.iterdir())
