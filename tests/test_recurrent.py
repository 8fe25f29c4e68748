"""Tests for vidlens.models.recurrent: the convolutional GRU (cell and layer) and GRU-RCN.

The GRU equations are checked against a step-by-step computation written out here with
``torch.nn.functional.conv2d`` on the cell's own weights. Models are narrow (width 4) and clips tiny
(8x32x32), so everything runs in a fraction of a second.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import vidlens.models.recurrent  # registers the model
from vidlens.models import (
    WeightsMismatchError,
    count_parameters,
    create_model,
    describe_model,
    extract,
    list_layers,
    list_models,
    save_weights,
)
from vidlens.models.recurrent import GRURCN, ConvGRU, ConvGRUCell
from vidlens.models.taps import FeatureTaps
from vidlens.presets import PRESETS

CLIP = (2, 3, 8, 32, 32)


def randomize(module: nn.Module, seed: int = 0) -> nn.Module:
    """Give every parameter (biases included) random values, so that no term of the equations hides."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.3)
    return module


def manual_step(cell: ConvGRUCell, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """Ballas et al. 2016, section 3, written out with F.conv2d (3x3 kernels, padding 1)."""

    def conv(name: str, inp: torch.Tensor) -> torch.Tensor:
        layer = getattr(cell, name)
        return F.conv2d(inp, layer.weight, layer.bias, padding=1)

    z = torch.sigmoid(conv("w_z", x) + conv("u_z", h))  # z_t = sigma(W_z * x_t + U_z * h_{t-1})
    r = torch.sigmoid(conv("w_r", x) + conv("u_r", h))  # r_t = sigma(W_r * x_t + U_r * h_{t-1})
    h_tilde = torch.tanh(conv("w_h", x) + conv("u_h", r * h))  # tanh(W * x_t + U * (r_t . h_{t-1}))
    return (1 - z) * h + z * h_tilde  # h_t = (1 - z_t) h_{t-1} + z_t h~_t


def manual_sequence(cell: ConvGRUCell, x: torch.Tensor) -> torch.Tensor:
    """The recurrence over (N, C, T, H, W) from h_0 = 0, as a (N, C_h, T, H, W) tensor."""
    n, _, t, height, width = x.shape
    h = torch.zeros(n, cell.hidden_channels, height, width)  # h_0 = 0
    states = []
    for step in range(t):
        h = manual_step(cell, x[:, :, step], h)
        states.append(h)
    return torch.stack(states, dim=2)


def small(**kwargs) -> GRURCN:
    torch.manual_seed(0)
    return create_model("gru_rcn", width=kwargs.pop("width", 4), **kwargs)


@pytest.fixture(scope="module")
def clips() -> torch.Tensor:
    return torch.randn(*CLIP, generator=torch.Generator().manual_seed(1))


# --- ConvGRU cell and layer -------------------------------------------------------------------------------


def test_cell_modules():
    cell = ConvGRUCell(5, 7)
    for name in ("w_z", "w_r", "w_h"):
        conv = getattr(cell, name)
        assert isinstance(conv, nn.Conv2d) and (conv.in_channels, conv.out_channels) == (5, 7)
        assert conv.kernel_size == (3, 3) and conv.padding == (1, 1) and conv.bias is not None
    for name in ("u_z", "u_r", "u_h"):
        conv = getattr(cell, name)
        assert isinstance(conv, nn.Conv2d) and (conv.in_channels, conv.out_channels) == (7, 7)
        assert conv.kernel_size == (3, 3) and conv.padding == (1, 1) and conv.bias is None
    with pytest.raises(ValueError, match="odd"):
        ConvGRUCell(5, 7, kernel_size=2)


def test_cell_matches_the_equations_step_by_step():
    cell = randomize(ConvGRUCell(3, 4))
    g = torch.Generator().manual_seed(1)
    xs = torch.randn(2, 3, 5, 6, 7, generator=g)  # (N, C, T, H, W), non-square maps
    h_cell = None  # h_0 = 0, implicitly
    h_manual = torch.zeros(2, 4, 6, 7)  # h_0 = 0, explicitly
    with torch.no_grad():
        for t in range(xs.shape[2]):
            h_cell = cell(xs[:, :, t], h_cell)
            h_manual = manual_step(cell, xs[:, :, t], h_manual)
            assert h_cell.shape == (2, 4, 6, 7)
            assert torch.allclose(h_cell, h_manual, atol=1e-5), t
        # The first step from h_0 = 0 reduces to h_1 = z_1 . tanh(W * x_1 + b): U * 0 = 0 (no bias on U).
        x1 = xs[:, :, 0]
        z1 = torch.sigmoid(F.conv2d(x1, cell.w_z.weight, cell.w_z.bias, padding=1))
        h1 = z1 * torch.tanh(F.conv2d(x1, cell.w_h.weight, cell.w_h.bias, padding=1))
        assert torch.allclose(cell(x1), h1, atol=1e-5)
        assert torch.allclose(cell(x1, torch.zeros(2, 4, 6, 7)), h1, atol=1e-5)


def test_layer_output_is_the_manual_recurrence():
    layer = randomize(ConvGRU(3, 4))
    x = torch.randn(2, 3, 6, 5, 5, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        out = layer(x)
        expected = manual_sequence(layer.cell, x)
    assert out.shape == (2, 4, 6, 5, 5)
    assert torch.allclose(out, expected, atol=1e-5)
    # The last state is out[:, :, -1]; a given first state continues the recurrence.
    with torch.no_grad():
        first, rest = layer(x[:, :, :2]), layer(x[:, :, 2:], h0=out[:, :, 1])
    assert torch.allclose(torch.cat([first, rest], dim=2), out, atol=1e-6)
    assert layer.hidden_channels == 4
    with pytest.raises(ValueError, match=r"ConvGRU expects maps shaped \(N, 3, T, H, W\)"):
        layer(torch.zeros(2, 5, 6, 5, 5))


def test_layer_is_causal():
    layer = randomize(ConvGRU(3, 4))
    g = torch.Generator().manual_seed(3)
    x = torch.randn(1, 3, 6, 5, 5, generator=g)
    changed = x.clone()
    changed[:, :, 4:] = torch.randn(1, 3, 2, 5, 5, generator=g)  # new frames 4 and 5
    with torch.no_grad():
        a, b = layer(x), layer(changed)
    assert torch.equal(a[:, :, :4], b[:, :, :4])  # states up to t = 3 do not see later frames
    assert not torch.allclose(a[:, :, 4:], b[:, :, 4:])


# --- GRU-RCN ----------------------------------------------------------------------------------------------


def test_registered_and_keyword_only():
    assert "gru_rcn" in list_models()
    with pytest.raises(TypeError):
        vidlens.models.recurrent.gru_rcn(101)
    with pytest.raises(TypeError):
        create_model("gru_rcn", bogus=1)


def test_no_3d_convolutions_anywhere():
    for model, levels in ((small(), 2), (small(stacked=True, levels=(2, 3, 4)), 3)):
        convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
        assert len(convs) == 4 + 6 * levels  # trunk + W_z, W_r, W, U_z, U_r, U per level
        assert not any(isinstance(m, (nn.Conv1d, nn.Conv3d, nn.ConvTranspose3d)) for m in model.modules())


def test_modules_and_taps():
    model = small()
    names = [name for name, _ in model.named_children()]
    assert names == [
        *("conv1", "relu1", "pool1", "conv2", "relu2", "pool2"),
        *("conv3", "relu3", "pool3", "conv4", "relu4", "pool4"),
        *("gru3", "gru4", "drop", "fc"),
    ]
    assert list_layers(model) == [
        *("conv1", "pool1", "conv2", "pool2", "conv3", "pool3", "conv4", "pool4"),
        *("gru3", "gru4", "fc"),
    ]
    assert [model.conv1.out_channels, model.conv4.out_channels] == [4, 32]  # width * 2**(k-1)
    assert model.hidden_channels == (16, 32)  # default: as many as the maps read
    assert model.fc.in_features == 48 and model.spec.classifier == "fc" and model.num_classes == 101
    relus = [m for m in model.modules() if isinstance(m, nn.ReLU)]
    assert len(relus) == 4 and not any(m.inplace for m in relus)
    # Fewer levels build a shorter trunk and fewer taps.
    short = small(levels=(2,), hidden_channels=5)
    assert list_layers(short) == ["conv1", "pool1", "conv2", "pool2", "gru2", "fc"]
    assert short.fc.in_features == 5 and not hasattr(short, "conv3")


def test_forward_backward_and_tap_shapes(clips):
    model = small(num_classes=7).train()
    with FeatureTaps(model, list_layers(model)) as taps:
        logits = model(clips)
    assert logits.shape == (2, 7) and torch.isfinite(logits).all()
    logits.logsumexp(dim=1).sum().backward()
    assert model.conv1.weight.grad is not None and model.conv1.weight.grad.abs().sum() > 0
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    shapes = {k: tuple(v.shape) for k, v in taps.outputs.items()}
    assert shapes == {
        "conv1": (2, 4, 8, 32, 32),
        "pool1": (2, 4, 8, 16, 16),
        "conv2": (2, 8, 8, 16, 16),
        "pool2": (2, 8, 8, 8, 8),
        "conv3": (2, 16, 8, 8, 8),
        "pool3": (2, 16, 8, 4, 4),
        "conv4": (2, 32, 8, 4, 4),
        "pool4": (2, 32, 8, 2, 2),
        "gru3": (2, 16, 8, 4, 4),  # hidden states h_1..h_T
        "gru4": (2, 32, 8, 2, 2),
        "fc": (2, 7),
    }
    assert taps["conv2"].min() >= 0  # after the ReLU
    assert taps["gru3"].abs().max() < 1  # h_t mixes tanh values with h_0 = 0: inside (-1, 1)


def test_trunk_sees_one_frame_at_a_time(clips):
    model = small().eval()
    with torch.inference_mode():
        taps = extract(model, clips, ["conv1", "pool2"])
        for t in (0, 5):
            frame = clips[:, :, t]  # (N, 3, H, W)
            conv1 = F.relu(F.conv2d(frame, model.conv1.weight, model.conv1.bias, padding=1))
            assert torch.allclose(taps["conv1"][:, :, t], conv1, atol=1e-6)
            x = F.max_pool2d(conv1, 2)
            x = F.max_pool2d(F.relu(F.conv2d(x, model.conv2.weight, model.conv2.bias, padding=1)), 2)
            assert torch.allclose(taps["pool2"][:, :, t], x, atol=1e-5)


def test_model_recurrence_and_head(clips):
    model = small().eval()
    with torch.inference_mode():
        taps = extract(model, clips, ["pool3", "gru3", "gru4"])
        assert torch.allclose(taps["gru3"], manual_sequence(model.gru3.cell, taps["pool3"]), atol=1e-5)
        features = model.forward_features(clips)
        expected = torch.cat(
            [taps["gru3"][:, :, -1].mean(dim=(2, 3)), taps["gru4"][:, :, -1].mean(dim=(2, 3))], 1
        )
        assert features.shape == (2, 48)
        assert torch.allclose(features, expected, atol=1e-6)
        assert torch.equal(model.forward_head(features, pre_logits=True), features)  # eval: no dropout
        assert torch.equal(model.forward_head(features), model(clips))


def test_model_is_causal(clips):
    model = small().eval()
    changed = clips.clone()
    changed[:, :, 5:] = torch.randn(2, 3, 3, 32, 32, generator=torch.Generator().manual_seed(9))
    layers = ["pool2", "gru3", "gru4"]
    with torch.inference_mode():
        a, b = extract(model, clips, layers), extract(model, changed, layers)
    for name in layers:
        assert torch.equal(a[name][:, :, :5], b[name][:, :, :5]), name  # frames 0..4: unchanged
        assert not torch.allclose(a[name][:, :, 5:], b[name][:, :, 5:]), name


def test_stacked_variant(clips):
    plain, stacked = small(levels=(2, 4)), small(levels=(2, 4), stacked=True)
    assert stacked.gru4.cell.in_channels == 32 + 8  # pool4 maps + gru2 states
    assert stacked.bottomup4.kernel_size == 4  # 8x8 states of level 2 pooled to level 4's 2x2
    assert not hasattr(plain, "bottomup4") and plain.gru4.cell.in_channels == 32
    # Level 4 depends on level 2's recurrent weights only when stacked.
    for model, coupled in ((plain, False), (stacked, True)):
        model.eval()
        with torch.inference_mode():
            before = extract(model, clips, "gru4")["gru4"]
            model.gru2.cell.u_h.weight.mul_(2)
            after = extract(model, clips, "gru4")["gru4"]
        assert torch.equal(before, after) != coupled
    model = small(levels=(2, 3, 4), stacked=True).train()
    logits = model(clips)
    logits.sum().backward()
    assert logits.shape == (2, 101)
    assert all(p.grad is not None for p in model.parameters())


def test_describe_model_counts():
    info = describe_model("gru_rcn")
    assert info.input_shape == (3, 16, 112, 112)
    assert info.preset == "plain" and "plain" in PRESETS
    assert "Ballas" in info.paper and "ICLR 2016" in info.paper
    assert info.layers == (
        *("conv1", "pool1", "conv2", "pool2", "conv3", "pool3", "conv4", "pool4"),
        *("gru3", "gru4", "fc"),
    )
    # Trunk 3 -> 64 -> 128 -> 256 -> 512 (3x3, bias); GRUs 256 -> 256 on 14x14, 512 -> 512 on 7x7; fc.
    trunk = [(3, 64, 112), (64, 128, 56), (128, 256, 28), (256, 512, 14)]  # (in, out, map side)
    grus = [(256, 256, 14), (512, 512, 7)]
    params = sum(9 * i * o + o for i, o, _ in trunk)
    params += sum(3 * (9 * i * h + h) + 3 * 9 * h * h for i, h, _ in grus) + 768 * 101 + 101
    macs = sum(16 * s * s * o * 9 * i for i, o, s in trunk)
    macs += sum(16 * s * s * h * 9 * (3 * i + 3 * h) for i, h, s in grus) + 768 * 101
    assert info.params == params == 19_325_669
    assert info.macs == macs == 33_641_279_232
    assert count_parameters(small(num_classes=10)) > 0


def test_weights_round_trip(tmp_path, clips):
    model = randomize(small()).eval()
    path = save_weights(model, tmp_path / "gru_rcn.pt")
    loaded = create_model("gru_rcn", width=4, weights=path).eval()
    with torch.inference_mode():
        assert torch.equal(loaded(clips), model(clips))
    with pytest.raises(WeightsMismatchError, match="gru4"):
        create_model("gru_rcn", width=4, hidden_channels=8, weights=path)


def test_bad_arguments():
    for levels in ((4, 3), (0, 2), (3, 5), (), (3, 3)):
        with pytest.raises(ValueError, match="levels must be distinct trunk stages"):
            GRURCN(levels=levels)
    with pytest.raises(ValueError, match="one per level"):
        GRURCN(width=4, hidden_channels=(8, 8, 8))
    with pytest.raises(ValueError, match="width"):
        GRURCN(width=0)


def test_bad_input_messages():
    model = small()
    with pytest.raises(ValueError, match=r"\(N, 3, T, H, W\).*unsqueeze\(0\)"):
        model(torch.zeros(3, 8, 32, 32))
    with pytest.raises(ValueError, match="channels-last.*normalize"):
        model(torch.zeros(1, 8, 32, 32, 3))
    with pytest.raises(TypeError, match=r"uint8.*get_preset\('plain'\)\.normalize"):
        model(torch.zeros(1, 3, 8, 32, 32, dtype=torch.uint8))
    with pytest.raises(ValueError, match=r"H, W >= 16.*got T x H x W = 8x8x32.*levels=\(2, 3\)"):
        model(torch.zeros(1, 3, 8, 8, 32))
    with pytest.raises(ValueError, match="T >= 1"):
        model(torch.zeros(1, 3, 0, 32, 32))
    model(torch.zeros(1, 3, 1, 16, 16))  # the smallest clip that reaches pool4
    assert small(levels=(2,))(torch.zeros(1, 3, 2, 4, 4)).shape == (1, 101)
