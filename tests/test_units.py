"""Motion or appearance (vidlens.interpret.units), on hand-built units with known answers: a unit that sums
frames and a per-frame spatial unit score 0 temporal sensitivity, a frame-difference unit scores high; a
spatiotemporal Gabor tuned to rightward motion prefers 0 degrees with a DSI near 1 (upward: 90, and so on),
a static-pattern unit has a DSI near 0. Also: the stimuli move the way the conventions say (checked by
phase correlation, vidlens.metrics.dominant_motion), the tuning read from responses, and a registry model.

Hand-built units are one-layer nets with fixed Conv3d weights, on 8-frame clips of 16 x 16 or 32 x 32 pixels.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from vidlens.interpret import (
    DirectionTuning,
    TemporalResponses,
    direction_tuning,
    direction_tuning_by_layer,
    drifting_grating,
    moving_dots,
    temporal_responses,
    temporal_sensitivity,
    unit_layers,
)
from vidlens.metrics import dominant_motion
from vidlens.models import create_model
from vidlens.presets import get_preset, resolve_preset

T = 8
TUNING = {"speeds": (0.5, 1.0, 2.0), "spatial_frequencies": (0.125,), "frames": T, "size": 32}


pytestmark = pytest.mark.usefixtures("one_thread")


class HandBuilt(nn.Module):
    """One Conv3d with fixed weights ``(C, 3, t, h, w)`` (no bias, padding none), then a ReLU or nothing."""

    def __init__(self, weight: torch.Tensor, relu: bool = True) -> None:
        super().__init__()
        self.conv = nn.Conv3d(3, weight.shape[0], tuple(weight.shape[2:]), bias=False)
        with torch.no_grad():
            self.conv.weight.copy_(weight)
        self.relu = nn.ReLU() if relu else nn.Identity()
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.conv(x))


def gabor(direction: float, *, f: float = 0.125, v: float = 1.0, kt: int = 7, k: int = 9) -> torch.Tensor:
    """A spatiotemporal Gabor ``(1, 3, kt, k, k)`` tuned to a grating of ``f`` cycles/pixel moving at ``v``
    pixels/frame in ``direction`` (degrees, 0 right, 90 up: rows grow downwards, so up is -row); ``v = 0``
    with ``kt = 1`` is a purely spatial (static-pattern) filter. Zero mean, the same on every colour."""
    t = torch.arange(kt) - (kt - 1) / 2
    s = torch.arange(k) - (k - 1) / 2
    tt, rows, cols = torch.meshgrid(t, s, s, indexing="ij")
    theta = math.radians(direction)
    u = cols * math.cos(theta) - rows * math.sin(theta)  # position along the direction of motion
    envelope = torch.exp(-(tt**2) / (2 * 2.0**2) - (rows**2 + cols**2) / (2 * 2.5**2))
    w = envelope * torch.cos(2 * math.pi * f * (u - v * tt))  # matches cos(2 pi f (u - v t)): a drift
    w = w - w.mean()
    return (w / 3)[None, None].expand(1, 3, -1, -1, -1)


def frame_sum() -> HandBuilt:
    """Sums all T frames of every pixel and colour, linearly: a bag of frames."""
    return HandBuilt(torch.ones(1, 3, T, 1, 1), relu=False)


def frame_difference() -> HandBuilt:
    """ReLU(frame t+1 - frame t), summed over colours: silent on anything static."""
    weight = torch.zeros(1, 3, 2, 1, 1)
    weight[:, :, 0], weight[:, :, 1] = -1.0, 1.0
    return HandBuilt(weight)


@pytest.fixture(scope="module")
def dots() -> torch.Tensor:
    """Four moving dot fields, 8 x 16 x 16."""
    return moving_dots([0.0, 90.0, 200.0, 300.0], [1.0, 2.0, 1.5, 1.0], frames=T, size=16)


# --------------------------------------------------------------------------------------------------------
# Temporal sensitivity
# --------------------------------------------------------------------------------------------------------


def test_a_unit_that_sums_frames_scores_zero(dots):
    positive = torch.rand(4, 3, T, 16, 16, generator=torch.Generator().manual_seed(0))
    for clips in (dots, positive):
        responses = temporal_responses(frame_sum(), clips, ["relu"])["relu"]
        assert isinstance(responses, TemporalResponses) and responses.original.shape == (4, 1)
        for destroy in ("shuffle", "repeat", "both"):
            assert responses.score(destroy) == pytest.approx([0.0], abs=1e-6)


def test_a_per_frame_spatial_unit_scores_zero(dots):
    unit = HandBuilt(gabor(0.0, v=0.0, kt=1))  # rectified, but frame by frame: order and change do not matter
    assert temporal_sensitivity(unit, dots, "relu") == pytest.approx([0.0], abs=1e-6)


def test_a_frame_difference_unit_scores_high(dots):
    responses = temporal_responses(frame_difference(), dots, ["relu"])["relu"]
    assert responses.score("repeat") == pytest.approx([1.0], abs=1e-6)  # silent on static clips
    assert responses.score("shuffle")[0] > 0.05  # shuffled dots jump further than they move
    score = temporal_sensitivity(frame_difference(), dots, "relu")
    assert score[0] > 0.5 and score == pytest.approx((1.0 + responses.score("shuffle")) / 2)


def test_the_score_is_bounded_and_silent_units_are_nan():
    original = np.array([[1.0, 0.0, -2.0], [3.0, 0.0, 1.0]])
    responses = TemporalResponses(original, np.array([[0.0, 0.0, 2.0], [3.0, 0.0, 1.0]]), original * 0)
    shuffle = responses.score("shuffle")
    assert shuffle[0] == pytest.approx(1 / 7) and np.isnan(shuffle[1]) and shuffle[2] == pytest.approx(4 / 6)
    np.testing.assert_allclose(responses.score("repeat"), [1.0, np.nan, 1.0])
    both = responses.score()
    assert both[0] == pytest.approx((1 / 7 + 1) / 2) and np.isnan(both[1])
    with pytest.raises(ValueError, match="'both', 'shuffle' or 'repeat'"):
        responses.score("reverse")


def test_nearly_silent_units_are_unresponsive():
    original = np.array([[1.0, 1e-4], [2.0, 0.0]])  # unit 1: a ten-thousandth of unit 0
    destroyed = np.array([[1.0, 0.0], [2.0, 1e-4]])
    responses = TemporalResponses(original, destroyed, destroyed)
    np.testing.assert_allclose(responses.score("shuffle"), [0.0, np.nan])
    np.testing.assert_allclose(responses.score("shuffle", min_response=0.0), [0.0, 1.0])
    with pytest.raises(ValueError, match="min_response is a fraction"):
        responses.score(min_response=1.5)


def test_held_frames_and_layers(dots):
    model = create_model("c3d_depth3", num_classes=4, width=2, norm="batch").eval()
    clips = moving_dots([0.0, 135.0], 1.0, frames=16, size=16, model=model)
    every = temporal_responses(model, clips, ["conv1", "conv3"], batch_size=5)
    some = temporal_responses(model, clips, ["conv3"], held_frames=16, batch_size=32)["conv3"]
    np.testing.assert_allclose(some.repeated, every["conv3"].repeated, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(some.shuffled, every["conv3"].shuffled, rtol=1e-5, atol=1e-6)
    assert every["conv1"].original.shape == (2, 2) and every["conv3"].original.shape == (2, 8)
    score = temporal_sensitivity(model, clips, "conv3", held_frames=2)
    assert score.shape == (8,) and np.all((score[np.isfinite(score)] >= 0) & (score[np.isfinite(score)] <= 1))
    with pytest.raises(ValueError, match="at least 2 frames"):
        temporal_sensitivity(frame_difference(), dots[:, :, :1], "relu")
    with pytest.raises(ValueError, match="held_frames"):
        temporal_sensitivity(frame_difference(), dots, "relu", held_frames=0)


# --------------------------------------------------------------------------------------------------------
# Stimuli
# --------------------------------------------------------------------------------------------------------


def moves(clip: torch.Tensor, preset="plain") -> tuple[float, float]:
    """Direction (degrees) and speed (pixels per frame) of a model-input clip ``(3, T, H, W)``."""
    dy, dx = dominant_motion(get_preset(preset).denormalize(clip))
    return math.degrees(math.atan2(-dy, dx)) % 360, math.hypot(dy, dx)


@pytest.mark.parametrize(("direction", "speed"), [(0.0, 1.0), (90.0, 2.0), (225.0, 1.5), (300.0, 2.0)])
def test_dots_move_the_way_the_conventions_say(direction, speed):
    field = moving_dots(direction, speed, frames=T, size=48, dot_size=1.5, density=0.03)
    assert field.shape == (1, 3, T, 48, 48) and field.dtype == torch.float32
    got, how_fast = moves(field[0])
    assert abs((got - direction + 180) % 360 - 180) < 5 and how_fast == pytest.approx(speed, abs=0.15)


@pytest.mark.parametrize(("direction", "speed", "step"), [(0.0, 1.0, (0, 1)), (90.0, 2.0, (-2, 0)),
                         (225.0, math.sqrt(2), (1, -1)), (315.0, 2 * math.sqrt(2), (2, 2))])  # fmt: skip
def test_gratings_move_the_way_the_conventions_say(direction, speed, step):
    """Frame t is frame 0 moved by t * step pixels (rows, columns): up is -row."""
    frames = get_preset("plain").denormalize(drifting_grating(direction, speed, 0.06, frames=4, size=24))[
        0, ..., 0
    ]
    for t in range(1, 4):
        dy, dx = t * step[0], t * step[1]
        moved = np.roll(frames[0], (dy, dx), axis=(0, 1)).astype(int)  # wraps: compare the inside only
        inside = (slice(max(dy, 0), 24 + min(dy, 0)), slice(max(dx, 0), 24 + min(dx, 0)))
        assert np.abs(frames[t][inside].astype(int) - moved[inside]).max() <= 1


def test_gratings_levels_broadcasting_and_presets():
    frames = get_preset("plain").denormalize(
        drifting_grating([0.0, 90.0, 45.0], 1.0, 0.1, frames=4, size=(8, 12))
    )
    assert frames.shape == (3, 4, 8, 12, 3) and frames.min() == 0 and frames.max() == 255
    assert np.all(frames[..., 0] == frames[..., 2])  # grey
    assert np.all(frames[0, 0, 0] == frames[0, 0, 5])  # moving right: vertical stripes
    assert np.all(frames[1, 0, :, 0] == frames[1, 0, :, 7])  # moving up: horizontal stripes
    low = get_preset("plain").denormalize(drifting_grating(0.0, 1.0, 0.1, frames=2, size=8, contrast=0.2))
    assert low.min() >= 100 and low.max() <= 155
    model = create_model("c3d_depth3", num_classes=4, width=2)
    model.preset = get_preset("sports1m")  # BGR, 0-255 minus the mean
    bgr = drifting_grating(30.0, 1.0, 0.1, frames=2, size=8, model=model)
    plain = drifting_grating(30.0, 1.0, 0.1, frames=2, size=8)
    np.testing.assert_array_equal(
        resolve_preset(model).denormalize(bgr), get_preset("plain").denormalize(plain)
    )
    assert drifting_grating(0.0, 1.0, 0.1, model=model).shape == (
        1,
        3,
        16,
        112,
        112,
    )  # the model's input shape
    dots_same_field = moving_dots([0.0, 90.0], [0.0, 0.0], frames=2, size=16)
    torch.testing.assert_close(dots_same_field[0], dots_same_field[1])  # one field, moving its own way


def test_stimulus_mistakes():
    with pytest.raises(ValueError, match=r"advances 0.5 cycles per frame.*lower the speed"):
        drifting_grating(0.0, 4.0, 0.125)
    with pytest.raises(ValueError, match=r"outside \(0, 0.5\)"):
        drifting_grating(0.0, 1.0, 0.6)
    with pytest.raises(ValueError, match="contrast"):
        drifting_grating(0.0, 1.0, 0.1, contrast=2.0)
    with pytest.raises(ValueError, match="dot speeds must be in"):
        moving_dots(0.0, 5.0, size=16)
    with pytest.raises(ValueError, match="density"):
        moving_dots(0.0, 1.0, density=0.0)


# --------------------------------------------------------------------------------------------------------
# Direction and speed tuning
# --------------------------------------------------------------------------------------------------------


def test_a_rightward_gabor_prefers_0_degrees_with_dsi_near_1():
    tuning = direction_tuning(HandBuilt(gabor(0.0)), "relu", **TUNING)
    assert isinstance(tuning, DirectionTuning) and tuning.n_units == 1
    np.testing.assert_array_equal(tuning.directions, np.arange(8) * 45.0)
    assert tuning.responses.shape == (1, 8, 3, 1) and tuning.tuning_curve.shape == (1, 8)
    assert tuning.preferred_direction[0] == 0.0
    assert tuning.dsi[0] > 0.9
    assert tuning.preferred_speed[0] == 1.0  # the speed it was built for
    assert tuning.speed_selectivity[0] > 0.3
    assert tuning.stimuli == ("grating 0.125 c/px",) and tuning.preferred_stimulus[0] == 0


@pytest.mark.parametrize("direction", [90.0, 135.0, 270.0])
def test_gabors_prefer_the_direction_they_were_built_for(direction):
    tuning = direction_tuning(HandBuilt(gabor(direction)), "relu", **TUNING)
    assert tuning.preferred_direction[0] == direction and tuning.dsi[0] > 0.85


def test_a_static_pattern_unit_has_dsi_near_0():
    tuning = direction_tuning(HandBuilt(gabor(0.0, v=0.0, kt=1)), "relu", stimulus="both", **TUNING)
    assert tuning.responses.shape == (1, 8, 3, 2) and tuning.stimuli == ("grating 0.125 c/px", "dots")
    assert tuning.dsi[0] < 0.02
    assert tuning.speed_selectivity[0] < 0.05  # nor which speed


def test_several_units_and_dots():
    weight = torch.cat([gabor(0.0), gabor(180.0), torch.zeros(1, 3, 7, 9, 9)])  # right, left, silent
    tunings = direction_tuning_by_layer(HandBuilt(weight), ["relu"], stimulus="both", directions=12, **TUNING)
    tuning = tunings["relu"]
    assert tuning.directions[1] == 30.0 and tuning.responses.shape == (3, 12, 3, 2)
    np.testing.assert_array_equal(tuning.preferred_direction[:2], [0.0, 180.0])
    assert np.all(tuning.dsi[:2] > 0.85)
    assert (
        np.isnan(tuning.dsi[2])
        and np.isnan(tuning.preferred_direction[2])
        and tuning.preferred_stimulus[2] == -1
    )
    dots = direction_tuning(HandBuilt(weight[:2]), "relu", stimulus="dots", **TUNING)
    assert dots.stimuli == ("dots",)
    off = np.abs((dots.preferred_direction - [0.0, 180.0] + 180) % 360 - 180)  # dots are broadband: their
    assert np.all(off <= 45) and np.all(dots.dsi > 0.5)  # tuning is broader, its peak within one step


def test_tuning_read_from_responses():
    directions = [0.0, 90.0, 180.0, 270.0]
    responses = np.zeros((3, 4, 2, 1))
    responses[0, :, 0, 0] = [1.0, 2.0, 6.0, 2.0]  # prefers 180 at speed 1; opposite (0) gives 1
    responses[0, :, 1, 0] = [0.5, 1.0, 3.0, 1.0]
    responses[1, :, 1, 0] = [-1.0, 4.0, -1.0, 4.0]  # signed: the opposite of 90 (270) is as strong
    responses[2] = -1.0  # never above 0
    tuning = DirectionTuning.from_responses(responses, directions, [1.0, 3.0], ["grating"], layer="x")
    assert tuning.layer == "x" and tuning.preferred_direction[0] == 180.0
    assert tuning.dsi[0] == pytest.approx(5 / 7) and tuning.preferred_speed[0] == 1.0
    assert tuning.speed_selectivity[0] == pytest.approx(3 / 9)
    np.testing.assert_array_equal(tuning.tuning_curve[0], [1.0, 2.0, 6.0, 2.0])
    assert tuning.preferred_direction[1] == 90.0 and tuning.dsi[1] == 0.0 and tuning.preferred_speed[1] == 3.0
    assert np.isnan(tuning.dsi[2]) and np.isnan(tuning.preferred_speed[2])
    faint = responses.copy()
    faint[1] *= 1e-3  # below 1% of unit 0's best: unresponsive, unless min_response allows it
    assert np.isnan(DirectionTuning.from_responses(faint, directions, [1.0, 3.0], ["g"]).dsi[1])
    assert DirectionTuning.from_responses(faint, directions, [1.0, 3.0], ["g"], min_response=0).dsi[1] == 0.0
    with pytest.raises(ValueError, match="90 degrees have none"):
        DirectionTuning.from_responses(np.zeros((1, 3, 1, 1)), [0.0, 90.0, 180.0], [1.0], ["g"])
    with pytest.raises(ValueError, match="even number"):
        direction_tuning(HandBuilt(gabor(0.0)), "relu", directions=7, **TUNING)
    with pytest.raises(ValueError, match="phases is a number"):
        direction_tuning(HandBuilt(gabor(0.0)), "relu", phases=0, **TUNING)
    with pytest.raises(ValueError, match="'grating', 'dots' or 'both'"):
        direction_tuning(HandBuilt(gabor(0.0)), "relu", stimulus="plaid", **TUNING)
    with pytest.raises(ValueError, match="aliases"):
        direction_tuning(
            HandBuilt(gabor(0.0)), "relu", speeds=(1.0, 4.0), spatial_frequencies=(0.2,), size=32
        )


def test_single_frame_has_no_direction_selective_units():
    """A model that sees one frame cannot tell which way things move: averaged over the stimuli's phases,
    opposite directions show it the same frames. A 3D net, even with random weights, can."""
    kwargs = {"speeds": (1.0, 2.0), "spatial_frequencies": (0.08,), "stimulus": "both", "frames": 16}
    torch.manual_seed(0)
    single = create_model("single_frame", num_classes=4, width=4).eval()
    for tuning in direction_tuning_by_layer(single, unit_layers(single), **kwargs).values():
        assert np.nanmax(tuning.dsi) < 0.3, tuning.layer
    torch.manual_seed(0)
    c3d = create_model("c3d_depth3", num_classes=4, width=2).eval()
    tunings = direction_tuning_by_layer(c3d, unit_layers(c3d), size=32, **kwargs)
    assert max(np.nanmax(t.dsi) for t in tunings.values()) > 0.4


def test_a_registry_model_and_a_users_own():
    torch.manual_seed(0)
    model = create_model("c3d_depth3", num_classes=4, width=2, norm="batch")
    stats = model.bn6.running_mean.clone()
    assert unit_layers(model) == ["conv1", "conv2", "conv3", "conv4", "conv5"]  # in training mode, too:
    assert model.training and model.bn6.training and torch.equal(model.bn6.running_mean, stats)  # untouched
    model.eval()
    kwargs = {"speeds": (1.0, 2.0), "spatial_frequencies": (0.1,), "frames": 16, "size": 16}
    tunings = direction_tuning_by_layer(model, ["conv1", "conv3"], **kwargs)
    single = direction_tuning(model, "conv3", **kwargs)
    np.testing.assert_allclose(tunings["conv3"].responses, single.responses, rtol=1e-5, atol=1e-6)
    assert tunings["conv1"].n_units == 2 and single.n_units == 8
    finite = single.dsi[np.isfinite(single.dsi)]
    assert np.all((finite >= 0) & (finite <= 1))
    own = nn.Sequential(nn.Conv3d(3, 4, 3), nn.ReLU(), nn.MaxPool3d(2), nn.Conv3d(4, 2, 1), nn.Flatten())
    assert unit_layers(own, (3, 4, 8, 8)) == ["0", "3"]
