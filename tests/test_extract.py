"""Feature extraction: the per-video API, the feature store, resume after a kill, failures, shards, HDF5."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from vidlens.cli import main
from vidlens.features.extract import (
    BF16_TOLERANCE,
    ClipRecipe,
    _Runner,
    extract_collection,
    extract_features,
    resolve_inputs,
    shard_inputs,
)
from vidlens.features.store import load_features, make_video_ids, read_manifest
from vidlens.models import create_model, extract
from vidlens.presets import get_preset
from vidlens.runtime import Runtime
from vidlens.video import iter_clips, write_video

from conftest import indexed_frames

SMALL: dict = {}  # C3D's defaults: frames resized to 128x171, centre crop 112


def _model(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return create_model("c3d_depth1", num_classes=3, width=2).eval()  # a C3D-shaped net, 10 M MACs a clip


@pytest.fixture(scope="module")
def tiny_model():
    return _model()


@pytest.fixture(scope="module")
def collection(tmp_path_factory) -> Path:
    """Five short videos in class folders (one nested), of different lengths."""
    root = tmp_path_factory.mktemp("collection")
    lengths = {"A/a1.mp4": 20, "A/a2.mp4": 33, "B/b1.mp4": 16, "B/deep/b2.mp4": 9, "B/b 3.mp4": 40}
    for k, (rel, n) in enumerate(lengths.items()):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        write_video(path, indexed_frames(n, 64, 96, seed=k), options={"qp": "0"})
    return root


def test_video_ids_are_safe_and_unique():
    ids = make_video_ids(["A/v 1.avi", "A/v 1.mp4", "a/V 1.mp4", "../x.mp4", "noext"])
    assert ids == ["A__v_1", "A__v_1~2", "a__V_1~3", "x", "noext"]
    assert all("/" not in i for i in ids)


def test_resolve_inputs_files_folders_and_lists(collection, tmp_path):
    videos = resolve_inputs([collection])
    assert [v.id for v in videos] == ["A__a1", "A__a2", "B__b_3", "B__b1", "B__deep__b2"]
    listing = tmp_path / "list.txt"
    listing.write_text(
        f"# two videos\n{collection / 'A/a1.mp4'}\n\n{os.path.relpath(collection / 'B/b1.mp4', tmp_path)}\n"
    )
    from_list = resolve_inputs([f"@{listing}", collection / "A/a1.mp4"])  # a1 twice: kept once
    assert [v.path.name for v in from_list] == ["a1.mp4", "b1.mp4"]
    with pytest.raises(FileNotFoundError, match="no such video file or folder"):
        resolve_inputs([tmp_path / "missing.mp4"])
    with pytest.raises(FileNotFoundError, match="no such list file"):
        resolve_inputs([f"@{tmp_path / 'nope.txt'}"])
    assert [v.id for v in shard_inputs(videos, (1, 2))] == ["A__a2", "B__b1"]
    with pytest.raises(ValueError, match="0 <= i < n"):
        shard_inputs(videos, (2, 2))


def test_extract_features_is_the_mean_of_clip_activations(collection, tiny_model):
    path = collection / "A/a2.mp4"  # 33 frames: clips at 0, 8, 16 (16 frames each)
    f = extract_features(tiny_model, path, "fc6", stride=8, preset="plain", **SMALL)
    assert f.starts == [0, 8, 16] and f.frames == 33 and f.clips.shape == (3, 2048)
    # Recompute by hand: the same clips through the model, averaged, L2-normalised.
    clips = torch.stack(
        [
            get_preset("plain").normalize(np.ascontiguousarray(c.frames[:, 8:120, 29:141]))
            for c in iter_clips(path, 16, 8)
        ]
    )  # (3, 3, 16, 112, 112): centre crops of 128x171 frames
    expected = extract(tiny_model, clips, "fc6")["fc6"].numpy()  # (3, 2048)
    np.testing.assert_allclose(f.clips, expected, rtol=1e-4, atol=1e-5)
    mean = expected.mean(0)
    np.testing.assert_allclose(f.descriptor, mean / np.linalg.norm(mean), rtol=1e-4, atol=1e-6)
    assert abs(np.linalg.norm(f.descriptor) - 1) < 1e-5
    both = extract_features(tiny_model, path, ["pool5", "fc6"], preset="plain", **SMALL)
    assert set(both) == {"pool5", "fc6"} and both["pool5"].clips.shape == (
        3,
        8,
    )  # conv maps: mean over T, H, W
    np.testing.assert_array_equal(both["fc6"].descriptor, f.descriptor)
    with pytest.raises(KeyError, match="unknown C3DDepth layer 'fc9'"):
        extract_features(tiny_model, path, "fc9", **SMALL)


def _clips(path: Path, model: torch.nn.Module) -> torch.Tensor:
    transform = ClipRecipe(preset="plain").transform(model)
    return torch.stack([transform(c.frames) for c in iter_clips(path, 16, 8)])  # (n, 3, 16, 112, 112)


def test_calibration_keeps_bf16_within_tolerance_else_fp32(collection, tiny_model):
    """ "auto" on CUDA calibrates bf16 against fp32 on the first batch; the same code runs on the CPU."""
    clips = _clips(collection / "A/a2.mp4", tiny_model)
    runner = _Runner(tiny_model, ["fc6", "pool5"], torch.device("cpu"), "fp32", "auto")
    error = runner.calibrate(clips, Runtime.create("cpu", "bf16"))
    assert 0 < error <= BF16_TOLERANCE and runner.calibration_error == error
    assert runner.precision == "bf16" and runner.candidate is None

    strict = _Runner(tiny_model, ["fc6"], torch.device("cpu"), "fp32", "auto")
    assert strict.calibrate(clips, Runtime.create("cpu", "bf16"), tolerance=0.0) > 0
    assert strict.precision == "fp32"

    # The path "auto" takes: a candidate calibrated by the first batch, then kept for the others.
    auto = _Runner(tiny_model, ["fc6"], torch.device("cpu"), "auto", "auto")
    assert auto.precision == "fp32" and auto.candidate is None  # on the CPU "auto" is fp32
    auto.candidate = replace(auto.runtime, precision="bf16")
    first = auto(clips)["fc6"]
    assert auto.precision == "bf16" and auto.candidate is None and auto.calibration_error is not None
    np.testing.assert_array_equal(auto(clips)["fc6"], first)


def test_bf16_extraction_on_the_cpu_is_close_to_fp32(collection, tiny_model, tmp_path):
    path = collection / "A/a2.mp4"
    exact = extract_features(tiny_model, path, "fc6", preset="plain", device="cpu", precision="fp32")
    fast = extract_features(tiny_model, path, "fc6", preset="plain", device="cpu", precision="bf16")
    assert fast.clips.shape == exact.clips.shape and not np.array_equal(fast.clips, exact.clips)
    assert np.linalg.norm(fast.clips - exact.clips) <= 1e-1 * np.linalg.norm(exact.clips)
    assert np.linalg.norm(fast.descriptor - exact.descriptor) <= 1e-1  # unit vectors: relative error
    summary = _extract(tiny_model, [collection / "A"], tmp_path / "feats", device="cpu", precision="bf16")
    assert (summary.done, summary.precision) == (2, "bf16")
    with pytest.raises(ValueError, match="fp16 needs a CUDA device"):
        extract_features(tiny_model, path, "fc6", device="cpu", precision="fp16")


def _extract(model, inputs, out, **kw):
    kw = {
        "layers": ["fc6"],
        "clips": ClipRecipe(preset="plain"),
        "batch_size": 4,
        "workers": 2,
        "progress": False,
        **SMALL,
        **kw,
    }
    return extract_collection(model, resolve_inputs(inputs), out, **kw)


def _store_bytes(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def test_extract_collection_writes_the_store(collection, tiny_model, tmp_path):
    out = tmp_path / "feats"
    summary = _extract(tiny_model, [collection], out)
    assert (summary.total, summary.done, summary.skipped, summary.failed) == (5, 5, 0, [])
    records = read_manifest(out / "manifest.jsonl")
    assert [r["id"] for r in records] == ["A__a1", "A__a2", "B__b_3", "B__b1", "B__deep__b2"]  # input order
    by_id = {r["id"]: r for r in records}
    assert by_id["A__a2"]["clip_starts"] == [0, 8, 16] and by_id["A__a2"]["n_clips"] == 3
    assert by_id["B__deep__b2"]["n_clips"] == 1  # shorter than a clip: one padded clip
    assert by_id["A__a1"]["frames"] == 20 and by_id["A__a1"]["fps"] == pytest.approx(25)
    assert by_id["A__a1"]["source"] == str((collection / "A/a1.mp4").resolve())
    descriptor = np.load(out / "A__a2.npy")
    clips = np.load(out / "A__a2.clips.npy")
    assert descriptor.dtype == np.float32 and descriptor.shape == (2048,) and clips.shape == (3, 2048)
    # The same numbers as the one-video API.
    single = extract_features(tiny_model, collection / "A/a2.mp4", "fc6", preset="plain", **SMALL)
    np.testing.assert_allclose(clips, single.clips, rtol=1e-4, atol=1e-5)
    store = load_features(out)
    assert store.ids == [r["id"] for r in records] and store.descriptors.shape == (5, 2048)
    np.testing.assert_array_equal(store.clips(1), clips)
    assert not [p for p in out.rglob(".*")]  # no temporary or partial files left
    again = _extract(tiny_model, [collection], out)  # a rerun has nothing to do
    assert (again.done, again.skipped) == (0, 5)
    with pytest.raises(ValueError, match="other settings.*stride"):
        _extract(tiny_model, [collection], out, clips=ClipRecipe(stride=4, preset="plain"))


@pytest.mark.parametrize("workers", [0, 2])
def test_the_model_sees_full_batches_and_one_padded_batch_at_most(collection, tiny_model, tmp_path, workers):
    """10 clips in 5 videos, batches of 5: two forward passes of 5 whatever the workers (each worker's last
    chunk is merged with the others' before the model runs), and the same descriptors with or without
    workers (to float rounding)."""
    seen: list[int] = []
    handle = tiny_model.register_forward_pre_hook(lambda module, args: seen.append(len(args[0])))
    try:
        _extract(tiny_model, [collection], tmp_path / "feats", batch_size=5, workers=workers)
    finally:
        handle.remove()
    assert seen == [5, 5]  # 1 + 3 + 4 + 1 + 1 clips (two workers alone: 6 and 4, three passes)
    reference = _extract(tiny_model, [collection], tmp_path / "reference", batch_size=5, workers=0)
    assert reference.clips == 10
    # Equal up to float rounding: a clip's row in its batch differs with the workers, and a multi-threaded
    # GEMM may round rows differently (a rerun with the same workers is bit-identical: the test below).
    for name in ("A__a2.npy", "B__b_3.npy", "B__b_3.clips.npy"):
        np.testing.assert_allclose(
            np.load(tmp_path / "feats" / name), np.load(tmp_path / "reference" / name), rtol=1e-5, atol=1e-6
        )


def test_failed_videos_are_recorded_and_the_run_goes_on(collection, tiny_model, tmp_path):
    root = tmp_path / "videos"
    shutil.copytree(collection, root)
    (root / "A/broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 this is not a real video")
    out = tmp_path / "feats"
    summary = _extract(tiny_model, [root], out)
    assert summary.done == 5 and len(summary.failed) == 1
    failed = summary.failed[0]
    assert failed["id"] == "A__broken" and failed["status"] == "failed" and failed["error"]
    assert "1 failed" in summary.summary() and "broken.mp4" in summary.summary()
    assert not (out / "A__broken.npy").exists()
    assert load_features(out).failed[0]["id"] == "A__broken"
    weights = tmp_path / "w.pt"
    torch.save(tiny_model.state_dict(), weights)
    code = main(["extract", str(root), "--out", str(tmp_path / "cli"), "--model", "c3d_depth1", "--model-arg", "width=2", "--weights", str(weights),
                 "--preset", "plain", "--quiet"])  # fmt: skip
    assert code == 1  # the exit status says that some videos failed
    assert len(read_manifest(tmp_path / "cli" / "manifest.jsonl")) == 6


_KILL_SCRIPT = """
import sys, torch
from vidlens.features.extract import ClipRecipe, extract_collection, resolve_inputs
from vidlens.models import create_model
torch.manual_seed(0)
model = create_model("c3d_depth1", num_classes=3, width=2).eval()
def on_video(record):
    if record["id"] == sys.argv[3]:
        import os, signal
        os.kill(os.getpid(), signal.SIGKILL)
extract_collection(model, resolve_inputs([sys.argv[1]]), sys.argv[2], layers=["fc6"], clips=ClipRecipe(preset="plain"),
                   batch_size=4, workers=int(sys.argv[4]), progress=False, on_video=on_video)
"""


@pytest.mark.slow  # end to end: a few seconds or more on 2 cores
@pytest.mark.parametrize("workers", [0, 2])
def test_a_killed_run_is_completed_identically(collection, tiny_model, tmp_path, workers):
    reference = tmp_path / "reference"
    _extract(tiny_model, [collection], reference, workers=workers)
    out = tmp_path / "killed"
    script = tmp_path / "kill.py"
    script.write_text(_KILL_SCRIPT)
    proc = subprocess.run(
        [sys.executable, str(script), str(collection), str(out), "B__b_3", str(workers)], capture_output=True
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()
    partial = read_manifest(out / "manifest.jsonl")
    assert 0 < len(partial) < 5  # killed mid-run
    summary = _extract(tiny_model, [collection], out, workers=workers)
    assert summary.skipped == len(partial) and summary.done == 5 - len(partial)
    assert _store_bytes(out) == _store_bytes(reference)  # bit-identical, no partial files


def test_shards_split_the_work_and_read_back_together(collection, tiny_model, tmp_path):
    out = tmp_path / "feats"
    sizes = [_extract(tiny_model, [collection], out, shard=(i, 2)).total for i in range(2)]
    assert sizes == [3, 2]
    assert sorted(p.name for p in out.glob("manifest*")) == ["manifest-0-of-2.jsonl", "manifest-1-of-2.jsonl"]
    store = load_features(out)
    assert sorted(store.ids) == ["A__a1", "A__a2", "B__b1", "B__b_3", "B__deep__b2"]


def test_hdf5_store(collection, tiny_model, tmp_path):
    pytest.importorskip("h5py")
    npy, h5 = tmp_path / "npy", tmp_path / "h5"
    _extract(tiny_model, [collection], npy)
    summary = _extract(tiny_model, [collection], h5, fmt="hdf5")
    assert summary.store.endswith("features.h5") and [p.name for p in h5.iterdir()] == ["features.h5"]
    a, b = load_features(npy), load_features(h5)
    assert a.ids == b.ids
    np.testing.assert_array_equal(a.descriptors, b.descriptors)
    for k in range(len(a)):
        np.testing.assert_array_equal(a.clips(k), b.clips(k))
    assert _extract(tiny_model, [collection], h5, fmt="hdf5").skipped == 5


def test_cli_extract(collection, tmp_path, capsys):
    out = tmp_path / "feats"
    with pytest.warns(UserWarning, match="randomly initialised"):
        code = main(["extract", str(collection / "A"), "--out", str(out), "--model", "c3d_depth1", "--model-arg", "width=2", "--layer", "fc6",
                     "--layer", "pool5", "--workers", "0", "--quiet"])  # fmt: skip
    assert code == 0
    assert "2 videos extracted" in capsys.readouterr().out
    assert (out / "fc6" / "a1.npy").is_file() and (out / "pool5" / "a1.clips.npy").is_file()
    record = json.loads((out / "manifest.jsonl").read_text().splitlines()[0])
    assert (
        record["layers"] == ["fc6", "pool5"]
        and record["model"] == "c3d_depth1"
        and record["preset"] == "plain"
    )
    assert record["weights_sha256"] is None
    assert main(["extract", str(tmp_path / "nothing"), "--out", str(out)]) == 2
    assert "no such video file or folder" in capsys.readouterr().err
