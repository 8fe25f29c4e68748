"""vidlens.viz: figures, tables, overlays, animations, and the rule that only viz imports matplotlib."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import matplotlib
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import vidlens
from vidlens import viz
from vidlens.video import probe, read_video
from vidlens.viz import (
    colorize,
    embedding_figure,
    markdown_table,
    overlay,
    pointing_game_figure,
    reproduction_figure,
    save_figure,
    text_table,
    tile,
    training_curves,
    write_gif,
    write_mp4,
)

from conftest import psnr

SRC = Path(vidlens.__file__).parent


def _only(directory: Path) -> list[str]:
    """File names in ``directory``: what a write left behind, temporary files included."""
    return sorted(p.name for p in directory.iterdir())


def _smooth_clip(t: int, h: int, w: int) -> np.ndarray:
    """A smooth moving picture ``(T, H, W, 3)`` uint8 that survives lossy compression, each frame distinct."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    clip = np.empty((t, h, w, 3), np.uint8)
    for i in range(t):
        for c in range(3):
            clip[i, ..., c] = (127 + 90 * np.sin(xx / 7.0 + yy / 11.0 + 0.5 * i + 2 * c)).astype(np.uint8)
    return clip


# --------------------------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------------------------


def test_text_table_aligns_columns_under_a_rule():
    table = text_table(("model", "hit@1", "params"), [("c3d", "59.3", 78), ("slow_fusion", 41.9, "6.1M")])
    assert table == (
        "model        hit@1  params\n"
        "-----------  -----  ------\n"
        "c3d           59.3      78\n"
        "slow_fusion   41.9    6.1M"
    )
    assert text_table(("a", "b"), []) == "a  b\n-  -"


def test_markdown_table_aligns_and_escapes():
    table = markdown_table(("model", "hit@1"), [("c3d", "59.3"), ("a|b", 1)])
    assert table == ("| model | hit@1 |\n| :---- | ----: |\n| c3d   |  59.3 |\n| a\\|b  |     1 |")
    assert markdown_table(("x", "y"), [("1", "2")]) == "| x   |   y |\n| :-- | --: |\n| 1   |   2 |"


def test_tables_reject_ragged_rows():
    for formatter in (text_table, markdown_table):
        with pytest.raises(ValueError, match="row 1 has 1 cells but the header has 2 columns"):
            formatter(("a", "b"), [("1", "2"), ("3",)])


# --------------------------------------------------------------------------------------------------------
# Colour maps and overlays
# --------------------------------------------------------------------------------------------------------


def test_colorize_is_matplotlibs_colour_map_clipped_and_nan_safe():
    x = np.array([[0.0, 0.25], [0.5, 1.0]], dtype=np.float32)
    colours = colorize(x, "jet")
    assert colours.shape == (2, 2, 3) and colours.dtype == np.uint8
    np.testing.assert_array_equal(colours, matplotlib.colormaps["jet"](x, bytes=True)[..., :3])
    np.testing.assert_array_equal(
        colorize(np.array([0.0, 1.0, 0.6]), "gray"), [[0] * 3, [255] * 3, [153] * 3]
    )
    outside = colorize(np.array([-3.0, 7.0, np.nan, np.inf, -np.inf]), "viridis")
    np.testing.assert_array_equal(outside, colorize(np.array([0.0, 1.0, 0.0, 1.0, 0.0]), "viridis"))
    np.testing.assert_array_equal(colorize(x, matplotlib.colormaps["magma"]), colorize(x, "magma"))


def test_colorize_rejects_integers_and_unknown_maps():
    with pytest.raises(TypeError, match=r"floating point in \[0, 1\], got uint8"):
        colorize(np.zeros((2, 2), np.uint8))
    with pytest.raises(ValueError, match="unknown colour map 'nope'"):
        colorize(np.zeros((2, 2)), "nope")


def test_overlay_blends_exactly():
    frames = np.full((2, 3, 4, 3), 100, np.uint8)
    heat = np.zeros((2, 3, 4), np.float32)
    heat[1] = 1.0
    np.testing.assert_array_equal(overlay(frames, heat, alpha=0.0), frames)
    np.testing.assert_array_equal(overlay(frames, heat, alpha=1.0, cmap="jet"), colorize(heat, "jet"))
    blend = overlay(frames, heat, alpha=0.25, cmap="gray")  # 0.75 * 100 + 0.25 * {0, 255}
    assert blend.dtype == np.uint8 and blend.shape == frames.shape
    assert (blend[0] == 75).all() and (blend[1] == 139).all()  # 138.75 rounds to 139
    single = overlay(frames[0], heat[1], alpha=0.25, cmap="gray")  # one frame (H, W, 3), heat (H, W)
    assert single.shape == (3, 4, 3) and (single == 139).all()


