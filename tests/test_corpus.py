"""vidlens on real video made by other people: the corpus in ``shared/videos`` next to the repository.

The 69 files and what was measured on them are described in ``shared/videos/SOURCES.md`` (origins, frame
counts, sizes, rotation, ground truth from the projects they come from). They are used in place, never
copied into the repository; without the folder these tests skip.

Every file is read in its own subprocess with a timeout (``tests/corpus_worker.py``: probe, count_frames,
streaming clips, random access), at most two at a time, so that a decoder that hangs or crashes fails a
test instead of taking pytest down; ``vidlens info`` runs once over a batch of files, also in a subprocess.

* Valid files: frame count, displayed size, rotation and stream as SOURCES.md records them (the table
  below, checked against SOURCES.md by :func:`test_expectations_match_sources`), no warning, and every
  clip read by random access equal to the streamed one.
* Hostile files: a clear :class:`vidlens.video.VideoError` naming the file, or clips (what can be salvaged,
  with a warning when frames were lost) that random access reads identically; never a crash, a hang or a
  traceback.

The rotation, stream-choice and damaged files run by default; the full sweep is marked ``slow``.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from vidlens.video import clip_starts

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "videos"
WORKER = Path(__file__).resolve().parent / "corpus_worker.py"
TIMEOUT_S = 120  # per file; the largest takes ~2 s
WORKERS = 2  # subprocesses at a time

if not (CORPUS / "SOURCES.md").is_file():
    pytest.skip(
        f"no video corpus at {CORPUS}: these tests read the files described in shared/videos/SOURCES.md, "
        "in a folder 'shared/videos' next to the repository",
        allow_module_level=True,
    )

# Valid files: (frames, displayed width, displayed height, rotation, stream index), from SOURCES.md's tables.
# Sizes are as displayed, so the files turned a quarter by their display matrix have width and height of
# the stored picture swapped; rotation is FFmpeg's (degrees counter-clockwise, -90 = turned clockwise).
# clips/nasa_13013.mp4: SOURCES.md's table row describes its first video stream; FFmpeg's default is stream
# 3 (torchcodec's tests: 390 frames, 29.97 fps; test/utils.py: 480x270), which vidlens reads.
VALID: dict[str, tuple[int, int, int, int, int]] = {
    "ucf101/ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi": (164, 320, 240, 0, 0),
    "ucf101/BaseballPitch/v_BaseballPitch_g01_c01.avi": (107, 320, 240, 0, 0),
    "ucf101/Basketball/v_Basketball_g01_c01.avi": (141, 320, 240, 0, 0),
    "clips/abseiling_k400.mp4": (250, 454, 256, 0, 0),
    "clips/mmaction2_test.mp4": (300, 340, 256, 0, 0),
    "clips/mmaction2_demo.mp4": (280, 340, 256, 0, 0),
    "clips/ntu_S001C001P001R001A001_rgb.avi": (103, 1920, 1080, 0, 0),
    "clips/flipping_a_pancake.mkv": (310, 426, 240, 0, 0),
    "clips/nasa_13013.mp4": (390, 480, 270, 0, 3),
    "clips/moviepy_chaplin.mp4": (241, 640, 360, 0, 0),
    "clips/moviepy_smpte-2997.mp4": (251, 1920, 1080, 0, 0),
    "clips/bear_mpeg4asp_mp3.avi": (30, 320, 180, 0, 0),
    "formats/moviepy_fire2.mp4": (25, 1280, 720, -180, 0),
    "formats/decord_video_0.mov": (3, 568, 320, 0, 0),
    "formats/decord_video_90.mov": (3, 320, 568, -90, 0),
    "formats/decord_video_180.mov": (3, 568, 320, -180, 0),
    "formats/decord_video_270.mov": (3, 320, 568, 90, 0),
    "formats/decord_unordered.mov": (4, 50, 50, 0, 0),
    "formats/torchcodec_var_fps_video.mp4": (300, 128, 128, 0, 0),
    "formats/torchcodec_av1_video.mkv": (125, 640, 360, 0, 0),
    "formats/torchcodec_h265_video.mp4": (10, 128, 128, 0, 0),
    "formats/torchcodec_h264_10bits.mp4": (30, 200, 200, 0, 0),
    "formats/torchcodec_h265_10bits.mp4": (30, 200, 200, 0, 0),
    "formats/torchcodec_bt709_full_range.mp4": (30, 1280, 720, 0, 0),
    "formats/moviepy_big_buck_bunny_432_433.webm": (24, 1280, 720, 0, 0),
    "formats/moviepy_transparent.webm": (150, 200, 200, 0, 0),
    "formats/moviepy_video_with_failing_audio.mp4": (280, 640, 360, 0, 0),
    "formats/moviepy_test_video_1x1.mp4": (5, 1, 1, 0, 0),
    "formats/moviepy_clip1024.flv": (174, 112, 80, 0, 0),
    "formats/lavafalls_indeo4.avi": (158, 160, 120, 0, 0),
    "formats/mjpeg_5x3.avi": (3, 5, 3, 0, 0),
    "formats/h264_9bit.mkv": (240, 720, 480, 0, 0),
    "formats/matroska_16x8.mkv": (30, 16, 8, 0, 0),
    "formats/flash_16x8.flv": (30, 16, 8, 0, 0),
    "formats/mpeg4-amr_nb.3gp": (74, 176, 144, 0, 1),  # the audio is stream 0
    "formats/mozilla_dash_dashinit.mp4": (182, 320, 240, 0, 0),
    "formats/mozilla_red-green_80x128.mp4": (150, 80, 128, 0, 1),  # the audio is stream 0
    "formats/mozilla_MPEG4_190x240.mp4": (149, 190, 240, 0, 1),  # the audio is stream 0
    "formats/mozilla_vp9_32x18.mp4": (20, 32, 18, 0, 0),
    "formats/mozilla_vp9_180x320.mp4": (20, 180, 320, 0, 0),
    "formats/mozilla_test-v-320x240-24fps-8kfr.mp4": (48, 320, 240, 0, 0),
    "formats/mozilla_video_evrc_7p5fps.mp4": (113, 176, 144, 0, 0),
    "formats/dirac.ogv": (87, 400, 300, 0, 0),
}

# Hostile files (SOURCES.md, "Hostile files"): what vidlens does with each.
#   "error": every reader raises a VideoError naming the file (it cannot be opened, has no video, or no
#            frame of it decodes: the cenc-encrypted, 0-timescale and init-only MP4s; gizmo-frag-2 loses 55
#            of its 60 frames, so every clip has more than half of its frames missing).
#   "clips": clips are served and random access reads the same; "warn": with a RuntimeWarning, since frames
#            are lost (SOURCES.md: decord_corrupted 49 of 50 by salvage, xvid 30 of a declared 39, the Ogg
#            files whose packets fail).
HOSTILE: dict[str, str] = {
    "hostile/decord_corrupted.mp4": "warn",
    "hostile/moviepy_no_duration.webm": "clips",
    "hostile/moviepy_result_empty.webm": "error",
    "hostile/avi_new_unopenable.avi": "error",
    "hostile/avi_xvid_10x5.avi": "warn",
    "hostile/mozilla_bug1079747.mp4": "error",
    "hostile/mozilla_0-timescale.mp4": "error",
    "hostile/mozilla_short-cenc.mp4": "error",
    "hostile/mozilla_gizmo-frag-2_noinit.mp4": "error",
    "hostile/mozilla_gizmo-frag-cencinit.mp4": "error",
    "hostile/mozilla_npot-video_offbyone.mp4": "clips",
    "hostile/mozilla_audio_only.mp4": "error",
    "hostile/ogv_bogus.ogv": "error",
    "hostile/ogv_bug498855-1.ogv": "error",
    "hostile/ogv_bug504843.ogv": "error",
    "hostile/ogv_chained-video.ogv": "warn",
    "hostile/ogv_fisbone-wrong-header.ogv": "warn",
    "hostile/ogv_bug498380_truncated.ogv": "clips",
    "hostile/ogv_bug556821_start122s.ogv": "clips",
    "hostile/ogv_black29x19offset.ogv": "clips",
    "hostile/mpeg1_launch_bad_duration.mpg": "clips",
    "hostile/flv_barsandtone_sparse.flv": "clips",
    "hostile/h264_Error_I_P_sizechange.264": "clips",
    "hostile/h264_BA_MW_D_IDR_LOST.264": "clips",
    "hostile/h264_testcase_undecodable.264": "error",
    "hostile/h264_32x18_min.264": "clips",
}

# Run by default: the rotated files, the file with two video streams, the two damaged files of issue 15.
FAST = [
    "formats/decord_video_0.mov",
    "formats/decord_video_90.mov",
    "formats/decord_video_180.mov",
    "formats/decord_video_270.mov",
    "formats/moviepy_fire2.mp4",
    "clips/nasa_13013.mp4",
    "hostile/decord_corrupted.mp4",
    "hostile/mozilla_gizmo-frag-2_noinit.mp4",
]
ALL = [*VALID, *HOSTILE]


def _params(files: list[str], fast: bool) -> list:
    chosen = [f for f in files if (f in FAST) == fast]
    return [pytest.param(f, marks=() if fast else pytest.mark.slow) for f in chosen]


# ------------------------------------------------------------------------------------------ running files
_results: dict[str, dict] = {}
_info: dict[str, dict] = {}
_lock = threading.Lock()


def _run_worker(rel: str) -> dict:
    path = CORPUS / rel
    try:
        done = subprocess.run(
            [sys.executable, str(WORKER), str(path)], capture_output=True, text=True, timeout=TIMEOUT_S
        )
    except subprocess.TimeoutExpired:
        return {"hang": f"no answer in {TIMEOUT_S} s"}
    result = {"rc": done.returncode, "stderr": done.stderr[-4000:]}
    if done.returncode == 0:
        result.update(json.loads(done.stdout))
    return result


def _run_info(rels: list[str]) -> dict[str, dict]:
    """``vidlens info --json`` over ``rels`` in one subprocess: each file's JSON row or its error line."""
    paths = [str(CORPUS / rel) for rel in rels]
    command = [sys.executable, "-m", "vidlens", "info", "--json", *paths]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_S + 10 * len(rels))
    except subprocess.TimeoutExpired:
        return {rel: {"hang": "vidlens info did not finish"} for rel in rels}
    rows = {row["path"]: row for row in map(json.loads, done.stdout.splitlines())}
    errors = {
        m.group(1): line
        for line in done.stderr.splitlines()
        if (m := re.match(r"error: cannot read video '(.+?)': ", line))
    }
    return {
        rel: {"row": rows.get(path), "error": errors.get(path), "rc": done.returncode, "stderr": done.stderr}
        for rel, path in zip(rels, paths, strict=True)
    }


