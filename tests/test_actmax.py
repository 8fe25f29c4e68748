"""Activation maximisation (vidlens.interpret.actmax): that it maximises, what the regularisers do (and their
gradients against finite differences), the Fourier parameterisation's round trip, seeds, objectives and
their parsing, batches, and hook hygiene.

Fast by design: a tiny net of our own on (N, 3, 8, 16, 16) clips, and c3d_depth3 at width 2 on 16 x 16 x 16
clips (the smallest that pass its pools), a few dozen steps each.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from vidlens.interpret import (
    FourierParam,
    Objective,
    PixelParam,
    Transforms,
    Unit,
    actmax,
    batch,
    channel,
    layer_mean,
    local_energy,
    neuron,
    parse_objective,
    total_variation,
)
from vidlens.models import FeatureTaps, ModelSpec, UnknownNameError, create_model
from vidlens.presets import get_preset

from conftest import indexed_frames, model_state

SHAPE = (3, 8, 16, 16)  # one clip for TinyNet


class TinyNet(nn.Module):
    """conv1 -> relu1 -> pool1 -> conv2 -> relu2 -> mean -> fc, for (N, 3, 8, 16, 16) clips; ``fail`` makes the
    forward pass raise after pool1, as a model that breaks mid-way."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv3d(3, 4, 3, padding=1)
        self.relu1 = nn.ReLU()
        self.pool1 = nn.MaxPool3d(2)
        self.conv2 = nn.Conv3d(4, 6, 3, padding=1)
        self.relu2 = nn.ReLU()
        self.fc = nn.Linear(6, 5)
        self.fail = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool1(self.relu1(self.conv1(x)))  # (N, 4, 4, 8, 8)
        if self.fail:
            raise RuntimeError("broken model")
        x = self.relu2(self.conv2(x))  # (N, 6, 4, 8, 8)
        return self.fc(x.mean(dim=(2, 3, 4)))  # (N, 5)


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def tiny() -> TinyNet:
    torch.manual_seed(0)
    return TinyNet().eval()


@pytest.fixture(scope="module")
def c3d() -> nn.Module:
    torch.manual_seed(0)
    return create_model("c3d_depth3", num_classes=4, width=2, norm="batch").eval()


def natural_clips(preset, n: int = 4, shape: tuple[int, int, int] = (16, 16, 16)) -> torch.Tensor:
    """Smooth moving colour waves (conftest's indexed frames, below their index band), normalised."""
    t, h, w = shape
    frames = np.stack([indexed_frames(t, 64, 96, seed=s)[:, 16 : 16 + h, 40 : 40 + w] for s in range(n)])
    return preset.normalize(frames)


def unit_values(model: nn.Module, objective: Objective, clips: torch.Tensor) -> torch.Tensor:
    with torch.no_grad(), FeatureTaps(model, objective.layers) as taps:
        return objective(taps.run(clips))


def differences(x: torch.Tensor) -> tuple[float, float]:
    """Mean |d_t x| and mean |d_x x|, |d_y x| of clips (N, 3, T, H, W)."""
    dt = (x[:, :, 1:] - x[:, :, :-1]).abs().mean()
    dxy = ((x[..., 1:] - x[..., :-1]).abs().mean() + (x[..., 1:, :] - x[..., :-1, :]).abs().mean()) / 2
    return float(dt), float(dxy)


# --- it maximises -------------------------------------------------------------------------------------------