def test_overlay_resizes_heat_trilinearly_without_overshoot():
    rng = np.random.default_rng(0)
    heat = rng.uniform(0.2, 0.7, (2, 3, 3))  # (T', H', W')
    frames = np.zeros((5, 12, 10, 3), np.uint8)
    shown = overlay(frames, heat, alpha=1.0, cmap="gray")
    assert shown.shape == (5, 12, 10, 3)
    expected = F.interpolate(
        torch.from_numpy(heat).float()[None, None], size=(5, 12, 10), mode="trilinear", align_corners=False
    )[0, 0].numpy()
    np.testing.assert_array_equal(shown, colorize(expected, "gray"))
    # Trilinear weights are convex: nothing darker than the darkest heat value or lighter than the lightest
    # (a cubic spline would ring past both next to the steps of this random map).
    low, high = colorize(np.array([heat.min(), heat.max()]), "gray")[:, 0]
    assert low <= shown.min() and shown.max() <= high
    assert shown.min() < colorize(np.array([0.3]), "gray")[0, 0] < shown.max()  # it did vary
    # A plateau stays flat: a constant map upsampled is the same constant everywhere.
    flat = overlay(frames, np.full((1, 2, 2), 0.6), alpha=1.0, cmap="gray")
    assert (flat == 153).all()
    # Still frames resize bilinearly.
    assert overlay(frames[0], heat[0], alpha=0.5).shape == (12, 10, 3)


def test_overlay_errors_say_what_is_wrong():
    frames = np.zeros((2, 4, 4, 3), np.uint8)
    with pytest.raises(ValueError, match="frames must be non-empty uint8 RGB"):
        overlay(frames.astype(np.float32), np.zeros((2, 4, 4)))
    with pytest.raises(ValueError, match=r"heat must be shaped \(T', H', W'\).*drop its channel axis"):
        overlay(frames, np.zeros((2, 4, 4, 1)))
    with pytest.raises(ValueError, match=r"heat must be shaped \(H', W'\)"):
        overlay(frames[0], np.zeros((2, 4, 4)))
    with pytest.raises(TypeError, match="heat must be floating point"):
        overlay(frames, np.zeros((2, 4, 4), np.int64))
    for alpha in (-0.1, 1.5):
        with pytest.raises(ValueError, match=r"alpha must lie in \[0, 1\]"):
            overlay(frames, np.zeros((2, 4, 4)), alpha=alpha)


# --------------------------------------------------------------------------------------------------------
# Tiling and animation writers
# --------------------------------------------------------------------------------------------------------


def test_tile_lays_clips_in_a_grid_with_gaps():
    a = np.full((2, 2, 2, 3), 10, np.uint8)
    b = np.full((2, 2, 2, 3), 20, np.uint8)
    row = tile([a, b], gap=1, fill=255)
    assert row.shape == (2, 2, 5, 3)
    assert (row[:, :, :2] == 10).all() and (row[:, :, 2] == 255).all() and (row[:, :, 3:] == 20).all()
    grid = tile([a, b, a], cols=2, gap=1, fill=(1, 2, 3))  # 2 rows, the last cell empty
    assert grid.shape == (2, 5, 5, 3)
    assert (grid[:, 2] == [1, 2, 3]).all() and (grid[:, 3:, 3:] == [1, 2, 3]).all()
    assert (grid[:, 3:, :2] == 10).all()
    # A smaller clip is centred in its cell; a still (1, H, W, 3) is repeated over the others' frames.
    small = np.full((1, 2, 2, 3), 7, np.uint8)
    big = np.zeros((3, 4, 4, 3), np.uint8)
    out = tile([big, small], gap=0, fill=0)
    assert out.shape == (3, 4, 8, 3)
    assert (out[:, 1:3, 5:7] == 7).all() and out[:, :, 4:].sum() == 3 * 4 * 3 * 7


def test_tile_errors():
    clip = np.zeros((2, 4, 4, 3), np.uint8)
    with pytest.raises(ValueError, match="same number of frames"):
        tile([clip, np.zeros((3, 4, 4, 3), np.uint8)])
    with pytest.raises(ValueError, match=r"clip 1 must be a non-empty uint8 RGB clip .*x\[None\]"):
        tile([clip, np.zeros((4, 4, 3), np.uint8)])
    with pytest.raises(ValueError, match="at least one clip"):
        tile([])
    with pytest.raises(ValueError, match="fill must lie in 0..255"):
        tile([clip], fill=300)


