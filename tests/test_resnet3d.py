"""Tests for vidlens.models.resnet3d: R3D-18, MC3-18 and R(2+1)D-18 with torchvision's layout.

The expected state-dict tables below are written out from torchvision's ``models.video.resnet`` (module
names, order and shapes), not derived from vidlens' code. The networks run on tiny 8x32x32 clips: global
average pooling makes them accept any size, and small clips keep the tests fast.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import vidlens.models.resnet3d  # registers the models
from vidlens.models import (
    WeightsMismatchError,
    count_parameters,
    create_model,
    describe_model,
    list_layers,
    list_models,
    load_weights,
)
from vidlens.models.resnet3d import VideoResNet, midplanes_for
from vidlens.models.taps import FeatureTaps
from vidlens.presets import PRESETS

NAMES = ["r3d_18", "mc3_18", "r2plus1d_18"]
CLIP = (2, 3, 8, 32, 32)  # tiny clips; the models are size-agnostic

Table = list[tuple[str, tuple[int, ...]]]


def conv(key: str, *shape: int) -> Table:
    return [(f"{key}.weight", shape)]


def bn(key: str, channels: int) -> Table:
    """The five state-dict entries of a BatchNorm3d (num_batches_tracked is a scalar)."""
    return [
        (f"{key}.weight", (channels,)),
        (f"{key}.bias", (channels,)),
        (f"{key}.running_mean", (channels,)),
        (f"{key}.running_var", (channels,)),
        (f"{key}.num_batches_tracked", ()),
    ]


# torchvision r3d_18: BasicStem, Conv3DSimple (3x3x3) in every block, 1x1x1 projection shortcuts.
R3D_18: Table = [
    *conv("stem.0", 64, 3, 3, 7, 7), *bn("stem.1", 64),
    *conv("layer1.0.conv1.0", 64, 64, 3, 3, 3), *bn("layer1.0.conv1.1", 64),
    *conv("layer1.0.conv2.0", 64, 64, 3, 3, 3), *bn("layer1.0.conv2.1", 64),
    *conv("layer1.1.conv1.0", 64, 64, 3, 3, 3), *bn("layer1.1.conv1.1", 64),
    *conv("layer1.1.conv2.0", 64, 64, 3, 3, 3), *bn("layer1.1.conv2.1", 64),
    *conv("layer2.0.conv1.0", 128, 64, 3, 3, 3), *bn("layer2.0.conv1.1", 128),
    *conv("layer2.0.conv2.0", 128, 128, 3, 3, 3), *bn("layer2.0.conv2.1", 128),
    *conv("layer2.0.downsample.0", 128, 64, 1, 1, 1), *bn("layer2.0.downsample.1", 128),
    *conv("layer2.1.conv1.0", 128, 128, 3, 3, 3), *bn("layer2.1.conv1.1", 128),
    *conv("layer2.1.conv2.0", 128, 128, 3, 3, 3), *bn("layer2.1.conv2.1", 128),
    *conv("layer3.0.conv1.0", 256, 128, 3, 3, 3), *bn("layer3.0.conv1.1", 256),
    *conv("layer3.0.conv2.0", 256, 256, 3, 3, 3), *bn("layer3.0.conv2.1", 256),
    *conv("layer3.0.downsample.0", 256, 128, 1, 1, 1), *bn("layer3.0.downsample.1", 256),
    *conv("layer3.1.conv1.0", 256, 256, 3, 3, 3), *bn("layer3.1.conv1.1", 256),
    *conv("layer3.1.conv2.0", 256, 256, 3, 3, 3), *bn("layer3.1.conv2.1", 256),
    *conv("layer4.0.conv1.0", 512, 256, 3, 3, 3), *bn("layer4.0.conv1.1", 512),
    *conv("layer4.0.conv2.0", 512, 512, 3, 3, 3), *bn("layer4.0.conv2.1", 512),
    *conv("layer4.0.downsample.0", 512, 256, 1, 1, 1), *bn("layer4.0.downsample.1", 512),
    *conv("layer4.1.conv1.0", 512, 512, 3, 3, 3), *bn("layer4.1.conv1.1", 512),
    *conv("layer4.1.conv2.0", 512, 512, 3, 3, 3), *bn("layer4.1.conv2.1", 512),
    ("fc.weight", (400, 512)), ("fc.bias", (400,)),
]  # fmt: skip

# torchvision mc3_18: as r3d_18, but the block convolutions of layers 2-4 are Conv3DNoTemporal (1x3x3).
MC3_18: Table = [
    (key, (*shape[:2], 1, 3, 3))
    if key.startswith(("layer2", "layer3", "layer4")) and ".conv" in key and len(shape) == 5
    else (key, shape)
    for key, shape in R3D_18
]


def conv2plus1d(key: str, in_planes: int, midplanes: int, out_planes: int) -> Table:
    """Conv2Plus1D = Sequential(0: Conv3d 1x3x3, 1: BatchNorm3d, 2: ReLU, 3: Conv3d 3x1x1)."""
    return [
        *conv(f"{key}.0", midplanes, in_planes, 1, 3, 3),
        *bn(f"{key}.1", midplanes),
        *conv(f"{key}.3", out_planes, midplanes, 3, 1, 1),
    ]


# torchvision r2plus1d_18: R2Plus1dStem (45 channels in between), Conv2Plus1D everywhere. Both convolutions
# of a block use the midplanes of (block in_planes, planes): 144, 230, 288, 460, 576, 921, 1152.
R2PLUS1D_18: Table = [
    *conv("stem.0", 45, 3, 1, 7, 7), *bn("stem.1", 45),
    *conv("stem.3", 64, 45, 3, 1, 1), *bn("stem.4", 64),
    *conv2plus1d("layer1.0.conv1.0", 64, 144, 64), *bn("layer1.0.conv1.1", 64),
    *conv2plus1d("layer1.0.conv2.0", 64, 144, 64), *bn("layer1.0.conv2.1", 64),
    *conv2plus1d("layer1.1.conv1.0", 64, 144, 64), *bn("layer1.1.conv1.1", 64),
    *conv2plus1d("layer1.1.conv2.0", 64, 144, 64), *bn("layer1.1.conv2.1", 64),
    *conv2plus1d("layer2.0.conv1.0", 64, 230, 128), *bn("layer2.0.conv1.1", 128),
    *conv2plus1d("layer2.0.conv2.0", 128, 230, 128), *bn("layer2.0.conv2.1", 128),
    *conv("layer2.0.downsample.0", 128, 64, 1, 1, 1), *bn("layer2.0.downsample.1", 128),
    *conv2plus1d("layer2.1.conv1.0", 128, 288, 128), *bn("layer2.1.conv1.1", 128),
    *conv2plus1d("layer2.1.conv2.0", 128, 288, 128), *bn("layer2.1.conv2.1", 128),
    *conv2plus1d("layer3.0.conv1.0", 128, 460, 256), *bn("layer3.0.conv1.1", 256),
    *conv2plus1d("layer3.0.conv2.0", 256, 460, 256), *bn("layer3.0.conv2.1", 256),
    *conv("layer3.0.downsample.0", 256, 128, 1, 1, 1), *bn("layer3.0.downsample.1", 256),
    *conv2plus1d("layer3.1.conv1.0", 256, 576, 256), *bn("layer3.1.conv1.1", 256),
    *conv2plus1d("layer3.1.conv2.0", 256, 576, 256), *bn("layer3.1.conv2.1", 256),
    *conv2plus1d("layer4.0.conv1.0", 256, 921, 512), *bn("layer4.0.conv1.1", 512),
    *conv2plus1d("layer4.0.conv2.0", 512, 921, 512), *bn("layer4.0.conv2.1", 512),
    *conv("layer4.0.downsample.0", 512, 256, 1, 1, 1), *bn("layer4.0.downsample.1", 512),
    *conv2plus1d("layer4.1.conv1.0", 512, 1152, 512), *bn("layer4.1.conv1.1", 512),
    *conv2plus1d("layer4.1.conv2.0", 512, 1152, 512), *bn("layer4.1.conv2.1", 512),
    ("fc.weight", (400, 512)), ("fc.bias", (400,)),
]  # fmt: skip

TABLES = {"r3d_18": R3D_18, "mc3_18": MC3_18, "r2plus1d_18": R2PLUS1D_18}

# torchvision's documentation (Kinetics-400 weights): parameters and GFLOPS for 3x16x112x112 clips.
TORCHVISION_PARAMS = {"r3d_18": 33_371_472, "mc3_18": 11_695_440, "r2plus1d_18": 31_505_325}
TORCHVISION_GFLOPS = {"r3d_18": 40.70, "mc3_18": 43.34, "r2plus1d_18": 40.52}

# Tap shapes for CLIP = 2x3x8x32x32. MC3 never downsamples time after the stem.
TAP_SHAPES = {
    "r3d_18": {
        "stem": (2, 64, 8, 16, 16),
        "layer1": (2, 64, 8, 16, 16),
        "layer2": (2, 128, 4, 8, 8),
        "layer3": (2, 256, 2, 4, 4),
        "layer4": (2, 512, 1, 2, 2),
        "avgpool": (2, 512, 1, 1, 1),
        "fc": (2, 400),
    },
    "mc3_18": {
        "stem": (2, 64, 8, 16, 16),
        "layer1": (2, 64, 8, 16, 16),
        "layer2": (2, 128, 8, 8, 8),
        "layer3": (2, 256, 8, 4, 4),
        "layer4": (2, 512, 8, 2, 2),
        "avgpool": (2, 512, 1, 1, 1),
        "fc": (2, 400),
    },
}
TAP_SHAPES["r2plus1d_18"] = TAP_SHAPES["r3d_18"]


def meta_model(name: str, **kwargs) -> VideoResNet:
    with torch.device("meta"):
        return create_model(name, **kwargs)


def empty_model(name: str, **kwargs) -> VideoResNet:
    """The model with uninitialised storage on CPU: a fast destination for load_weights."""
    return meta_model(name, **kwargs).to_empty(device="cpu")


def random_state_dict(table: Table, seed: int = 0) -> dict[str, torch.Tensor]:
    """A state dict with the keys and shapes of ``table`` and random values (as a torchvision file)."""
    g = torch.Generator().manual_seed(seed)
    return {
        key: torch.randint(0, 100, shape, generator=g)
        if key.endswith("num_batches_tracked")
        else torch.rand(shape, generator=g) + 0.5
        for key, shape in table
    }


@pytest.fixture(scope="module", params=NAMES)
def trained_pass(request) -> tuple[str, VideoResNet, torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
    """One train-mode forward and backward pass per model on tiny clips: (name, model, x, logits, taps)."""
    name = request.param
    torch.manual_seed(0)
    model = create_model(name).train()
    x = torch.randn(*CLIP, generator=torch.Generator().manual_seed(1))
    with FeatureTaps(model, list_layers(model)) as taps:
        logits = model(x)
    logits.logsumexp(dim=1).sum().backward()
    return name, model, x, logits, dict(taps.outputs)


# --- architecture -----------------------------------------------------------------------------------------


def test_registered():
    assert set(NAMES) <= set(list_models())
    with pytest.raises(TypeError):
        create_model("r3d_18", bogus=1)
    with pytest.raises(TypeError):
        vidlens.models.resnet3d.r3d_18(400)  # keyword-only


@pytest.mark.parametrize("name", NAMES)
def test_state_dict_matches_torchvision(name):
    model = meta_model(name)
    assert [(k, tuple(v.shape)) for k, v in model.state_dict().items()] == TABLES[name]


@pytest.mark.parametrize("name", NAMES)
def test_parameter_counts_match_torchvision(name):
    params_in_table = sum(
        math.prod(shape) for key, shape in TABLES[name] if key.endswith((".weight", ".bias"))
    )
    assert params_in_table == TORCHVISION_PARAMS[name]
    assert count_parameters(meta_model(name)) == TORCHVISION_PARAMS[name]
    assert count_parameters(meta_model(name, num_classes=101)) == TORCHVISION_PARAMS[name] - 299 * 513


@pytest.mark.parametrize("name", NAMES)
def test_describe_model(name):
    info = describe_model(name)
    assert info.params == TORCHVISION_PARAMS[name]
    assert info.input_shape == (3, 16, 112, 112)
    # Multiply-adds of the convolutions and fc: what torchvision reports as GFLOPS.
    assert round(info.macs / 1e9, 2) == TORCHVISION_GFLOPS[name]
    assert info.layers == ("stem", "layer1", "layer2", "layer3", "layer4", "avgpool", "fc")
    assert info.preset == "kinetics400" and "kinetics400" in PRESETS
    assert "Tran" in info.paper and "CVPR 2018" in info.paper


def test_r3d_18_macs_by_hand():
    # stem; layer1 (4 convs at 64x16x56x56); layer2..4 (first conv from fewer channels, then 3, + shortcut).
    out = {1: 64 * 16 * 56 * 56, 2: 128 * 8 * 28 * 28, 3: 256 * 4 * 14 * 14, 4: 512 * 2 * 7 * 7}
    macs = out[1] * 3 * 3 * 7 * 7 + 4 * out[1] * 64 * 27
    for k, c_in in ((2, 64), (3, 128), (4, 256)):
        macs += out[k] * c_in * 27 + 3 * out[k] * (2 * c_in) * 27 + out[k] * c_in
    macs += 512 * 400
    assert describe_model("r3d_18").macs == macs


def test_conv_builders_strides_and_midplanes():
    r3d, mc3, r21d = (meta_model(n) for n in NAMES)
    assert r3d.layer2[0].conv1[0].stride == (2, 2, 2)
    assert r3d.layer2[0].downsample[0].stride == (2, 2, 2)
    assert mc3.layer1[0].conv1[0].kernel_size == (3, 3, 3)
    assert mc3.layer2[0].conv1[0].kernel_size == (1, 3, 3)
    assert mc3.layer2[0].conv1[0].stride == (1, 2, 2)
    assert mc3.layer2[0].downsample[0].stride == (1, 2, 2)  # time is never downsampled
    spatial, _, relu, temporal = r21d.layer2[0].conv1[0]
    assert spatial.stride == (1, 2, 2) and temporal.stride == (2, 1, 1)
    assert isinstance(relu, nn.ReLU)
    assert r21d.layer2[0].downsample[0].stride == (2, 2, 2)
    assert [midplanes_for(i, o) for i, o in ((64, 64), (64, 128), (128, 128), (256, 512), (512, 512))] == [
        144,
        230,
        288,
        921,
        1152,
    ]
    for model in (r3d, mc3, r21d):
        relus = [m for m in model.modules() if isinstance(m, nn.ReLU)]
        assert relus and not any(m.inplace for m in relus)
        assert model.spec.classifier == "fc" and isinstance(model.fc, nn.Linear)
        assert model.spec.published_preset == "kinetics400" and model.preset.name == "plain"


def test_init_as_torchvision():
    torch.manual_seed(0)
    model = create_model("r3d_18")
    for m in model.modules():
        if isinstance(m, nn.BatchNorm3d):
            assert torch.all(m.weight == 1) and torch.all(m.bias == 0)
    w = model.layer3[1].conv2[0].weight  # 256 -> 256, 3x3x3: Kaiming normal, fan_out
    assert abs(w.std().item() - math.sqrt(2 / (256 * 27))) < 0.002
    assert abs(model.fc.weight.std().item() - 0.01) < 0.001 and torch.all(model.fc.bias == 0)


# --- forward and backward ---------------------------------------------------------------------------------


def test_forward_backward_and_taps(trained_pass):
    name, model, _, logits, taps = trained_pass
    assert logits.shape == (2, 400) and torch.isfinite(logits).all()
    grad = model.stem[0].weight.grad
    assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0
    for key, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), key
    assert {k: tuple(v.shape) for k, v in taps.items()} == TAP_SHAPES[name]
    for layer in ("stem", "layer1", "layer2", "layer3", "layer4"):
        assert taps[layer].min() >= 0, layer  # block outputs after the ReLU
    assert torch.equal(taps["fc"], logits)


def test_eval_forward_split_and_pre_logits(trained_pass):
    _, model, x, _, _ = trained_pass
    model.eval()
    with torch.inference_mode():
        features = model.forward_features(x)
        logits = model(x)
        pooled = model.forward_head(features, pre_logits=True)
        assert torch.equal(model.forward_head(features), logits)
    assert features.shape[:2] == (2, 512) and pooled.shape == (2, 512)
    assert torch.allclose(pooled, features.mean(dim=(2, 3, 4)), atol=1e-6)
    model.train()


# --- weights ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_torchvision_state_dict_loads_strictly(name, tmp_path):
    state_dict = random_state_dict(TABLES[name])
    path = tmp_path / f"{name}.pt"
    torch.save(state_dict, path)
    model = load_weights(empty_model(name), path)
    loaded = model.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in state_dict.items())


def test_builder_weights_argument(tmp_path):
    path = tmp_path / "r3d.pt"
    torch.save(random_state_dict(R3D_18, seed=3), path)
    model = create_model("r3d_18", weights=path).eval()
    reference = load_weights(empty_model("r3d_18"), path).eval()
    x = torch.randn(1, 3, 4, 16, 16)
    with torch.inference_mode():
        assert torch.equal(model(x), reference(x))


def test_mismatched_weights_error(tmp_path):
    path = tmp_path / "ucf101.pt"
    table_101 = [(k, (101, *s[1:]) if k.startswith("fc.") else s) for k, s in R3D_18]
    torch.save(random_state_dict(table_101), path)
    with pytest.raises(WeightsMismatchError) as excinfo:
        load_weights(empty_model("r3d_18"), path)
    message = str(excinfo.value)
    assert "fc.weight: model expects [400, 512], file has [101, 512]" in message
    assert "fc.bias" in message and "strict=False" in message
    # An MC3 file is not an R3D file: the kernels of layers 2-4 differ.
    mc3_path = tmp_path / "mc3.pt"
    torch.save(random_state_dict(MC3_18), mc3_path)
    with pytest.raises(WeightsMismatchError, match=r"layer2\.0\.conv1\.0\.weight: model expects"):
        load_weights(empty_model("r3d_18"), mc3_path)


# --- input validation -------------------------------------------------------------------------------------


def test_bad_input_messages():
    model = meta_model("r3d_18")
    with pytest.raises(ValueError, match=r"\(N, 3, T, H, W\).*unsqueeze\(0\)"):
        model(torch.zeros(3, 8, 32, 32, device="meta"))
    with pytest.raises(ValueError, match="channels-last.*normalize"):
        model(torch.zeros(1, 8, 32, 32, 3, device="meta"))
    with pytest.raises(ValueError, match=r"VideoResNet expects.*got shape \(1, 1, 8, 32, 32\)"):
        model(torch.zeros(1, 1, 8, 32, 32, device="meta"))
    with pytest.raises(TypeError, match=r"uint8.*get_preset\('plain'\)\.normalize"):  # randomly initialised
        model(torch.zeros(1, 3, 8, 32, 32, dtype=torch.uint8, device="meta"))
    model.preset = PRESETS["kinetics400"]  # as loading torchvision's weights sets it
    with pytest.raises(TypeError, match=r"uint8.*model\.preset\.normalize.*get_preset\('kinetics400'\)"):
        model(torch.zeros(1, 3, 8, 32, 32, dtype=torch.uint8, device="meta"))
    with pytest.raises(ValueError, match="empty clip"):
        model(torch.zeros(1, 3, 0, 32, 32, device="meta"))
