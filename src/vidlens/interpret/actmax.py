"""Activation maximisation for video: the clip a unit likes best, found by gradient ascent from noise.

Feichtenhofer, Pinz, Wildes, Zisserman, "What have we learned from deep representations for action
recognition?", CVPR 2018, section 3: maximise a unit's normalised activation (eq. 1) minus two
regularisers, a local energy that keeps every pixel's colour vector within a bound (eq. 2) and a
spatiotemporal total variation whose temporal weight chi sets how fast the clip may change (eq. 3). The
parameterisation, colour decorrelation and robustness transforms are Lucent's (Olah, Mordvintsev,
Schubert, "Feature Visualization", Distill 2017; github.com/greentfrapp/lucent), extended from images to
clips ``(N, 3, T, H, W)``::

    result = actmax(model, "conv5:7")  # result.input (1, 3, T, H, W), result.frames uint8 (1, T, H, W, 3)
    atlas = actmax(model, channel("conv5", range(8)))  # 8 clips at once, clip i for channel i
    slow = actmax(model, "fc8:3", chi=10.0)  # class 3's logit, with slowly changing frames
    both = actmax(model, channel("conv5", 1) - channel("conv5", 2))  # objectives add and scale

- objectives (:class:`Objective`): :func:`neuron`, :func:`channel`, :func:`layer_mean`, :func:`batch`,
  :func:`parse_objective` (``"conv5b:7"``, ``"conv5b:7@t,y,x"``, ``"fc8:3"``, ``"conv5b"``)
- regularisers: :func:`local_energy` (eq. 2), :func:`total_variation` (eq. 3)
- parameterisations: :class:`PixelParam`, :class:`FourierParam` (3-D Fourier basis, decorrelated colour)
- robustness: :class:`Transforms` (jitter, scale, temporal shift)
- the loop: :func:`actmax` -> :class:`ActMax`

Clip spaces. The optimiser works on the *centred clip* ``c``: RGB in units of the full pixel range (pixel
value / 255) minus the preset's mean colour, so that ``c = 0`` is the mean colour and ``c`` ranges over a
box of side 1. The model gets ``x = model.preset``'s normalisation of ``255 * (c + mean)``, an affine map
per channel (with the channel order the weights expect). The regularisers act on ``c``, so their weights
mean the same whatever the preset (C3D's Caffe port takes BGR 0-255 minus the mean, a vidlens model RGB
[0, 1] standardised); this ``c`` is the paper's mean-subtracted input, rescaled to [0, 1] pixel units.
"""

from __future__ import annotations

import functools
import math
import numbers
import operator
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from vidlens.interpret.core import check_clip, input_gradients_only
from vidlens.models.contract import model_spec
from vidlens.models.taps import FeatureTaps
from vidlens.presets import Preset, resolve_preset

__all__ = [
    "COLOR_CORRELATION_SVD_SQRT",
    "ActMax",
    "FourierParam",
    "Objective",
    "PixelParam",
    "Term",
    "Transforms",
    "Unit",
    "actmax",
    "batch",
    "channel",
    "layer_mean",
    "local_energy",
    "neuron",
    "parse_objective",
    "total_variation",
]

# --- objectives ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Unit:
    """One number per clip read from one layer's output ``(N, C, ...)``: the quantity a term maximises.

    - ``Unit("conv5b", 7, (t, y, x))``: a neuron, channel 7 at position (t, y, x) of ``(N, C, T', H', W')``.
    - ``Unit("conv5b", 7)``: a channel, the mean of channel 7's map over (t, y, x); on a vector output
      ``(N, C)`` (``"fc8"``, a classifier) it is column 7, class 7's logit.
    - ``Unit("conv5b")``: the whole layer, the mean of all its activations.

    The means are the paper's normalisation by the layer's extent (Feichtenhofer et al. 2018, eq. 1), as we
    read it: eq. 1 divides ``<e_c, Phi_l(x)>``, channel c of layer l summed over the layer's positions, by
    rho_l^2, the number of positions of a rho_l x rho_l map; for a clip's T' x H' x W' maps we divide by all
    T' x H' x W' positions, so a channel's value is the mean of its map whatever the layer's size. A neuron is
    one position: nothing is divided. The other factor of eq. 1, the unit's mean activation over natural
    clips (a_hat), is :func:`actmax`'s ``natural_clips``.
    """

    # A name vidlens.models.get_layer accepts: a tap name ("conv5b", "fc8") or a dotted module path.
    layer: str
    # Channel (or output column) index; None reads the whole layer.
    channel: int | None = None
    # (t, y, x) of one neuron in the channel's map; None reads the channel's mean.
    position: tuple[int, int, int] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.layer, str) or not self.layer:
            raise ValueError(f"a unit's layer is a layer name such as 'conv5b', got {self.layer!r}")
        if self.channel is not None:
            object.__setattr__(self, "channel", _index(self.channel, "channel"))
        if self.position is not None:
            if self.channel is None:
                raise ValueError(
                    "a neuron needs a channel as well as a position: Unit(layer, channel, (t, y, x))"
                )
            position = tuple(self.position)
            if len(position) != 3:
                raise ValueError(f"a neuron's position is (t, y, x), three indices; got {self.position!r}")
            object.__setattr__(self, "position", tuple(_index(p, "position index") for p in position))

    def __str__(self) -> str:
        """The string :func:`parse_objective` reads: ``conv5b``, ``conv5b:7`` or ``conv5b:7@t,y,x``."""
        text = self.layer if self.channel is None else f"{self.layer}:{self.channel}"
        return text if self.position is None else text + "@" + ",".join(map(str, self.position))

    def check(self, output: Any) -> None:
        """Raise, saying what fits, unless this unit exists in ``output`` (the layer's output)."""
        if not isinstance(output, torch.Tensor) or output.ndim < 2:
            got = (
                f"shape {tuple(output.shape)}" if isinstance(output, torch.Tensor) else type(output).__name__
            )
            raise ValueError(
                f"layer {self.layer!r} gives {got}, not a batch of activations (N, C, ...): choose a layer "
                "whose output is one tensor, such as a convolution, pool or fully connected layer"
            )
        shape = tuple(output.shape[1:])
        if self.channel is not None and self.channel >= shape[0]:
            raise IndexError(
                f"channel {self.channel} is out of range for layer {self.layer!r}, whose output {shape} has "
                f"{shape[0]} channels (0..{shape[0] - 1})"
            )
        if self.position is None:
            return
        if len(shape) != 4:
            raise ValueError(
                f"layer {self.layer!r} gives {shape} per clip, not feature maps (C, T', H', W'): a neuron "
                f"position (t, y, x) needs a 5-D output; for a vector unit write '{self.layer}:{self.channel}'"
            )
        if any(p >= d for p, d in zip(self.position, shape[1:], strict=True)):
            t, h, w = shape[1:]
            raise IndexError(
                f"position (t, y, x) = {self.position} is outside layer {self.layer!r}'s {t}x{h}x{w} maps "
                f"(t < {t}, y < {h}, x < {w})"
            )

    def read(self, output: torch.Tensor) -> torch.Tensor:
        """This unit's value for each clip, ``(N,)``, from the layer's output ``(N, C, ...)``."""
        self.check(output)
        if self.channel is None:
            return output.flatten(1).mean(dim=1)  # (N,): the whole layer
        maps = output[:, self.channel]  # (N,) for a vector output, else (N, T', H', W')
        if self.position is not None:
            return maps[(slice(None), *self.position)]  # (N,): one neuron
        return maps.flatten(1).mean(dim=1) if maps.ndim > 1 else maps  # (N,)


