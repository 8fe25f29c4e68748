"""Distributed data parallel training on the CPU: two gloo processes, started as torchrun would start them."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist

from vidlens.data.synthetic import MotionConfig, make_motion_dataset
from vidlens.runs import TrainConfig
from vidlens.train import train

pytestmark = pytest.mark.skipif(
    not (dist.is_available() and dist.is_gloo_available()), reason="needs torch.distributed with gloo"
)

# What each process runs: the environment says which rank it is, as under torchrun.
WORKER = """
import json, sys
import torch
from vidlens.runs import TrainConfig
from vidlens.train import train

torch.set_num_threads(1)
result = train(TrainConfig.from_dict(json.loads(sys.argv[1])), sys.argv[2], progress=False)
print("RESULT " + json.dumps({"rank": result.rank, "epochs": result.epochs, "history": result.history}))
"""


def without_timings(history: list[dict]) -> list[dict]:
    return [{k: v for k, v in h.items() if k not in ("seconds", "clips_per_s")} for h in history]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_two_processes(config: TrainConfig, run: Path) -> list[tuple[str, dict]]:
    """Start ranks 0 and 1 of a 2-process gloo group; returns each one's (stdout, result)."""
    port = free_port()
    procs = []
    for rank in (0, 1):
        env = {
            **os.environ,
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(port),
            "WORLD_SIZE": "2",
            "RANK": str(rank),
            "LOCAL_RANK": str(rank),
            "OMP_NUM_THREADS": "1",
        }
        args = [sys.executable, "-c", WORKER, json.dumps(config.to_dict()), str(run)]
        procs.append(
            subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        )
    outputs = []
    try:
        for p in procs:
            out, err = p.communicate(timeout=180)
            assert p.returncode == 0, f"rank {len(outputs)} failed:\n{out}\n{err}"
            outputs.append(out)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    results = []
    for out in outputs:
        line = next(line for line in out.splitlines() if line.startswith("RESULT "))
        results.append((out, json.loads(line.removeprefix("RESULT "))))
    return results


@pytest.mark.slow  # end to end: a few seconds or more on 2 cores
def test_two_processes_train_like_one_on_the_global_batch(tmp_path):
    root = tmp_path / "data"
    make_motion_dataset(
        root, MotionConfig(num_classes=2, videos_per_class=6, frames=16, height=32, width=32), progress=False
    )
    # No dropout: each process draws its own masks, the only thing that may differ from one process.
    config = TrainConfig(
        data=str(root),
        model="gru_rcn",
        model_kwargs={"width": 4, "dropout": 0.0},
        epochs=2,
        batch_size=4,  # global: 2 clips per process and step
        lr=0.01,
        lr_steps=(),
        clip_len=8,
        size=(32, 32),
        crop=28,
        flip_p=0.5,
        workers=0,
    )
    run = tmp_path / "ddp"
    (out0, rank0), (out1, rank1) = run_two_processes(config, run)

    assert (rank0["rank"], rank1["rank"]) == (0, 1)
    assert rank0["epochs"] == rank1["epochs"] == 2
    # The metrics are all-reduced: every process has the same record, but for its own timings.
    assert without_timings(rank0["history"]) == without_timings(rank1["history"])
    assert "epoch 2/2" in out0 and out1.splitlines() == [out1.splitlines()[-1]]  # rank 1 prints nothing
    assert {p.name for p in run.iterdir()} == {
        "config.json",
        "log.jsonl",
        "curves.png",
        "checkpoint.pt",
        "model.pt",
    }
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert log == rank0["history"]
    assert [(h["clips"], h["skipped"]) for h in log] == [(8, 0), (8, 0)]  # all 8 videos once per epoch
    checkpoint = torch.load(run / "checkpoint.pt", weights_only=True)
    assert len(checkpoint["rng"]) == 2 and not any(k.startswith("module.") for k in checkpoint["model"])

    # One process on the whole global batch takes the same steps: same clips, same mean-loss gradients.
    single = train(config, tmp_path / "single", progress=False)
    for a, b in zip(single.history, log, strict=True):
        assert (a["clips"], a["accuracy"], a["lr"]) == (b["clips"], b["accuracy"], b["lr"])
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-5)
    ddp_weights = torch.load(run / "model.pt", weights_only=True)["state_dict"]
    single_weights = torch.load(tmp_path / "single" / "model.pt", weights_only=True)["state_dict"]
    for name, value in single_weights.items():
        torch.testing.assert_close(ddp_weights[name], value, rtol=1e-5, atol=1e-6)