def results(rels: list[str]) -> None:
    """Read every file of ``rels`` not read yet (:data:`WORKERS` at a time), and run vidlens info on them."""
    with _lock:
        todo = [rel for rel in dict.fromkeys(rels) if rel not in _results]
        if not todo:
            return
        with ThreadPoolExecutor(WORKERS) as pool:
            info = pool.submit(_run_info, todo)
            for rel, result in zip(todo, pool.map(_run_worker, todo), strict=True):
                _results[rel] = result
            _info.update(info.result())


def outcome(rel: str, batch: list[str]) -> tuple[dict, dict]:
    """What reading ``rel`` gave (the worker's report) and what ``vidlens info`` said of it; the first call
    reads the whole ``batch``, two files at a time."""
    results([rel, *batch])
    result = _results[rel]
    assert "hang" not in result, f"{rel}: the decoder hung ({result['hang']})"
    assert result["rc"] == 0 and "Traceback" not in result["stderr"], f"{rel} crashed:\n{result['stderr']}"
    return result, _info[rel]


@pytest.fixture(scope="module")
def batch(request) -> list[str]:
    """The files of this module's selected tests, read together so that two run at a time."""
    return [
        item.callspec.params["rel"]
        for item in request.session.items
        if item.module is request.module and "rel" in getattr(getattr(item, "callspec", None), "params", {})
    ]


