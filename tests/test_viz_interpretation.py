"""vidlens.viz.interpretation: contact sheets, overlays, feature-map and filter grids, and the saved trio."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from vidlens.data.synthetic import MotionConfig, render_motion_video
from vidlens.video import read_video
from vidlens.viz import (
    colorize,
    contact_sheet,
    feature_map_grid,
    filter_grid,
    filter_norms_figure,
    overlay,
    overlay_clip,
    rgb_clip,
    save_animation,
    save_figure,
    save_interpretation,
)


def _clip(t: int = 4, h: int = 8, w: int = 10, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (t, h, w, 3), dtype=np.uint8)


def _only(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


# --------------------------------------------------------------------------------------------------------
# Maps on frames
# --------------------------------------------------------------------------------------------------------


def test_overlay_clip_puts_the_overlay_next_to_the_frames():
    frames = _clip()
    heat = np.random.default_rng(1).random((2, 4, 5))  # coarser than the frames: resized
    clip = overlay_clip(frames, heat, alpha=0.4, gap=2)
    assert clip.shape == (4, 8, 22, 3) and clip.dtype == np.uint8
    np.testing.assert_array_equal(clip[:, :, :10], frames)
    assert (clip[:, :, 10:12] == 255).all()  # the gap
    np.testing.assert_array_equal(clip[:, :, 12:], overlay(frames, heat, alpha=0.4))
    alone = overlay_clip(frames, torch.from_numpy(heat), alpha=0.4, side_by_side=False)  # torch works too
    np.testing.assert_array_equal(alone, overlay(frames, heat, alpha=0.4))


def test_contact_sheet_shows_every_kth_frame_over_its_overlay():
    frames = _clip(t=16)
    heat = np.random.default_rng(1).random((16, 8, 10)).astype(np.float32)
    fig = contact_sheet(frames, heat, title="c3d conv5b Grad-CAM: MoveLeft", alpha=0.3)
    assert len(fig.axes) == 2 * 8  # 16 frames, at most 8 panels: every 2nd, two rows
    top = fig.axes[:8]
    assert [ax.get_title() for ax in top] == [f"t={t}" for t in range(0, 16, 2)]
    assert fig.get_suptitle() == "c3d conv5b Grad-CAM: MoveLeft"
    np.testing.assert_array_equal(top[1].images[0].get_array(), frames[2])
    shown = overlay(frames, heat, alpha=0.3)
    np.testing.assert_array_equal(fig.axes[8 + 3].images[0].get_array(), shown[6])
    assert fig.axes[0].get_ylabel() == "frames" and fig.axes[8].get_ylabel() == "overlay"

    strip = contact_sheet(frames, every=5)  # frames only: one row, t = 0, 5, 10, 15
    assert [ax.get_title() for ax in strip.axes] == ["t=0", "t=5", "t=10", "t=15"]
    with pytest.raises(ValueError, match="every must be a positive int"):
        contact_sheet(frames, every=0)
    with pytest.raises(ValueError, match=r"uint8 RGB clip \(T, H, W, 3\)"):
        contact_sheet(frames.astype(np.float32) / 255)


def test_rgb_clip_shows_signed_signals_with_zero_at_grey():
    x = np.zeros((3, 2, 2, 2), np.float32)  # (3, T, H, W)
    x[0, 0, 0, 0] = 2.0  # red up
    x[2, 1, 1, 1] = -1.0  # blue down, half as much
    clip = rgb_clip(torch.from_numpy(x))
    assert clip.shape == (2, 2, 2, 3) and clip.dtype == np.uint8
    assert (clip[0, 0, 0] == [255, 128, 128]).all()  # 0.5 + 2 / 4 = 1; zero is rint(127.5) = 128
    assert (clip[1, 1, 1] == [128, 128, 64]).all()  # 0.5 - 1 / 4 = 0.25 -> 63.75
    assert (clip[0, 1, 0] == 128).all()
    assert (rgb_clip(x, bgr=True)[0, 0, 0] == [128, 128, 255]).all()  # BGR input space shown as RGB
    full = rgb_clip(x, scale="minmax")  # -1 -> 0, 0 -> 85, 2 -> 255
    assert (full[0, 0, 0] == [255, 85, 85]).all() and (full[1, 1, 1] == [85, 85, 0]).all()
    assert (rgb_clip(np.zeros((3, 1, 2, 2))) == 128).all()
    with pytest.raises(ValueError, match=r"pick the clip first \(x\[0\]\)"):
        rgb_clip(x[None])
    with pytest.raises(ValueError, match="scale must be 'signed'"):
        rgb_clip(x, scale="each")


# --------------------------------------------------------------------------------------------------------
# Feature maps and filters
# --------------------------------------------------------------------------------------------------------


def test_feature_map_grid_at_the_layers_own_resolution():
    rng = np.random.default_rng(0)
    acts = rng.random((3, 2, 4, 5)).astype(np.float32)  # (C, T', H', W')
    acts[1] *= 100.0  # a strong channel looks like a weak one: each is scaled on its own
    acts[2] = 7.0  # a constant channel is drawn at 0
    grid = feature_map_grid(torch.from_numpy(acts), cmap="gray", gap=2)
    # Blocks of ceil(64 / 4) = 16 px; 3 cells in an about-square grid of 2 columns.
    assert grid.shape == (2, 2 * 64 + 2, 2 * 80 + 2, 3) and grid.dtype == np.uint8
    unit = (acts[0] - acts[0].min()) / (acts[0].max() - acts[0].min())
    expected = colorize(unit, "gray").repeat(16, axis=1).repeat(16, axis=2)  # (2, 64, 80, 3)
    np.testing.assert_array_equal(grid[:, :64, :80], expected)
    np.testing.assert_array_equal(
        grid[:, :64, 82:], feature_map_grid(acts[1:2] / 100, cmap="gray")[:, :, :80]
    )
    assert (grid[:, 66:, :80] == 0).all()  # the constant channel
    assert (grid[:, 66:, 82:] == 255).all()  # no fourth channel: the empty cell is the fill

    picked = feature_map_grid(acts, channels=[2, 0], cols=1, gap=0, cmap="gray")
    assert picked.shape == (2, 128, 80, 3)
    np.testing.assert_array_equal(picked[:, 64:], expected)


def test_feature_map_grid_upsampled_to_the_clip_next_to_it():
    frames = _clip(t=4, h=8, w=10)
    acts = np.random.default_rng(0).random((5, 2, 4, 5))
    grid = feature_map_grid(acts, channels=3, frames=frames, gap=1)  # frames + 3 channels, 2 x 2
    assert grid.shape == (4, 17, 21, 3)
    np.testing.assert_array_equal(grid[:, :8, :10], frames)
    assert feature_map_grid(acts, channels=1, size=(4, 8, 10)).shape == (4, 8, 10, 3)
    with pytest.raises(ValueError, match=r"pick the clip first \(activations\[0\]\)"):
        feature_map_grid(acts[None])
    with pytest.raises(ValueError, match=r"channels must be indices in \[0, 5\)"):
        feature_map_grid(acts, channels=[0, 5])
    with pytest.raises(ValueError, match="must be the frames'"):
        feature_map_grid(acts, frames=frames, size=(4, 16, 20))


def test_filter_grid_enlarges_kernels_into_blocks_over_time():
    rng = np.random.default_rng(0)
    weight = rng.normal(size=(4, 3, 2, 3, 3)).astype(np.float32)  # (C_out, 3, t, h, w)
    grid = filter_grid(torch.from_numpy(weight), gap=1)
    # 3 x 3 kernels enlarged x8 (at least 24 px), 2 x 2 of them: 2 * 24 + 1 pixels a side, t = 2 frames.
    assert grid.shape == (2, 49, 49, 3)
    first = grid[:, :24, :24]  # kernel 0, scaled to its own range: its extremes are 0 and 255
    assert first.min() == 0 and first.max() == 255
    np.testing.assert_array_equal(first[:, ::8, ::8], first[:, 7::8, 7::8])  # each weight one 8 x 8 block
    unit = (weight[0] - weight[0].min()) / (weight[0].max() - weight[0].min())  # (3, t, h, w)
    np.testing.assert_array_equal(first[:, ::8, ::8], np.rint(unit.transpose(1, 2, 3, 0) * 255))

    # One scale for all: zero is mid-grey; BGR weights have their input channels reversed.
    red = np.zeros((1, 3, 1, 3, 3), np.float32)
    red[0, 0] = 1.0  # a kernel that responds to the first input channel only
    assert (filter_grid(red, scale="all")[0, 0, 0] == [255, 128, 128]).all()
    assert (filter_grid(red, scale="all", bgr=True)[0, 0, 0] == [128, 128, 255]).all()
    assert filter_grid(red[:, :, 0]).shape == (1, 24, 24, 3)  # a 2D kernel: one frame
    with pytest.raises(ValueError, match="filter_norms_figure"):
        filter_grid(rng.normal(size=(4, 16, 3, 3, 3)))
    with pytest.raises(ValueError, match="scale must be 'each'"):
        filter_grid(weight, scale="max")


def test_filter_norms_figure_by_hand():
    weight = np.zeros((3, 2, 1, 2, 2), np.float32)  # (C_out, C_in, t, h, w): 4 values a kernel
    for o in range(3):
        for i in range(2):
            weight[o, i] = o + 2 * i  # the norm is |o + 2i| * sqrt(4)
    fig = filter_norms_figure(torch.from_numpy(weight), title="conv2")
    ax = fig.axes[0]
    np.testing.assert_allclose(ax.images[0].get_array(), [[0, 4], [2, 6], [4, 8]])
    assert ax.get_title() == "conv2" and ax.get_xlabel() == "input channel (2)"


# --------------------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------------------


def test_save_interpretation_writes_a_web_sized_gif_an_mp4_and_a_png(tmp_path):
    # A 16-frame 112 x 112 clip of the textured synthetic videos (hard to compress) and its moving shapes.
    frames, masks = render_motion_video(0, 3, MotionConfig(frames=16), return_masks=True)
    heat = 0.2 + 0.7 * masks.astype(np.float32)  # (16, 112, 112) in [0, 1]
    paths = save_interpretation(
        tmp_path / "out", "c3d_cam", frames, heat, title="c3d conv5b: MoveDown", fps=8
    )
    assert paths == {s: tmp_path / "out" / f"c3d_cam.{s}" for s in ("gif", "mp4", "png")}
    assert _only(tmp_path / "out") == ["c3d_cam.gif", "c3d_cam.mp4", "c3d_cam.png"]  # no temporary files
    assert paths["gif"].read_bytes()[:6] == b"GIF89a"
    assert paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert paths["gif"].stat().st_size < 500_000, paths["gif"].stat().st_size
    with Image.open(paths["gif"]) as gif:
        assert gif.n_frames == 16 and gif.size == (226, 112)  # frames | overlay, 2 px apart
    decoded = read_video(paths["mp4"], size=None)
    assert decoded.shape == (16, 112, 226, 3)
    expected = overlay_clip(frames, heat)
    assert np.abs(decoded.astype(np.float64) - expected).mean() < 8  # H.264 at crf 18
    with Image.open(paths["png"]) as png:
        assert png.size[0] == 8 * 160  # 8 panels of 1.6 inches at 100 dpi


def test_save_animation_writes_the_trio_of_any_clip(tmp_path):
    grid = feature_map_grid(np.random.default_rng(0).random((4, 3, 6, 6)))  # (3, 133, 133, 3)
    paths = save_animation(tmp_path, "conv2_fmaps", grid, fps=4, title="conv2: channels 0-3")
    assert sorted(paths) == ["gif", "mp4", "png"] and all(p.parent == tmp_path for p in paths.values())
    with Image.open(paths["gif"]) as gif:
        assert gif.n_frames == 3
    assert read_video(paths["mp4"], size=None).shape == (3, 134, 134, 3)  # H.264 pads odd sizes
    for stem in ("a/b", "", ".."):
        with pytest.raises(ValueError, match="stem must be a plain file name"):
            save_animation(tmp_path, stem, grid)
    save_figure(filter_norms_figure(np.ones((2, 2, 1, 1, 1))), tmp_path / "norms.png")


def test_maps_must_be_scaled_floats():
    frames = _clip()
    with pytest.raises(TypeError, match=r"must be floating point in \[0, 1\], got uint8"):
        overlay_clip(frames, np.full((4, 8, 10), 200, np.uint8))
    with pytest.raises(TypeError, match="must be floating point"):
        contact_sheet(frames, torch.ones(4, 8, 10, dtype=torch.int64))
    bf16 = overlay_clip(frames, torch.full((4, 8, 10), 0.5, dtype=torch.bfloat16))
    np.testing.assert_array_equal(bf16, overlay_clip(frames, np.full((4, 8, 10), 0.5)))
