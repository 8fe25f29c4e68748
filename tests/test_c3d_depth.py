"""Tests for vidlens.models.c3d_depth: the temporal-depth nets of Tran et al. 2015, section 3.2.

Forward passes use narrow nets (width 4 or 8 instead of 64) on full 16x112x112 clips, since fc6 is sized
for them; counts at the default width come from describe_model, which builds on the meta device.
"""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import vidlens.models.c3d_depth  # noqa: F401  (registers the models)
from vidlens.models import (
    FeatureTaps,
    count_macs,
    count_parameters,
    create_model,
    describe_model,
    extract,
    list_layers,
    list_models,
    save_weights,
)
from vidlens.models.c3d_depth import C3DDepth, c3d_depth3

DEPTHS = {
    "c3d_depth1": (1, 1, 1, 1, 1),
    "c3d_depth3": (3, 3, 3, 3, 3),
    "c3d_depth5": (5, 5, 5, 5, 5),
    "c3d_depth7": (7, 7, 7, 7, 7),
    "c3d_increasing": (3, 3, 5, 5, 7),
    "c3d_decreasing": (7, 5, 5, 3, 3),
}
# Output T, H, W of conv1..conv5 for one 16x112x112 clip (convs keep sizes; the pools before them do not).
CONV_THW = [(16, 112, 112), (16, 56, 56), (8, 28, 28), (4, 14, 14), (2, 7, 7)]
FILTERS = (64, 128, 256, 256, 256)  # section 3.2, at width 64


def clip(n: int = 1, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, 3, 16, 112, 112, generator=torch.Generator().manual_seed(seed))


def small(name: str, width: int = 8, **kwargs) -> C3DDepth:
    torch.manual_seed(0)
    return create_model(name, width=width, **kwargs)


def meta(name: str, **kwargs) -> C3DDepth:
    with torch.device("meta"):
        return create_model(name, **kwargs)


