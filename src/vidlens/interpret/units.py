"""Which units see motion: temporal sensitivity, and direction and speed tuning measured as visual
neuroscience measures neurons.

A unit is a channel of a layer; its response to a clip is the channel's mean activation over the time and
space of its map (:func:`vidlens.interpret.layer_activations` with ``positions="mean"``).

    score = temporal_sensitivity(model, clips, "conv3")  # (C,) in [0, 1]; 0: time does not matter
    tuning = direction_tuning(model, "conv3")  # drifting gratings at 8 directions, 4 speeds, 2 frequencies
    tuning.preferred_direction, tuning.dsi, tuning.preferred_speed  # (C,) each

- **Temporal sensitivity** compares a unit's responses to clips as they are with its responses to the same
  clips with time destroyed: frames shuffled, and one frame held for the whole clip (see
  :class:`TemporalResponses` for the score).
- **Direction and speed tuning** presents drifting sine gratings (:func:`drifting_grating`) and fields of
  coherently moving random dots (:func:`moving_dots`), generated here, at evenly spaced directions and
  several speeds and spatial frequencies, and reads each unit's tuning curve, preferred direction,
  direction selectivity index ``DSI = (R_pref - R_opposite) / (R_pref + R_opposite)`` and preferred speed
  (:class:`DirectionTuning`). Feichtenhofer et al. (CVPR 2018) report speed invariance in early layers of
  two-stream networks: :attr:`DirectionTuning.speed_selectivity` measures it per unit.

Directions are degrees counter-clockwise from +x with up positive, as :data:`vidlens.data.synthetic.DIRECTIONS`:
0 moves right, 90 moves up on screen (image rows grow downwards). Speeds are pixels per frame, spatial
frequencies cycles per pixel. Pictures of the results live in :mod:`vidlens.viz.units`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import nn
from torch.nn.modules.pooling import _AdaptiveAvgPoolNd, _AdaptiveMaxPoolNd, _AvgPoolNd, _MaxPoolNd

from vidlens.interpret.core import check_clip
from vidlens.interpret.dependence import _collect
from vidlens.interpret.redundancy import conv_layers
from vidlens.models.contract import model_spec
from vidlens.models.taps import FeatureTaps, get_layer
from vidlens.presets import Preset, resolve_preset

__all__ = [
    "DirectionTuning",
    "TemporalResponses",
    "direction_tuning",
    "direction_tuning_by_layer",
    "drifting_grating",
    "moving_dots",
    "temporal_responses",
    "temporal_sensitivity",
    "unit_layers",
]

_POOLS = (_MaxPoolNd, _AvgPoolNd, _AdaptiveAvgPoolNd, _AdaptiveMaxPoolNd)


def _input_shape(model: nn.Module | None) -> tuple[int, int, int]:
    """(T, H, W) the model takes: its spec's, else C3D's 16 x 112 x 112."""
    spec = model_spec(model) if model is not None else None
    return tuple(spec.input_shape[1:]) if spec is not None else (16, 112, 112)  # type: ignore[return-value]


def unit_layers(model: nn.Module, shape: Sequence[int] | None = None) -> list[str]:
    """The layers whose channels are units here, in data-flow order: the model's tap names
    (:func:`vidlens.models.list_layers`; the module paths of its ``nn.Conv3d`` / ``nn.Conv2d`` for a model
    without a spec) whose output is a feature map ``(N, C, T', H', W')`` and whose module is not a pooling
    layer (a pool repeats the units of the layer before it).

    One forward pass of a blank clip finds the feature maps; ``shape`` is its ``(3, T, H, W)`` (default:
    the spec's input shape, else 3 x 16 x 112 x 112). It runs in eval mode, so that batch norm neither
    fails on one clip nor updates its statistics; every module's train/eval flag is put back after it.
    """
    spec = model_spec(model)
    candidates = spec.layers if spec is not None and spec.feature_layers else conv_layers(model)
    candidates = [name for name in candidates if not isinstance(get_layer(model, name), _POOLS)]
    if not candidates:
        raise ValueError(f"{type(model).__name__} has no convolutional layer; name the layers to measure")
    shape = tuple(shape) if shape is not None else (3, *_input_shape(model))
    device = next(model.parameters(), torch.empty(0)).device
    modes = [(m, m.training) for m in model.modules()]
    try:
        model.eval()
        with torch.no_grad(), FeatureTaps(model, candidates) as taps:
            outputs = taps.run(torch.zeros(1, *shape, device=device))
    finally:
        for m, training in modes:
            m.training = training
    return [
        name for name in candidates if isinstance(outputs[name], torch.Tensor) and outputs[name].ndim == 5
    ]


# --------------------------------------------------------------------------------------------------------
# Temporal sensitivity
# --------------------------------------------------------------------------------------------------------


def _check_min_response(min_response: float) -> None:
    if not 0.0 <= min_response < 1.0:
        raise ValueError(
            f"min_response is a fraction of the layer's strongest response in [0, 1), got {min_response}; "
            "0 keeps every unit that responds at all"
        )


def _ratio(original: np.ndarray, destroyed: np.ndarray, min_response: float) -> np.ndarray:
    """``sum_n |r - d| / sum_n (|r| + |d|)`` per unit, in [0, 1]; NaN for unresponsive units."""
    _check_min_response(min_response)
    top = np.abs(original - destroyed).sum(axis=0)  # (C,)
    bottom = np.abs(original).sum(axis=0) + np.abs(destroyed).sum(axis=0)
    responsive = (bottom > 0) & (bottom >= min_response * bottom.max(initial=0.0))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(responsive, top / np.where(responsive, bottom, 1.0), np.nan)


@dataclass(frozen=True, eq=False)
class TemporalResponses:
    """A layer's unit responses to clips as they are and with time destroyed (:func:`temporal_responses`).

    The score of a destruction ``d`` compares, per unit, the responses ``r_n`` to the clips as they are with
    the responses ``d_n`` to the same clips with time destroyed, summed over the clips::

        S_d = sum_n |r_n - d_n| / sum_n (|r_n| + |d_n|)

    It is 0 when the destruction changes nothing (time does not matter to the unit), 1 when the unit
    answers only one of the two (e.g. it is silent on static clips), and in [0, 1] always (|r - d| <=
    |r| + |d|); it is the modulation index neuroscience uses, like the DSI, and reads best on rectified
    units (taps after a ReLU). NaN for an unresponsive unit: one silent on both, or whose ``sum_n (|r_n| +
    |d_n|)`` is below ``min_response`` times the layer's largest (a nearly silent unit, stirred only at the
    clips' borders, would otherwise score at random).
    """

    original: np.ndarray  # (N, C): responses to the clips as they are
    shuffled: np.ndarray  # (N, C): to the clips with their frames in a random order (never the identity)
    repeated: np.ndarray  # (N, C): to clips of one frame held for the whole clip, averaged over held frames

    def score(
        self, destroy: Literal["both", "shuffle", "repeat"] = "both", min_response: float = 0.01
    ) -> np.ndarray:
        """Temporal sensitivity per unit, ``(C,)``: ``S_shuffle``, ``S_repeat`` or ``"both"``, their mean
        (the one that is defined where the other is NaN)."""
        if destroy == "shuffle":
            return _ratio(self.original, self.shuffled, min_response)
        if destroy == "repeat":
            return _ratio(self.original, self.repeated, min_response)
        if destroy != "both":
            raise ValueError(f"destroy must be 'both', 'shuffle' or 'repeat', got {destroy!r}")
        parts = np.stack([self.score("shuffle", min_response), self.score("repeat", min_response)])  # (2, C)
        counts = np.isfinite(parts).sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(counts > 0, np.nansum(parts, axis=0) / np.maximum(counts, 1), np.nan)


def _held_frames(t: int, held_frames: int | None) -> np.ndarray:
    if held_frames is None:
        return np.arange(t)
    if isinstance(held_frames, bool) or not isinstance(held_frames, int) or held_frames < 1:
        raise ValueError(
            f"held_frames is a number of frames >= 1, or None for every frame; got {held_frames!r}"
        )
    return np.unique(np.linspace(0, t - 1, min(held_frames, t)).round().astype(np.int64))


def temporal_responses(
    model: nn.Module,
    clips: torch.Tensor,
    layers: Sequence[str],
    *,
    held_frames: int | None = None,
    seed: int = 0,
    batch_size: int = 16,
    progress: bool = False,
) -> dict[str, TemporalResponses]:
    """Unit responses of ``layers`` to ``clips`` as they are, with their frames shuffled, and with one
    frame held: ``{layer: TemporalResponses}``.

    Shuffled: each clip's frames in a random permutation (seeded by ``seed``, never the identity).
    Repeated: for each held frame ``k``, the clip made of frame ``k`` repeated ``T`` times; the responses
    are averaged over the held frames, so a unit that sums (or averages) a per-frame function over time
    answers exactly as to the clip itself. ``held_frames=None`` holds every frame (``T`` forward passes per
    clip), an int ``k`` holds ``k`` frames spread evenly over the clip (cheaper, approximate).

    Args:
        model: any ``nn.Module`` (call ``model.eval()`` first).
        clips: model input ``(N, 3, T, H, W)``, ``T >= 2``, already normalised; moved to the model's device
            batch by batch.
        layers: tap names or module paths.
    """
    check_clip(model, clips, "temporal_sensitivity")
    n, t = clips.shape[0], clips.shape[2]
    if t < 2:
        raise ValueError(f"temporal sensitivity needs clips of at least 2 frames, got T = {t}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    held = _held_frames(t, held_frames)
    generator = torch.Generator().manual_seed(seed)
    orders = []
    for _ in range(n):
        order = torch.randperm(t, generator=generator)
        while bool((order == torch.arange(t)).all()):
            order = torch.randperm(t, generator=generator)
        orders.append(order)
    # One job per clip variant: (clip, None) as it is, (clip, order) shuffled, (clip, [k] * T) repeated.
    jobs = [(i, None) for i in range(n)] + [(i, orders[i]) for i in range(n)]
    jobs += [(i, torch.full((t,), int(k))) for i in range(n) for k in held]

    def batches() -> Iterator[torch.Tensor]:
        for start in range(0, len(jobs), batch_size):
            chunk = jobs[start : start + batch_size]
            yield torch.stack(
                [clips[i] if frames is None else clips[i][:, frames.to(clips.device)] for i, frames in chunk]
            )

    layers = [layers] if isinstance(layers, str) else list(layers)
    acts = _collect(
        model, batches(), layers, seed=seed, progress=progress, total=math.ceil(len(jobs) / batch_size),
        desc="temporal sensitivity",
    )  # fmt: skip
    out = {}
    for layer, a in acts.items():  # (N * (2 + len(held)), C)
        repeated = a[2 * n :].reshape(n, len(held), -1).mean(axis=1)  # (N, C)
        out[layer] = TemporalResponses(a[:n], a[n : 2 * n], repeated)
    return out


def temporal_sensitivity(
    model: nn.Module,
    clips: torch.Tensor,
    layer: str,
    *,
    destroy: Literal["both", "shuffle", "repeat"] = "both",
    held_frames: int | None = None,
    min_response: float = 0.01,
    seed: int = 0,
    batch_size: int = 16,
    progress: bool = False,
) -> np.ndarray:
    """How much time matters to each unit of ``layer``: float64 ``(C,)`` in [0, 1], 0 when it does not
    (NaN for a unit that does not respond: silent, or below ``min_response`` times the layer's strongest).

    The mean of the shuffled-frames and held-frame scores (``destroy="both"``), or one of them; see
    :class:`TemporalResponses` for the score and :func:`temporal_responses` for the clips with time
    destroyed. ``clips`` is model input ``(N, 3, T, H, W)``.
    """
    _check_min_response(min_response)
    responses = temporal_responses(
        model, clips, [layer], held_frames=held_frames, seed=seed, batch_size=batch_size, progress=progress
    )[layer]
    return responses.score(destroy, min_response)


# --------------------------------------------------------------------------------------------------------
# Stimuli
# --------------------------------------------------------------------------------------------------------


def _size(size: int | Sequence[int]) -> tuple[int, int]:
    h, w = (size, size) if isinstance(size, int) else tuple(size)
    if h < 2 or w < 2:
        raise ValueError(f"size is a frame side or (height, width) of at least 2 pixels, got {size!r}")
    return int(h), int(w)


def _model_ready(frames: np.ndarray, model: nn.Module | None, preset: str | Preset | None) -> torch.Tensor:
    """uint8 ``(N, T, H, W, 3)`` -> the model's input ``(N, 3, T, H, W)`` as its preset prepares it."""
    return resolve_preset(model, preset).normalize(frames)


def _grey(luminance: np.ndarray, contrast: float) -> np.ndarray:
    """Luminance in [-1, 1] ``(...)`` -> uint8 grey RGB ``(..., 3)`` about mid-grey at ``contrast``."""
    values = np.rint(127.5 + 127.5 * contrast * luminance)
    return np.repeat(np.clip(values, 0, 255).astype(np.uint8)[..., None], 3, axis=-1)


def _check_contrast(contrast: float) -> None:
    if not 0.0 <= contrast <= 1.0:
        raise ValueError(f"contrast must be in [0, 1] (1: black to white), got {contrast}")


def _check_grating(spatial_frequency: float, speed: float) -> None:
    if not 0.0 < spatial_frequency < 0.5:
        raise ValueError(
            f"spatial frequency {spatial_frequency:g} cycles/pixel is outside (0, 0.5): above 0.5 a grating "
            "aliases on the pixel grid; e.g. 0.04 (a period of 25 pixels)"
        )
    if speed < 0:
        raise ValueError(f"speed is >= 0 pixels per frame (the direction gives the way), got {speed:g}")
    if spatial_frequency * speed >= 0.5:
        raise ValueError(
            f"a grating of {spatial_frequency:g} cycles/pixel at {speed:g} pixels/frame advances "
            f"{spatial_frequency * speed:g} cycles per frame, at or past the 0.5 at which its motion aliases "
            "(it would seem to move the other way): lower the speed or the spatial frequency"
        )


def drifting_grating(
    direction: float | Sequence[float],
    speed: float | Sequence[float],
    spatial_frequency: float | Sequence[float],
    *,
    frames: int | None = None,
    size: int | Sequence[int] | None = None,
    contrast: float = 1.0,
    phase: float = 0.0,
    model: nn.Module | None = None,
    preset: str | Preset | None = None,
) -> torch.Tensor:
    """Drifting sine gratings as model input: float ``(N, 3, T, H, W)`` on the CPU.

    Grey level ``127.5 + 127.5 * contrast * cos(2 pi f (u - v t) + phase)`` with
    ``u = x cos(theta) - row sin(theta)``: stripes perpendicular to ``direction`` theta moving that way at
    ``speed`` v pixels per frame. The arguments broadcast: scalars or equally long sequences, one clip per
    element. The clips are normalised as ``model``'s preset says (``preset`` overrides it;
    :func:`vidlens.presets.resolve_preset`); ``preset.denormalize`` gives the uint8 frames back.

    Args:
        direction: degrees counter-clockwise from +x, up positive (0 moves right, 90 up).
        speed: pixels per frame, >= 0, with ``speed * spatial_frequency < 0.5`` (beyond, motion aliases).
        spatial_frequency: cycles per pixel, in (0, 0.5).
        frames: T (default: the model's, else 16).
        size: H and W, or (H, W) (default: the model's, else 112).
        contrast: in [0, 1]; 1 spans black to white.
        phase: radians, at frame 0 and the top-left pixel.
    """
    t_default, h_default, w_default = _input_shape(model)
    t = frames or t_default
    h, w = _size(size if size is not None else (h_default, w_default))
    _check_contrast(contrast)
    theta, v, f = (a.astype(np.float64) for a in np.broadcast_arrays(direction, speed, spatial_frequency))
    theta, v, f = np.atleast_1d(theta), np.atleast_1d(v), np.atleast_1d(f)  # (N,) each
    for fi, vi in zip(f, v, strict=True):
        _check_grating(float(fi), float(vi))
    radians = np.deg2rad(theta)[:, None, None, None]  # (N, 1, 1, 1)
    rows = np.arange(h)[None, None, :, None]  # (1, 1, H, 1), growing downwards
    cols = np.arange(w)[None, None, None, :]  # (1, 1, 1, W)
    times = np.arange(t)[None, :, None, None]  # (1, T, 1, 1)
    u = cols * np.cos(radians) - rows * np.sin(radians)  # (N, 1, H, W): position along the direction
    cycles = f[:, None, None, None] * (u - v[:, None, None, None] * times)  # (N, T, H, W)
    return _model_ready(_grey(np.cos(2 * np.pi * cycles + phase), contrast), model, preset)


def moving_dots(
    direction: float | Sequence[float],
    speed: float | Sequence[float],
    *,
    density: float = 0.05,
    dot_size: float = 1.0,
    frames: int | None = None,
    size: int | Sequence[int] | None = None,
    contrast: float = 1.0,
    seed: int = 0,
    model: nn.Module | None = None,
    preset: str | Preset | None = None,
) -> torch.Tensor:
    """Fields of random dots moving coherently as model input: float ``(N, 3, T, H, W)`` on the CPU.

    One field of bright Gaussian dots on a dark ground (``density``: the fraction of pixels that are dot
    centres; ``dot_size``: the Gaussian's sigma in pixels), drawn from ``seed``, is the same in every clip:
    clips differ only in how it moves. The field is periodic (what leaves the frame on one side comes back
    on the other) and shifted by ``speed * t`` pixels in ``direction`` at frame ``t`` exactly, by the
    Fourier shift theorem (sub-pixel speeds move smoothly). ``direction`` and ``speed`` broadcast as in
    :func:`drifting_grating`; so do ``frames``, ``size``, ``contrast``, ``model`` and ``preset``.
    """
    t_default, h_default, w_default = _input_shape(model)
    t = frames or t_default
    h, w = _size(size if size is not None else (h_default, w_default))
    _check_contrast(contrast)
    if not 0.0 < density <= 1.0 or not dot_size > 0:
        raise ValueError(
            f"density must be in (0, 1] and dot_size > 0 pixels, got density={density}, dot_size={dot_size}"
        )
    theta, v = (np.atleast_1d(a.astype(np.float64)) for a in np.broadcast_arrays(direction, speed))
    if (v < 0).any() or (v >= min(h, w) / 4).any():
        raise ValueError(
            f"dot speeds must be in [0, {min(h, w) / 4:g}) pixels per frame (a quarter of the frame, so that "
            f"the direction is unambiguous on the wrapping field), got {v.tolist()}"
        )
    rng = np.random.default_rng(seed)
    centres = np.zeros(h * w)
    centres[rng.choice(h * w, max(1, round(density * h * w)), replace=False)] = 1.0
    fy = np.fft.fftfreq(h)[:, None]  # (H, 1) cycles per pixel
    fx = np.fft.rfftfreq(w)[None, :]  # (1, W // 2 + 1)
    blur = np.exp(-2.0 * (np.pi * dot_size) ** 2 * (fy**2 + fx**2))  # a Gaussian's transfer function
    spectrum = np.fft.rfft2(centres.reshape(h, w)) * blur  # (H, W // 2 + 1)
    peak = np.fft.irfft2(blur, s=(h, w))[0, 0]  # the height of one dot
    radians = np.deg2rad(theta)
    dy, dx = -v * np.sin(radians), v * np.cos(radians)  # (N,) pixels per frame; rows grow downwards
    times = np.arange(t)[None, :, None, None]  # (1, T, 1, 1)
    shift = fy[None, None] * (dy[:, None, None, None] * times) + fx[None, None] * (
        dx[:, None, None, None] * times
    )
    field = np.fft.irfft2(spectrum * np.exp(-2j * np.pi * shift), s=(h, w))  # (N, T, H, W)
    return _model_ready(_grey(2.0 * np.clip(field / peak, 0.0, 1.0) - 1.0, contrast), model, preset)


# --------------------------------------------------------------------------------------------------------
# Direction and speed tuning
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class DirectionTuning:
    """The direction and speed tuning of a layer's units (:func:`direction_tuning`).

    Every unit's best stimulus is the speed and stimulus (grating frequency, or dots) at which its largest
    response over directions is largest; its tuning curve is its response over directions there. From it:

    - preferred direction: the direction of the curve's maximum (the arg-max, so one of ``directions``);
    - DSI ``= (R_pref - R_opposite) / (R_pref + R_opposite)``, with ``R_opposite`` the response to the
      direction 180 degrees away, on responses clipped at 0 (a unit's firing rate): in [0, 1], 0 for a
      unit that does not care which way things move, 1 for one silent on the opposite direction;
    - preferred speed: the best stimulus's speed;
    - speed selectivity ``= (R_max - R_min) / (R_max + R_min)`` over speeds at the preferred direction and
      best stimulus (clipped at 0): 0 for a speed-invariant unit; NaN with a single speed.

    A unit that does not respond, whose best response is 0 or below ``min_response`` times the largest
    best response of the layer (:meth:`from_responses`), has NaN for all of them and -1 as its stimulus:
    a nearly silent unit, stirred only where the stimulus meets the frame's border, would otherwise get a
    DSI at random.
    """

    layer: str
    directions: np.ndarray  # (D,) degrees, counter-clockwise from +x (0 right, 90 up)
    speeds: np.ndarray  # (S,) pixels per frame
    stimuli: tuple[str, ...]  # (K,) "grating 0.04 c/px" per spatial frequency, "dots"
    responses: np.ndarray  # (C, D, S, K): each unit's mean activation to each stimulus
    tuning_curve: np.ndarray  # (C, D): responses over directions at each unit's best speed and stimulus
    preferred_direction: np.ndarray  # (C,) degrees
    dsi: np.ndarray  # (C,) direction selectivity index
    preferred_speed: np.ndarray  # (C,) pixels per frame
    preferred_stimulus: np.ndarray  # (C,) int index into stimuli
    speed_selectivity: np.ndarray  # (C,)

    @property
    def n_units(self) -> int:
        return len(self.responses)

    @classmethod
    def from_responses(
        cls,
        responses: np.ndarray,
        directions: Sequence[float] | np.ndarray,
        speeds: Sequence[float] | np.ndarray,
        stimuli: Sequence[str],
        layer: str = "",
        min_response: float = 0.01,
    ) -> DirectionTuning:
        """Tuning from measured responses ``(C, D, S, K)`` (what :func:`direction_tuning` does after its
        forward passes): every direction's opposite must be among ``directions``; units whose best response
        is below ``min_response`` times the layer's largest count as unresponsive."""
        _check_min_response(min_response)
        r = np.asarray(responses, dtype=np.float64)
        directions = _directions(directions)
        speeds = np.asarray(speeds, dtype=np.float64)
        if r.ndim != 4 or r.shape[1:] != (len(directions), len(speeds), len(stimuli)):
            raise ValueError(
                f"responses must be (C, D, S, K) = (C, {len(directions)}, {len(speeds)}, {len(stimuli)}), got "
                f"{r.shape}"
            )
        c = len(r)
        rate = np.clip(r, 0.0, None)  # (C, D, S, K)
        best = rate.max(axis=1).reshape(c, -1).argmax(axis=1)  # (C,) into S * K
        s_best, k_best = np.unravel_index(best, r.shape[2:])
        units = np.arange(c)
        curve = r[units, :, s_best, k_best]  # (C, D)
        p = curve.argmax(axis=1)  # (C,)
        opposite = _opposites(directions)[p]
        r_pref, r_opp = rate[units, p, s_best, k_best], rate[units, opposite, s_best, k_best]
        silent = (r_pref <= 0) | (r_pref < min_response * r_pref.max(initial=0.0))
        with np.errstate(invalid="ignore", divide="ignore"):
            dsi = (r_pref - r_opp) / (r_pref + r_opp)
            over_speeds = rate[units, p, :, k_best]  # (C, S)
            high, low = over_speeds.max(axis=1), over_speeds.min(axis=1)
            speed_sel = (high - low) / (high + low) if len(speeds) > 1 else np.full(c, np.nan)
        nan = np.where(silent, np.nan, 1.0)
        return cls(
            layer=layer,
            directions=directions,
            speeds=speeds,
            stimuli=tuple(stimuli),
            responses=r,
            tuning_curve=curve,
            preferred_direction=directions[p] * nan,
            dsi=dsi * nan,
            preferred_speed=speeds[s_best] * nan,
            preferred_stimulus=np.where(silent, -1, k_best),
            speed_selectivity=speed_sel * nan,
        )


def _directions(directions: int | Sequence[float] | np.ndarray) -> np.ndarray:
    """Degrees in [0, 360), ``(D,)``: ``n`` evenly spaced from 0 for an int."""
    if isinstance(directions, int | np.integer) and not isinstance(directions, bool):
        if directions < 2 or directions % 2:
            raise ValueError(f"directions must be an even number >= 2 (8 or more is usual), got {directions}")
        return np.arange(directions) * (360.0 / directions)
    values = np.mod(np.asarray(directions, dtype=np.float64), 360.0)
    if values.ndim != 1 or len(values) < 2 or len(np.unique(values)) != len(values):
        raise ValueError(f"directions must be distinct angles in degrees, got {directions!r}")
    _opposites(values)
    return values


def _opposites(directions: np.ndarray) -> np.ndarray:
    """Index of the direction 180 degrees from each one ``(D,)``; ValueError if one is missing."""
    gap = np.abs((directions[None, :] - directions[:, None]) % 360.0 - 180.0)  # (D, D): 0 where opposite
    index = gap.argmin(axis=1)
    missing = directions[gap[np.arange(len(directions)), index] > 1e-6]
    if len(missing):
        raise ValueError(
            f"the DSI compares each direction with its opposite, but {', '.join(f'{d:g}' for d in missing)} "
            "degrees have none among the directions; use evenly spaced directions, e.g. directions=8"
        )
    return index


def direction_tuning_by_layer(
    model: nn.Module,
    layers: Sequence[str],
    *,
    directions: int | Sequence[float] = 8,
    speeds: Sequence[float] = (0.5, 1.0, 2.0, 4.0),
    spatial_frequencies: Sequence[float] = (0.04, 0.08),
    stimulus: Literal["grating", "dots", "both"] = "grating",
    frames: int | None = None,
    size: int | Sequence[int] | None = None,
    contrast: float = 1.0,
    dot_density: float = 0.05,
    dot_size: float = 1.0,
    phases: int = 4,
    min_response: float = 0.01,
    seed: int = 0,
    batch_size: int = 16,
    progress: bool = False,
) -> dict[str, DirectionTuning]:
    """:func:`direction_tuning` of several layers from one pass over the stimuli: ``{layer: DirectionTuning}``."""
    directions = _directions(directions)
    speeds = np.asarray(speeds, dtype=np.float64)
    if speeds.ndim != 1 or len(speeds) < 1:
        raise ValueError(f"speeds must be one or more pixels-per-frame values, got {speeds!r}")
    if stimulus not in ("grating", "dots", "both"):
        raise ValueError(f"stimulus must be 'grating', 'dots' or 'both', got {stimulus!r}")
    conditions: list[tuple[str, float | None]] = []
    if stimulus in ("grating", "both"):
        if not len(spatial_frequencies):
            raise ValueError("gratings need at least one spatial frequency (cycles per pixel), e.g. 0.04")
        for f in spatial_frequencies:
            for v in speeds:
                _check_grating(float(f), float(v))
            conditions.append((f"grating {f:g} c/px", float(f)))
    if stimulus in ("dots", "both"):
        conditions.append(("dots", None))
    if isinstance(phases, bool) or not isinstance(phases, int) or phases < 1:
        raise ValueError(
            f"phases is a number of stimuli to average over, >= 1 (4 by default), got {phases!r}"
        )
    _check_min_response(min_response)
    kwargs = {"frames": frames, "size": size, "contrast": contrast, "model": model}
    # (D * S * K * P,) in C order: every stimulus at every phase (a grating's phase, a dot field's seed).
    jobs = [(d, v, f, p) for d in directions for v in speeds for _, f in conditions for p in range(phases)]

    def make(d: float, v: float, f: float | None, p: int) -> torch.Tensor:
        if f is None:
            return moving_dots(d, v, density=dot_density, dot_size=dot_size, seed=seed + p, **kwargs)
        return drifting_grating(d, v, f, phase=2 * math.pi * p / phases, **kwargs)

    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    batches = (
        torch.cat([make(*job) for job in jobs[start : start + batch_size]])
        for start in range(0, len(jobs), batch_size)
    )
    layers = [layers] if isinstance(layers, str) else list(layers)
    acts = _collect(
        model,
        batches,
        layers,
        progress=progress,
        total=math.ceil(len(jobs) / batch_size),
        desc="direction tuning",
    )
    shape = (len(directions), len(speeds), len(conditions), phases)
    stimuli = [label for label, _ in conditions]
    return {
        layer: DirectionTuning.from_responses(
            a.reshape(*shape, -1).mean(axis=3).transpose(3, 0, 1, 2),  # (C, D, S, K), averaged over phases
            directions,
            speeds,
            stimuli,
            layer,
            min_response,
        )
        for layer, a in acts.items()
    }


def direction_tuning(
    model: nn.Module,
    layer: str,
    *,
    directions: int | Sequence[float] = 8,
    speeds: Sequence[float] = (0.5, 1.0, 2.0, 4.0),
    spatial_frequencies: Sequence[float] = (0.04, 0.08),
    stimulus: Literal["grating", "dots", "both"] = "grating",
    frames: int | None = None,
    size: int | Sequence[int] | None = None,
    contrast: float = 1.0,
    dot_density: float = 0.05,
    dot_size: float = 1.0,
    phases: int = 4,
    min_response: float = 0.01,
    seed: int = 0,
    batch_size: int = 16,
    progress: bool = False,
) -> DirectionTuning:
    """Direction and speed tuning of the units of ``layer``, measured with moving stimuli.

    Presents every combination of ``directions`` x ``speeds`` x stimuli (a drifting grating per spatial
    frequency with ``stimulus="grating"``, a moving random-dot field with ``"dots"``, all of them with
    ``"both"``) at ``phases`` phases (gratings starting at phases ``2 pi p / phases``, dot fields drawn with
    seeds ``seed + p``), and records each unit's response (its mean activation over the time and space of
    its map), averaged over the phases: a response then tells the direction of motion, not where the
    stripes or dots happened to be (which a single-frame model would otherwise read as "direction").
    :class:`DirectionTuning` defines the preferred direction, DSI, preferred speed and speed selectivity
    read from those responses.

    Args:
        model: any ``nn.Module`` (call ``model.eval()`` first); stimuli are normalised by its preset.
        layer: a tap name or module path.
        directions: an even number of directions evenly spaced from 0 (8 or more is usual), or the
            angles in degrees (0 right, 90 up), each with its opposite among them.
        speeds: pixels per frame.
        spatial_frequencies: grating frequencies in cycles per pixel; ``speed * frequency`` must stay
            below 0.5 cycles per frame for every pair (else the grating's motion aliases).
        stimulus: ``"grating"``, ``"dots"`` or ``"both"``.
        frames, size: the clips' T and (H, W) (default: the model's input shape, else 16 x 112 x 112).
        contrast: of the gratings and dots, in [0, 1].
        dot_density, dot_size: of the dot field (:func:`moving_dots`), which ``seed`` draws.
        phases: stimuli per direction, speed and stimulus kind, averaged (``D x S x K x phases`` clips).
        min_response: units whose best response is below this fraction of the layer's largest are
            unresponsive (NaN), see :class:`DirectionTuning`.
        batch_size: clips per forward pass.
        progress: a tqdm bar over the batches.
    """
    return direction_tuning_by_layer(
        model,
        [layer],
        directions=directions,
        speeds=speeds,
        spatial_frequencies=spatial_frequencies,
        stimulus=stimulus,
        frames=frames,
        size=size,
        contrast=contrast,
        dot_density=dot_density,
        dot_size=dot_size,
        phases=phases,
        min_response=min_response,
        seed=seed,
        batch_size=batch_size,
        progress=progress,
    )[layer]