def test_write_gif_reads_back(tmp_path):
    clip = np.zeros((6, 10, 14, 3), np.uint8)
    clip[..., 0] = np.arange(6)[:, None, None] * 40  # six distinct flat frames
    clip[..., 1] = 200
    path = write_gif(clip, tmp_path / "a.gif", fps=10)
    assert path == tmp_path / "a.gif" and _only(tmp_path) == ["a.gif"]
    with Image.open(path) as gif:
        assert gif.n_frames == 6 and gif.size == (14, 10) and gif.info["loop"] == 0
        for i in range(6):
            gif.seek(i)
            assert gif.info["duration"] == 100
            np.testing.assert_array_equal(np.asarray(gif.convert("RGB")), clip[i])
    grey = write_gif(clip[..., 1], tmp_path / "grey.gif", fps=4, loop=None)  # (T, H, W)
    with Image.open(grey) as gif:
        assert gif.n_frames == 1 and gif.info["duration"] == 6 * 250 and "loop" not in gif.info
        np.testing.assert_array_equal(np.asarray(gif.convert("L")), clip[0, ..., 1])


def test_write_gif_keeps_playing_time_when_frames_repeat(tmp_path):
    clip = np.zeros((3, 4, 4, 3), np.uint8)
    clip[2] = 255
    with Image.open(write_gif(clip, tmp_path / "a.gif", fps=10)) as gif:
        durations = []
        for i in range(gif.n_frames):
            gif.seek(i)
            durations.append(gif.info["duration"])
    assert durations == [200, 100]


def test_write_gif_with_fewer_colours_is_smaller(tmp_path):
    frames = np.random.default_rng(0).integers(0, 256, (4, 24, 24, 3), dtype=np.uint8)  # many colours
    full = write_gif(frames, tmp_path / "full.gif")
    small = write_gif(frames, tmp_path / "small.gif", colors=16)
    assert small.stat().st_size < full.stat().st_size
    with Image.open(small) as gif:
        for i in range(gif.n_frames):
            gif.seek(i)
            assert len(np.unique(np.asarray(gif.convert("RGB")).reshape(-1, 3), axis=0)) <= 16
    write_gif(frames[..., 0], tmp_path / "grey.gif", colors=8)  # grey clips too
    for colors in (1, 257, 2.5):
        with pytest.raises(ValueError, match=r"colors must be an int in 2..256"):
            write_gif(frames, tmp_path / "bad.gif", colors=colors)
    assert _only(tmp_path) == ["full.gif", "grey.gif", "small.gif"]


def test_write_mp4_pads_odd_sizes_and_decodes(tmp_path):
    clip = _smooth_clip(8, 31, 45)  # odd height and width
    path = write_mp4(clip, tmp_path / "a.mp4", fps=12)
    assert _only(tmp_path) == ["a.mp4"]
    info = probe(path)
    assert (info.n_frames, info.height, info.width, info.codec) == (8, 32, 46, "h264")
    assert info.fps == pytest.approx(12)
    decoded = read_video(path, size=None)  # (8, 32, 46, 3)
    assert decoded.shape == (8, 32, 46, 3)
    assert psnr(decoded[:, :31, :45], clip) > 30
    assert psnr(decoded[:, 31, :45], clip[:, 30]) > 25  # the padding repeats the last row
    grey = write_mp4(clip[..., 0], tmp_path / "grey.mp4")
    assert probe(grey).n_frames == 8


def test_writers_check_their_input(tmp_path):
    clip = np.zeros((2, 4, 4, 3), np.uint8)
    with pytest.raises(ValueError, match=r"suffix \.gif"):
        write_gif(clip, tmp_path / "a.png")
    with pytest.raises(ValueError, match=r"suffix \.mp4"):
        write_mp4(clip, tmp_path / "a.gif")
    with pytest.raises(ValueError, match=r"uint8 clip.*x\[None\]"):
        write_gif(clip[0, ..., 0], tmp_path / "a.gif")  # one grey image (H, W)
    with pytest.raises(ValueError, match=r"uint8 clip"):
        write_mp4(clip.astype(np.float32), tmp_path / "a.mp4")
    with pytest.raises(ValueError, match="fps must be positive"):
        write_gif(clip, tmp_path / "a.gif", fps=0)
    assert _only(tmp_path) == []


