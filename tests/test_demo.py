"""The demo end to end (``vidlens demo --scale tiny``), as a person sees it: every step, every figure, the
commands that reproduce them, resuming, and the page in a real browser (headless Chromium).

The demo runs once per module (about a minute on 2 cores) on a tiny synthetic dataset whose fourth class is
called ``<script>alert(1)</script>`` (in classInd.txt: a folder name cannot hold '/'), so that every place
a class name reaches the page is checked for escaping.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from vidlens.data.synthetic import MotionConfig, make_motion_dataset
from vidlens.demo import run_demo
from vidlens.report import check_in_browser, find_chromium, load_report

pytestmark = pytest.mark.slow

EVIL = "<script>alert(1)</script>"
STEPS = ["data", "train", "features", "inside", "attribution", "actmax", "units"]


def hostile_dataset(root: Path) -> Path:
    """The tiny demo's dataset with class MoveUp renamed to EVIL (labels given in the split files)."""
    make_motion_dataset(root, MotionConfig(videos_per_class=8, frames=16), progress=False)
    splits = root / "splits"
    names = [line.split()[1] for line in (splits / "classInd.txt").read_text().splitlines()]
    shown = [EVIL if n == "MoveUp" else n for n in names]
    (splits / "classInd.txt").write_text("".join(f"{i} {n}\n" for i, n in enumerate(shown, 1)))
    for split in ("trainlist01.txt", "testlist01.txt"):
        videos = [line.split()[0] for line in (splits / split).read_text().splitlines() if line.strip()]
        labels = [names.index(v.split("/")[0]) + 1 for v in videos]
        (splits / split).write_text("".join(f"{v} {k}\n" for v, k in zip(videos, labels, strict=True)))
    return root


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[Path, list[str]]:
    """The tiny demo's report folder and what it logged."""
    base = tmp_path_factory.mktemp("demo")
    data = hostile_dataset(base / "data")
    log: list[str] = []
    page = run_demo(base / "report", "tiny", data=data, workers=0, log=log.append)
    assert page == base / "report" / "index.html"
    return base / "report", log


class Page(HTMLParser):
    """A page's start tags with their attributes, and its text."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(path.read_text())

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def test_every_step_has_its_section_figures_and_commands(demo):
    out, log = demo
    report = load_report(out)
    assert len(report.sections) == len(STEPS)
    assert all(s.seconds and s.seconds > 0 for s in report.sections)
    figures = [f for s in report.sections for f in s.figures]
    assert len(figures) >= 20
    for figure in figures:
        assert (out / figure.path).is_file(), figure.path
        assert figure.caption and figure.why, figure.path
    # Every figure the demo computed names the command that made it (the data example is the user's data).
    commands = [f.command for f in figures if f.command]
    assert len(commands) == len(figures) - 1
    assert all(c.startswith("vidlens ") for c in commands)
    highlights = [h for s in report.sections for h in s.highlights]
    assert any(h.startswith("Video hit@1") for h in highlights)
    page = Page(out / "index.html")
    assert not any(tag == "script" for tag, _ in page.tags)
    assert EVIL in "".join(page.text)  # the class name, as text
    assert "figure(s) missing" not in "".join(page.text)
    assert [line.split(":")[0] for line in log if line.startswith("[") and " done in " in line] == [
        f"[{i}/{len(STEPS)}] {name}" for i, name in enumerate(STEPS, 1)
    ]


def test_a_shown_command_reproduces_its_figure(demo):
    """The Grad-CAM command, run from the report's folder as the page says, writes the same map again."""
    out, _ = demo
    figure = next(f for s in load_report(out).sections for f in s.figures if "--method gradcam " in f.command)
    npy = next((out / figure.path).parent.glob("*.npy"))
    before = np.load(npy)
    npy.unlink()
    argv = shlex.split(figure.command)
    assert argv[0] == "vidlens"
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "vidlens", *argv[1:]],
        cwd=out,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    np.testing.assert_allclose(np.load(npy), before, atol=1e-5)


def test_a_rerun_reuses_every_step_and_redo_reruns_one(demo):
    out, _ = demo
    page = (out / "index.html").read_text()
    log: list[str] = []
    run_demo(out, "tiny", data=_data_root(out), workers=0, log=log.append)
    assert sum("reused" in line for line in log) == len(STEPS)
    assert (out / "index.html").read_text() == page
    log.clear()
    run_demo(out, "tiny", data=_data_root(out), workers=0, redo=("inside",), log=log.append)
    ran = [line.split()[1].rstrip(":") for line in log if line.endswith(" ...") or "... (again" in line]
    assert ran == ["inside"]
    assert sum("reused" in line for line in log) == len(STEPS) - 1


