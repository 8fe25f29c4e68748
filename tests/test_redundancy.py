"""Filter redundancy (vidlens.interpret.redundancy, Ayinde et al. 2019): planted duplicates counted exactly
for a tau between the noise and the distance of distinct filters, scale never moving a filter to another
cluster, linkage choices, dead filters, the curve over tau, and every convolution of a model.

Weights are drawn here: a layer of distinct random filters (in high dimension, nearly orthogonal) plus copies
and positively scaled copies of some of them with a little noise.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.cluster import hierarchy
from torch import nn

from vidlens.interpret import FilterRedundancy, cosine_distances, filter_redundancy, filters, model_redundancy
from vidlens.interpret.redundancy import DEFAULT_TAUS, conv_layers
from vidlens.models import create_model

SHAPE = (8, 3, 3, 3)  # (C_in, t, h, w): 216 weights per filter


def planted(
    n_distinct: int, copies: dict[int, list[float]], noise: float, seed: int = 0
) -> tuple[np.ndarray, list[int]]:
    """Kernels ``(C_out, *SHAPE)``: ``n_distinct`` random filters, then for every ``source: [scales]`` one
    copy per scale (``scale * filter + noise``), and the cluster each filter belongs to (its source's index)."""
    rng = np.random.default_rng(seed)
    base = rng.standard_normal((n_distinct, *SHAPE))
    kernels, truth = list(base), list(range(n_distinct))
    for source, scales in copies.items():
        for scale in scales:
            jitter = noise * np.linalg.norm(base[source]) / np.sqrt(base[source].size)
            kernels.append(scale * (base[source] + jitter * rng.standard_normal(SHAPE)))
            truth.append(source)
    return np.stack(kernels), truth


def same_partition(labels: np.ndarray, truth: list[int]) -> bool:
    """The two labelings group the filters alike (whatever the cluster numbers)."""
    pairs = {(int(a), int(b)) for a, b in zip(labels, truth, strict=True)}
    return len(pairs) == len(set(labels.tolist())) == len(set(truth))


@pytest.mark.parametrize("linkage", ["complete", "average"])
@pytest.mark.parametrize("tau", [0.5, 0.54, 0.9])
def test_planted_duplicates_are_counted_exactly(linkage, tau):
    # 12 distinct filters; filter 0 has 3 copies, filter 5 two, filter 7 one: 6 redundant. With 5% noise a
    # copy is at cosine distance ~0.001 from its source; distinct filters are at ~1 +- 0.07.
    kernels, truth = planted(12, {0: [1.0, 1.0, 1.0], 5: [1.0, 1.0], 7: [1.0]}, noise=0.05)
    result = filter_redundancy(torch.as_tensor(kernels), tau=tau, linkage=linkage)
    assert isinstance(result, FilterRedundancy)
    assert (result.n_filters, result.n_clusters, result.n_redundant) == (18, 12, 6)
    assert same_partition(result.labels, truth)
    assert result.redundant_fraction == pytest.approx(6 / 18)
    assert result.tau == tau and result.linkage == linkage
    assert result.linkage_matrix.shape == (17, 4)


def test_scaling_a_filter_never_moves_it_to_another_cluster():
    kernels, truth = planted(10, {1: [0.01, 3.0, 250.0], 4: [0.5]}, noise=0.05, seed=1)
    plain = filter_redundancy(kernels)
    assert plain.n_redundant == 4 and same_partition(plain.labels, truth)
    rng = np.random.default_rng(2)
    scales = rng.uniform(0.001, 1000.0, size=len(kernels))  # every filter rescaled, positively
    scaled = filter_redundancy(kernels * scales[:, None, None, None, None])
    np.testing.assert_array_equal(scaled.labels, plain.labels)
    # At every threshold, too: cosine distance does not see scale.
    for tau in (0.1, 0.54, 0.95, 0.999):
        np.testing.assert_array_equal(
            filter_redundancy(kernels * scales[:, None, None, None, None], tau).labels,
            filter_redundancy(kernels, tau).labels,
        )


def test_a_negated_filter_is_not_a_duplicate():
    kernels, _ = planted(6, {}, noise=0.0)
    kernels = np.concatenate([kernels, -kernels[:1]])  # detects the opposite pattern: distance 2
    result = filter_redundancy(kernels, tau=0.54)
    assert result.n_redundant == 0
    assert cosine_distances(kernels.reshape(7, -1))[5] == pytest.approx(2.0)  # pair (0, 6)


def test_tau_between_noise_and_distinct_distance_and_beyond():
    # Noise of 30%: copies at cosine distance ~0.04 of their source. tau = 0.99 (distance 0.01) is stricter
    # than that noise: nothing merges; tau = 0.54 merges exactly the copies; tau = -1 merges everything.
    kernels, truth = planted(10, {2: [1.0, 2.0], 3: [1.0]}, noise=0.3, seed=3)
    assert filter_redundancy(kernels, tau=0.99).n_redundant == 0
    assert same_partition(filter_redundancy(kernels, tau=0.54).labels, truth)
    assert filter_redundancy(kernels, tau=-1.0).n_clusters == 1


def test_complete_linkage_keeps_every_pair_above_tau():
    rng = np.random.default_rng(4)
    kernels = rng.standard_normal((40, 5)) + 1.0  # low dimension: a continuum of similarities
    similarity = 1.0 - hierarchy.distance.squareform(cosine_distances(kernels))
    for tau in (0.5, 0.8, 0.95):
        labels = filter_redundancy(kernels, tau=tau, linkage="complete").labels
        for cluster in np.unique(labels):
            members = np.flatnonzero(labels == cluster)
            assert similarity[np.ix_(members, members)].min() >= tau - 1e-12
    # Average linkage merges at least as much as complete at the same threshold.
    assert filter_redundancy(kernels, 0.8, "average").n_clusters <= filter_redundancy(kernels, 0.8).n_clusters


def test_labels_are_numbered_in_order_of_first_appearance():
    kernels, _ = planted(5, {4: [1.0], 0: [2.0]}, noise=0.01)
    labels = filter_redundancy(kernels).labels
    np.testing.assert_array_equal(labels, [0, 1, 2, 3, 4, 4, 0])


def test_dead_filters_are_duplicates_of_each_other_only():
    kernels, _ = planted(4, {}, noise=0.0)
    kernels = np.concatenate([kernels, np.zeros((3, *SHAPE))])
    distances = hierarchy.distance.squareform(cosine_distances(kernels.reshape(7, -1)))
    assert np.all(distances[4:, :4] == 1.0) and np.all(distances[4:, 4:] == 0.0)
    result = filter_redundancy(kernels)
    assert result.n_redundant == 2 and len(set(result.labels[4:])) == 1


def test_one_filter_and_mistakes():
    one = filter_redundancy(np.ones((1, 3, 3, 3, 3)))
    assert (one.n_clusters, one.n_redundant, one.linkage_matrix.shape) == (1, 0, (0, 4))
    with pytest.raises(ValueError, match="tau is a cosine similarity in"):
        filter_redundancy(np.ones((3, 4)), tau=1.5)
    with pytest.raises(ValueError, match="'complete' .* or 'average'"):
        filter_redundancy(np.ones((3, 4)), linkage="single")
    with pytest.raises(ValueError, match=r"\(C_out, C_in, ...\)"):
        filter_redundancy(np.ones(4))
    with pytest.raises(ValueError, match="NaN"):
        filter_redundancy(np.full((3, 4), np.nan))


def test_model_redundancy_reads_every_convolution_with_its_curve():
    torch.manual_seed(0)
    model = create_model("c3d_depth3", num_classes=4, width=2, norm="batch")
    with torch.no_grad():  # plant: conv3's filters 4..7 are scaled copies of 0..3
        model.conv3.weight[4:] = 2.5 * model.conv3.weight[:4]
    layers = model_redundancy(model, tau=0.54)
    assert [r.layer for r in layers] == conv_layers(model) == ["conv1", "conv2", "conv3", "conv4", "conv5"]
    conv3 = layers[2]
    assert conv3.kernel == (8, 4, 3, 3, 3) and conv3.filter_size == 108 and conv3.n_filters == 8
    assert conv3.result.n_redundant == 4
    np.testing.assert_array_equal(conv3.result.labels, filter_redundancy(filters(model, "conv3")).labels)
    row = conv3.row()
    assert row["layer"] == "conv3" and row["redundant"] == 4 and row["kernel"] == "4x3x3x3"
    for r in layers:
        np.testing.assert_array_equal(r.taus, DEFAULT_TAUS)
        assert r.curve.shape == DEFAULT_TAUS.shape
        assert np.all(np.diff(r.curve) <= 0)  # a stricter threshold never merges more
        assert r.curve[0] >= r.result.n_redundant >= r.curve[-1]
        assert r.curve[-1] == (4 if r.layer == "conv3" else 0)  # at tau = 1 only exact copies merge
        i = int(np.flatnonzero(np.isclose(r.taus, 0.54))[0])
        assert r.curve[i] == r.result.n_redundant
    # Layers by name (tap names resolve to their convolution), custom thresholds.
    some = model_redundancy(model, layers=["conv3"], taus=[0.9, 0.2], linkage="average")
    assert len(some) == 1 and list(some[0].taus) == [0.2, 0.9] and some[0].result.linkage == "average"


def test_a_users_own_2d_and_3d_model():
    model = nn.Sequential(nn.Conv2d(3, 6, 3), nn.ReLU(), nn.Conv3d(6, 4, (1, 3, 3)))
    with torch.no_grad():
        model[0].weight[3:] = model[0].weight[:3]
    layers = model_redundancy(model)
    assert [(r.layer, r.kernel, r.result.n_redundant) for r in layers] == [
        ("0", (6, 3, 1, 3, 3), 3),
        ("2", (4, 6, 1, 3, 3), 0),
    ]
    with pytest.raises(ValueError, match="no nn.Conv3d or nn.Conv2d"):
        model_redundancy(nn.Sequential(nn.Linear(3, 3)))