def test_the_clip_drives_the_unit_far_above_random_and_natural_clips(c3d):
    objective = channel("conv3", 1)
    natural = natural_clips(c3d.preset)
    result = actmax(c3d, "conv3:1", steps=30, shape=(3, 16, 16, 16), natural_clips=natural)
    random_clips = torch.randn(8, 3, 16, 16, 16)  # white noise of the input's scale: more contrast than ours
    assert result.input.shape == (1, 3, 16, 16, 16) and result.history.shape == (30, 1)
    torch.testing.assert_close(result.value, unit_values(c3d, objective, result.input))
    assert result.value.item() > 3 * unit_values(c3d, objective, random_clips).max()
    assert result.value.item() > 5 * unit_values(c3d, objective, natural).max()
    # The unit is divided by its mean on the natural clips (eq. 1's a_hat); the history is the raw value.
    (a_hat,) = result.natural_means.values()
    assert a_hat == pytest.approx(float(unit_values(c3d, objective, natural).abs().mean()), rel=1e-5)
    assert result.history[-1, 0] > 10 * result.history[0, 0] and result.history[-1, 0] / a_hat > 4
    # The natural clips' raw values, against which the result is shown.
    assert result.natural_values.shape == (len(natural), 1)
    np.testing.assert_allclose(
        result.natural_values[:, 0], unit_values(c3d, objective, natural).numpy(), rtol=1e-5
    )
    assert result.natural_best[0] == result.natural_values.max()


def test_on_each_scores_every_clip_by_every_objective_of_a_batch(tiny):
    objective = batch(channel("relu2", 0), channel("relu2", 1) - channel("relu2", 2)) + 0.5 * layer_mean(
        "relu1"
    )
    clips = torch.randn(3, *SHAPE)
    with torch.no_grad(), FeatureTaps(tiny, objective.layers) as taps:
        outputs = taps.run(clips)
    table = objective.on_each(outputs)  # (3 clips, 2 objectives)
    relu2 = outputs["relu2"].mean(dim=(2, 3, 4))  # (3, 6)
    relu1 = outputs["relu1"].flatten(1).mean(dim=1)  # (3,)
    expected = torch.stack([relu2[:, 0], relu2[:, 1] - relu2[:, 2]], dim=1) + 0.5 * relu1[:, None]
    torch.testing.assert_close(table, expected)
    torch.testing.assert_close(
        objective(dict((k, v[:2]) for k, v in outputs.items())), expected[:2].diagonal()
    )
    with pytest.raises(ValueError, match="optimise 2 clips"):
        objective.on_each(outputs, n=1)


def test_frames_and_the_valid_range_follow_the_preset(tiny):
    tiny.preset = get_preset("sports1m")  # BGR, 0-255 minus the mean: the clip must stay within it
    result = actmax(tiny, "relu2:0", steps=10, shape=SHAPE, bound=None)
    low, high = (tiny.preset.normalize(np.full((1, 1, 1, 3), v, np.uint8)).view(3) for v in (0, 255))
    x = result.input.transpose(0, 1).flatten(1)  # (3, N * T * H * W)
    assert torch.all(x >= low[:, None] - 1e-4) and torch.all(x <= high[:, None] + 1e-4)
    assert result.frames.dtype == np.uint8 and result.frames.shape == (1, 8, 16, 16, 3)
    np.testing.assert_array_equal(result.frames, tiny.preset.denormalize(result.input))
    # The start is the mean colour plus a little white noise: the frames' mean is the preset's mean (RGB).
    start = actmax(tiny, "relu2:0", steps=0, shape=SHAPE, param="pixels")
    mean_rgb = np.array(tiny.preset.mean[::-1])  # preset.mean is in BGR order
    np.testing.assert_allclose(start.frames.reshape(-1, 3).mean(axis=0), mean_rgb, atol=2.0)


# --- regularisers -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("kappa", "chi"), [(0.0, 20.0), (20.0, 0.0)])
def test_chi_slows_the_clip_down_and_kappa_smooths_each_frame(tiny, kappa, chi):
    settings = {"steps": 30, "shape": SHAPE, "param": "pixels", "transforms": False, "bound": None}
    free = actmax(tiny, "relu2:2", kappa=0.0, chi=0.0, **settings).input
    smooth = actmax(tiny, "relu2:2", kappa=kappa, chi=chi, **settings).input
    (dt_free, dxy_free), (dt, dxy) = differences(free), differences(smooth)
    if chi:
        assert dt < dt_free / 3, (dt, dt_free)
    else:
        assert dxy < dxy_free / 3, (dxy, dxy_free)