def param_count(depths: tuple[int, ...], num_classes: int = 101, width: int = 64) -> int:
    """Parameters from layer sizes: d x 3 x 3 conv weights + biases, fc6 (from 4w x 1x4x4), fc7, fc8."""
    filters = [f * width // 64 for f in FILTERS]
    cins = [3, *filters[:-1]]
    convs = sum(cin * cout * d * 9 + cout for cin, cout, d in zip(cins, filters, depths, strict=True))
    fc6_in = filters[-1] * 1 * 4 * 4
    return convs + (fc6_in * 2048 + 2048) + (2048 * 2048 + 2048) + (2048 * num_classes + num_classes)


def macs(depths: tuple[int, ...], num_classes: int = 101) -> int:
    """Multiply-adds for one clip: output elements x in_channels x d x 9 per conv, in x out per fc."""
    cins = [3, *FILTERS[:-1]]
    convs = sum(
        cout * t * h * w * cin * d * 9
        for cin, cout, d, (t, h, w) in zip(cins, FILTERS, depths, CONV_THW, strict=True)
    )
    return convs + 4096 * 2048 + 2048 * 2048 + 2048 * num_classes


def changed_frames(a: torch.Tensor, b: torch.Tensor) -> set[int]:
    """Frames t at which two (N, C, T, H, W) activations differ."""
    return {int(t) for t in torch.nonzero((a != b).flatten(3).any(-1).any(1).any(0)).flatten()}


# --- registry and architecture ------------------------------------------------------------------------------


def test_every_variant_is_registered_with_its_depths():
    assert set(DEPTHS) <= set(list_models())
    for name, depths in DEPTHS.items():
        model = meta(name)
        assert isinstance(model, C3DDepth)
        assert model.depths == depths
        for i, d in enumerate(depths, start=1):
            conv = getattr(model, f"conv{i}")
            assert conv.kernel_size == (d, 3, 3) and conv.padding == (d // 2, 1, 1), name
            assert conv.stride == (1, 1, 1)
            assert conv.out_channels == FILTERS[i - 1]


def test_named_modules_taps_and_classifier():
    model = meta("c3d_depth3", num_classes=7)
    names = [name for name, _ in model.named_children()]
    assert names == [
        *(f"{kind}{i}" for i in range(1, 6) for kind in ("conv", "relu", "pool")),
        *("fc6", "relu6", "drop6", "fc7", "relu7", "drop7", "fc8"),
    ]
    relus = [m for m in model.modules() if isinstance(m, nn.ReLU)]
    assert len(relus) == 7 and not any(m.inplace for m in relus)
    assert model.pool1.kernel_size == model.pool1.stride == (1, 2, 2)
    for i in range(2, 6):
        pool = getattr(model, f"pool{i}")
        assert pool.kernel_size == pool.stride == (2, 2, 2)
    assert model.pool5.padding == (0, 1, 1)  # 7x7 -> 4x4, as C3D's pool5
    assert model.fc6.in_features == 256 * 1 * 4 * 4
    assert model.fc6.out_features == model.fc7.out_features == 2048
    assert model.drop6.p == model.drop7.p == 0.5
    assert list_layers(model) == [
        *("conv1", "pool1", "conv2", "pool2", "conv3", "pool3", "conv4", "pool4", "conv5", "pool5"),
        *("fc6", "fc7", "fc8"),
    ]
    assert all(model.spec.feature_layers[f"conv{i}"] == f"relu{i}" for i in range(1, 6))  # post-activation
    head = model.get_submodule(model.spec.classifier)
    assert isinstance(head, nn.Linear) and head.out_features == 7 == model.num_classes
    assert C3DDepth.spec.input_shape == (3, 16, 112, 112) and C3DDepth.spec.published_preset == "plain"


def test_width_scales_the_filters():
    model = C3DDepth((3, 3, 3, 3, 3), width=16)
    assert [getattr(model, f"conv{i}").out_channels for i in range(1, 6)] == [16, 32, 64, 64, 64]
    assert model.fc6.in_features == 64 * 16
    assert count_parameters(model) == param_count((3,) * 5, width=16)


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="odd.*even depth"):
        C3DDepth((3, 2, 3, 3, 3))
    with pytest.raises(ValueError, match="5 odd temporal kernel depths"):
        C3DDepth((3, 3, 3))
    with pytest.raises(ValueError, match="width must be a positive"):
        C3DDepth((3, 3, 3, 3, 3), width=0)


def test_builders_take_keyword_arguments_only():
    with pytest.raises(TypeError):
        create_model("c3d_depth3", bogus=1)
    with pytest.raises(TypeError):
        c3d_depth3(101)


# --- counts -------------------------------------------------------------------------------------------------


def test_c3d_depth3_parameter_count_by_hand():
    convs = (3 * 64 + 64 * 128 + 128 * 256 + 256 * 256 + 256 * 256) * 27 + (64 + 128 + 256 * 3)
    fcs = (4096 * 2048 + 2048) + (2048 * 2048 + 2048) + (2048 * 101 + 101)
    assert convs + fcs == 17_444_965  # the paper: "17.5 millions parameters"
    assert describe_model("c3d_depth3").params == 17_444_965


@pytest.mark.parametrize("name", list(DEPTHS))
def test_describe_model(name):
    info = describe_model(name)
    assert info.input_shape == (3, 16, 112, 112)
    assert info.params == param_count(DEPTHS[name])
    assert info.macs == macs(DEPTHS[name])
    assert info.layers == tuple(C3DDepth.spec.feature_layers)
    assert info.description.startswith("C3D")
    assert "Learning Spatiotemporal Features" in info.paper and info.preset == "plain"


def test_macs_grow_with_depth_and_fc_layers_are_shared():
    infos = {name: describe_model(name) for name in DEPTHS}
    depth_macs = [infos[f"c3d_depth{d}"].macs for d in (1, 3, 5, 7)]
    assert depth_macs == sorted(depth_macs) and len(set(depth_macs)) == 4
    assert 6e9 < depth_macs[0] < depth_macs[-1] < 5e10
    # Only the convs differ: each 2 of depth adds the same 1,550,016 x 2 conv weights (the paper's
    # "17K" counts one input channel per filter).
    params = [infos[f"c3d_depth{d}"].params for d in (1, 3, 5, 7)]
    assert {b - a for a, b in itertools.pairwise(params)} == {2 * 9 * 172_224}
    assert count_macs(small("c3d_depth3", width=16), (1, 3, 16, 112, 112)) < depth_macs[1]


# --- forward, backward, taps --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(DEPTHS))
def test_forward_backward(name):
    model = small(name, num_classes=5)  # train mode: dropout on
    logits = model(clip(2))
    assert logits.shape == (2, 5) and torch.isfinite(logits).all()
    F.cross_entropy(logits, torch.tensor([0, 3])).backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), pname
    assert model.conv1.weight.grad.abs().sum() > 0