def test_write_mp4_failure_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "a.mp4"
    path.write_bytes(b"old")

    def broken(target, frames, fps, **kwargs):
        Path(target).write_bytes(b"half a video")
        raise RuntimeError("encoder died")

    monkeypatch.setattr(viz.animation, "write_video", broken)
    with pytest.raises(RuntimeError, match="encoder died"):
        write_mp4(np.zeros((2, 4, 4, 3), np.uint8), path)
    assert _only(tmp_path) == ["a.mp4"] and path.read_bytes() == b"old"


# --------------------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------------------

HISTORY = [
    {"epoch": 1, "loss": 1.2, "accuracy": 0.3},
    {"epoch": 2, "loss": 0.8, "accuracy": 0.55},
    {"epoch": 3, "loss": 0.5, "accuracy": 0.7},
]


def test_save_figure_writes_each_format_atomically(tmp_path):
    fig = training_curves(HISTORY)
    magic = {"png": b"\x89PNG", "svg": b"<?xml", "pdf": b"%PDF"}
    for fmt, head in magic.items():
        path = save_figure(fig, tmp_path / "sub" / f"curves.{fmt.upper() if fmt == 'pdf' else fmt}")
        assert path.read_bytes()[: len(head)] == head
    assert _only(tmp_path / "sub") == ["curves.PDF", "curves.png", "curves.svg"]
    with Image.open(tmp_path / "sub" / "curves.png") as png:
        assert png.size == (900, 350)  # 9 x 3.5 inches at the figure's 100 dpi
    with pytest.raises(ValueError, match=r"suffixes \.png, \.svg, \.pdf"):
        save_figure(fig, tmp_path / "curves.jpg")


def test_save_figure_failure_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "fig.png"
    path.write_bytes(b"old")
    fig = training_curves(HISTORY)

    def broken(target, **kwargs):
        Path(target).write_bytes(b"half a figure")
        raise OSError("disk full")

    monkeypatch.setattr(fig, "savefig", broken)
    with pytest.raises(OSError, match="disk full"):
        save_figure(fig, path)
    assert _only(tmp_path) == ["fig.png"] and path.read_bytes() == b"old"


def test_training_curves_plot_loss_and_accuracy():
    loss_ax, acc_ax = training_curves(HISTORY).axes
    np.testing.assert_allclose(loss_ax.lines[0].get_ydata(), [1.2, 0.8, 0.5])
    np.testing.assert_allclose(acc_ax.lines[0].get_ydata(), [30, 55, 70])
    assert acc_ax.get_ylim() == (0, 100)
    with pytest.raises(ValueError, match="history record 0 lacks accuracy"):
        training_curves([{"epoch": 1, "loss": 1.0}])


def test_embedding_figure_colours_classes_and_greys_unlabelled():
    coords = np.arange(12, dtype=float).reshape(6, 2)
    fig = embedding_figure(coords, np.array([-1, 0, 0, 2, 2, 2]), ["a", "b", "c"], title="map")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "unlabelled",
        "a",
        "c",
    ]  # "b" has no points
    assert [len(c.get_offsets()) for c in ax.collections] == [1, 2, 3]
    assert ax.get_title() == "map"
    with pytest.raises(ValueError, match=r"labels must lie in -1..2"):
        embedding_figure(coords, np.array([0, 0, 0, 0, 0, 3]), ["a", "b", "c"])
    with pytest.raises(ValueError, match=r"coords must be shaped \(N, 2\)"):
        embedding_figure(coords.T, np.zeros(2, int), ["a"])


def test_reproduction_figure_bars_chance_and_losses():
    fig = reproduction_figure(
        ["2D", "3D"], [0.3, 0.8], [0.25, 0.9], [HISTORY, []], title="fusion", chance=0.25
    )
    ax_acc, ax_loss = fig.axes
    assert [p.get_height() for p in ax_acc.patches] == pytest.approx([30, 80, 25, 90])
    assert [line.get_ydata()[0] for line in ax_acc.lines] == [25.0]  # the chance line
    assert [line.get_label() for line in ax_loss.lines] == ["2D"]  # no curve for an empty log
    assert fig.get_suptitle() == "fusion"
    with pytest.raises(ValueError, match="one clip_hit1, video_hit1 and history per label"):
        reproduction_figure(["2D"], [0.3, 0.8], [0.25], [[]])


