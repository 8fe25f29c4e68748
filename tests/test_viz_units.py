"""vidlens.viz.units: every figure draws and saves as a PNG from small made-up results, shape mistakes are
messages, and drawing a dendrogram (SciPy draws it on our axes) never imports pyplot."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vidlens.interpret import DirectionTuning, filter_redundancy
from vidlens.viz import (
    dendrogram_figure,
    dependence_figure,
    dsi_figure,
    layer_histograms_figure,
    preferred_speed_figure,
    redundancy_curve_figure,
    save_figure,
    temporal_sensitivity_figure,
    tuning_polar_figure,
)

PNG = b"\x89PNG\r\n\x1a\n"


def saved(fig, path: Path) -> bool:
    return save_figure(fig, path).read_bytes().startswith(PNG)


def test_redundancy_pictures(tmp_path):
    rng = np.random.default_rng(0)
    kernels = rng.standard_normal((10, 27))
    kernels[5:] = kernels[:5] * 2 + 0.01 * rng.standard_normal((5, 27))
    result = filter_redundancy(kernels)
    fig = dendrogram_figure(result.linkage_matrix, result.tau, title="conv1")
    assert "5 clusters, 5 redundant" in fig.axes[0].get_xlabel()
    assert saved(fig, tmp_path / "d.png")
    big = filter_redundancy(rng.standard_normal((100, 8)))
    assert saved(dendrogram_figure(big.linkage_matrix, 0.3, linkage="average"), tmp_path / "big.png")
    assert saved(dendrogram_figure(np.zeros((0, 4)), 0.54), tmp_path / "one.png")
    taus = np.linspace(0, 1, 11)
    curves = {"conv1": np.linspace(8, 0, 11).astype(int), "conv2": np.linspace(12, 1, 11).astype(int)}
    fig = redundancy_curve_figure(taus, curves, n_filters={"conv1": 8, "conv2": 16}, tau=0.54)
    assert fig.axes[0].get_ylabel() == "redundant filters (%)"
    assert saved(fig, tmp_path / "curve.png")
    with pytest.raises(ValueError, match="3 values for 11 thresholds"):
        redundancy_curve_figure(taus, {"conv1": [1, 2, 3]})
    with pytest.raises(ValueError, match=r"SciPy's \(n - 1, 4\)"):
        dendrogram_figure(np.zeros((3, 3)), 0.5)


def test_dependence_heat_maps(tmp_path):
    rng = np.random.default_rng(1)
    corr = np.corrcoef(rng.standard_normal((50, 6)), rowvar=False)
    mi = np.abs(corr)
    np.fill_diagonal(mi, np.nan)
    mi[0, 1] = mi[1, 0] = np.nan  # not estimated
    assert saved(dependence_figure(corr, mi, title="conv3"), tmp_path / "dep.png")
    fig = dependence_figure(corr, mi, units=[1, 3, 4])
    assert "3 of 6" in fig.axes[0].get_xlabel()
    assert saved(dependence_figure(np.eye(40), np.full((40, 40), np.nan)), tmp_path / "wide.png")
    with pytest.raises(ValueError, match="two square matrices"):
        dependence_figure(np.eye(3), np.eye(4))


def test_layer_histograms_tuning_and_speeds(tmp_path):
    rng = np.random.default_rng(2)
    scores = {f"conv{i}": rng.uniform(0, 1, 10 * i) for i in range(1, 6)}
    scores["conv5"][:3] = np.nan  # silent units
    fig = temporal_sensitivity_figure(scores, title="model")
    assert len([ax for ax in fig.axes if ax.get_visible()]) == 5
    assert "(3 silent)" in fig.axes[4].texts[0].get_text()
    assert saved(fig, tmp_path / "ts.png")
    assert saved(dsi_figure({"conv1": [0.1, 0.9, np.nan]}), tmp_path / "dsi.png")
    assert saved(
        layer_histograms_figure({"a": [-1.0, 2.0]}, xlabel="x", value_range=(-2, 2)), tmp_path / "h.png"
    )

    responses = rng.uniform(0, 1, (5, 8, 3, 1))
    tuning = DirectionTuning.from_responses(responses, np.arange(8) * 45.0, [0.5, 1.0, 2.0], ["grating"])
    labels = [f"u{i} DSI {d:.2f}" for i, d in enumerate(tuning.dsi)]
    fig = tuning_polar_figure(tuning.directions, tuning.tuning_curve, labels=labels, cols=3)
    assert len(fig.axes) == 5 and fig.axes[0].name == "polar"
    assert saved(fig, tmp_path / "polar.png")
    assert saved(tuning_polar_figure(tuning.directions, np.zeros((1, 8))), tmp_path / "flat.png")
    preferred = {"conv1": tuning.preferred_speed, "conv2": np.array([0.5, 0.5, np.nan, 2.0])}
    assert saved(preferred_speed_figure(tuning.speeds, preferred), tmp_path / "speeds.png")
    with pytest.raises(ValueError, match=r"curves must be \(units, 8\)"):
        tuning_polar_figure(tuning.directions, np.zeros((2, 4)))
    with pytest.raises(ValueError, match="one label per curve"):
        tuning_polar_figure(tuning.directions, np.zeros((2, 8)), labels=["a"])


_DRAW = """
import json, sys, tempfile
from pathlib import Path
import numpy as np
import matplotlib
before = matplotlib.rcParams._get("backend")
from vidlens.interpret import filter_redundancy
from vidlens.viz import dendrogram_figure, save_figure, tuning_polar_figure
result = filter_redundancy(np.random.default_rng(0).standard_normal((6, 5)))
out = Path(tempfile.mkdtemp())
save_figure(dendrogram_figure(result.linkage_matrix, 0.5), out / "d.png")
save_figure(tuning_polar_figure(np.arange(4) * 90.0, np.ones((1, 4))), out / "p.png")
print(json.dumps({"pyplot": "matplotlib.pyplot" in sys.modules, "same": matplotlib.rcParams._get("backend") == before}))
"""


def test_drawing_never_imports_pyplot():
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    done = subprocess.run([sys.executable, "-c", _DRAW], capture_output=True, text=True, env=env, check=True)
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report == {"pyplot": False, "same": True}
