"""Tests for vidlens.models: registry, C3D, feature taps, weights, complexity.

Full-size C3D forward passes (16x112x112) cost about a second each on CPU, so the module-scoped fixtures
below run them once and share the results; other tests use small inputs or models built on ``meta``.
"""

from __future__ import annotations

import math
import sys
import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from vidlens.models import (
    C3D,
    FeatureTaps,
    ModelInfo,
    UnknownNameError,
    UnsafeCheckpointError,
    WeightsMismatchError,
    count_macs,
    count_parameters,
    create_model,
    describe_models,
    extract,
    get_layer,
    list_layers,
    list_models,
    load_weights,
    register_model,
    save_weights,
)
from vidlens.models.c3d import c3d as c3d_builder
from vidlens.models.registry import model_entrypoint
from vidlens.presets import list_presets

# Keys and shapes of the c3d-pytorch port's state dict (c3d.pickle), written out by hand.
C3D_PYTORCH_KEYS: list[tuple[str, tuple[int, ...]]] = [
    ("conv1.weight", (64, 3, 3, 3, 3)),
    ("conv1.bias", (64,)),
    ("conv2.weight", (128, 64, 3, 3, 3)),
    ("conv2.bias", (128,)),
    ("conv3a.weight", (256, 128, 3, 3, 3)),
    ("conv3a.bias", (256,)),
    ("conv3b.weight", (256, 256, 3, 3, 3)),
    ("conv3b.bias", (256,)),
    ("conv4a.weight", (512, 256, 3, 3, 3)),
    ("conv4a.bias", (512,)),
    ("conv4b.weight", (512, 512, 3, 3, 3)),
    ("conv4b.bias", (512,)),
    ("conv5a.weight", (512, 512, 3, 3, 3)),
    ("conv5a.bias", (512,)),
    ("conv5b.weight", (512, 512, 3, 3, 3)),
    ("conv5b.bias", (512,)),
    ("fc6.weight", (4096, 8192)),
    ("fc6.bias", (4096,)),
    ("fc7.weight", (4096, 4096)),
    ("fc7.bias", (4096,)),
    ("fc8.weight", (487, 4096)),
    ("fc8.bias", (487,)),
]

# Output shape of every C3D tap for a batch of 2 clips of 16x112x112.
C3D_TAP_SHAPES = {
    "conv1": (2, 64, 16, 112, 112),
    "pool1": (2, 64, 16, 56, 56),
    "conv2": (2, 128, 16, 56, 56),
    "pool2": (2, 128, 8, 28, 28),
    "conv3a": (2, 256, 8, 28, 28),
    "conv3b": (2, 256, 8, 28, 28),
    "pool3": (2, 256, 4, 14, 14),
    "conv4a": (2, 512, 4, 14, 14),
    "conv4b": (2, 512, 4, 14, 14),
    "pool4": (2, 512, 2, 7, 7),
    "conv5a": (2, 512, 2, 7, 7),
    "conv5b": (2, 512, 2, 7, 7),
    "pool5": (2, 512, 1, 4, 4),
    "fc6": (2, 4096),
    "fc7": (2, 4096),
    "fc8": (2, 487),
}

# (in_channels, out_channels, output T, H, W) of C3D's convolutions for one 16x112x112 clip.
C3D_CONVS = [
    (3, 64, 16, 112, 112),
    (64, 128, 16, 56, 56),
    (128, 256, 8, 28, 28),
    (256, 256, 8, 28, 28),
    (256, 512, 4, 14, 14),
    (512, 512, 4, 14, 14),
    (512, 512, 2, 7, 7),
    (512, 512, 2, 7, 7),
]


def c3d_param_count(num_classes: int) -> int:
    """C3D's parameter count from its layer sizes: 3x3x3 conv weights + biases, then fc6, fc7, fc8."""
    convs = sum(cin * cout * 27 + cout for cin, cout, *_ in C3D_CONVS)
    fcs = (8192 * 4096 + 4096) + (4096 * 4096 + 4096) + (4096 * num_classes + num_classes)
    return convs + fcs