def _data_root(out: Path) -> Path:
    return Path(json.loads((out / "steps" / "data.json").read_text())["outputs"]["root"])


def test_vidlens_report_rebuilds_the_same_page(demo, capsys):
    from vidlens.cli import main

    out, _ = demo
    page = (out / "index.html").read_text()
    (out / "index.html").unlink()
    assert main(["report", str(out)]) == 0
    assert (out / "index.html").read_text() == page
    capsys.readouterr()


def test_another_size_retrains_instead_of_resuming(demo, tmp_path):
    """Settings recorded with a finished step: a different dataset retrains the nets from scratch."""
    from vidlens.report import load_step

    out, _ = demo
    copy = tmp_path / "report"
    shutil.copytree(out, copy)
    other = tmp_path / "other"
    shutil.copytree(_data_root(out), other)
    log: list[str] = []
    run_demo(copy, "tiny", data=other, workers=0, log=log.append)
    assert any("data ... (again: its settings changed)" in line for line in log)
    assert any("train ... (again" in line for line in log)
    assert load_step(copy, "train")["settings"]["data"] == str(other.resolve())
    assert not any("resume" in line for line in log)
    # every step after it runs again on the retrained nets (extraction into a fresh folder: vidlens extract
    # refuses to mix two models' descriptors in one)
    for step in STEPS[2:]:
        assert any(
            line.startswith(f"[{STEPS.index(step) + 1}/{len(STEPS)}] {step} ... (again") for line in log
        ), step
    assert (copy / "index.html").is_file()


def test_the_synthetic_data_trains_from_a_frame_cache(tmp_path):
    """On its own data the demo decodes each video once for both nets (vidlens train --frame-cache), and
    retraining removes those frames with the runs; a user's dataset is read as it is."""
    from vidlens.demo import SIZES, _Demo, _remove_runs, _train_args

    demo = _Demo(tmp_path, SIZES["tiny"])
    args = [str(a) for a in _train_args(demo, tmp_path / "data", "single_frame", tmp_path / "runs" / "x")]
    assert args[args.index("--frame-cache") + 1] == str(tmp_path / "frames")
    user = _Demo(tmp_path, SIZES["tiny"], data=tmp_path / "mine")
    assert "--frame-cache" not in _train_args(
        user, tmp_path / "mine", "single_frame", tmp_path / "runs" / "x"
    )
    (tmp_path / "frames").mkdir()
    (tmp_path / "frames" / "entry.npy").write_bytes(b"")
    _remove_runs(tmp_path)
    assert not (tmp_path / "frames").exists()


@pytest.fixture(scope="module")
def chromium() -> str:
    """Debian's Chromium, installed here when it is missing and this machine allows it (root, apt-get)."""
    pytest.importorskip(
        "playwright.sync_api", reason="the browser test needs Playwright: pip install playwright"
    )
    found = find_chromium()
    if found is None and hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        env = os.environ | {"DEBIAN_FRONTEND": "noninteractive"}
        for argv in (["apt-get", "install", "-y", "-qq", "chromium"], ["apt-get", "update", "-qq"]):
            subprocess.run(argv, env=env, capture_output=True, timeout=900, check=False)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "chromium"], env=env, capture_output=True, timeout=900
        )
        found = find_chromium()
    if found is None:
        pytest.skip(
            "no Chromium: the browser test needs Debian's chromium package, and this machine could not install it "
            "(not root, no apt-get, or no network to the package mirror): apt-get install chromium"
        )
    return found


def test_the_page_in_a_browser(demo, chromium, tmp_path):
    """Every image and video loads (natural width above zero), nothing is logged as an error, no dialog
    opens, and the hostile class name shows as text; the screenshot is kept next to the page."""
    out, _ = demo
    seen = check_in_browser(out / "index.html", screenshot=out / "screenshot.png", chromium=chromium)
    assert len(seen.media) >= 20
    assert seen.broken == []
    assert seen.console_errors == []
    assert seen.dialogs == []
    assert EVIL in seen.text
    assert seen.screenshot is not None and seen.screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
