"""Tests for vidlens.models.fusion: single-frame, late, early and slow fusion (Karpathy et al. 2014).

Forward passes use narrow nets (width 6: 6-16-24-24-16 filters, fc 256) on full 16x112x112 clips; counts
at the default width (48) come from describe_model, which builds on the meta device.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import vidlens.models.fusion  # noqa: F401  (registers the models)
from vidlens.models import (
    FeatureTaps,
    create_model,
    describe_model,
    extract,
    list_layers,
    list_models,
    save_weights,
)
from vidlens.models.fusion import (
    EarlyFusion,
    FusionNet,
    LateFusion,
    SingleFrame,
    SlowFusion,
    early_fusion,
    late_fusion,
)
from vidlens.models.layers import FrameConv2d

FUSIONS = {
    "single_frame": SingleFrame,
    "late_fusion": LateFusion,
    "early_fusion": EarlyFusion,
    "slow_fusion": SlowFusion,
}
# Frames of a 16-frame clip each model sees.
FRAMES = {
    "single_frame": [8],
    "late_fusion": [0, 15],
    "early_fusion": list(range(3, 13)),
    "slow_fusion": list(range(16)),
}
TAPS = ["conv1", "pool1", "conv2", "pool2", "conv3", "conv4", "conv5", "pool5", "fc6", "fc7", "fc8"]
WIDTH = 6


def clip(n: int = 2, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, 3, 16, 112, 112, generator=torch.Generator().manual_seed(seed))


def small(name: str, **kwargs) -> FusionNet:
    torch.manual_seed(0)
    return create_model(name, width=WIDTH, **kwargs)


def trunk_params(conv1_in: int = 3, temporal: tuple[int, int, int] = (1, 1, 1)) -> int:
    """Conv parameters at width 48 (48-128-192-192-128 filters); conv1..conv3 span ``temporal`` frames."""
    t1, t2, t3 = temporal
    return (
        (conv1_in * 48 * 7 * 7 * t1 + 48)
        + (48 * 128 * 5 * 5 * t2 + 128)
        + (128 * 192 * 3 * 3 * t3 + 192)
        + (192 * 192 * 3 * 3 + 192)
        + (192 * 128 * 3 * 3 + 128)
    )


def head_params(towers: int = 1, num_classes: int = 101) -> int:
    """fc6 (from towers x 128 x 7 x 7), fc7 and fc8 at width 48: 2048 units."""
    return (towers * 128 * 49 * 2048 + 2048) + (2048 * 2048 + 2048) + (2048 * num_classes + num_classes)


def frames_that_matter(model: FusionNet, x: torch.Tensor) -> list[int]:
    """Frames t of the clip ``x`` (1, 3, T, H, W) such that changing frame t alone changes the logits.

    One forward pass over the clip and its T altered copies; a logit moves by 1e-4 or more or stays
    within float rounding (1e-6) of the original, never in between.
    """
    t_frames = x.shape[2]
    noise = torch.randn(t_frames, 3, *x.shape[3:], generator=torch.Generator().manual_seed(1))
    batch = x.repeat(t_frames + 1, 1, 1, 1, 1)  # (1 + T, 3, T, H, W): row 0 the clip, row 1 + t altered at t
    for t in range(t_frames):
        batch[1 + t, :, t] = noise[t]
    with torch.inference_mode():
        logits = model(batch)
    moved = (logits[1:] - logits[:1]).abs().amax(dim=1)  # (T,)
    assert ((moved < 1e-6) | (moved > 1e-4)).all(), moved
    return [t for t in range(t_frames) if moved[t] > 1e-4]


# --- registry and architecture ------------------------------------------------------------------------------


def test_every_model_is_registered_with_its_fusion_and_frames():
    assert set(FUSIONS) <= set(list_models())
    for name, fusion in FUSIONS.items():
        with torch.device("meta"):
            model = create_model(name)
        assert isinstance(model, FusionNet) and type(model.fusion) is fusion
        assert model.frames_seen(16) == FRAMES[name]
        assert model.spec.input_shape == (3, 16, 112, 112)


def test_named_modules_layers_and_taps():
    expected = [
        *("conv1", "relu1", "norm1", "pool1", "conv2", "relu2", "norm2", "pool2"),
        *("conv3", "relu3", "conv4", "relu4", "conv5", "relu5", "pool5"),
        *("fc6", "relu6", "drop6", "fc7", "relu7", "drop7", "fc8"),
    ]
    for name in FUSIONS:
        with torch.device("meta"):
            model = create_model(name, num_classes=7)
        assert [n for n, _ in model.named_children()] == expected, name
        relus = [m for m in model.modules() if isinstance(m, nn.ReLU)]
        assert len(relus) == 7 and not any(m.inplace for m in relus)
        assert isinstance(model.norm1, nn.LocalResponseNorm) and isinstance(model.norm2, nn.LocalResponseNorm)
        assert list_layers(model) == TAPS
        assert model.get_submodule(model.spec.classifier) is model.fc8 and model.fc8.out_features == 7
        # conv4 and conv5 are 2D in every model; conv1..conv3 are 3D in slow fusion only.
        assert type(model.conv4) is FrameConv2d and type(model.conv5) is FrameConv2d
        conv_type = nn.Conv3d if name == "slow_fusion" else FrameConv2d
        assert all(type(getattr(model, f"conv{i}")) is conv_type for i in (1, 2, 3)), name
        for pool in (model.pool1, model.pool2, model.pool5):  # space only, never time
            assert pool.kernel_size == pool.stride == (1, 2, 2)
        assert [getattr(model, f"conv{i}").out_channels for i in range(1, 6)] == [48, 128, 192, 192, 128]
        assert model.fc6.out_features == model.fc7.out_features == 2048


def test_width_96_is_the_papers_size_and_early_conv1_stacks_the_window():
    with torch.device("meta"):
        paper = create_model("single_frame", width=96)
        early = create_model("early_fusion", width=WIDTH)
        early16 = early_fusion(window=16)
    assert [getattr(paper, f"conv{i}").out_channels for i in range(1, 6)] == [96, 256, 384, 384, 256]
    assert paper.fc6.out_features == paper.fc7.out_features == 4096
    assert early.conv1.in_channels == 3 * 10 and early16.conv1.in_channels == 3 * 16
    assert early16.frames_seen(16) == list(range(16))
    slow = SlowFusion().conv(1, 3, 8, 7, 2, 3)
    assert slow.kernel_size == (4, 7, 7) and slow.stride == (4, 2, 2) and slow.padding == (0, 3, 3)


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="width must be a positive"):
        FusionNet(SingleFrame(), width=0)
    with pytest.raises(ValueError, match="window of at least 1 frame"):
        EarlyFusion(window=0)
    with pytest.raises(TypeError):
        create_model("late_fusion", bogus=1)
    with pytest.raises(TypeError):
        late_fusion(101)


# --- counts -------------------------------------------------------------------------------------------------


def test_describe_models_parameters_by_hand():
    infos = {name: describe_model(name) for name in FUSIONS}
    assert trunk_params() + head_params() == 18_185_893
    assert infos["single_frame"].params == trunk_params() + head_params() == 18_185_893
    assert infos["late_fusion"].params == trunk_params() + head_params(towers=2)  # shared towers, wider fc6
    assert infos["early_fusion"].params == trunk_params(conv1_in=30) + head_params()
    assert infos["slow_fusion"].params == trunk_params(temporal=(4, 2, 2)) + head_params()
    for info in infos.values():
        assert info.input_shape == (3, 16, 112, 112)
        assert info.layers == tuple(TAPS)
        assert "Karpathy et al. 2014" in info.description
        assert "Large-scale Video Classification" in info.paper and info.preset == "plain"


def test_describe_models_macs():
    macs = {name: describe_model(name).macs for name in FUSIONS}
    # One 112x112 frame through the trunk: output elements x in_channels x kernel area per conv.
    frame = (
        56 * 56 * 48 * 3 * 49
        + 28 * 28 * 128 * 48 * 25
        + 14 * 14 * 192 * 128 * 9
        + 14 * 14 * 192 * 192 * 9
        + 14 * 14 * 128 * 192 * 9
    )
    fc = 6272 * 2048 + 2048 * 2048 + 2048 * 101
    assert macs["single_frame"] == frame + fc == 311_528_448
    assert macs["late_fusion"] == 2 * frame + fc + 6272 * 2048
    assert macs["early_fusion"] == frame + 56 * 56 * 48 * 27 * 49 + fc
    # Slow fusion: conv1 gives 4 maps of 4-frame filters, conv2 2 maps of 2-frame filters, conv3 1 of 2.
    slow_extra = (
        56 * 56 * 48 * 3 * 49 * (4 * 4 - 1) + 28 * 28 * 128 * 48 * 25 * (2 * 2 - 1) + 14 * 14 * 192 * 128 * 9
    )
    assert macs["slow_fusion"] == frame + fc + slow_extra
    assert macs["single_frame"] < macs["early_fusion"] < macs["late_fusion"] < macs["slow_fusion"]


# --- forward, backward, taps --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(FUSIONS))
def test_forward_backward(name):
    model = small(name, num_classes=5)  # train mode: dropout on
    logits = model(clip())
    assert logits.shape == (2, 5) and torch.isfinite(logits).all()
    F.cross_entropy(logits, torch.tensor([1, 4])).backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), pname
    assert model.conv1.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("name", list(FUSIONS))
def test_feature_head_split_and_tap_shapes(name):
    model = small(name).eval()
    x = clip()
    with torch.inference_mode():
        taps = extract(model, x, TAPS)
        features = model.forward_features(x)
        logits = model.forward_head(features)
        assert torch.equal(logits, model(x))
        assert model.forward_head(features, pre_logits=True).shape == (2, 256)
    towers = 2 if name == "late_fusion" else 1
    assert features.shape == (2, towers * 16 * 7 * 7)
    assert torch.equal(features, taps["pool5"].transpose(1, 2).flatten(1))
    shapes = {tap: tuple(t.shape) for tap, t in taps.items()}
    # One row per clip everywhere; T' frames still apart: towers, or slow fusion's 4 -> 2 -> 1.
    t1, t2, t3 = (4, 2, 1) if name == "slow_fusion" else (towers, towers, towers)
    assert shapes == {
        "conv1": (2, 6, t1, 56, 56),
        "pool1": (2, 6, t1, 28, 28),
        "conv2": (2, 16, t2, 28, 28),
        "pool2": (2, 16, t2, 14, 14),
        "conv3": (2, 24, t3, 14, 14),
        "conv4": (2, 24, t3, 14, 14),
        "conv5": (2, 16, t3, 14, 14),
        "pool5": (2, 16, t3, 7, 7),
        "fc6": (2, 256),
        "fc7": (2, 256),
        "fc8": (2, 101),
    }
    assert all(taps[tap].min() >= 0 for tap in ("conv1", "conv3", "conv5", "fc6"))  # post-ReLU


def test_frame_conv2d_is_a_2d_convolution_of_each_frame():
    torch.manual_seed(0)
    conv = FrameConv2d(3, 5, 3, stride=2, padding=1)
    x = torch.randn(2, 3, 4, 9, 9)
    y = conv(x)
    assert y.shape == (2, 5, 4, 5, 5) and y.is_contiguous()
    for n in range(2):
        for t in range(4):
            expected = F.conv2d(x[n, :, t], conv.weight, conv.bias, stride=2, padding=1)  # (5, 5, 5)
            assert torch.allclose(y[n, :, t], expected, atol=1e-6)


def test_weights_round_trip(tmp_path):
    path = save_weights(small("slow_fusion"), tmp_path / "slow.pt")
    loaded = create_model("slow_fusion", width=WIDTH, weights=path)
    expected = small("slow_fusion").state_dict()
    assert all(torch.equal(v, expected[k]) for k, v in loaded.state_dict().items())


# --- time ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(FUSIONS))
def test_exactly_the_documented_frames_matter(name):
    """(a) single frame: the middle one; (b) late: first and last; (c) early: its window; (d) slow: all."""
    model = small(name).eval()
    x = clip(1)
    assert frames_that_matter(model, x) == FRAMES[name] == model.frames_seen(16)
    # Altering every other frame at once changes nothing, bit for bit.
    unseen = [t for t in range(16) if t not in FRAMES[name]]
    if unseen:
        altered = x.clone()
        altered[:, :, unseen] = torch.randn(1, 3, len(unseen), 112, 112)
        with torch.inference_mode():
            assert torch.equal(model(altered), model(x))


def test_late_fusion_towers_share_weights_and_are_concatenated_in_order():
    model = small("late_fusion").eval()
    x = clip(1)
    with torch.inference_mode(), FeatureTaps(model, ["pool5"]) as taps:
        features = model.forward_features(x)
        towers = taps["pool5"][0].transpose(0, 1)  # (2, 16, 7, 7): frame 0, then frame 15
        model(x[:, :, [0] * 16])  # a still clip of frame 0: both towers see frame 0
        still = taps["pool5"][0].transpose(0, 1)
        swapped = model(x.flip(2))  # first and last frames exchanged
    assert torch.equal(features, towers.reshape(1, -1))  # frame 0's features, then frame 15's
    assert torch.allclose(still[0], towers[0]) and torch.allclose(still[1], towers[0])
    with torch.inference_mode():
        assert not torch.allclose(swapped, model(x))  # fc6 knows which tower is which


# --- input validation ---------------------------------------------------------------------------------------


def test_bad_input_messages():
    with torch.device("meta"):
        model = create_model("late_fusion", width=WIDTH)  # shapes only: nothing is computed on meta

    def run(*shape: int, dtype: torch.dtype = torch.float32) -> None:
        model(torch.zeros(shape, dtype=dtype, device="meta"))

    with pytest.raises(ValueError, match=r"\(N, 3, T, H, W\).*unsqueeze\(0\)"):
        run(3, 16, 112, 112)
    with pytest.raises(
        ValueError, match=r"FusionNet \(LateFusion\) expects float clips.*\(1, 1, 16, 112, 112\)"
    ):
        run(1, 1, 16, 112, 112)
    with pytest.raises(ValueError, match="channels-last.*normalize"):
        run(1, 16, 112, 112, 3)
    with pytest.raises(TypeError, match="uint8.*normalize"):
        run(1, 3, 16, 112, 112, dtype=torch.uint8)
    with pytest.raises(
        ValueError, match="H x W = 64x64 gives pool5 maps of 4x4, but fc6 expects 7x7.*112x112"
    ):
        run(1, 3, 16, 64, 64)
    with pytest.raises(ValueError, match="H x W = 8x8 is too small to reach pool5"):
        run(1, 3, 16, 8, 8)


@pytest.mark.parametrize(
    ("name", "frames", "message"),
    [
        ("single_frame", 0, r"middle frame, T // 2, so it needs clips of at least 1 frame; got T = 0"),
        (
            "late_fusion",
            1,
            r"first and the last frame \(0 and T - 1\), so it needs clips of at least 2 frames",
        ),
        (
            "early_fusion",
            9,
            r"window of 10 frames in the middle, so it needs clips of at least 10 frames; got T = 9",
        ),
        ("slow_fusion", 8, r"slow_fusion merges exactly 16 frames .* got clips of T = 8"),
        ("slow_fusion", 17, r"slow_fusion merges exactly 16 frames .* got clips of T = 17"),
    ],
)
def test_too_few_frames(name, frames, message):
    with torch.device("meta"):
        model = create_model(name, width=WIDTH)
    with pytest.raises(ValueError, match=message):
        model(torch.zeros(1, 3, frames, 112, 112, device="meta"))


def test_other_clip_lengths_and_frame_sizes():
    """Single, late and early fusion take any long-enough clip; H, W in 111..126 give pool5 7x7."""
    with torch.device("meta"):
        models = {
            name: create_model(name, width=WIDTH) for name in ("single_frame", "late_fusion", "early_fusion")
        }
    assert models["single_frame"].frames_seen(32) == [16]
    assert models["late_fusion"].frames_seen(32) == [0, 31]
    assert models["early_fusion"].frames_seen(32) == list(range(11, 21))
    for model in models.values():
        assert model(torch.zeros(1, 3, 32, 112, 112, device="meta")).shape == (1, 101)
        for hw in (111, 126):
            assert model(torch.zeros(1, 3, 16, hw, hw, device="meta")).shape == (1, 101)
        for hw in (110, 127):
            with pytest.raises(ValueError, match="fc6 expects 7x7"):
                model(torch.zeros(1, 3, 16, hw, hw, device="meta"))


@pytest.mark.parametrize("name", list(FUSIONS))
def test_norm_choices_replace_the_paper_lrn(name):
    """norm="lrn" is the paper's (LRN after relu1/relu2); "batch" swaps it for BatchNorm after every conv
    and fc6/fc7; "none" has neither. The frames each net sees do not change."""
    lrn = create_model(name, num_classes=3, width=8)
    batch = create_model(name, num_classes=3, width=8, norm="batch")
    none = create_model(name, num_classes=3, width=8, norm="none")
    assert isinstance(lrn.norm1, torch.nn.LocalResponseNorm) and isinstance(
        lrn.norm2, torch.nn.LocalResponseNorm
    )
    assert isinstance(batch.norm1, torch.nn.Identity) and isinstance(none.norm2, torch.nn.Identity)
    assert isinstance(batch.bn3, torch.nn.BatchNorm3d) and isinstance(batch.bn6, torch.nn.BatchNorm1d)
    assert set(lrn.state_dict()) == set(none.state_dict()) < set(batch.state_dict())
    assert batch.frames_seen(16) == lrn.frames_seen(16)
    y = batch.train()(torch.randn(2, 3, 16, 112, 112))
    assert y.shape == (2, 3) and torch.isfinite(y).all()
    with pytest.raises(ValueError, match="norm must be 'lrn'"):
        create_model(name, num_classes=3, width=8, norm="group")