def c3d_macs(num_classes: int) -> int:
    """C3D's multiply-adds for one clip: output elements x in_channels x 27 per conv, in x out per fc."""
    convs = sum(cout * t * h * w * cin * 27 for cin, cout, t, h, w in C3D_CONVS)
    return convs + 8192 * 4096 + 4096 * 4096 + 4096 * num_classes


def meta_c3d(**kwargs) -> C3D:
    """A C3D without storage: instant to build, fine for shapes and counts."""
    with torch.device("meta"):
        return C3D(**kwargs)


def empty_c3d(**kwargs) -> C3D:
    """A C3D with uninitialised storage on CPU: a fast destination for load_weights."""
    return meta_c3d(**kwargs).to_empty(device="cpu")


def tiny_net() -> nn.Sequential:
    """A small 3D ConvNet without feature_layers, for the generic code paths."""
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv3d(3, 4, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool3d(1),
        nn.Flatten(),
        nn.Linear(4, 5),
    )


def all_hooks(model: nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


@pytest.fixture(scope="module")
def model() -> C3D:
    torch.manual_seed(0)
    return C3D().eval()


@pytest.fixture(scope="module")
def clips() -> torch.Tensor:
    return torch.randn(2, 3, 16, 112, 112, generator=torch.Generator().manual_seed(1))


@pytest.fixture(scope="module")
def full_pass(model: C3D, clips: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """One full forward pass of 2 clips with every tap recorded: (logits, taps)."""
    with torch.inference_mode(), FeatureTaps(model, list_layers(model)) as taps:
        logits = model(clips)
    return logits, dict(taps.outputs)


# --- registry ---------------------------------------------------------------------------------------------


def test_registry_lists_and_creates_models():
    assert "c3d" in list_models()
    assert {"c3d", "c3d_sports1m"} <= set(list_models("c3d*"))
    assert "r3d_18" not in list_models("c3d*")
    assert list_models("resnet*") == []
    with torch.device("meta"):
        model = create_model("c3d", num_classes=10)
        ported = create_model("c3d_sports1m")
    assert isinstance(model, C3D)
    assert model.fc8.out_features == 10
    assert model.preset.name == "plain"  # randomly initialised
    assert ported.preset.name == "sports1m"  # the builder for the published weights
    assert C3D.spec.published_preset == "sports1m"  # what foreign C3D state dicts get
    assert {model.preset.name, ported.preset.name, C3D.spec.published_preset} <= set(list_presets())


def test_unknown_model_name_suggests_the_closest():
    with pytest.raises(KeyError) as excinfo:
        create_model("c3dd")
    message = str(excinfo.value)
    assert isinstance(excinfo.value, UnknownNameError)
    assert "did you mean 'c3d'" in message
    assert "c3d_sports1m" in message  # every available name is listed
    assert "list_models()" in message


def test_register_model_rejects_a_duplicate_name():
    def c3d() -> nn.Module:  # same name as the built-in builder
        return nn.Identity()

    with pytest.raises(ValueError, match="already registered"):
        register_model(c3d)
    assert model_entrypoint("c3d") is c3d_builder


def test_builders_take_keyword_arguments_only():
    with pytest.raises(TypeError):
        create_model("c3d", bogus=1)


# --- C3D architecture -------------------------------------------------------------------------------------


def test_c3d_state_dict_keys_match_the_c3d_pytorch_port():
    model = meta_c3d()
    assert [(k, tuple(v.shape)) for k, v in model.state_dict().items()] == C3D_PYTORCH_KEYS


def test_c3d_named_modules():
    model = meta_c3d()
    names = [name for name, _ in model.named_children()]
    assert names == [
        *("conv1", "relu1", "pool1", "conv2", "relu2", "pool2"),
        *("conv3a", "relu3a", "conv3b", "relu3b", "pool3"),
        *("conv4a", "relu4a", "conv4b", "relu4b", "pool4"),
        *("conv5a", "relu5a", "conv5b", "relu5b", "pool5"),
        *("fc6", "relu6", "drop6", "fc7", "relu7", "drop7", "fc8"),
    ]
    relus = [m for m in model.modules() if isinstance(m, nn.ReLU)]
    assert len(relus) == 10
    assert not any(m.inplace for m in relus)  # hooks must see un-mutated tensors
    assert model.drop6.p == model.drop7.p == 0.5
    assert model.pool1.kernel_size == model.pool1.stride == (1, 2, 2)
    assert model.pool5.padding == (0, 1, 1)
    assert list_layers(model) == list(C3D_TAP_SHAPES)


def test_c3d_parameter_count():
    assert count_parameters(meta_c3d()) == c3d_param_count(487) == 79_991_015
    assert round(count_parameters(meta_c3d()) / 1e6, 1) == 80.0
    assert count_parameters(meta_c3d(num_classes=101)) == c3d_param_count(101)


def test_c3d_macs():
    macs = count_macs(meta_c3d())
    assert macs == c3d_macs(487) == 38_548_959_232
    assert abs(macs / 1e9 - 38.5) < 0.1


def test_c3d_logits_and_tap_shapes(full_pass):
    logits, taps = full_pass
    assert logits.shape == (2, 487)
    assert {name: tuple(t.shape) for name, t in taps.items()} == C3D_TAP_SHAPES
    for name in ("conv1", "conv3b", "conv5b", "pool5", "fc6", "fc7"):
        assert taps[name].min() >= 0, name  # after a ReLU


def test_c3d_head_matches_the_taps(model, full_pass):
    logits, taps = full_pass
    features = taps["pool5"].reshape(2, -1)  # (C, T, H, W) order, as c3d-pytorch's x.view(-1, 8192)
    with torch.inference_mode():
        fc6 = model.fc6(features)
        assert torch.allclose(taps["fc6"], F.relu(fc6))  # the fc6 tap is relu(fc6), as in Caffe
        assert (fc6 < 0).any()  # ... which differs from the raw linear output
        assert torch.allclose(taps["fc7"], F.relu(model.fc7(taps["fc6"])))  # eval: dropout is identity
        assert torch.allclose(logits, model.fc8(taps["fc7"]))
        assert torch.allclose(model.forward_head(features, pre_logits=True), taps["fc7"])
    assert torch.equal(taps["fc8"], logits)


def test_c3d_forward_features_and_determinism(model, clips, full_pass):
    _, taps = full_pass
    clip = clips[:1]
    with torch.inference_mode():
        features = model.forward_features(clip)
        split = model.forward_head(features)
        logits = model(clip)
    assert features.shape == (1, 8192)
    assert torch.allclose(features, taps["pool5"][:1].flatten(1), atol=1e-5)
    assert torch.equal(split, logits)  # forward == forward_head(forward_features), bit for bit, in eval


def test_c3d_101_classes_backward_and_gradcam_style_gradients():
    torch.manual_seed(0)
    model = create_model("c3d", num_classes=101)  # train mode
    clip = torch.randn(1, 3, 16, 112, 112)
    with FeatureTaps(model, ["conv5b"]) as taps:
        logits = model(clip)
        conv5b = taps["conv5b"]
    conv5b.retain_grad()
    assert logits.shape == (1, 101)
    F.cross_entropy(logits, torch.tensor([3])).backward()
    assert conv5b.grad is not None and conv5b.grad.shape == (1, 512, 2, 7, 7)
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    assert model.conv1.weight.grad.abs().sum() > 0


def test_c3d_bad_input_messages(model):
    with pytest.raises(ValueError, match=r"\(N, 3, T, H, W\).*unsqueeze\(0\)"):
        model(torch.zeros(3, 16, 112, 112))
    with pytest.raises(ValueError, match=r"\(N, 3, T, H, W\).*16 x 112 x 112"):
        model(torch.zeros(1, 1, 16, 112, 112))
    with pytest.raises(ValueError, match="channels-last.*normalize"):
        model(torch.zeros(1, 16, 112, 112, 3))
    with pytest.raises(TypeError, match="uint8.*normalize"):
        model(torch.zeros(1, 3, 16, 112, 112, dtype=torch.uint8))
    with pytest.raises(ValueError, match="too small to reach pool5.*16x112x112"):
        model(torch.zeros(1, 3, 8, 112, 112))
    with pytest.raises(ValueError) as excinfo, torch.inference_mode():
        model(torch.zeros(1, 3, 16, 64, 64))
    message = str(excinfo.value)
    assert "16x64x64" in message and "512x1x3x3 = 4608" in message  # what was produced
    assert "512x1x4x4 = 8192" in message and "16x112x112" in message  # what is needed


# --- taps ------------------------------------------------------------------------------------------------


def test_get_layer_resolves_tap_names_and_paths(model):
    assert get_layer(model, "fc6") is model.relu6
    assert get_layer(model, "conv1") is model.relu1
    assert get_layer(model, "pool5") is model.pool5
    assert get_layer(model, "drop7") is model.drop7  # not a tap name: a module path
    net = nn.Sequential(nn.Sequential(nn.Linear(2, 2)))
    assert get_layer(net, "0.0") is net[0][0]


def test_get_layer_unknown_name(model):
    with pytest.raises(KeyError) as excinfo:
        get_layer(model, "conv5c")
    message = str(excinfo.value)
    assert "did you mean" in message and "'conv5b'" in message
    assert "vidlens models" in message and "list_layers(model)" in message
    assert "fc8" in message  # all tap names listed


def test_list_layers_without_feature_layers():
    assert list_layers(tiny_net()) == ["0", "1", "2", "3", "4"]


def test_feature_taps_on_any_module():
    net = tiny_net()
    x = torch.randn(2, 3, 4, 6, 6)
    with FeatureTaps(net, ["1", "4"]) as taps:
        out = net(x)
    assert torch.equal(taps["4"], out)
    assert taps["1"].shape == (2, 4, 4, 6, 6) and taps["1"].min() >= 0
    assert all_hooks(net) == 0
    with pytest.raises(KeyError, match="not tapped"):
        taps["0"]


def test_feature_taps_release_hooks_when_the_block_raises(model):
    net = tiny_net()
    with pytest.raises(RuntimeError, match="boom"), FeatureTaps(net, ["0", "1"]):
        assert all_hooks(net) == 2
        net(torch.randn(1, 3, 2, 2, 2))
        raise RuntimeError("boom")
    assert all_hooks(net) == 0
    # An exception raised by the model itself (here C3D's input check) propagates too.
    with pytest.raises(ValueError, match="fc6 expects"), FeatureTaps(model, list_layers(model)):
        model(torch.zeros(1, 3, 16, 32, 32))
    assert all_hooks(model) == 0


def test_feature_taps_unknown_layer_registers_nothing(model):
    with pytest.raises(KeyError, match="conv9"):
        FeatureTaps(model, ["conv1", "conv9"])
    assert all_hooks(model) == 0


def test_extract_stops_after_the_last_requested_layer(model, clips, full_pass):
    _, taps = full_pass
    calls = []
    handle = model.fc7.register_forward_pre_hook(lambda *_: calls.append("fc7"))
    try:
        feats = extract(model, clips, ["fc6", "conv5b"])
    finally:
        handle.remove()
    assert calls == []  # fc7 (and fc8) never ran
    assert set(feats) == {"fc6", "conv5b"}
    assert torch.equal(feats["fc6"], taps["fc6"])
    assert torch.equal(feats["conv5b"], taps["conv5b"])
    assert all_hooks(model) == 0


def test_extract_conv_layers_from_other_frame_sizes(model):
    # pool5 only constrains the input size of fc6: convolutional taps work on other sizes.
    feats = extract(model, torch.randn(1, 3, 16, 64, 80), "conv5b")
    assert feats["conv5b"].shape == (1, 512, 2, 4, 5)


def test_extract_layer_off_the_forward_path():
    class WithSpare(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = tiny_net()
            self.spare = nn.Linear(1, 1)  # never called

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.body(x)

    net = WithSpare()
    with pytest.raises(RuntimeError, match=r"\['spare'\] produced no output"):
        extract(net, torch.randn(1, 3, 2, 2, 2), ["body.1", "spare"])
    assert all_hooks(net) == 0


# --- weights ---------------------------------------------------------------------------------------------


def test_c3d_pytorch_state_dict_loads_strictly(tmp_path):
    state_dict = {k: torch.full(shape, float(i)) for i, (k, shape) in enumerate(C3D_PYTORCH_KEYS)}
    path = tmp_path / "c3d.pickle"
    torch.save(state_dict, path)
    del state_dict
    model = create_model("c3d_sports1m", weights=path)
    loaded = model.state_dict()
    for i, (k, _) in enumerate(C3D_PYTORCH_KEYS):
        assert (loaded[k] == i).all(), k
    assert model.preset.name == "sports1m"
    # A foreign state dict loaded into a plain c3d gets the published recipe too, whatever the entry point.
    assert load_weights(create_model("c3d"), path).preset.name == "sports1m"


@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
def test_c3d_weights_round_trip(model, tmp_path, suffix):
    path = save_weights(model, tmp_path / f"c3d{suffix}")
    restored = load_weights(empty_c3d(), path)
    original = model.state_dict()
    for k, v in restored.state_dict().items():
        assert torch.equal(v, original[k]), k


def test_mismatched_weights_are_listed(tmp_path):
    net = tiny_net()
    state_dict = net.state_dict()
    state_dict["4.weight"] = torch.zeros(7, 4)  # shape mismatch
    del state_dict["0.bias"]  # missing
    state_dict["5.weight"] = torch.zeros(1)  # unexpected
    path = tmp_path / "bad.pt"
    torch.save(state_dict, path)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    with pytest.raises(WeightsMismatchError) as excinfo:
        load_weights(net, path)
    message = str(excinfo.value)
    assert "missing from the file (1): 0.bias" in message
    assert "unexpected in the file (1): 5.weight" in message
    assert "4.weight: model expects [5, 4], file has [7, 4]" in message
    assert "strict=False" in message and "num_classes" in message
    assert all(torch.equal(v, before[k]) for k, v in net.state_dict().items())  # nothing loaded


def test_non_strict_loading_keeps_a_new_classifier(tmp_path):
    # Sports-1M-shaped classifier (487 classes) into a 101-class C3D: fc8 is skipped, the rest loads.
    conv1 = torch.full((64, 3, 3, 3, 3), 0.5)
    path = tmp_path / "partial.pt"
    torch.save(
        {"conv1.weight": conv1, "fc8.weight": torch.zeros(487, 4096), "fc8.bias": torch.zeros(487)}, path
    )
    model = empty_c3d(num_classes=101)
    fc8 = model.fc8.weight.clone()
    with pytest.warns(UserWarning, match=r"fc8.weight: model expects \[101, 4096\], file has \[487, 4096\]"):
        load_weights(model, path, strict=False)
    assert torch.equal(model.conv1.weight, conv1)
    assert torch.equal(model.fc8.weight, fc8)


def test_wrapped_checkpoints_and_prefixes(tmp_path):
    source, target = tiny_net(), tiny_net()
    with torch.no_grad():
        for p in source.parameters():
            p.add_(1.0)
    wrapped = {
        "epoch": 3,
        "optimizer": {"lr": 0.1},
        "state_dict": {f"module.{k}": v for k, v in source.state_dict().items()},
    }
    torch.save(wrapped, tmp_path / "ckpt.pth")
    load_weights(target, tmp_path / "ckpt.pth")
    assert all(
        torch.equal(a, b)
        for a, b in zip(source.state_dict().values(), target.state_dict().values(), strict=True)
    )
    torch.save({"model": source.state_dict()}, tmp_path / "model.pt")
    load_weights(tiny_net(), tmp_path / "model.pt")
    torch.save({"weights": [1, 2]}, tmp_path / "odd.pt")
    with pytest.raises(ValueError, match="no state dict found.*'weights'"):
        load_weights(tiny_net(), tmp_path / "odd.pt")


_executed: list[str] = []


def _mark_executed() -> None:
    _executed.append("ran")


class _Payload:
    """Unpickling this calls _mark_executed(): stands in for a checkpoint that runs code."""

    def __reduce__(self):
        return (_mark_executed, ())


def test_pickled_objects_are_refused(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"conv.weight": torch.zeros(1), "payload": _Payload()}, path)
    with pytest.raises(UnsafeCheckpointError, match="refusing to load.*never unpickles code"):
        load_weights(tiny_net(), path)
    assert _executed == []
    # A whole pickled module (torch.save(model)) is refused too, with the way out.
    torch.save(tiny_net(), tmp_path / "module.pkl")
    with pytest.raises(UnsafeCheckpointError, match="save_weights"):
        load_weights(tiny_net(), tmp_path / "module.pkl")


def test_missing_file_and_unknown_suffix(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        load_weights(tiny_net(), tmp_path / "nope.pt")
    (tmp_path / "weights.h5").write_bytes(b"")
    with pytest.raises(ValueError, match=r"\.safetensors"):
        load_weights(tiny_net(), tmp_path / "weights.h5")
    with pytest.raises(ValueError, match=r"\.pt"):
        save_weights(tiny_net(), tmp_path / "weights.npz")


def test_safetensors_round_trip_small_and_missing_package(tmp_path, monkeypatch):
    net = tiny_net()
    path = save_weights(net, tmp_path / "tiny.safetensors")
    target = tiny_net()
    with torch.no_grad():
        for p in target.parameters():
            p.zero_()
    load_weights(target, path)
    assert all(
        torch.equal(a, b)
        for a, b in zip(net.state_dict().values(), target.state_dict().values(), strict=True)
    )
    monkeypatch.setitem(sys.modules, "safetensors", None)
    monkeypatch.setitem(sys.modules, "safetensors.torch", None)
    with pytest.raises(ImportError, match="pip install safetensors"):
        load_weights(net, path)


# --- complexity ------------------------------------------------------------------------------------------


def test_count_macs_small_layers():
    net = nn.Sequential(
        nn.Conv2d(4, 8, kernel_size=3, padding=1, groups=2),  # out 8x5x5, 2*9 MACs each
        nn.Flatten(),
        nn.Linear(200, 10),
    )
    assert count_macs(net, (1, 4, 5, 5)) == 8 * 5 * 5 * 2 * 9 + 200 * 10
    conv1d = nn.Conv1d(3, 6, kernel_size=5)
    assert count_macs(conv1d, (2, 3, 20)) == 2 * 6 * 16 * 3 * 5
    assert count_parameters(net) == (8 * 2 * 9 + 8) + (200 * 10 + 10)


def test_count_macs_leaves_the_model_alone_and_falls_back_to_a_real_pass():
    class DataDependent(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(3, 4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if x.sum().item() >= 0:  # cannot run on meta
                return self.fc(x)
            return x

    net = DataDependent()
    weight = net.fc.weight.clone()
    assert count_macs(net, (2, 3)) == 2 * 4 * 3
    assert torch.equal(net.fc.weight, weight) and not net.fc.weight.is_meta
    assert all_hooks(net) == 0


def test_count_macs_of_a_batch_norm_net_in_training_mode():
    # A BatchNorm in training mode refuses a batch of one; counting runs in eval mode and puts the modes back.
    net = nn.Sequential(nn.Flatten(), nn.Linear(6, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
    net.train()
    net[3].eval()
    assert count_macs(net, (1, 6)) == 6 * 4 + 4 * 2
    assert [m.training for m in net] == [True, True, True, False]
    assert count_macs(net.to("meta"), (1, 6)) == 6 * 4 + 4 * 2  # on meta too (the registry's path)


def test_describe_models():
    infos = {info.name: info for info in describe_models()}
    assert set(infos) == set(list_models())
    info = infos["c3d"]
    assert isinstance(info, ModelInfo)
    assert info.input_shape == (3, 16, 112, 112)
    assert info.params == c3d_param_count(487)
    assert info.macs == c3d_macs(487)
    assert info.layers == tuple(C3D_TAP_SHAPES)
    assert info.description.startswith("C3D")
    assert "Learning Spatiotemporal Features" in info.paper
    # The preset of the architecture's published weights (the Sports-1M port), for both builders.
    assert info.preset == "sports1m" and infos["c3d_sports1m"].preset == "sports1m"
    assert math.isclose(info.macs / 1e9, 38.5, abs_tol=0.1)


def test_no_warnings_on_a_clean_load(tmp_path):
    path = save_weights(tiny_net(), tmp_path / "tiny.pt")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_weights(tiny_net(), path)
