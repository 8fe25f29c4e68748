"""vidlens.presets: normalize/denormalize are exact inverses, channel orders swap, records round-trip, and the
one rule that picks a model's preprocessing (resolve_preset)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from vidlens.models import create_model
from vidlens.presets import (
    FROM_PRESET,
    PRESETS,
    Preset,
    get_preset,
    list_presets,
    override,
    resolve_preset,
)

# A recipe unlike any built-in one: BGR, values in [-1, 1] before a different mean and std per channel.
CUSTOM = Preset(
    name="custom",
    size=None,
    crop=None,
    channel_order="BGR",
    scale=1.0 / 127.5,
    mean=(1.0, 0.5, 0.0),
    std=(0.5, 0.25, 2.0),
)
ALL = [*PRESETS.values(), CUSTOM]
IDS = [p.name for p in ALL]


def random_frames(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """uint8 RGB frames covering the whole 0-255 range (both ends included)."""
    frames = np.random.default_rng(seed).integers(0, 256, size=shape, dtype=np.uint8)
    frames.flat[0], frames.flat[1] = 0, 255
    return frames


def expected_normalized(preset: Preset, rgb: tuple[int, int, int]) -> list[float]:
    """What one pixel becomes, written from the documented formula: (x * scale - mean) / std, in the
    preset's channel order."""
    ordered = rgb[::-1] if preset.channel_order == "BGR" else rgb
    return [(v * preset.scale - m) / s for v, m, s in zip(ordered, preset.mean, preset.std, strict=True)]


def test_built_in_presets():
    assert list_presets() == ["kinetics400", "plain", "sports1m"]
    sports = get_preset("sports1m")
    assert (sports.channel_order, sports.scale, sports.std) == ("BGR", 1.0, (1.0, 1.0, 1.0))
    assert sports.mean == (90.25, 97.66, 101.41)
    for preset in PRESETS.values():  # the C3D frame size and crop, as the docs promise
        assert (preset.size, preset.crop) == ((128, 171), 112)
    assert get_preset(sports) is sports
    with pytest.raises(KeyError, match="unknown preset 'sport1m'; available presets: kinetics400, plain"):
        get_preset("sport1m")


@pytest.mark.parametrize("preset", ALL, ids=IDS)
@pytest.mark.parametrize("shape", [(4, 6, 5, 3), (2, 4, 6, 5, 3)], ids=["clip", "batch"])
def test_denormalize_inverts_normalize_exactly(preset, shape):
    frames = random_frames(shape)
    x = preset.normalize(frames)
    assert x.dtype == torch.float32 and x.shape == (*shape[:-4], 3, *shape[-4:-1])  # (..., 3, T, H, W)
    back = preset.denormalize(x)
    assert isinstance(back, np.ndarray) and back.dtype == np.uint8
    np.testing.assert_array_equal(back, frames)
    # A tensor input, and one that requires grad (an optimised clip), give the same.
    np.testing.assert_array_equal(preset.normalize(torch.from_numpy(frames)), x)
    np.testing.assert_array_equal(preset.denormalize(x.clone().requires_grad_()), frames)