def test_pointing_game_figure_one_panel_per_model_with_chance():
    curves = {
        "3D": {"grad-cam": [0.2, 0.5, 0.6], "saliency": [np.nan, 0.3, 0.4]},
        "2D": {"grad-cam": [0.3] * 3},
    }
    fig = pointing_game_figure(curves, {"3D": [0.1, 0.1, 0.2], "2D": [0.1, 0.1, 0.2]}, title="pointing")
    ax3d, ax2d = fig.axes[:2]
    assert ax3d.get_title() == "3D" and ax2d.get_title() == "2D" and fig.get_suptitle() == "pointing"
    assert [line.get_label() for line in ax3d.lines] == ["grad-cam", "saliency", "chance (area)"]
    np.testing.assert_allclose(ax3d.lines[2].get_ydata(), [0.1, 0.1, 0.2])
    assert ax3d.get_ylim() == pytest.approx((0, 0.69))  # a little above the largest share
    with pytest.raises(ValueError, match=r"chance lacks the models \['2D'\]"):
        pointing_game_figure(curves, {"3D": [0.1] * 3})


# --------------------------------------------------------------------------------------------------------
# The rule: only vidlens.viz imports matplotlib, and nothing switches its backend
# --------------------------------------------------------------------------------------------------------

_IMPORT_EVERYTHING = """
import importlib, json, pkgutil, sys, tempfile
from pathlib import Path
import matplotlib
import numpy as np

before = matplotlib.rcParams._get("backend")  # the raw value: reading rcParams["backend"] would resolve it
import vidlens
names = []
for info in pkgutil.walk_packages(vidlens.__path__, "vidlens."):
    if info.name != "vidlens.__main__":  # running the command line is not importing it
        importlib.import_module(info.name)
        names.append(info.name)

from vidlens import viz
out = Path(tempfile.mkdtemp())
history = [{"epoch": 1, "loss": 1.0, "accuracy": 0.5}, {"epoch": 2, "loss": 0.5, "accuracy": 0.75}]
viz.save_figure(viz.training_curves(history), out / "curves.png")
viz.save_figure(viz.confusion_figure(np.eye(3, dtype=int), ["a", "b", "c"]), out / "cm.svg")
viz.save_figure(viz.embedding_figure(np.random.rand(4, 2), np.array([0, 1, -1, 0]), ["a", "b"]), out / "e.pdf")
viz.save_figure(viz.reproduction_figure(["m"], [0.5], [0.6], [history], chance=0.25), out / "r.png")
viz.overlay(np.zeros((2, 4, 4, 3), np.uint8), np.random.rand(1, 2, 2))
viz.save_figure(viz.contact_sheet(np.zeros((2, 4, 4, 3), np.uint8), np.random.rand(1, 2, 2)), out / "cs.png")
viz.save_figure(viz.filter_norms_figure(np.random.rand(4, 3, 1, 2, 2)), out / "norms.png")
first = {"pyplot": "matplotlib.pyplot" in sys.modules, "same": matplotlib.rcParams._get("backend") == before}

matplotlib.use("pdf")  # a backend the user chose stays chosen
viz.save_figure(viz.training_curves(history), out / "again.png")
print(json.dumps({**first, "modules": len(names), "chosen": matplotlib.get_backend(),
                  "pyplot_after": "matplotlib.pyplot" in sys.modules}))
"""


def test_importing_and_drawing_never_touches_matplotlibs_backend():
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    env["PYTHONPATH"] = os.pathsep.join([str(SRC.parent), env.get("PYTHONPATH", "")])
    done = subprocess.run(
        [sys.executable, "-c", _IMPORT_EVERYTHING], capture_output=True, text=True, env=env, timeout=240
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["modules"] > 20
    assert not report["pyplot"], "importing vidlens or drawing with vidlens.viz imported matplotlib.pyplot"
    assert report["same"], "importing vidlens or drawing with vidlens.viz changed matplotlib's backend"
    assert report["chosen"] == "pdf" and not report["pyplot_after"]


def _imports_matplotlib(tree: ast.AST) -> list[int]:
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        if any(n == "matplotlib" or n.startswith("matplotlib.") for n in names):
            lines.append(node.lineno)
    return lines


def test_only_viz_imports_matplotlib():
    offenders = []
    viz_dir = SRC / "viz"
    for path in sorted(SRC.rglob("*.py")):
        if viz_dir in path.parents:
            continue
        lines = _imports_matplotlib(ast.parse(path.read_text(), filename=str(path)))
        offenders += [f"{path.relative_to(SRC.parent)}:{n}" for n in lines]
    assert not offenders, (
        f"matplotlib imported outside vidlens/viz (draw with vidlens.viz instead): {offenders}"
    )
    assert _imports_matplotlib(ast.parse((viz_dir / "figures.py").read_text()))  # the check sees imports