# ------------------------------------------------------------------------------------------------- tests
@pytest.mark.parametrize("rel", [*_params(list(VALID), fast=True), *_params(list(VALID), fast=False)])
def test_valid_file(rel, batch):
    frames, width, height, rotation, stream = VALID[rel]
    result, info = outcome(rel, batch)
    probe = result["probe"]
    assert "error" not in probe, probe
    got = (probe["n_frames"], probe["width"], probe["height"], probe["rotation"], probe["stream_index"])
    assert got == (frames, width, height, rotation, stream)
    assert result["count_frames"] == frames
    streamed = result["stream"]
    assert "error" not in streamed, streamed
    assert streamed["starts"] == clip_starts(frames, 16, 8)
    assert streamed["padded"] == [max(16 - frames, 0)] + [0] * (len(streamed["starts"]) - 1)
    assert not any(streamed["missing"])
    assert streamed["shape"] == [16, 64, 86, 3]  # resized to the displayed (H, W) asked for
    assert streamed["native_shape"] == [16, height, width, 3]  # size=None: as displayed
    assert result["random"] == {"mismatched": [], "errors": []}
    assert result["warnings"] == []
    assert info["error"] is None and "Traceback" not in info["stderr"], info
    row = info["row"]
    assert (row["n_frames"], row["width"], row["height"], row["rotation"], row["stream_index"]) == got