def test_regulariser_gradients_equal_finite_differences():
    x = torch.randn(2, 3, 3, 4, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    x.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda v: total_variation(v, kappa=0.7, chi=3.0), (x,))
    assert torch.autograd.gradcheck(lambda v: local_energy(v, alpha=6.0), (x,))
    assert torch.autograd.gradcheck(lambda v: local_energy(v, alpha=2.5), (x,))


def test_total_variation_has_no_wrap_around():
    """A clip that is 0 except its last (or first) frame, 1: one temporal step per pixel and channel. With
    wrap-around there would be two (last -> first); space has none at all."""
    n, c, t, h, w = 2, 3, 5, 4, 6
    last = torch.zeros(n, c, t, h, w)
    last[:, :, -1] = 1.0
    first = torch.zeros(n, c, t, h, w)
    first[:, :, 0] = 1.0
    for clip in (last, first):
        assert total_variation(clip, kappa=1.0, chi=1.0).item() == n * c * h * w  # 144 steps of 1
        assert total_variation(clip, kappa=5.0, chi=2.0).item() == 2 * n * c * h * w
        assert total_variation(clip, kappa=1.0, chi=0.0).item() == 0
    # A step in space: a right half of 1 gives one difference per row, none in time or between columns.
    right = torch.zeros(1, 1, 2, 3, 4)
    right[..., 2:] = 1.0
    assert total_variation(right, kappa=1.0, chi=7.0).item() == 2 * 3  # T x H rows


def test_total_variation_weighs_each_clip_by_its_own_kappa_and_chi():
    """Weights per clip (a sweep in one batch) give what each clip gives alone with its own weights."""
    clips = torch.randn(3, 3, 4, 5, 6, generator=torch.Generator().manual_seed(0))
    kappas, chis = [1.0, 0.0, 3.0], [10.0, 2.0, 0.0]
    alone = sum(total_variation(clips[i : i + 1], kappas[i], chis[i]) for i in range(3))
    assert total_variation(clips, kappa=kappas, chi=chis).item() == pytest.approx(alone.item(), rel=1e-6)
    with pytest.raises(ValueError, match="3 clips: give one, or one per clip"):
        total_variation(clips, chi=[1.0, 2.0])
    with pytest.raises(ValueError, match="must be >= 0"):
        total_variation(clips, chi=[1.0, -2.0, 0.0])


def test_repeat_copies_a_batch_for_a_sweep():
    one = batch(channel("conv3", 1), channel("conv5", 0) - neuron("conv3", 2, 0, 1, 1))
    twice = one.repeat(2)
    assert twice.batch_size == 4
    for j in range(2):
        for i in range(2):
            mine = {(t.weight, t.unit) for t in twice.terms if t.element == 2 * j + i}
            assert mine == {(t.weight, t.unit) for t in one.terms if t.element == i}
    whole = layer_mean("conv3")  # not a batch: it applies to every clip already
    assert whole.repeat(3) == whole
    with pytest.raises(ValueError, match="times >= 1"):
        one.repeat(0)


def test_a_sweep_in_one_batch_smooths_time_more_where_chi_is_larger(tiny):
    """Clips 0 and 1 maximise the same channel, clip 0 with a large temporal weight: it changes less over
    time. A chi per clip that does not match the batch says how to fix it."""
    found = actmax(tiny, channel("conv2", 1).repeat(2), shape=(2, *SHAPE), chi=[1e4, 0.0], steps=24)
    dt = found.input.diff(dim=2).abs().mean(dim=(1, 2, 3, 4))
    assert dt[0] < 0.5 * dt[1]
    with pytest.raises(ValueError, match="3 weights for 2 clips"):
        actmax(tiny, batch("conv2:0", "conv2:1"), shape=SHAPE, chi=[1.0, 2.0, 3.0], steps=1)


