"""Dependence between units (vidlens.interpret.dependence): mutual information near 0 for independent signals,
clearly positive for y = x^2 whose correlation is near 0, the Gaussian closed form, the matrices' symmetry and
diagonals, sub-sampled wide layers, non-linear pairs, and activations collected from a model.

Signals are drawn here (1000 samples); the model is c3d_depth3 at width 2 on 16 x 16 x 16 clips.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from torch import nn

from vidlens.interpret import (
    UnitPair,
    activations_by_layer,
    dependence,
    feature_maps,
    layer_activations,
    moving_dots,
    nonlinear_pairs,
    subsample_units,
)
from vidlens.models import create_model

N = 1000


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def signals() -> np.ndarray:
    """(N, 5): x, an independent z, x^2, a noisy linear copy of x, and a ReLU of x. x is symmetric about 0
    sample by sample (every value comes with its negative), so x and x^2 are exactly uncorrelated."""
    rng = np.random.default_rng(0)
    half = rng.standard_normal(N // 2)
    x, z = rng.permutation(np.concatenate([half, -half])), rng.standard_normal(N)
    return np.stack([x, z, x**2, 2.0 * x + 0.3 * rng.standard_normal(N), np.maximum(x, 0)], axis=1)


@pytest.fixture(scope="module")
def c3d() -> nn.Module:
    torch.manual_seed(0)
    return create_model("c3d_depth3", num_classes=4, width=2, norm="batch").eval()


@pytest.mark.parametrize("method", ["knn", "binned"])
def test_independent_near_zero_and_x_squared_clearly_positive(signals, method):
    correlation, mi = dependence(signals, method)
    assert correlation.shape == mi.shape == (5, 5)
    assert mi[0, 1] < 0.05 and mi[1, 2] < 0.05  # independent
    assert abs(correlation[0, 2]) < 1e-9  # y = x^2 of a symmetric x: uncorrelated ...
    assert mi[0, 2] > 0.5  # ... but fully dependent
    assert mi[0, 3] > 0.5 and correlation[0, 3] > 0.9
    np.testing.assert_array_equal(mi, mi.T)
    np.testing.assert_array_equal(correlation, correlation.T)
    assert np.isnan(np.diag(mi)).all() and np.all(np.diag(correlation) == 1.0)
    off = ~np.eye(5, dtype=bool)
    assert np.all(mi[off] >= 0) and np.isfinite(mi[off]).all()
    np.testing.assert_allclose(correlation, np.corrcoef(signals, rowvar=False), atol=1e-12)


def test_knn_matches_the_gaussian_closed_form():
    rng = np.random.default_rng(1)
    for rho in (0.0, 0.6, 0.9):
        cov = [[1.0, rho], [rho, 1.0]]
        pair = rng.multivariate_normal([0, 0], cov, size=2000)
        _, mi = dependence(pair, "knn")
        assert mi[0, 1] == pytest.approx(-0.5 * np.log(1 - rho**2), abs=0.05)


def test_a_constant_unit_has_no_correlation_and_no_information(signals):
    data = np.concatenate([signals[:, :2], np.full((N, 1), 3.0)], axis=1)  # a dead ReLU: always 3
    for method in ("knn", "binned"):
        correlation, mi = dependence(data, method)
        assert np.isnan(correlation[2]).all() and np.isnan(correlation[:, 2]).all()
        assert mi[0, 2] < 0.02 and mi[1, 2] < 0.02


def test_binned_estimator_keeps_ties_in_one_bin():
    rng = np.random.default_rng(2)
    x = np.maximum(rng.standard_normal(N), 0.0)  # half zeros, as ReLU units are
    y = np.maximum(rng.standard_normal(N), 0.0)
    _, mi = dependence(np.stack([x, y, x], 1), "binned", bins=8)
    assert mi[0, 1] < 0.03  # independent despite the ties
    assert mi[0, 2] == pytest.approx(np.log(2) + 0.5 * np.log(4), abs=0.15)  # H of: zero, or 1 of 4 bins


def test_wide_layers_subsample_units_and_say_so(signals):
    rng = np.random.default_rng(3)
    wide = np.concatenate([signals, rng.standard_normal((N, 7))], axis=1)  # 12 units
    with pytest.warns(RuntimeWarning, match=r"between 5 of 12 units .*seed 7.*10 of 66 pairs"):
        correlation, mi = dependence(wide, "binned", max_units=5, seed=7)
    units = subsample_units(12, 5, seed=7)
    assert len(units) == 5 and np.all(np.diff(units) > 0)
    estimated = np.isfinite(mi)
    expected = np.zeros((12, 12), bool)
    expected[np.ix_(units, units)] = True
    np.fill_diagonal(expected, False)
    np.testing.assert_array_equal(estimated, expected)
    assert np.isfinite(correlation).all()  # correlation is always complete
    _, full = dependence(wide, "binned", max_units=None)
    np.testing.assert_allclose(mi[estimated], full[estimated])
    np.testing.assert_array_equal(subsample_units(12, 12), np.arange(12))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dependence(wide, "binned", max_units=12)  # no sub-sample, no warning


def test_nonlinear_pairs_list_high_information_low_correlation(signals):
    correlation, mi = dependence(signals, "knn")
    pairs = nonlinear_pairs(correlation, mi)
    assert pairs and all(isinstance(p, UnitPair) for p in pairs)
    assert (pairs[0].i, pairs[0].j) == (0, 2) or (pairs[0].i, pairs[0].j) == (2, 3)
    found = {(p.i, p.j) for p in pairs}
    assert (0, 2) in found and (0, 3) not in found and (0, 1) not in found  # linear, independent
    for p in pairs:
        assert p.i < p.j and abs(p.correlation) <= 0.3 and p.mutual_information >= 0.1
        assert p.excess == pytest.approx(p.mutual_information + 0.5 * np.log(1 - p.correlation**2))
    assert [p.excess for p in pairs] == sorted((p.excess for p in pairs), reverse=True)
    assert len(nonlinear_pairs(correlation, mi, top=1)) == 1
    assert nonlinear_pairs(correlation, mi, min_mutual_information=100) == []
    holes = mi.copy()
    holes[0, 2] = holes[2, 0] = np.nan  # not estimated: skipped
    assert (0, 2) not in {(p.i, p.j) for p in nonlinear_pairs(correlation, holes)}


def test_mistakes_say_how_to_fix_them(signals):
    with pytest.raises(ValueError, match="too few .* positions=16"):
        dependence(signals[:5], "knn")
    with pytest.raises(ValueError, match="'knn' .* or 'binned'"):
        dependence(signals, "kde")
    with pytest.raises(ValueError, match="at least 2 units"):
        dependence(signals[:, :1])
    with pytest.raises(ValueError, match="two .* matrices"):
        nonlinear_pairs(np.eye(3), np.eye(4))


def test_layer_activations_of_a_model(c3d):
    clips = moving_dots(np.arange(6) * 60.0, 1.0, frames=16, size=16, model=c3d)  # (6, 3, 16, 16, 16)
    maps = feature_maps(c3d, clips, "conv2").double()  # (6, 4, 16, 8, 8)
    mean = layer_activations(c3d, clips, "conv2")
    assert mean.shape == (6, 4) and mean.dtype == np.float64
    np.testing.assert_allclose(mean, maps.mean(dim=(2, 3, 4)).numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        layer_activations(c3d, clips, "conv2", batch_size=4), mean, rtol=1e-5, atol=1e-6
    )
    sampled = layer_activations(c3d, clips, "conv2", positions=5, batch_size=4, seed=3)
    assert sampled.shape == (30, 4)
    flat = maps.flatten(2).numpy()  # (6, 4, 1024)
    for row, values in enumerate(sampled):  # each sample is one position of its clip, all channels at once
        clip = row // 5
        distance = np.abs(flat[clip] - values[:, None]).max(axis=0)  # (1024,)
        assert distance.min() < 1e-5
    np.testing.assert_array_equal(
        sampled, layer_activations(c3d, clips, "conv2", positions=5, batch_size=4, seed=3)
    )
    both = activations_by_layer(c3d, clips, ["conv2", "conv4"], positions=5, batch_size=4, seed=3)
    np.testing.assert_allclose(both["conv2"], sampled, rtol=1e-5, atol=1e-6)
    assert both["conv4"].shape == (30, 8)
    with pytest.raises(ValueError, match="only 2 positions"):
        layer_activations(c3d, clips, "conv5", positions=3)  # conv5 is 2 x 1 x 1 here
    with pytest.raises(ValueError, match="positions is 'mean' or"):
        layer_activations(c3d, clips, "conv2", positions=0)