@dataclass(frozen=True)
class Term:
    """``weight x unit``, for every clip of the batch (``element=None``) or for clip ``element`` only."""

    weight: float
    unit: Unit
    element: int | None = None


@dataclass(frozen=True)
class Objective:
    """What :func:`actmax` maximises: a weighted sum of units, one value per clip of the batch.

    Build objectives with :func:`neuron`, :func:`channel`, :func:`layer_mean`, :func:`batch` or
    :func:`parse_objective` and combine them with ``+``, ``-`` and ``*`` by a number (Lucent's algebra)::

        channel("conv5", 1) - 0.5 * channel("conv5", 2)
        batch(channel("conv5", 0), neuron("conv3", 2, 1, 4, 4))  # clip 0 for the first, clip 1 the second

    Calling an objective on layer outputs (a dict layer name -> output, as :class:`FeatureTaps` records
    them) gives ``(N,)``; every layer it reads comes from the same forward pass.
    """

    terms: tuple[Term, ...]

    def __post_init__(self) -> None:
        merged: dict[tuple[Unit, int | None], float] = {}
        for term in self.terms:
            key = (term.unit, term.element)
            merged[key] = merged.get(key, 0.0) + float(term.weight)
        terms = tuple(Term(w, unit, element) for (unit, element), w in merged.items() if w != 0.0)
        object.__setattr__(self, "terms", terms)

    @property
    def layers(self) -> list[str]:
        """The layers this objective reads, each once, in the order the terms name them."""
        return list(dict.fromkeys(term.unit.layer for term in self.terms))

    @property
    def units(self) -> list[Unit]:
        """The distinct units of the terms."""
        return list(dict.fromkeys(term.unit for term in self.terms))

    @property
    def batch_size(self) -> int | None:
        """The number of clips the objective needs (one past its last ``element``); None when every term
        applies to all clips."""
        elements = [term.element for term in self.terms if term.element is not None]
        return max(elements) + 1 if elements else None

    def repeat(self, times: int) -> Objective:
        """The batch ``times`` times over: clip ``j * N + i`` maximises what clip ``i`` of this N-clip batch
        does (an objective that is not a batch applies to every clip anyway and comes back as it is). With
        a weight per clip, one run renders every unit at several settings: ``chi=[...]`` in :func:`actmax`.
        """
        if times < 1:
            raise ValueError(f"repeat needs times >= 1, got {times}")
        n = self.batch_size
        if n is None:
            return self
        return Objective(
            tuple(
                Term(t.weight, t.unit, None if t.element is None else j * n + t.element)
                for j in range(times)
                for t in self.terms
            )
        )

    def check(self, outputs: Mapping[str, Any], batch_size: int) -> None:
        """Raise, saying how to fix it, unless every unit exists in ``outputs`` and every element in a batch
        of ``batch_size`` clips."""
        if not self.terms:
            raise ValueError(
                "the objective has no terms (its weights cancel out): there is nothing to maximise"
            )
        for unit in self.units:
            unit.check(outputs[unit.layer])
        needed = self.batch_size
        if needed is not None and needed > batch_size:
            raise ValueError(
                f"the objective sets clip {needed - 1} of the batch, but the batch has {batch_size} clips; "
                f"optimise {needed} clips (leave shape's batch size out, or make it {needed})"
            )

    def __call__(
        self, outputs: Mapping[str, torch.Tensor], scales: Mapping[Unit, float | torch.Tensor] | None = None
    ) -> torch.Tensor:
        """The objective for each clip, ``(N,)``: ``sum of weight x unit value / scale``, where clip i of the
        batch is scored by objective i (its own terms and those for every clip).

        Args:
            outputs: layer name -> that layer's output for the batch, for every layer in :attr:`layers`.
            scales: unit -> the number its value is divided by (:func:`actmax` passes the units' mean
                activations over natural clips); None or a missing unit: 1.
        """
        if not self.terms:
            raise ValueError(
                "the objective has no terms (its weights cancel out): there is nothing to maximise"
            )
        n = outputs[self.terms[0].unit.layer].shape[0]
        return self.on_each(outputs, n, scales).diagonal()  # (N,): clip i under objective i

    def on_each(
        self,
        outputs: Mapping[str, torch.Tensor],
        n: int | None = None,
        scales: Mapping[Unit, float | torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Every clip of ``outputs`` scored by each of the ``n`` objectives of a batch: ``(M, n)``, where M is
        the number of clips in ``outputs`` and column i is objective i (the terms for clip i and those for
        every clip). ``n`` defaults to :attr:`batch_size` (1 without batch terms). For natural clips: column
        i's maximum is the most any natural clip drives what clip i of :func:`actmax` maximises.
        """
        if not self.terms:
            raise ValueError(
                "the objective has no terms (its weights cancel out): there is nothing to maximise"
            )
        n = n if n is not None else (self.batch_size or 1)
        first = outputs[self.terms[0].unit.layer]
        self.check(outputs, n)
        table = first.new_zeros(first.shape[0], n)  # (M, n)
        for term in self.terms:
            value = term.unit.read(outputs[term.unit.layer])  # (M,)
            if scales is not None and term.unit in scales:
                value = value / scales[term.unit]
            columns = first.new_ones(n) if term.element is None else F.one_hot(torch.tensor(term.element), n)
            table = table + term.weight * value[:, None] * columns.to(value)[None, :]  # (M, n)
        return table

    def __add__(self, other: object) -> Objective:
        if isinstance(other, Objective):
            return Objective(self.terms + other.terms)
        if isinstance(other, numbers.Number) and other == 0:  # sum([...]) starts from 0
            return self
        return NotImplemented

    __radd__ = __add__

    def __neg__(self) -> Objective:
        return self * -1.0

    def __sub__(self, other: object) -> Objective:
        return self + (-other) if isinstance(other, Objective) else NotImplemented

    def __mul__(self, factor: object) -> Objective:
        if isinstance(factor, numbers.Real) and not isinstance(factor, bool):
            return Objective(tuple(Term(t.weight * float(factor), t.unit, t.element) for t in self.terms))
        return NotImplemented

    __rmul__ = __mul__

    def __truediv__(self, divisor: object) -> Objective:
        if isinstance(divisor, numbers.Real) and not isinstance(divisor, bool):
            return self * (1.0 / float(divisor))
        return NotImplemented

    def __repr__(self) -> str:
        if not self.terms:
            return "Objective()"
        parts = []
        for i, term in enumerate(self.terms):
            text = (
                repr(str(term.unit)) if term.element is None else f"{str(term.unit)!r}[clip {term.element}]"
            )
            weight = abs(term.weight)
            text = text if weight == 1 else f"{weight:g} * {text}"
            sign = "-" if term.weight < 0 else "+"
            parts.append((sign if sign == "-" else "") + text if i == 0 else f" {sign} {text}")
        return f"Objective({''.join(parts)})"


def neuron(layer: str, channel: int | Iterable[int], t: int, y: int, x: int) -> Objective:
    """One neuron: channel ``channel`` of ``layer`` at position (t, y, x) of its ``(N, C, T', H', W')`` maps.

    Several channels (a list or range) make a batch: clip i maximises channel ``channel[i]`` at (t, y, x).
    """
    return _per_channel(layer, channel, (t, y, x))


def channel(layer: str, channel: int | Iterable[int]) -> Objective:
    """A channel: the mean of channel ``channel`` of ``layer`` over its map (a column of a vector output:
    ``channel("fc8", 3)`` is class 3's logit).

    Several channels (a list or range) make a batch, one clip per channel, a layer's atlas in one run:
    ``channel("conv5", range(16))`` is ``batch(channel("conv5", 0), ..., channel("conv5", 15))``.
    """
    return _per_channel(layer, channel, None)


def layer_mean(layer: str) -> Objective:
    """The whole layer: the mean of all activations of ``layer``."""
    return Objective((Term(1.0, Unit(layer)),))


def batch(*objectives: Objective | str) -> Objective:
    """Several objectives optimised side by side in one batch: clip i maximises ``objectives[i]``.

    Each objective may combine several units, but none may already be a batch.
    """
    if len(objectives) == 1 and not isinstance(objectives[0], (Objective, str)):
        objectives = tuple(objectives[0])  # batch([a, b, c])
    if not objectives:
        raise ValueError("batch() needs at least one objective, one per clip")
    terms = []
    for i, objective in enumerate(objectives):
        objective = _as_objective(objective)
        if objective.batch_size is not None:
            raise ValueError(
                f"objective {i} of batch() is a batch itself ({objective!r}); a batch sets one objective "
                "per clip: flatten it into one batch(...)"
            )
        terms.extend(Term(term.weight, term.unit, i) for term in objective.terms)
    return Objective(tuple(terms))


_OBJECTIVE_SYNTAX = re.compile(
    r"^(?P<layer>[^:@\s]+)(?::(?P<channels>[0-9,\s]+)(?:@(?P<position>[0-9,\s]+))?)?$"
)


def parse_objective(text: str) -> Objective:
    """The objective a string names::

        "conv5b"          the whole layer (mean of all its activations)
        "conv5b:7"        channel 7 (mean over its map); on a vector output, column 7: "fc8:3" is class 3
        "conv5b:7@1,3,3"  the neuron of channel 7 at (t, y, x) = (1, 3, 3)
        "conv5b:0,1,2,3"  a batch: clip i maximises channel i (also with "@t,y,x": one neuron per clip)

    The layer is any name :func:`vidlens.models.get_layer` accepts: a tap name or a dotted module path
    (``"fc:3"`` is column 3 of a model whose classifier is called ``fc``). Names are checked against the
    model when :func:`actmax` runs.
    """
    if not isinstance(text, str):
        raise TypeError(f"parse_objective reads a string such as 'conv5b:7'; got {type(text).__name__}")
    match = _OBJECTIVE_SYNTAX.match(text.strip())
    if match is None:
        raise ValueError(
            f"cannot read the objective {text!r}: write LAYER (the whole layer), LAYER:CHANNEL (a channel, or "
            "a column such as a class logit 'fc8:3'), LAYER:CHANNEL@T,Y,X (one neuron) or LAYER:C1,C2,... "
            "(a batch, one clip per channel); e.g. 'conv5b:7@0,3,3'"
        )
    layer, channels, position = match.group("layer", "channels", "position")
    if channels is None:
        return layer_mean(layer)
    indices = _integers(channels, text)
    if position is None:
        return channel(layer, indices if len(indices) > 1 else indices[0])
    where = _integers(position, text)
    if len(where) != 3:
        raise ValueError(
            f"a neuron's position in {text!r} is three indices t,y,x (e.g. '@0,3,3'), got {where}"
        )
    return neuron(layer, indices if len(indices) > 1 else indices[0], *where)


def _as_objective(objective: Objective | str) -> Objective:
    if isinstance(objective, Objective):
        return objective
    if isinstance(objective, str):
        return parse_objective(objective)
    raise TypeError(
        f"an objective is an Objective (channel('conv5', 3), ...) or a string such as 'conv5:3'; got "
        f"{type(objective).__name__}"
    )


def _per_channel(
    layer: str, channels: int | Iterable[int], position: tuple[int, int, int] | None
) -> Objective:
    """One unit, or a batch with one unit per channel when ``channels`` is a list or range."""
    if isinstance(channels, Iterable) and not isinstance(channels, (str, torch.Tensor)):
        channels = list(channels)
        if not channels:
            raise ValueError(f"no channels given for layer {layer!r}: pass an index or a non-empty list")
        return batch(*(Objective((Term(1.0, Unit(layer, c, position)),)) for c in channels))
    if isinstance(channels, torch.Tensor) and channels.ndim > 0:
        return _per_channel(layer, channels.tolist(), position)
    return Objective((Term(1.0, Unit(layer, channels, position)),))


def _index(value: object, what: str) -> int:
    try:
        index = operator.index(value)
    except TypeError:
        raise TypeError(f"{what} must be an integer, got {value!r}") from None
    if index < 0:
        raise IndexError(f"{what} must be >= 0 (count from the start), got {index}")
    return index


def _integers(text: str, whole: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",")]
    except ValueError:
        raise ValueError(f"cannot read the indices {text!r} in {whole!r}: write them as 1,2,3") from None


# --- regularisers -------------------------------------------------------------------------------------------


def local_energy(x: torch.Tensor, alpha: float = 6.0, bound: float | None = None) -> torch.Tensor:
    """The local energy R_B of Feichtenhofer et al. 2018, eq. (2), a scalar: the sum over the pixels (n, t, y,
    x) of ``N(x)^alpha``, where ``N(x) = ||x[n, :, t, y, x]||`` is the norm of a pixel's colour vector; and
    +inf when some pixel's norm exceeds ``bound`` (B), the constraint as the paper writes it.

    From Mahendran and Vedaldi's bounded-range regulariser ("Visualizing Deep Convolutional Neural Networks
    Using Natural Pre-Images", IJCV 2016): it discourages a few strong pixels more than many weak ones
    (alpha = 6 there). :func:`actmax` keeps the bound by projection and adds this with ``bound=None``.

    Args:
        x: a clip ``(N, 3, T, H, W)``, centred (0 is the mean colour).
        alpha: the exponent, >= 2 (below 2 the gradient is undefined where a pixel is the mean colour).
        bound: B; None: no bound (never infinite).
    """
    if alpha < 2:
        raise ValueError(f"alpha must be >= 2 (N(x)^alpha has no gradient at 0 below that), got {alpha}")
    squared = x.pow(2).sum(dim=1)  # (N, T, H, W): N(x)^2
    if bound is not None and bool((squared > bound**2).any()):
        return x.new_tensor(math.inf)
    return squared.pow(alpha / 2).sum()


def total_variation(
    x: torch.Tensor, kappa: float | Sequence[float] = 1.0, chi: float | Sequence[float] = 1.0
) -> torch.Tensor:
    """The spatiotemporal total variation R_TV of Feichtenhofer et al. 2018, eq. (3), a scalar:

        R_TV(x) = sum [ kappa ((d_x x)^2 + (d_y x)^2) + chi (d_t x)^2 ]

    over clips, colour channels and positions, with forward differences ``d_x x = x[..., x + 1] - x[..., x]``
    (likewise in y and t) taken only inside the clip: there is no wrap-around, the last frame is not compared
    with the first, nor the right column with the left. kappa > 0 and chi = 0 smooth each frame alone; a
    larger chi makes the clip change more slowly over time.

    Args:
        x: a clip ``(N, C, T, H, W)``.
        kappa: weight of the spatial differences, >= 0: one for every clip, or one per clip (N of them).
        chi: weight of the temporal differences, >= 0: one for every clip, or one per clip (a chi sweep in
            one batch).
    """
    if x.ndim != 5:
        raise ValueError(f"total_variation expects clips (N, C, T, H, W), got shape {tuple(x.shape)}")
    k, c = (_per_clip(w, x, name) for w, name in ((kappa, "kappa"), (chi, "chi")))
    dt = x[:, :, 1:] - x[:, :, :-1]  # (N, C, T - 1, H, W)
    dy = x[:, :, :, 1:] - x[:, :, :, :-1]  # (N, C, T, H - 1, W)
    dx = x[..., 1:] - x[..., :-1]  # (N, C, T, H, W - 1)
    per_clip = (1, 2, 3, 4)
    spatial = dx.pow(2).sum(dim=per_clip) + dy.pow(2).sum(dim=per_clip)  # (N,)
    return (k * spatial + c * dt.pow(2).sum(dim=per_clip)).sum()


def _per_clip(weight: float | Sequence[float], x: torch.Tensor, name: str) -> torch.Tensor:
    """A regulariser's weight as ``(N,)`` for the clips ``x``: one number for all, or one per clip."""
    w = torch.as_tensor(weight, dtype=x.dtype, device=x.device).reshape(-1)
    if bool((w < 0).any()):
        raise ValueError(f"{name} weighs squared differences and must be >= 0, got {weight}")
    if w.numel() not in (1, x.shape[0]):
        raise ValueError(
            f"{name} gives {w.numel()} weights for {x.shape[0]} clips: give one, or one per clip"
        )
    return w.expand(x.shape[0])


# --- parameterisations --------------------------------------------------------------------------------------

#: The square root of ImageNet's RGB colour correlation matrix (by SVD), as Lucid and Lucent use it
#: (``lucent/optvis/param/color.py``, ``color_correlation_svd_sqrt``; Olah et al., "Feature Visualization",
#: Distill 2017): its columns map decorrelated colour components to RGB. Lucent divides it by its largest
#: column norm, as :class:`FourierParam` does.
COLOR_CORRELATION_SVD_SQRT = ((0.26, 0.09, 0.02), (0.27, 0.00, -0.05), (0.27, -0.09, 0.03))


@dataclass(frozen=True)
class PixelParam:
    """Every value of the centred clip is a parameter: ``params`` is the clip ``(N, 3, T, H, W)`` itself."""

    shape: tuple[int, int, int, int, int]  # (N, 3, T, H, W) of the clip

    @property
    def param_shape(self) -> tuple[int, ...]:
        return tuple(self.shape)

    def to_clip(self, params: torch.Tensor) -> torch.Tensor:
        """Parameters -> centred clip ``(N, 3, T, H, W)``."""
        return params

    def from_clip(self, clip: torch.Tensor) -> torch.Tensor:
        """Centred clip -> parameters (a copy)."""
        return clip.detach().clone()


@dataclass(frozen=True)
class FourierParam:
    """The clip as a 3-D Fourier spectrum over (t, y, x) in decorrelated colour: Lucent's ``fft_image`` and
    colour decorrelation (Olah et al., "Feature Visualization", Distill 2017), extended to time.

    ``params`` ``(N, 3, T, H, W // 2 + 1, 2)`` are the real and imaginary parts of ``torch.fft.rfftn`` of the
    decorrelated clip over (t, y, x) (orthonormal), divided by a per-frequency scale

        s(f_t, f_s) = 1 / max(f_s, 1 / max(H, W))^spatial_decay * 1 / max(|f_t|, 1 / T)^temporal_decay

    with f_s = sqrt(f_y^2 + f_x^2) the spatial and f_t the temporal frequency in cycles per pixel and per
    frame, scaled separately; s is normalised to a root mean square of 1, so parameters of standard
    deviation sigma give a clip of about that scale. Equal steps on every parameter then change low
    frequencies most: gradient ascent finds smooth, natural-looking patterns sooner (decay 1 is Lucent's
    1/f, the spectrum of natural images; of video in time as well). Colours: the decorrelated clip ``d``
    becomes RGB through :data:`COLOR_CORRELATION_SVD_SQRT` divided by its largest column norm.
    """

    shape: tuple[int, int, int, int, int]  # (N, 3, T, H, W) of the clip
    spatial_decay: float = 1.0  # Lucent's decay_power: amplitude ~ 1 / f^decay over (y, x)
    temporal_decay: float = 1.0  # the same over t: larger, slower clips at the start
    decorrelate: bool = True  # parameters in decorrelated colour (Lucent's default), else plain RGB

    def __post_init__(self) -> None:
        object.__setattr__(self, "shape", tuple(int(s) for s in self.shape))
        if len(self.shape) != 5 or self.shape[1] != 3:
            raise ValueError(f"FourierParam.shape is a batch of RGB clips (N, 3, T, H, W), got {self.shape}")
        if self.spatial_decay < 0 or self.temporal_decay < 0:
            raise ValueError(
                "spatial_decay and temporal_decay are exponents >= 0 (0: white, 1: Lucent's 1/f)"
            )

    @property
    def param_shape(self) -> tuple[int, ...]:
        n, c, t, h, w = self.shape
        return (n, c, t, h, w // 2 + 1, 2)

    def scale(self, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """The per-frequency scale s, ``(T, H, W // 2 + 1)``."""
        _, _, t, h, w = self.shape
        return _fourier_scale(t, h, w, self.spatial_decay, self.temporal_decay, torch.device(device), dtype)

    def to_clip(self, params: torch.Tensor) -> torch.Tensor:
        """Parameters -> centred RGB clip ``(N, 3, T, H, W)``."""
        _, _, t, h, w = self.shape
        spectrum = torch.view_as_complex(params) * self.scale(params.device, params.dtype)
        d = torch.fft.irfftn(spectrum, s=(t, h, w), dim=(-3, -2, -1), norm="ortho")  # (N, 3, T, H, W)
        return _colour_matrix(d, inverse=False) if self.decorrelate else d

    def from_clip(self, clip: torch.Tensor) -> torch.Tensor:
        """Centred RGB clip ``(N, 3, T, H, W)`` -> parameters; ``to_clip(from_clip(clip))`` gives ``clip`` back."""
        clip = clip.detach()
        d = _colour_matrix(clip, inverse=True) if self.decorrelate else clip
        spectrum = torch.fft.rfftn(d, dim=(-3, -2, -1), norm="ortho") / self.scale(clip.device, clip.dtype)
        return torch.view_as_real(spectrum).contiguous()


@functools.lru_cache(maxsize=16)
def _fourier_scale(
    t: int,
    h: int,
    w: int,
    spatial_decay: float,
    temporal_decay: float,
    device: torch.device,
    dtype: torch.dtype,
) -> torch.Tensor:
    """:meth:`FourierParam.scale`, computed once per clip size, decays, device and dtype (every step needs it)."""
    ft = torch.fft.fftfreq(t, dtype=torch.float64).abs()[:, None, None]  # (T, 1, 1)
    fy = torch.fft.fftfreq(h, dtype=torch.float64)[None, :, None]  # (1, H, 1)
    fx = torch.fft.rfftfreq(w, dtype=torch.float64)[None, None, :]  # (1, 1, W // 2 + 1)
    spatial = (fy**2 + fx**2).sqrt().clamp(min=1.0 / max(h, w)).pow(-spatial_decay)
    temporal = ft.clamp(min=1.0 / t).pow(-temporal_decay)
    s = spatial * temporal  # (T, H, W // 2 + 1)
    return (s / s.pow(2).mean().sqrt()).to(device=device, dtype=dtype)


def _colour_matrix(x: torch.Tensor, inverse: bool) -> torch.Tensor:
    """Decorrelated colour -> RGB along dim 1 of ``(N, 3, ...)`` (the inverse with ``inverse=True``)."""
    return torch.einsum("ij,nj...->ni...", _colour(inverse, x.device, x.dtype), x)


@functools.lru_cache(maxsize=8)
def _colour(inverse: bool, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    matrix = torch.tensor(COLOR_CORRELATION_SVD_SQRT, dtype=torch.float64)
    matrix = matrix / matrix.norm(dim=0).max()  # Lucent's color_correlation_normalized
    return (torch.linalg.inv(matrix) if inverse else matrix).to(device=device, dtype=dtype)


# --- the model's input space --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _InputSpace:
    """The affine map between centred clips ``c`` (RGB pixel / 255 minus the mean colour) and model input."""

    low: torch.Tensor  # (1, 3, 1, 1, 1): model input for pixel value 0, per model channel
    high: torch.Tensor  # (1, 3, 1, 1, 1): model input for pixel value 255
    mean: torch.Tensor  # (1, 3, 1, 1, 1): the preset's mean colour, RGB in [0, 1]: where c = 0
    bgr: bool  # the model takes BGR

    @classmethod
    def of(cls, preset: Preset, device: torch.device, dtype: torch.dtype) -> _InputSpace:
        # What pixel values 0 and 255 become, through the preset's own normalize (its public contract).
        ends = preset.normalize(np.array([0, 255], dtype=np.uint8).repeat(3).reshape(2, 1, 1, 1, 3))
        low, high = (v.reshape(1, 3, 1, 1, 1).to(device=device, dtype=dtype) for v in ends)
        mean = torch.tensor(preset.mean, dtype=torch.float64) / (
            255.0 * preset.scale
        )  # channel_order, [0, 1]
        bgr = preset.channel_order == "BGR"
        mean = (mean.flip(0) if bgr else mean).reshape(1, 3, 1, 1, 1).to(device=device, dtype=dtype)
        return cls(low, high, mean, bgr)

    def to_input(self, clip: torch.Tensor) -> torch.Tensor:
        """Centred RGB clip -> model input ``(N, 3, T, H, W)``."""
        pixels = clip + self.mean  # RGB in [0, 1]
        pixels = pixels.flip(1) if self.bgr else pixels
        return self.low + (self.high - self.low) * pixels

    def from_input(self, x: torch.Tensor) -> torch.Tensor:
        """Model input -> centred RGB clip (the inverse of :meth:`to_input`)."""
        pixels = (x.detach() - self.low) / (self.high - self.low)
        pixels = pixels.flip(1) if self.bgr else pixels
        return pixels - self.mean

    def project(self, clip: torch.Tensor, bound: float | None) -> torch.Tensor:
        """The nearest valid clip: colour norms at most ``bound``, then pixel values within 0..255."""
        if bound is not None:
            norms = clip.pow(2).sum(dim=1, keepdim=True).sqrt()  # (N, 1, T, H, W)
            clip = clip * (bound / norms.clamp(min=bound))  # shrink only pixels beyond the bound
        return torch.minimum(torch.maximum(clip, -self.mean), 1 - self.mean)  # within [0, 1] - mean


# --- robustness transforms ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Transforms:
    """Random changes made to the clip before each forward pass, so the result does not hinge on exact pixel
    positions (Lucent's ``transform.jitter`` and ``random_scale``; Mordvintsev et al.'s "transformation
    robustness"), with one more for video: a shift in time.

    One draw per step, the same for every clip of the batch, from the seeded generator :func:`actmax` passes:
    a bilinear zoom of every frame about its centre to a whole number of pixels, then whole-pixel and
    whole-frame shifts. What moves in from outside the clip is the mean colour (zero padding of the centred
    clip), never the opposite border (no wrap-around). (A trilinear ``grid_sample``, which would zoom by
    fractions of a pixel, costs 3-4 times as much, forward and backward, on a 16 x 112 x 112 clip.)
    """

    jitter: int = 2  # spatial shift, up to this many pixels each way in x and in y
    scale: tuple[float, float] = (0.95, 1.05)  # spatial zoom factor, uniform in this range
    time_shift: int = 1  # temporal shift, up to this many frames each way

    def __post_init__(self) -> None:
        low, high = (float(s) for s in self.scale)
        object.__setattr__(self, "scale", (low, high))
        if self.jitter < 0 or self.time_shift < 0 or not 0 < low <= high:
            raise ValueError(
                f"Transforms needs jitter >= 0, time_shift >= 0 and a scale range 0 < low <= high; got "
                f"jitter={self.jitter}, scale={self.scale}, time_shift={self.time_shift}"
            )

    def __call__(self, clip: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """``clip`` ``(N, C, T, H, W)`` shifted, zoomed and shifted in time by one random draw."""
        n, _, t, h, w = clip.shape
        dy, dx = torch.randint(-self.jitter, self.jitter + 1, (2,), generator=generator).tolist()
        dt = int(torch.randint(-self.time_shift, self.time_shift + 1, (1,), generator=generator))
        low, high = self.scale
        zoom = low + (high - low) * float(torch.rand((), generator=generator, dtype=torch.float64))
        zh, zw = max(1, round(h * zoom)), max(1, round(w * zoom))  # the zoomed frame size, whole pixels
        if (zh, zw) != (h, w):  # bilinear, frame by frame (time is not resampled)
            frames = clip.reshape(n, -1, h, w)  # (N, C * T, H, W)
            clip = F.interpolate(frames, size=(zh, zw), mode="bilinear", align_corners=False)
            clip = clip.reshape(n, -1, t, zh, zw)  # (N, C, T, zH, zW)
        # Output (t, y, x) reads the zoomed clip at (t - dt, y + top - dy, x + left - dx), centred, and 0
        # (the mean colour) beyond its borders: one pad, whose negative parts crop.
        top, left = (zh - h) // 2, (zw - w) // 2
        y0, x0 = dy - top, dx - left
        return F.pad(clip, (x0, w - zw - x0, y0, h - zh - y0, dt, -dt))  # (N, C, T, H, W)


# --- the loop -----------------------------------------------------------------------------------------------

#: Shape of the clip when neither ``shape=`` nor the model's spec says: C3D's 16 frames of 112 x 112.
DEFAULT_SHAPE = (3, 16, 112, 112)
#: Standard deviation of the starting noise, per clip, in pixel-range units (0.05: about 13 grey levels). Lucent
#: starts closer to uniform grey (0.01 through a sigmoid); a little more contrast gives units behind a ReLU a
#: start where they are not all 0, which would leave them without a gradient.
INIT_STD = 0.05


@dataclass
class ActMax:
    """What :func:`actmax` found."""

    # The optimised clips as the model takes them (normalised, its preset's channel order): (N, 3, T, H, W).
    input: torch.Tensor
    # The same clips as uint8 RGB frames, (N, T, H, W, 3), by model.preset.denormalize (rounded, 0..255).
    frames: np.ndarray
    # The raw objective per step and clip, (steps, N), measured on each step's transformed clip.
    history: np.ndarray
    # The objective's raw value for each clip of `input` (no transforms, not divided by the natural clips'
    # means): for one unit, the unit's final activation, (N,).
    value: torch.Tensor
    # What was maximised.
    objective: Objective
    # Each unit's mean |activation| over the natural clips (eq. 1's a_hat), or None without natural clips.
    natural_means: dict[Unit, float] | None = field(default=None)
    # The raw objective of each clip of the batch on each natural clip, (M, N) (Objective.on_each), or None.
    natural_values: np.ndarray | None = field(default=None)

    @property
    def natural_best(self) -> np.ndarray | None:
        """For each clip of the batch, the most any natural clip drives its objective, ``(N,)``: what
        :attr:`value` is measured against (a unit's strongest response to real video). None without them."""
        return None if self.natural_values is None else self.natural_values.max(axis=0)


def actmax(
    model: nn.Module,
    objective: Objective | str,
    *,
    steps: int = 256,
    lr: float = 0.05,
    kappa: float | Sequence[float] = 30.0,
    chi: float | Sequence[float] = 30.0,
    alpha: float = 6.0,
    bound: float | None = 0.5,
    energy: float = 1.0,
    bound_mode: Literal["project", "penalty"] = "project",
    param: Literal["fft", "pixels"] = "fft",
    spatial_decay: float = 1.0,
    temporal_decay: float = 1.0,
    transforms: bool | Transforms = True,
    natural_clips: torch.Tensor | None = None,
    init: torch.Tensor | None = None,
    shape: Sequence[int] | None = None,
    optimizer: Literal["adam", "sgd"] = "adam",
    seed: int = 0,
    progress: bool = False,
) -> ActMax:
    """The clip that maximises ``objective``: Feichtenhofer, Pinz, Wildes, Zisserman, "What have we learned
    from deep representations for action recognition?", CVPR 2018, eqs. (1)-(3).

    Each of ``steps`` steps of gradient ascent maximises, for every clip i of the batch,

        objective_i(x) / a_hat  -  (energy R_B(c) / B^alpha  +  R_TV(c; kappa, chi)) / (T H W)

    where x is the model input, c the centred clip (see the module docstring), objective_i the units'
    activations as :class:`Unit` defines them (a channel's mean over its map: eq. 1's division by the
    layer's extent), a_hat each unit's mean |activation| over ``natural_clips`` (eq. 1's second factor,
    so that one set of regulariser weights suits every layer; 1 without natural clips), R_B the local energy
    (:func:`local_energy`, eq. 2) and R_TV the spatiotemporal total variation (:func:`total_variation`,
    eq. 3). Dividing the regularisers by the number of voxels makes them means, so the same weights suit
    every clip size (Mahendran and Vedaldi, IJCV 2016, normalise theirs by the pixel count and B^alpha too).
    After each step the clip goes back into the valid range: every colour norm at most ``bound`` and every
    pixel within what 0..255 becomes under the model's preset.

    The defaults are ours: the paper does not publish its constants. We chose them on small C3D-like nets
    (c3d_depth3 at widths 2-4 with random weights and at width 8 trained for one epoch on the synthetic motion
    set; 16 x 32 x 32 clips, channels of conv3 and conv5, smooth synthetic clips as natural clips):

    - Adam at lr 0.05: with either parameterisation a channel reaches 5-30 times its mean over the natural
      clips within 64 steps (the remaining steps of the 256 sharpen the pattern).
    - kappa = chi = 30: mean |d_t c| and |d_x c| of about 0.07 (the natural clips: 0.04 and 0.02) at 8 times
      the natural mean; 10 leaves visible pixel noise (differences of 0.10, as with none), 100 reaches
      natural differences but halves the contrast and the activation. The weights act on the objective's
      scale: without natural clips, on the raw activations (of order 1 in a batch-normalised net). On
      larger clips and stronger objectives they act far more weakly: for the class logit of a trained
      c3d_depth3 (width 8) on 16 x 112 x 112 clips, a_hat over 16 natural clips, 128 steps, the mean
      |d_t| was 25 grey levels at chi = 0, 15 at chi = 100, 6.4 at 1000 and 2.0 at 10000 (the natural
      clips: 2.7), the logit 53, 56, 54 and 23. Sweep chi over decades there (``10000,1000,100,0``).
    - B = 0.5: a pixel may stray 0.29 of the pixel range from the mean in all three channels at once (0.5 in
      one), strong but unsaturated colours (the valid box reaches 0.78-0.95 from a grey mean). alpha = 6
      follows Mahendran and Vedaldi (IJCV 2016; their B = 80 on mean-subtracted 0-255 images is 0.31 here);
      energy = 1 makes R_B a gentle pull towards the mean colour (at most 1 per voxel, below the objective).
    - Lucent's transforms scaled to video clips: 2-pixel jitter, 5% zoom and a shift of one frame.

    Args:
        model: any ``nn.Module`` taking clips ``(N, 3, T, H, W)``; call ``model.eval()`` first (warned
            otherwise). Its ``requires_grad`` flags and train/eval mode are left as they were, also on error.
        objective: an :class:`Objective` or a string for :func:`parse_objective` (``"conv5b:7"``).
        steps: gradient steps.
        lr: the optimiser's learning rate (Adam: about the largest change of a parameter per step).
        kappa: weight of spatial differences in R_TV (one number, or one per clip).
        chi: weight of temporal differences in R_TV; larger: slower change over time; 0: none. One number,
            or one per clip: ``objective.repeat(k)`` with ``chi=[...]`` sweeps chi in one batch.
        alpha: exponent of R_B.
        bound: B, the largest colour norm of a pixel of the centred clip (in pixel range units; the box of
            valid pixels reaches 0.78-0.95 from a grey mean); None: only the valid pixel range.
        energy: weight of R_B (divided by B^alpha, so it is at most ``energy`` per voxel).
        bound_mode: "project": after each step, shrink pixels beyond B back onto it (projected gradient);
            "penalty": the paper's infinite penalty: a step that takes a clip beyond B is undone for that
            clip and the learning rate halved (backtracking).
        param: "fft" (:class:`FourierParam`, Lucent's default) or "pixels" (:class:`PixelParam`).
        spatial_decay, temporal_decay: :class:`FourierParam`'s exponents.
        transforms: True for :class:`Transforms` defaults, False for none, or a :class:`Transforms`.
        natural_clips: model input ``(M, 3, T, H, W)`` of real clips; each unit's activation is divided by its
            mean |activation| over them (a_hat). One forward pass: a few to a few dozen clips.
        init: model input ``(N, 3, T, H, W)`` to start from (projected into the valid range) instead of noise.
        shape: ``(3, T, H, W)`` or ``(N, 3, T, H, W)`` of the clips; default: ``init``'s, else
            ``model.spec.input_shape`` where the model declares one, else (3, 16, 112, 112). N defaults to
            the objective's batch size (1 for one unit).
        optimizer: "adam" or "sgd" (with momentum 0.9; its steps scale with the gradient, which is small
            for a channel mean: raise lr by orders of magnitude).
        seed: seeds the starting noise and the transforms: the same seed gives the same clip (on the CPU).
        progress: show a tqdm progress bar.
    """
    objective = _as_objective(objective)
    if not objective.terms:
        raise ValueError("the objective has no terms (its weights cancel out): there is nothing to maximise")
    _check_settings(steps, lr, kappa, chi, alpha, bound, energy, bound_mode, param, optimizer)
    transform = Transforms() if transforms is True else (transforms or None)
    if transform is not None and not isinstance(transform, Transforms):
        raise TypeError(f"transforms is True, False or a Transforms(...), got {type(transforms).__name__}")
    reference = next(model.parameters(), None)
    device = reference.device if reference is not None else torch.device("cpu")
    dtype = reference.dtype if reference is not None and reference.is_floating_point() else torch.float32
    preset = resolve_preset(model)
    space = _InputSpace.of(preset, device, dtype)
    clip_shape = _clip_shape(model, objective, shape, init)
    parameterisation: PixelParam | FourierParam = (
        FourierParam(clip_shape, spatial_decay, temporal_decay) if param == "fft" else PixelParam(clip_shape)
    )
    generator = torch.Generator().manual_seed(seed)
    if init is not None:
        check_clip(model, init, "actmax")
        start = space.project(space.from_input(init.to(device=device, dtype=dtype)), bound)
        params = parameterisation.from_clip(start)
    else:
        noise = torch.randn(parameterisation.param_shape, generator=generator, dtype=torch.float64)
        start = parameterisation.to_clip(noise)  # (N, 3, T, H, W): white (pixels) or 1/f (fft) noise
        start = start * (INIT_STD / start.flatten(1).std(dim=1)).view(-1, 1, 1, 1, 1)
        start = space.project(start.to(device=device, dtype=dtype), bound)
        params = parameterisation.from_clip(start)
        check_clip(model, space.to_input(parameterisation.to_clip(params)), "actmax")
    voxels = math.prod(clip_shape[2:])
    for name, weight in (("kappa", kappa), ("chi", chi)):
        if np.size(weight) not in (1, clip_shape[0]):
            raise ValueError(
                f"{name} gives {np.size(weight)} weights for {clip_shape[0]} clips: give one, or one per clip "
                "(objective.repeat(k) makes k copies of the batch for a sweep)"
            )

    with FeatureTaps(model, objective.layers) as taps, input_gradients_only(model), torch.enable_grad():
        means, natural = (None, None)
        if natural_clips is not None:
            means, natural = _natural_responses(model, taps, objective, natural_clips, clip_shape[0])
        params.requires_grad_(True)
        if optimizer == "adam":
            opt: torch.optim.Optimizer = torch.optim.Adam([params], lr=lr)
        else:
            opt = torch.optim.SGD([params], lr=lr, momentum=0.9)
        history = []
        for _ in tqdm(range(steps), desc="actmax", unit="step", disable=not progress):
            opt.zero_grad(set_to_none=True)
            clip = parameterisation.to_clip(params)  # (N, 3, T, H, W), centred RGB
            seen = transform(clip, generator) if transform is not None else clip
            outputs = taps.run(space.to_input(seen))
            value = objective(outputs, means)  # (N,), divided by a_hat
            penalty = total_variation(clip, kappa, chi)
            if energy:
                penalty = penalty + energy * local_energy(clip, alpha) / (bound**alpha if bound else 1.0)
            (penalty / voxels - value.sum()).backward()
            before = params.detach().clone() if bound_mode == "penalty" else None
            opt.step()
            with torch.no_grad():
                _keep_valid(params, parameterisation, space, bound, bound_mode, before, opt)
            raw = value if means is None else objective(outputs)  # (N,), as `value` and `natural_values`
            history.append(raw.detach().cpu().numpy())
        params.requires_grad_(False)
        with torch.no_grad():
            x = space.to_input(parameterisation.to_clip(params))  # (N, 3, T, H, W)
            final = objective(taps.run(x))  # (N,), raw
    return ActMax(
        input=x.detach(),
        frames=preset.denormalize(x),
        history=np.stack(history) if history else np.zeros((0, clip_shape[0]), dtype=np.float32),
        value=final.detach(),
        objective=objective,
        natural_means=means,
        natural_values=natural,
    )


def _keep_valid(
    params: torch.Tensor,
    parameterisation: PixelParam | FourierParam,
    space: _InputSpace,
    bound: float | None,
    bound_mode: str,
    before: torch.Tensor | None,
    opt: torch.optim.Optimizer,
) -> None:
    """After a step: back into the valid range (see :func:`actmax`'s ``bound_mode``), in place."""
    clip = parameterisation.to_clip(params)
    if bound_mode == "penalty" and bound is not None:
        beyond = clip.pow(2).sum(dim=1).flatten(1).amax(dim=1) > bound**2  # (N,): R_B infinite
        if bool(beyond.any()):
            params[beyond] = before[beyond]  # undo the step for those clips
            for group in opt.param_groups:
                group["lr"] /= 2
            clip = parameterisation.to_clip(params)
        valid = space.project(clip, None)
    else:
        valid = space.project(clip, bound)
    if not torch.equal(valid, clip):  # (for the Fourier basis, a transform back only when needed)
        params.copy_(parameterisation.from_clip(valid))


def _natural_responses(
    model: nn.Module, taps: FeatureTaps, objective: Objective, clips: torch.Tensor, n: int
) -> tuple[dict[Unit, float], np.ndarray]:
    """From one forward pass over natural clips: each unit's mean |activation| (a_hat of eq. 1), and the raw
    objective of each of the ``n`` optimised clips on every natural clip, ``(M, n)``."""
    check_clip(model, clips, "actmax (natural_clips)")
    reference = next(model.parameters(), None)
    if reference is not None:
        clips = clips.to(device=reference.device, dtype=reference.dtype)
    with torch.no_grad():
        outputs = taps.run(clips)
    means = {}
    for unit in objective.units:
        mean = float(unit.read(outputs[unit.layer]).abs().mean())
        if not mean > 0:
            raise ValueError(
                f"unit {str(unit)!r} is 0 on every natural clip, so its activation cannot be divided by its "
                "mean: give clips it responds to, or leave natural_clips out"
            )
        means[unit] = mean
    values = objective.on_each(outputs, n).float().cpu().numpy()  # (M, n)
    return means, values


def _clip_shape(
    model: nn.Module, objective: Objective, shape: Sequence[int] | None, init: torch.Tensor | None
) -> tuple[int, int, int, int, int]:
    """``(N, 3, T, H, W)`` of the optimised clips (see :func:`actmax`'s ``shape``)."""
    needed = objective.batch_size
    if init is not None:
        if shape is not None and tuple(shape)[-4:] != tuple(init.shape)[-4:]:
            raise ValueError(
                f"shape {tuple(shape)} disagrees with init's {tuple(init.shape)}: give one of them"
            )
        if init.ndim != 5:
            raise ValueError(
                f"init is model input (N, 3, T, H, W), got shape {tuple(init.shape)}"
                + ("; add the batch dimension with init.unsqueeze(0)" if init.ndim == 4 else "")
            )
        if needed is not None and init.shape[0] != needed:
            raise ValueError(f"the objective optimises {needed} clips, init has {init.shape[0]}")
        return tuple(init.shape)  # type: ignore[return-value]
    if shape is not None:
        shape = tuple(int(s) for s in shape)
        if len(shape) not in (4, 5) or shape[-4] != 3 or min(shape) < 1:
            raise ValueError(f"shape is (3, T, H, W) or (N, 3, T, H, W), got {shape}")
        if len(shape) == 5:
            if needed is not None and shape[0] != needed:
                raise ValueError(
                    f"shape asks for {shape[0]} clips but the objective optimises {needed}: leave N out"
                )
            return shape  # type: ignore[return-value]
        one = shape
    else:
        spec = model_spec(model)
        one = tuple(spec.input_shape) if spec is not None else DEFAULT_SHAPE
    return (needed or 1, *one)  # type: ignore[return-value]


def _check_settings(
    steps: int,
    lr: float,
    kappa: float | Sequence[float],
    chi: float | Sequence[float],
    alpha: float,
    bound: float | None,
    energy: float,
    bound_mode: str,
    param: str,
    optimizer: str,
) -> None:
    if steps < 0 or lr <= 0:
        raise ValueError(f"steps must be >= 0 and lr > 0, got steps={steps}, lr={lr}")
    if min(np.min(kappa), np.min(chi), energy) < 0:
        raise ValueError(f"kappa, chi and energy are weights >= 0, got {kappa}, {chi}, {energy}")
    if alpha < 2:
        raise ValueError(f"alpha must be >= 2, got {alpha}")
    if bound is not None and bound <= 0:
        raise ValueError(f"bound (B) is a colour norm > 0, or None for none; got {bound}")
    if bound_mode not in ("project", "penalty"):
        raise ValueError(f"bound_mode is 'project' or 'penalty', got {bound_mode!r}")
    if bound_mode == "penalty" and bound is None:
        raise ValueError("bound_mode='penalty' needs a bound B")
    if param not in ("fft", "pixels"):
        raise ValueError(f"param is 'fft' (3-D Fourier basis) or 'pixels', got {param!r}")
    if optimizer not in ("adam", "sgd"):
        raise ValueError(f"optimizer is 'adam' or 'sgd', got {optimizer!r}")