@pytest.mark.parametrize("preset", ALL, ids=IDS)
def test_normalize_follows_the_documented_formula(preset):
    frames = random_frames((3, 4, 5, 3), seed=1)
    x = preset.normalize(frames).numpy()  # (3, T, H, W)
    rgb = frames.astype(np.float64)
    ordered = rgb[..., ::-1] if preset.channel_order == "BGR" else rgb
    for c in range(3):
        expected = (ordered[..., c] * preset.scale - preset.mean[c]) / preset.std[c]
        np.testing.assert_allclose(x[c], expected, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("preset", ALL, ids=IDS)
def test_denormalize_clips_values_outside_the_data_range(preset):
    # Per channel, the model input that stands for pixel values -40, 300 and 1e6 (in preset channel order).
    values = np.array([-40.0, 300.0, 1e6, 100.0])
    x = np.stack(
        [(values * preset.scale - m) / s for m, s in zip(preset.mean, preset.std, strict=True)]
    )  # (3, 4)
    x = torch.tensor(x, dtype=torch.float32).reshape(3, 1, 1, 4)  # (3, T=1, H=1, W=4)
    back = preset.denormalize(x)  # (1, 1, 4, 3)
    np.testing.assert_array_equal(back[0, 0], [[0, 0, 0], [255, 255, 255], [255, 255, 255], [100, 100, 100]])


@pytest.mark.parametrize("name", ["sports1m", "plain", "kinetics400"])
def test_a_pure_red_frame_lands_in_the_channel_the_weights_expect(name):
    preset = get_preset(name)
    red = np.zeros((1, 2, 2, 3), np.uint8)
    red[..., 0] = 255  # RGB red
    x = preset.normalize(red)  # (3, 1, 2, 2)
    for c, value in enumerate(expected_normalized(preset, (255, 0, 0))):
        torch.testing.assert_close(x[c], torch.full((1, 2, 2), value), rtol=1e-6, atol=1e-4)
    np.testing.assert_array_equal(preset.denormalize(x), red)


def test_bgr_swaps_channels_and_rgb_does_not():
    red = np.zeros((1, 1, 1, 3), np.uint8)
    red[..., 0] = 255
    bgr = get_preset("sports1m").normalize(red)[:, 0, 0, 0]  # (3,): B, G, R
    assert bgr.tolist() == pytest.approx([-90.25, -97.66, 255 - 101.41])  # red is the last channel
    rgb = get_preset("plain").normalize(red)[:, 0, 0, 0]  # (3,): R, G, B
    assert rgb.tolist() == pytest.approx([(1 - 0.45) / 0.225, -2.0, -2.0])  # red is the first channel
    # The same preset with the other channel order reverses the channels, nothing else.
    swapped = get_preset("sports1m").replace(channel_order="RGB", mean=(101.41, 97.66, 90.25))
    frames = random_frames((2, 3, 3, 3))
    torch.testing.assert_close(
        get_preset("sports1m").normalize(frames), swapped.normalize(frames).flip(0), rtol=0, atol=1e-5
    )


def test_normalize_takes_reversed_views():
    """frames[..., ::-1] (OpenCV's BGR to RGB) and flipped frames are views with negative strides."""
    bgr = random_frames((2, 4, 5, 3))
    rgb = bgr[..., ::-1]
    assert min(rgb.strides) < 0
    plain = get_preset("plain")
    np.testing.assert_array_equal(plain.normalize(rgb), plain.normalize(np.ascontiguousarray(rgb)))
    flipped = bgr[:, :, ::-1]
    np.testing.assert_array_equal(plain.normalize(flipped), plain.normalize(bgr).flip(-1))


def test_normalize_and_denormalize_refuse_other_layouts():
    plain = get_preset("plain")
    with pytest.raises(ValueError, match=r"expects frames shaped \(\.\.\., T, H, W, 3\), got \(2, 4, 4, 4\)"):
        plain.normalize(np.zeros((2, 4, 4, 4), np.uint8))  # RGBA
    with pytest.raises(ValueError, match="expects frames shaped"):
        plain.normalize(np.zeros((4, 4, 3), np.uint8))  # one image, no time axis
    with pytest.raises(ValueError, match=r"denormalize expects model input shaped \(\.\.\., 3, T, H, W\)"):
        plain.denormalize(torch.zeros(2, 4, 4, 3))  # frames layout, not model input


@pytest.mark.parametrize("preset", ALL, ids=IDS)
def test_to_dict_from_dict_round_trip(preset):
    data = preset.to_dict()
    assert set(data) == {"name", "size", "crop", "channel_order", "scale", "mean", "std", "description"}
    assert Preset.from_dict(data) == preset
    # Through JSON (as weight files and config.json keep it): lists come back, the preset is equal and
    # hashes equal.
    again = Preset.from_dict(json.loads(json.dumps(data)))
    assert again == preset and hash(again) == hash(preset)
    assert isinstance(again.mean, tuple) and (again.size is None or isinstance(again.size, tuple))


def test_from_dict_refuses_unknown_fields():
    data = {**get_preset("plain").to_dict(), "colour": "BGR", "bias": 1}
    with pytest.raises(ValueError, match=r"unknown preset fields \['bias', 'colour'\]; a preset has \["):
        Preset.from_dict(data)


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"size": (0, 171)}, "size must be"),
        ({"size": (128, 171, 3)}, "size must be"),
        ({"size": (128,)}, "size must be"),
        ({"crop": 0}, "crop must be a positive side or None"),
        ({"crop": -112}, "crop must be a positive side or None"),
        ({"channel_order": "BRG"}, "channel_order must be 'RGB' or 'BGR'"),
        ({"mean": (0.5, 0.5)}, "mean and std need 3 values each"),
        ({"std": (0.2, 0.0, 0.2)}, "std > 0"),
    ],
)
def test_bad_fields_are_refused(changes, message):
    with pytest.raises(ValueError, match=message):
        get_preset("plain").replace(**changes)
    with pytest.raises(ValueError, match=message):
        Preset.from_dict({**get_preset("plain").to_dict(), **changes})


def test_override_replaces_only_what_is_given():
    plain = get_preset("plain")
    assert override("plain") is plain
    assert override(plain, size=FROM_PRESET, crop=FROM_PRESET) is plain
    small = override("plain", size=(64, 86), crop=56)
    assert (small.size, small.crop, small.name, small.mean) == ((64, 86), 56, "plain", plain.mean)
    assert override("sports1m", crop=None) == get_preset("sports1m").replace(crop=None)
    whole = override("sports1m", size=None)
    assert whole.size is None and whole.crop == 112 and whole.channel_order == "BGR"
    assert repr(FROM_PRESET) == "FROM_PRESET"


def test_resolve_preset_explicit_then_model_then_plain():
    model = create_model("c3d_depth1", num_classes=3, width=2)
    assert resolve_preset() is PRESETS["plain"]
    assert resolve_preset(model) is PRESETS["plain"]  # randomly initialised
    model.preset = CUSTOM
    assert resolve_preset(model) is CUSTOM
    assert resolve_preset(model, "sports1m") is PRESETS["sports1m"]  # explicit wins
    assert resolve_preset(model, CUSTOM.replace(name="other")).name == "other"
    assert resolve_preset(nn.Linear(2, 2)) is PRESETS["plain"]  # a user's own module carries no preset
    model.preset = "sports1m"  # a name is not a preset: say how to set one
    with pytest.raises(TypeError, match=r"C3DDepth.preset is a str; it must be a vidlens.presets.Preset"):
        resolve_preset(model)