def test_local_energy_by_hand():
    x = torch.zeros(1, 3, 1, 1, 2)
    x[0, :, 0, 0, 0] = torch.tensor([3.0, 4.0, 0.0])  # norm 5
    x[0, :, 0, 0, 1] = torch.tensor([0.0, 0.0, 1.0])  # norm 1
    assert local_energy(x, alpha=2).item() == pytest.approx(26)
    assert local_energy(x, alpha=6).item() == pytest.approx(5**6 + 1)
    assert local_energy(x, alpha=6, bound=5.0).item() == pytest.approx(5**6 + 1)
    assert local_energy(x, alpha=6, bound=4.9).item() == float("inf")  # eq. 2: beyond B, infinite
    with pytest.raises(ValueError, match="alpha"):
        local_energy(x, alpha=1)


@pytest.mark.parametrize("bound_mode", ["project", "penalty"])
def test_colour_norms_stay_within_the_bound(tiny, bound_mode):
    result = actmax(tiny, "relu2:0", steps=15, shape=SHAPE, bound=0.2, bound_mode=bound_mode, lr=0.1)
    centred = result.input * 0.225  # TinyNet has no preset: plain, x = (u - 0.45) / 0.225, so c = 0.225 x
    norms = centred.pow(2).sum(dim=1).sqrt()  # (N, T, H, W): colour norms of the centred clip
    assert norms.max() <= 0.2 + 1e-5 and norms.max() > 0.1


# --- parameterisations and seeds ----------------------------------------------------------------------------