@pytest.mark.parametrize("rel", [*_params(list(HOSTILE), fast=True), *_params(list(HOSTILE), fast=False)])
def test_hostile_file(rel, batch):
    expected = HOSTILE[rel]
    result, info = outcome(rel, batch)
    path = str(CORPUS / rel)
    assert "Traceback" not in info["stderr"], info["stderr"]
    if expected == "error":
        for step in ("stream", "count_frames", "probe"):
            if isinstance(result[step], dict) and "error" in result[step]:
                assert result[step]["type"] in {"VideoError", "VideoNotFoundError"}
                assert result[step]["path"] == path and path in result[step]["error"]
        assert "error" in result["stream"], f"{rel}: expected a VideoError, got clips {result['stream']}"
        errors = result["random"]["errors"]
        assert errors and all(e["path"] == path and e["type"] == "VideoError" for e in errors), errors
        assert info["row"] is not None or info["error"] is not None
        if info["row"] is None:
            assert path in info["error"]
        return
    streamed = result["stream"]
    assert "error" not in streamed, f"{rel}: expected clips, got {streamed}"
    # Clips start where clip_starts says for the frames counted; damaged clips may be left out, and where
    # frames are counted as decoded (raw streams) fewer may decode than the packets promise.
    assert streamed["starts"] and set(streamed["starts"]) <= set(clip_starts(result["count_frames"], 16, 8))
    assert result["random"] == {"mismatched": [], "errors": []}, result["random"]
    if expected == "warn":
        assert any(w.startswith("RuntimeWarning") and path in w for w in result["warnings"]), result[
            "warnings"
        ]
    assert info["row"] is not None and info["row"]["path"] == path, info


def test_damaged_files_issue_15():
    """The two files issue 15 names: decord_corrupted.mp4 (1 corrupt packet of 50) is served with the lost
    frame repeating the next one, identically in streaming and random access; gizmo-frag-2_noinit.mp4 (55
    of 60 frames lost) fails in both, with a VideoError that names the file and says why."""
    corrupted, _ = outcome("hostile/decord_corrupted.mp4", ["hostile/mozilla_gizmo-frag-2_noinit.mp4"])
    assert corrupted["probe"]["n_frames"] == 50 and corrupted["stream"]["starts"] == clip_starts(50)
    assert sum(corrupted["stream"]["missing"]) >= 1
    assert any("skipped 1 corrupt packet" in w for w in corrupted["warnings"])
    gizmo, _ = outcome("hostile/mozilla_gizmo-frag-2_noinit.mp4", [])
    assert "no clip could be decoded" in gizmo["stream"]["error"]
    assert all("could not be decoded" in e["error"] for e in gizmo["random"]["errors"])