def test_tap_shapes_and_feature_head_split():
    model = small("c3d_increasing").eval()  # width 8: 8-16-32-32-32 filters
    x = clip(2)
    with torch.inference_mode():
        taps = extract(model, x, list_layers(model))
        features = model.forward_features(x)
        logits = model.forward_head(features)
        fc7 = model.forward_head(features, pre_logits=True)
        assert torch.equal(logits, model(x))
    assert {name: tuple(t.shape) for name, t in taps.items()} == {
        "conv1": (2, 8, 16, 112, 112),
        "pool1": (2, 8, 16, 56, 56),
        "conv2": (2, 16, 16, 56, 56),
        "pool2": (2, 16, 8, 28, 28),
        "conv3": (2, 32, 8, 28, 28),
        "pool3": (2, 32, 4, 14, 14),
        "conv4": (2, 32, 4, 14, 14),
        "pool4": (2, 32, 2, 7, 7),
        "conv5": (2, 32, 2, 7, 7),
        "pool5": (2, 32, 1, 4, 4),
        "fc6": (2, 2048),
        "fc7": (2, 2048),
        "fc8": (2, 101),
    }
    assert features.shape == (2, 512) and torch.equal(features, taps["pool5"].flatten(1))
    assert torch.equal(fc7, taps["fc7"]) and torch.equal(logits, taps["fc8"])
    assert all(taps[f"conv{i}"].min() >= 0 for i in range(1, 6))  # post-ReLU


def test_weights_round_trip(tmp_path):
    path = save_weights(small("c3d_depth3", width=4), tmp_path / "depth3.pt")
    loaded = c3d_depth3(width=4, weights=path)
    expected = small("c3d_depth3", width=4).state_dict()
    assert all(torch.equal(v, expected[k]) for k, v in loaded.state_dict().items())


# --- time ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(DEPTHS))
def test_conv1_sees_frames_within_half_its_depth(name):
    """A change to frame t reaches conv1 at frames t - d // 2 .. t + d // 2 exactly (clipped to the clip)."""
    model = small(name, width=4).eval()
    radius = DEPTHS[name][0] // 2
    x = clip()
    base = extract(model, x, "conv1")["conv1"]
    for t in (0, 8, 15):
        altered = x.clone()
        altered[:, :, t] = torch.randn(1, 3, 112, 112, generator=torch.Generator().manual_seed(t))
        conv1 = extract(model, altered, "conv1")["conv1"]
        assert changed_frames(base, conv1) == set(range(max(0, t - radius), min(15, t + radius) + 1)), t


def test_depth1_is_a_per_frame_2d_convnet_whose_pools_merge_time():
    model = small("c3d_depth1", width=4).eval()
    x = clip()
    layers = ["conv1", "conv2", "conv3"]
    # conv1 is exactly a 2D convolution applied to each frame on its own.
    conv1 = extract(model, x, "conv1")["conv1"]
    frames = x.transpose(1, 2).flatten(0, 1)  # (16, 3, 112, 112)
    per_frame = F.relu(F.conv2d(frames, model.conv1.weight[:, :, 0], model.conv1.bias, padding=1))
    assert torch.allclose(conv1[0].transpose(0, 1), per_frame, atol=1e-5)  # (16, 4, 112, 112)
    # Convs never mix frames; pool1 keeps them apart, pool2 (2x2x2) merges frames 2k and 2k + 1.
    base = extract(model, x, layers)
    altered = x.clone()
    altered[:, :, 5] += 1.0
    after = extract(model, altered, layers)
    assert changed_frames(base["conv1"], after["conv1"]) == {5}
    assert changed_frames(base["conv2"], after["conv2"]) == {5}
    assert changed_frames(base["conv3"], after["conv3"]) == {2}  # pool2 output frame 2 = frames 4, 5
    # With depth 3, two convs already spread the change over 5 frames.
    model3 = small("c3d_depth3", width=4).eval()
    base3, after3 = extract(model3, x, "conv2"), extract(model3, altered, "conv2")
    assert changed_frames(base3["conv2"], after3["conv2"]) == {3, 4, 5, 6, 7}