@pytest.mark.parametrize("decorrelate", [True, False])
@pytest.mark.parametrize("shape", [(2, 3, 8, 16, 16), (1, 3, 5, 7, 9)])
def test_the_fourier_parameterisation_round_trips_a_clip(shape, decorrelate):
    clip = torch.rand(shape, generator=torch.Generator().manual_seed(1)) - 0.5
    param = FourierParam(shape, spatial_decay=1.2, temporal_decay=0.8, decorrelate=decorrelate)
    params = param.from_clip(clip)
    assert params.shape == param.param_shape == (*shape[:4], shape[4] // 2 + 1, 2)
    torch.testing.assert_close(param.to_clip(params), clip, rtol=0, atol=1e-5)
    pixels = PixelParam(shape)
    torch.testing.assert_close(pixels.to_clip(pixels.from_clip(clip)), clip)


def test_the_fourier_basis_favours_low_frequencies():
    param = FourierParam((1, 3, 8, 16, 16), spatial_decay=1.0, temporal_decay=1.0, decorrelate=False)
    scale = param.scale()  # (T, H, W // 2 + 1)
    assert scale.shape == (8, 16, 9) and scale.pow(2).mean().item() == pytest.approx(1.0)
    assert scale[0, 0, 0] > scale[0, 0, 4] > scale[0, 0, 8]  # spatial frequency up: smaller
    assert scale[0, 0, 0] > scale[2, 0, 0] > scale[4, 0, 0]  # temporal frequency up: smaller
    flat = FourierParam((1, 3, 8, 16, 16), spatial_decay=1.0, temporal_decay=0.0).scale()
    torch.testing.assert_close(flat[0], flat[3])  # temporal_decay 0: every temporal frequency alike


def test_the_same_seed_gives_the_same_clip(tiny):
    settings = {"steps": 8, "shape": SHAPE, "lr": 0.1}
    one = actmax(tiny, "relu2:1", seed=3, **settings)
    again = actmax(tiny, "relu2:1", seed=3, **settings)
    other = actmax(tiny, "relu2:1", seed=4, **settings)
    assert torch.equal(one.input, again.input) and np.array_equal(one.history, again.history)
    assert not torch.allclose(one.input, other.input)


def test_init_starts_from_a_given_clip(tiny):
    init = natural_clips(get_preset("plain"), n=1, shape=(8, 16, 16))
    start = actmax(tiny, "relu2:1", steps=0, init=init, bound=None)
    torch.testing.assert_close(start.input, init, atol=1e-5, rtol=0)
    moved = actmax(tiny, "relu2:1", steps=5, init=init, param="pixels")
    assert moved.input.shape == init.shape and not torch.allclose(moved.input, init)


def test_the_input_shape_comes_from_the_spec_or_the_default(tiny):
    assert actmax(tiny, "relu1:0", steps=0, param="pixels").input.shape == (1, 3, 16, 112, 112)  # C3D's
    tiny.spec = ModelSpec(input_shape=(3, 4, 8, 8))  # a model that declares its input (as registry models do)
    assert actmax(tiny, "relu1:0", steps=0).input.shape == (1, 3, 4, 8, 8)
    assert actmax(tiny, "relu1:0", steps=0, shape=(2, 3, 4, 8, 8)).input.shape == (2, 3, 4, 8, 8)
    assert actmax(tiny, channel("relu1", [0, 1, 2]), steps=0, shape=SHAPE).input.shape == (3, *SHAPE)
    with pytest.raises(ValueError, match="objective optimises 3"):
        actmax(tiny, channel("relu1", [0, 1, 2]), steps=0, shape=(2, *SHAPE))


def test_transforms_shift_without_wrap_around():
    clip = torch.rand(2, 1, 4, 5, 6, generator=torch.Generator().manual_seed(0)) + 1
    generator = torch.Generator().manual_seed(0)
    for _ in range(5):
        state = generator.get_state()
        out = Transforms(jitter=2, scale=(1.0, 1.0), time_shift=1)(clip, generator)
        check = torch.Generator()
        check.set_state(state)
        dy, dx = torch.randint(-2, 3, (2,), generator=check).tolist()
        dt = int(torch.randint(-1, 2, (1,), generator=check))
        expected = torch.zeros_like(clip)  # what comes from outside the clip is 0 (the mean colour)
        src = [slice(max(0, -d), n - max(0, d)) for d, n in zip((dt, dy, dx), (4, 5, 6), strict=True)]
        dst = [slice(max(0, d), n - max(0, -d)) for d, n in zip((dt, dy, dx), (4, 5, 6), strict=True)]
        expected[:, :, dst[0], dst[1], dst[2]] = clip[:, :, src[0], src[1], src[2]]
        torch.testing.assert_close(out, expected, atol=1e-4, rtol=0)


@pytest.mark.parametrize("zoom", [0.75, 1.25])
def test_transforms_zoom_about_the_centre_and_pad_with_the_mean(zoom):
    clip = torch.zeros(1, 3, 2, 16, 16)
    clip[..., 4:12, 4:12] = 1.0  # a centred 8 x 8 square
    out = Transforms(jitter=0, scale=(zoom, zoom), time_shift=0)(clip, torch.Generator().manual_seed(0))
    assert out.shape == clip.shape
    inside = out[0, 0, 0] > 0.5
    rows, cols = inside.any(dim=1).nonzero().flatten(), inside.any(dim=0).nonzero().flatten()
    assert len(rows) == len(cols) == round(8 * zoom)  # the square scaled by the zoom ...
    assert rows[0] + rows[-1] == cols[0] + cols[-1] == 15  # ... about the centre
    if zoom < 1:
        assert out[..., 0, :].abs().max() == 0 and out[..., :, -1].abs().max() == 0  # the mean moved in


# --- objectives ---------------------------------------------------------------------------------------------


def test_every_string_form_parses():
    assert parse_objective("conv5b") == layer_mean("conv5b")
    assert parse_objective("conv5b:7") == channel("conv5b", 7)
    assert parse_objective("fc8:3") == channel("fc8", 3)
    assert parse_objective(" conv5b:7@1,3,2 ") == neuron("conv5b", 7, 1, 3, 2)
    assert parse_objective("layer4.1.conv2:0") == channel("layer4.1.conv2", 0)
    assert (
        parse_objective("conv5:0,1,2")
        == channel("conv5", [0, 1, 2])
        == batch("conv5:0", "conv5:1", "conv5:2")
    )
    assert parse_objective("conv5:4,5@0,1,1") == batch(
        neuron("conv5", 4, 0, 1, 1), neuron("conv5", 5, 0, 1, 1)
    )
    for text in ("conv5b:7", "conv5b:7@1,3,2", "conv5b", "fc8:3"):
        (term,) = parse_objective(text).terms
        assert str(term.unit) == text
    for bad in ("conv5b:", "conv5b:x", "conv5b:1@2,3", ":3", "conv5b:1@", "conv5b:-1"):
        with pytest.raises(ValueError, match="LAYER|t,y,x"):
            parse_objective(bad)
    with pytest.raises(IndexError, match=">= 0"):
        channel("conv5", -1)


def test_combined_objectives_equal_the_arithmetic_of_their_parts():
    outputs = {"conv5": torch.randn(2, 4, 2, 3, 3), "fc8": torch.randn(2, 5)}
    a, b, c = channel("conv5", 1), neuron("conv5", 2, 1, 0, 2), channel("fc8", 3)
    torch.testing.assert_close(a(outputs), outputs["conv5"][:, 1].mean(dim=(1, 2, 3)))
    torch.testing.assert_close(b(outputs), outputs["conv5"][:, 2, 1, 0, 2])
    torch.testing.assert_close(c(outputs), outputs["fc8"][:, 3])
    torch.testing.assert_close(layer_mean("conv5")(outputs), outputs["conv5"].mean(dim=(1, 2, 3, 4)))
    combined = a - 2 * b + c / 4 - (-a) * 0.5
    torch.testing.assert_close(
        combined(outputs), a(outputs) - 2 * b(outputs) + c(outputs) / 4 + 0.5 * a(outputs)
    )
    torch.testing.assert_close((-c)(outputs), -c(outputs))
    assert sum([a, b, c]) == a + b + c
    assert (a - a).terms == ()  # cancelled terms vanish
    assert combined.layers == ["conv5", "fc8"]
    both = batch(a - b, c)  # clip 0: a - b, clip 1: c
    expected = torch.stack([(a - b)(outputs)[0], c(outputs)[1]])
    torch.testing.assert_close(both(outputs), expected)
    scaled = (a + c)(outputs, {Unit("conv5", 1): 2.0})  # units divided by their scales (a_hat)
    torch.testing.assert_close(scaled, a(outputs) / 2 + c(outputs))
    assert repr(a - 0.5 * c) == "Objective('conv5:1' - 0.5 * 'fc8:3')"
    with pytest.raises(ValueError, match="batch itself"):
        batch(channel("conv5", [0, 1]), a)


def test_unknown_layers_and_units_are_refused_saying_what_exists(c3d, tiny):
    with pytest.raises(UnknownNameError, match=r"(?s)'conv5b'.*choose from: conv1, pool1"):
        actmax(c3d, "conv5b:1", steps=1)
    with pytest.raises(UnknownNameError, match="choose from: conv1, relu1, pool1, conv2, relu2, fc"):
        actmax(tiny, "layer4:0", steps=1)
    with pytest.raises(IndexError, match=r"channel 6 is out of range.*6 channels \(0\.\.5\)"):
        actmax(tiny, "relu2:6", steps=1, shape=SHAPE)
    with pytest.raises(IndexError, match=r"outside layer 'relu2'.*4x8x8"):
        actmax(tiny, "relu2:0@4,0,0", steps=1, shape=SHAPE)
    with pytest.raises(ValueError, match="write 'fc:3'"):
        actmax(tiny, "fc:3@0,0,0", steps=1, shape=SHAPE)
    with pytest.raises(ValueError, match="nothing to maximise"):
        actmax(tiny, channel("fc", 1) - channel("fc", 1), steps=1, shape=SHAPE)


def test_a_logit_of_a_users_model_is_maximised(tiny):
    result = actmax(tiny, "fc:3", steps=25, shape=SHAPE, lr=0.1)
    with torch.no_grad():
        logits = tiny(torch.randn(8, *SHAPE))[:, 3]  # a mean over all positions: they barely vary
        assert result.value.item() > logits.max() + 10 * logits.std()
        torch.testing.assert_close(result.value, tiny(result.input)[:, 3])


def test_a_batch_of_channels_optimises_each_clip_for_its_own_channel(tiny):
    """Clip i of ``channel(layer, [c_0, c_1, ...])`` is what optimising channel c_i alone gives (the same start,
    the same transforms): nothing couples the clips of a batch."""
    init = natural_clips(get_preset("plain"), n=3, shape=(8, 16, 16))
    settings = {"steps": 12, "lr": 0.1, "param": "pixels", "natural_clips": init}  # units of ~1 at the start
    together = actmax(tiny, channel("relu2", [0, 1, 2]), init=init, **settings)
    assert together.input.shape == (3, *SHAPE) and together.value.shape == (3,)
    assert together.history.shape == (12, 3)
    with torch.no_grad(), FeatureTaps(tiny, "relu2") as taps:
        start = taps.run(init)["relu2"].mean(dim=(2, 3, 4))[:, :3]  # (clip, channel)
        means = taps.run(together.input)["relu2"].mean(dim=(2, 3, 4))[:, :3]
    torch.testing.assert_close(together.value, means.diagonal())
    for i in range(3):
        alone = actmax(tiny, channel("relu2", i), init=init[i : i + 1], **settings)
        torch.testing.assert_close(together.input[i : i + 1], alone.input, atol=1e-4, rtol=0)
        assert means[i, i] > start[i, i]  # each clip raised its own channel


# --- hooks, flags and modes ---------------------------------------------------------------------------------


def test_hooks_and_flags_are_restored_after_a_call_and_when_it_raises(tiny):
    tiny.conv1.weight.requires_grad_(False)  # a partly frozen model stays partly frozen
    tiny.fc.train()  # a mixed mode stays mixed
    before = model_state(tiny)
    assert before["hooks"] == []
    actmax(tiny, channel("relu2", 0) + channel("fc", 1), steps=3, shape=SHAPE)
    assert model_state(tiny) == before
    tiny.fail = True
    with pytest.raises(RuntimeError, match="broken model"):
        actmax(tiny, "relu2:0", steps=3, shape=SHAPE)
    assert model_state(tiny) == before


def test_a_model_in_training_mode_is_warned_about_and_left_in_it(tiny):
    tiny.train()
    with pytest.warns(UserWarning, match=r"training mode.*model\.eval\(\)"):
        actmax(tiny, "relu2:0", steps=1, shape=SHAPE)
    assert all(m.training for m in tiny.modules())


def test_sgd_ascends_as_well(tiny):
    settings = {"shape": SHAPE, "param": "pixels", "transforms": False}
    start = actmax(tiny, "relu2:0", steps=0, **settings)
    result = actmax(tiny, "relu2:0", steps=10, optimizer="sgd", lr=300.0, **settings)
    assert result.value.item() > 1.5 * start.value.item()


def test_settings_are_checked(tiny):
    for kwargs, match in [
        ({"param": "wavelet"}, "'fft'"),
        ({"optimizer": "lbfgs"}, "'adam'"),
        ({"bound_mode": "clip"}, "'project'"),
        ({"bound": None, "bound_mode": "penalty"}, "needs a bound"),
        ({"kappa": -1.0}, ">= 0"),
        ({"transforms": "yes"}, "Transforms"),
        ({"shape": (4, 8, 16, 16)}, r"\(3, T, H, W\)"),
    ]:
        with pytest.raises((ValueError, TypeError), match=match):
            actmax(tiny, "relu2:0", steps=1, **{"shape": SHAPE, **kwargs})