def test_expectations_match_sources():
    """The tables above say what SOURCES.md says, and name every file in the folder."""
    text = (CORPUS / "SOURCES.md").read_text()
    rows = {}
    for line in text.splitlines():
        if m := re.match(r"\| `([^`]+)` \|", line):
            cells = [c.strip() for c in line.strip("|").split("|")]
            rows[m.group(1)] = cells
    # Each file's notes end with "Measured: ... Streams: video:h264, audio:aac ..." listing its streams in order.
    streams = {}
    for m in re.finditer(r"^- `([^`]+)`: origin.*?^  - Measured: (.*?)$", text, flags=re.M | re.S):
        listed = re.search(r"Streams: ([^|]*)", m.group(2))
        streams[m.group(1)] = [k.strip() for k in listed.group(1).split(",")] if listed else []
    on_disk = {p.relative_to(CORPUS).as_posix() for p in CORPUS.rglob("*") if p.is_file()} - {"SOURCES.md"}
    assert set(rows) == on_disk == set(VALID) | set(HOSTILE)
    assert not set(VALID) & set(HOSTILE) and set(FAST) <= set(ALL)
    for rel, (frames, width, height, rotation, stream) in VALID.items():
        if rel == "clips/nasa_13013.mp4":  # the table row measured stream 0; the notes give stream 3
            assert "#3 h264 480x270 30000/1001 fps, 390 frames" in text
            continue
        size, counted = rows[rel][4], rows[rel][5]
        m = re.match(r"(\d+)x(\d+)(?: rot (-?\d+))?$", size)
        assert m, (rel, size)
        stored_w, stored_h, rot = int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)
        turned = rot % 180 != 0
        assert (width, height) == ((stored_h, stored_w) if turned else (stored_w, stored_h)), rel
        assert rotation == rot, rel
        assert int(counted.split()[0]) == frames, rel
        kinds = streams[rel]  # e.g. ["audio:aac", "video:h264"]: the one video stream is FFmpeg's choice
        assert [k.split(":")[0] for k in kinds].count("video") == 1, rel
        assert stream == [k.split(":")[0] for k in kinds].index("video"), rel


@pytest.mark.slow
def test_extract_over_the_corpus(tmp_path, tiny_weights):
    """``vidlens extract`` over the whole folder (a tiny model, in a subprocess): the run finishes, every
    valid file and every salvageable hostile one gets a descriptor, every broken one a manifest record
    with its error, and the exit status says that some failed."""
    import numpy as np

    from vidlens.features.store.layout import manifest_name, read_manifest

    out = tmp_path / "store"
    model = ["--model", "c3d_depth3", "--model-arg", "width=2", "--weights", str(tiny_weights)]
    command = [sys.executable, "-m", "vidlens", "extract", str(CORPUS), "--out", str(out), *model]
    command += ["--workers", "2", "--device", "cpu", "--quiet"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert "Traceback" not in done.stderr, done.stderr[-4000:]
    assert done.returncode == 1, (done.stdout, done.stderr[-4000:])  # 1: some videos failed
    records = read_manifest(out / manifest_name())
    root = CORPUS.resolve()
    by_file = {Path(r["source"]).relative_to(root).as_posix(): r for r in records}
    assert set(by_file) == set(ALL)  # every file found in the folder (.3gp and .264 too) and recorded
    for rel, (frames, *_, stream) in VALID.items():
        record = by_file[rel]
        assert record["status"] == "ok", (rel, record["error"])
        assert (record["frames"], record["stream_index"]) == (frames, stream)
        assert record["n_clips"] == len(clip_starts(frames, 16, 8))
        descriptor = np.load(out / record["files"]["fc6"]["descriptor"])
        assert np.isfinite(descriptor).all() and abs(np.linalg.norm(descriptor) - 1) < 1e-4
    for rel, expected in HOSTILE.items():
        record = by_file[rel]
        if expected == "error":
            assert record["status"] == "failed" and str(root / rel) in record["error"], record
            assert record["error"].startswith("cannot read video"), record
        else:
            assert record["status"] == "ok" and record["n_clips"] >= 1, (rel, record["error"])