# --- input validation ---------------------------------------------------------------------------------------


def test_bad_input_messages():
    model = meta("c3d_depth3", width=8)  # shapes only: nothing is computed on meta

    def run(*shape: int, dtype: torch.dtype = torch.float32) -> None:
        model(torch.zeros(shape, dtype=dtype, device="meta"))

    with pytest.raises(ValueError, match=r"\(N, 3, T, H, W\).*unsqueeze\(0\)"):
        run(3, 16, 112, 112)
    with pytest.raises(
        ValueError, match=r"C3DDepth expects float clips shaped \(N, 3, T, H, W\).*\(1, 1, 16"
    ):
        run(1, 1, 16, 112, 112)
    with pytest.raises(ValueError, match="channels-last.*normalize"):
        run(1, 16, 112, 112, 3)
    with pytest.raises(TypeError, match="uint8.*get_preset\\('plain'\\).normalize"):
        run(1, 3, 16, 112, 112, dtype=torch.uint8)
    with pytest.raises(ValueError, match="8x112x112 is too small to reach pool5.*16x112x112"):
        run(1, 3, 8, 112, 112)
    with pytest.raises(ValueError) as excinfo:
        run(1, 3, 16, 64, 64)
    message = str(excinfo.value)
    assert "16x64x64" in message and "32x1x3x3 = 288" in message  # what was produced
    assert "32x1x4x4 = 512" in message and "16x112x112" in message  # what is needed


def test_clip_sizes_that_fit_fc6():
    """The sizes the error message promises: T in 16..31 and H, W in 96..127 give pool5 1x4x4."""
    model = meta("c3d_depth5", width=4)
    for t, hw in [(16, 112), (31, 112), (16, 96), (16, 127)]:
        assert model(torch.zeros(1, 3, t, hw, hw, device="meta")).shape == (1, 101)
    for t, hw in [(15, 112), (32, 112), (16, 95), (16, 128)]:
        with pytest.raises(ValueError, match="fc6 expects"):
            model(torch.zeros(1, 3, t, hw, hw, device="meta"))


def test_batch_norm_variant_adds_layers_and_keeps_the_paper_net_unchanged():
    """norm="batch" puts BatchNorm after every conv and fc6/fc7 (before the ReLU); the default adds nothing,
    so the paper net's state-dict keys are exactly those of a net without the option."""
    plain = create_model("c3d_depth3", num_classes=3, width=4)
    batch = create_model("c3d_depth3", num_classes=3, width=4, norm="batch")
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in plain.modules())
    assert all(k.startswith(("conv", "fc")) for k in plain.state_dict())
    bns = [n for n, m in batch.named_modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    assert bns == ["bn1", "bn2", "bn3", "bn4", "bn5", "bn6", "bn7"]
    assert set(plain.state_dict()) < set(batch.state_dict())
    x = torch.randn(4, 3, 16, 112, 112)
    with FeatureTaps(batch, ["conv1", "fc6"]) as taps:
        batch.train()(x).sum().backward()
    # Taps stay the ReLUs' outputs; in train mode every conv1 channel is normalised over the batch first.
    assert (taps["conv1"] >= 0).all() and taps["fc6"].shape == (4, 2048)
    assert batch.conv1.weight.grad is not None and batch.bn1.weight.grad is not None
    assert "norm='batch'" in repr(batch)
    with pytest.raises(ValueError, match="norm must be one of 'none', 'batch'"):
        create_model("c3d_depth3", num_classes=3, width=4, norm="layer")
