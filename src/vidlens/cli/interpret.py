"""``vidlens featuremaps | filters | deconv | saliency | cam | occlusion``: look inside a model, one clip at a time.

Every command but ``filters`` decodes one clip of VIDEO (the first; ``--start SECONDS`` or ``--frame N``
choose another; as many frames as the model takes, 16 for C3D), prepares it as the model's preset says
(frame size, centre crop, normalisation: :func:`vidlens.presets.resolve_preset`), runs one function of
:mod:`vidlens.interpret` and writes into ``--out`` (default ``interpret/<video stem>/``):

* ``<stem>.npy``: the array the function returned, for this clip (shapes in each command's ``--help``);
* ``<stem>.gif`` and ``<stem>.mp4``: the frames next to the map blended onto them (``--cmap``, ``--alpha``);
* ``<stem>.png``: a contact sheet (frames over overlays), titled with the model, the layer and the channel
  or class (class names where the weights carry them).

``filters`` reads a layer's kernels and needs no video. The model options are those of ``vidlens extract``
(:func:`vidlens.cli.common.add_model_options`). An unknown layer name ends with the list of valid ones.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from vidlens.cli.common import add_model_options, load_model_from_args, size_arg, warnings_to_stderr

if TYPE_CHECKING:
    import numpy as np
    import torch
    from torch import nn

    from vidlens.presets import Preset
    from vidlens.video import Clip

__all__ = ["register"]

# --method of `vidlens cam` -> (what titles call it, file name part).
CAM_METHODS = {
    "gradcam": ("Grad-CAM", "gradcam"),
    "gradcam++": ("Grad-CAM++", "gradcampp"),
    "time": ("time-resolved Grad-CAM", "gradcam-time"),
}


# --------------------------------------------------------------------------------------------------------
# What the commands share: the model, the clip, class names, titles and the files
# --------------------------------------------------------------------------------------------------------


@dataclass
class _Model:
    """The loaded model with what titles and file names say about it."""

    net: nn.Module
    name: str  # registry name
    source: str  # weights file name, or "random init"
    device: torch.device

    @property
    def label(self) -> str:
        return f"{self.name} ({self.source})"


@dataclass
class _Clip:
    """One prepared clip: the frames as the model sees them and its input."""

    frames: np.ndarray  # (T, H, W, 3) uint8 RGB, resized and cropped as the preset says
    x: torch.Tensor  # (1, 3, T, H, W) float, normalised, on the model's device
    start: int  # first frame in the video
    time: float  # its time, seconds
    video: Path

    @property
    def span(self) -> str:
        return f"frames {self.start}-{self.start + len(self.frames) - 1} (from {self.time:.2f} s)"

    @property
    def caption(self) -> str:
        """The second line of a picture's title: which clip of which video."""
        return f"{self.video.name}, {self.span}"


def _load(args: argparse.Namespace) -> _Model:
    from vidlens.runtime import select_device

    device = select_device(args.device)
    net, name, weights = load_model_from_args(args)
    return _Model(net.to(device), name, weights.name if weights is not None else "random init", device)


def _read_clip(args: argparse.Namespace, model: _Model) -> _Clip:
    """The clip ``--start`` / ``--frame`` name (the first by default), decoded at the preset's frame size,
    centre-cropped to its crop and normalised."""
    from vidlens.models import model_spec
    from vidlens.presets import FROM_PRESET, override, resolve_preset
    from vidlens.video import count_frames, probe

    video = Path(args.video)
    n_frames = count_frames(video)  # also fails early, with the reason, on what is not a readable video
    start = args.frame or 0
    if args.start is not None:
        if args.start < 0:
            raise ValueError(f"--start must be >= 0 seconds, got {args.start:g}")
        start = int(args.start * probe(video).fps + 1e-6)  # the frame shown at that time
    if not 0 <= start < n_frames:
        where = f"--start {args.start:g} s is frame {start}" if args.start is not None else f"--frame {start}"
        raise ValueError(f"{where}: {video} has {n_frames} frames, 0..{n_frames - 1}")
    spec = model_spec(model.net)
    clip_len = args.clip_len or (spec.input_shape[1] if spec is not None else 16)
    preset = override(
        resolve_preset(model.net),
        size=args.size if args.size is not None else FROM_PRESET,
        crop=args.crop if args.crop is not None else FROM_PRESET,
    )
    frames, x, clip = _prepare_clip(video, start, clip_len, preset)
    return _Clip(frames, x.to(model.device), clip.start, clip.time, video)


def _prepare_clip(
    video: Path, start: int, clip_len: int, preset: Preset
) -> tuple[np.ndarray, torch.Tensor, Clip]:
    """Frames ``start ..`` of ``video`` as the preset prepares them: uint8 ``(T, crop, crop, 3)``, the model
    input ``(1, 3, T, crop, crop)`` (on the CPU) and the decoded clip; warns when the video ends first."""
    import numpy as np

    from vidlens.data.transforms import center_crop
    from vidlens.video import read_clip

    clip = read_clip(video, start, clip_len, preset.size)
    if clip.padded:
        print(
            f"warning: {video} ends {clip.padded} frames before the clip does: its last frame repeats",
            file=sys.stderr,
        )
    frames = clip.frames if preset.crop is None else center_crop(clip.frames, preset.crop)
    frames = np.ascontiguousarray(frames)  # (T, crop, crop, 3)
    return frames, preset.normalize(frames)[None], clip  # (1, 3, T, crop, crop)


def _class_name(net: nn.Module, index: int) -> str:
    names = getattr(net, "class_names", None)
    return names[index] if names is not None and 0 <= index < len(names) else f"class {index}"


def _target(args: argparse.Namespace, model: _Model, clip: _Clip) -> tuple[int, str]:
    """The class to explain (``--target`` as an index or a class name; default the predicted one) and how
    titles describe it: its name, its probability, and the prediction when that is another class."""
    import torch

    with torch.no_grad():
        probs = torch.softmax(model.net(clip.x).float(), dim=1)[0]  # (num_classes,)
    predicted = int(probs.argmax())
    names = getattr(model.net, "class_names", None)
    if args.target is None:
        index = predicted
    elif args.target.lstrip("-").isdigit():
        index = int(args.target)
        if not 0 <= index < len(probs):
            raise IndexError(
                f"--target {index} out of range: the model has {len(probs)} classes (0..{len(probs) - 1})"
            )
    elif names is not None and args.target in names:
        index = names.index(args.target)
    else:
        known = (
            f" or a class name: {', '.join(names)}" if names is not None else " (the weights name no classes)"
        )
        raise ValueError(f"unknown --target {args.target!r}: give a class index 0..{len(probs) - 1}{known}")
    text = f"{_class_name(model.net, index)} (p = {float(probs[index]):.2f})"
    if index != predicted:
        text += f", predicted {_class_name(model.net, predicted)}"
    return index, text


def _stem(*parts: object) -> str:
    """A file name stem from its parts, joined by ``_``; anything but letters, digits, ``.``, ``+`` and
    ``-`` becomes ``-`` (class names and module paths are user text)."""
    return "_".join(re.sub(r"[^\w.+-]+", "-", str(p)).strip("-") for p in parts if p != "")


def _out_dir(args: argparse.Namespace, default: str) -> Path:
    return Path(args.out) if args.out is not None else Path("interpret") / default


def _require_layer(args: argparse.Namespace, model: _Model) -> str:
    from vidlens.models import list_layers

    if args.layer is None:
        raise ValueError(
            f"{args.command} needs --layer; {model.name}'s layers: {', '.join(list_layers(model.net))}"
        )
    return args.layer


# Gradients and projections are spiky: a few pixels would take the whole colour range, so their pictures
# are scaled by this percentile of their magnitude (and clipped there).
_SPIKY_PERCENTILE = 99.5


def _unit(heat: torch.Tensor, percentile: float = 100.0) -> torch.Tensor:
    """A map scaled to [0, 1]: negative values become 0, and the rest is divided by its ``percentile``-th
    value (100: the maximum) and clipped at 1."""
    heat = heat.float().clamp(min=0)
    top = _percentile(heat, percentile)
    return (heat / top).clamp(max=1) if top > 0 else heat


def _percentile(x: torch.Tensor, percentile: float) -> float:
    import numpy as np

    return float(np.percentile(x.detach().float().cpu().numpy(), percentile))  # any size (torch's has a cap)


def _save_map(
    args: argparse.Namespace,
    out: Path,
    stem: str,
    array: torch.Tensor,
    clip: _Clip,
    heat: torch.Tensor,
    title: str,
) -> list[Path]:
    """``array`` as ``<stem>.npy``, ``heat`` ((T', H', W') in [0, 1]) over the frames as GIF, MP4 and PNG."""
    from vidlens.viz import save_interpretation

    written = [_save_npy(array, out / f"{stem}.npy")]
    files = save_interpretation(
        out,
        stem,
        clip.frames,
        heat.cpu(),
        title=title,
        fps=args.fps,
        alpha=args.alpha,
        cmap=args.cmap,
        every=args.every,
    )
    return written + list(files.values())


def _save_npy(array: torch.Tensor, path: Path) -> Path:
    from vidlens.io import atomic_save_npy

    return atomic_save_npy(array.detach().float().cpu().numpy(), path)


def _report(what: str, written: list[Path]) -> int:
    print(what)
    for path in written:
        print(f"wrote {path}")
    return 0


# --------------------------------------------------------------------------------------------------------
# The commands
# --------------------------------------------------------------------------------------------------------


def cmd_featuremaps(args: argparse.Namespace) -> int:
    from vidlens.interpret import feature_maps
    from vidlens.viz import feature_map_grid, save_animation

    with warnings_to_stderr():
        model = _load(args)
        layer = _require_layer(args, model)
        clip = _read_clip(args, model)
        maps = feature_maps(model.net, clip.x, layer)[0]  # (C, T', H', W')
    n_channels = maps.shape[0]
    channel = args.channel
    if channel is None:
        channel = int(maps.flatten(1).mean(1).argmax())  # the most active channel on this clip
        which = f"channel {channel} (the most active of {n_channels})"
    elif not 0 <= channel < n_channels:
        raise IndexError(f"--channel {channel} out of range: layer {layer!r} has {n_channels} channels")
    else:
        which = f"channel {channel} of {n_channels}"
    out = _out_dir(args, clip.video.stem)
    stem = _stem("featuremaps", layer, f"c{channel}", f"f{clip.start}")
    single = maps[channel]
    low, high = single.min(), single.max()
    heat = (single - low) / (high - low) if high > low else single * 0  # min-max over the channel's values
    title = f"{model.label} {layer} {which}\n{clip.caption}"
    written = _save_map(args, out, stem, maps, clip, heat, title)
    if args.channel is None:  # all channels at a glance: the first --grid next to the frames
        grid = feature_map_grid(maps.cpu(), channels=args.grid, frames=clip.frames)
        grid_stem = _stem("featuremaps", layer, "grid", f"f{clip.start}")
        title = (
            f"{model.label} {layer}: frames and channels 0-{min(args.grid, n_channels) - 1}\n{clip.caption}"
        )
        files = save_animation(out, grid_stem, grid, fps=args.fps, title=title, every=args.every)
        written += list(files.values())
    shape = "x".join(map(str, maps.shape))
    return _report(f"{model.label} {layer} feature maps ({shape}) of {clip.video}, {clip.span}", written)


def cmd_filters(args: argparse.Namespace) -> int:
    from vidlens.interpret import filters, filters_for_display
    from vidlens.presets import resolve_preset
    from vidlens.viz import feature_map_grid, filter_grid, filter_norms_figure, save_animation, save_figure

    with warnings_to_stderr():
        model = _load(args)
    layer = args.layer
    kernels = filters(model.net, layer).cpu()  # (C_out, C_in, t, h, w)
    n = kernels.shape[0]
    index = list(range(n)) if args.channel is None else [args.channel]
    if not 0 <= index[0] < n or not 0 <= index[-1] < n:
        raise IndexError(f"--channel {args.channel} out of range: layer {layer!r} has {n} filters")
    out = _out_dir(args, model.name)
    stem = _stem("filters", layer, f"c{args.channel}" if args.channel is not None else "")
    shape = "x".join(map(str, kernels.shape))
    title = f"{model.label} {layer} filters ({shape})" + (
        f", filter {args.channel}" if args.channel is not None else ""
    )
    written = [_save_npy(kernels, out / f"{stem}.npy")]
    if kernels.shape[1] == 3:  # first layer: each kernel as a tiny RGB animation over its t slices
        bgr = resolve_preset(model.net).channel_order == "BGR"
        clip = filter_grid(kernels[index], bgr=bgr)
    else:  # deeper: where in space and time each filter looks (L2 norm over its input channels)
        clip = feature_map_grid(filters_for_display(kernels[index]), channels=len(index), cmap="magma")
        written.append(save_figure(filter_norms_figure(kernels, title=title), out / f"{stem}_norms.png"))
    written += list(save_animation(out, stem, clip, fps=args.fps, title=title, every=args.every).values())
    return _report(f"{model.label} {layer}: {n} filters, kernels {shape}", written)


def cmd_deconv(args: argparse.Namespace) -> int:
    from vidlens.interpret import deconvolve
    from vidlens.presets import resolve_preset
    from vidlens.viz import rgb_clip, save_animation, tile

    with warnings_to_stderr():
        model = _load(args)
        layer = _require_layer(args, model)
        clip = _read_clip(args, model)
        pixels = deconvolve(model.net, clip.x, layer, channel=args.channel)[0]  # (3, T, H, W)
    which = f"channel {args.channel}" if args.channel is not None else "strongest activation"
    out = _out_dir(args, clip.video.stem)
    stem = _stem("deconv", layer, f"c{args.channel}" if args.channel is not None else "", f"f{clip.start}")
    title = f"{model.label} {layer} deconvolution, {which}\n{clip.caption}"
    heat = _unit(pixels.abs().amax(dim=0), percentile=_SPIKY_PERCENTILE)  # (T, H, W)
    written = _save_map(args, out, stem, pixels, clip, heat, title)
    # The projection itself, signed (zero is grey), next to the frames: what Tran et al. 2015 show.
    bgr = resolve_preset(model.net).channel_order == "BGR"
    top = _percentile(pixels.abs(), _SPIKY_PERCENTILE)
    signed = (pixels / top).clamp(-1, 1) if top > 0 else pixels
    rgb = tile([clip.frames, rgb_clip(signed.cpu(), bgr=bgr)], gap=2)
    files = save_animation(out, f"{stem}_rgb", rgb, fps=args.fps, title=title, every=args.every)
    written += list(files.values())
    return _report(f"{model.label} {layer} deconvolution ({which}) of {clip.video}, {clip.span}", written)


def cmd_saliency(args: argparse.Namespace) -> int:
    from vidlens.interpret import saliency

    with warnings_to_stderr():
        model = _load(args)
        clip = _read_clip(args, model)
        target, described = _target(args, model, clip)
        grads = saliency(model.net, clip.x, target)[0]  # (3, T, H, W)
    out = _out_dir(args, clip.video.stem)
    stem = _stem("saliency", _class_name(model.net, target), f"f{clip.start}")
    title = f"{model.label} saliency: {described}\n{clip.caption}"
    heat = _unit(grads.amax(dim=0), percentile=_SPIKY_PERCENTILE)  # (T, H, W): the largest over colours
    written = _save_map(args, out, stem, grads, clip, heat, title)
    return _report(f"{model.label} saliency for {described} of {clip.video}, {clip.span}", written)


def cmd_cam(args: argparse.Namespace) -> int:
    from vidlens.interpret import grad_cam, grad_cam_pp

    with warnings_to_stderr():
        model = _load(args)
        layer = _require_layer(args, model)
        clip = _read_clip(args, model)
        target, described = _target(args, model, clip)
        compute = grad_cam_pp if args.method == "gradcam++" else grad_cam
        kwargs = {"time_resolved": True} if args.method == "time" else {}
        cam = compute(model.net, clip.x, layer, target, **kwargs)[0]  # (T, H, W) in [0, 1]
    name, part = CAM_METHODS[args.method]
    out = _out_dir(args, clip.video.stem)
    stem = _stem(part, layer, _class_name(model.net, target), f"f{clip.start}")
    title = f"{model.label} {layer} {name}: {described}\n{clip.caption}"
    written = _save_map(args, out, stem, cam, clip, cam, title)
    return _report(f"{model.label} {layer} {name} for {described} of {clip.video}, {clip.span}", written)


def cmd_occlusion(args: argparse.Namespace) -> int:
    from vidlens.interpret import occlusion

    with warnings_to_stderr():
        model = _load(args)
        clip = _read_clip(args, model)
        target, described = _target(args, model, clip)
        drops = occlusion(
            model.net,
            clip.x,
            target,
            window=args.window,
            stride=args.stride,
            batch_size=args.batch_size,
            progress=not args.quiet,
        )[0]  # (T, H, W): logit drop when hidden
    out = _out_dir(args, clip.video.stem)
    stem = _stem("occlusion", _class_name(model.net, target), f"f{clip.start}")
    window = "x".join(map(str, args.window))
    title = f"{model.label} occlusion ({window} windows): {described}\n{clip.caption}"
    written = _save_map(args, out, stem, drops, clip, _unit(drops), title)
    return _report(f"{model.label} occlusion for {described} of {clip.video}, {clip.span}", written)


# --------------------------------------------------------------------------------------------------------
# Parsers
# --------------------------------------------------------------------------------------------------------


def _triple(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"sizes must be positive, got {text}")
    return value


def _add_parser(
    sub: argparse._SubParsersAction, name: str, help: str, array: str, *, layer: bool, target: bool
) -> argparse.ArgumentParser:
    """A command on one clip of a video: VIDEO, the model options, the clip and the pictures."""
    p = sub.add_parser(
        name,
        help=help,
        description=f"{help[0].upper()}{help[1:]}, for one clip of VIDEO. Writes <stem>.npy ({array}), "
        "<stem>.gif and <stem>.mp4 (the frames next to the map blended onto them) and <stem>.png (a contact "
        "sheet) into --out, and prints their paths.",
    )
    p.add_argument("video", metavar="VIDEO", help="a video file")
    add_model_options(p)
    if layer:
        p.add_argument("--layer", help="tap name or module path (`vidlens models` lists a model's layers)")
    if target:
        p.add_argument(
            "--target",
            metavar="K",
            help="class to explain: an index, or a class name where the weights carry them (default: the "
            "predicted class)",
        )
    g = p.add_argument_group("clip (default: the first)")
    where = g.add_mutually_exclusive_group()
    where.add_argument("--start", type=float, metavar="SECONDS", help="the clip starting at this time")
    where.add_argument("--frame", type=int, metavar="N", help="the clip starting at frame N (0-based)")
    g.add_argument("--clip-len", type=int, help="frames per clip (default: the model's, 16 for C3D)")
    g.add_argument("--size", type=size_arg, help="decode size HxW (default: the preset's, 128x171)")
    g.add_argument("--crop", type=int, help="centre crop (default: the preset's, 112)")
    _add_output_options(p)
    p.add_argument(
        "--alpha", type=float, default=0.5, help="opacity of the map over the frames (default 0.5)"
    )
    p.add_argument("--cmap", default="jet", help="matplotlib colour map of the overlays (default jet)")
    return p


def _add_output_options(
    p: argparse.ArgumentParser, default: str = "interpret/<video stem>", fps: float = 8.0
) -> None:
    p.add_argument("--out", metavar="DIR", help=f"output folder (default {default})")
    p.add_argument(
        "--fps", type=float, default=fps, help=f"frames per second of the animations (default {fps:g})"
    )
    p.add_argument(
        "--every", type=int, metavar="K", help="contact sheet: every K-th frame (default: at most 8 panels)"
    )
    p.add_argument("--device", default="auto", help="auto (a GPU if there is one), cpu, cuda, cuda:N")


def register(sub: argparse._SubParsersAction) -> None:
    p = _add_parser(
        sub,
        "featuremaps",
        "a layer's feature maps",
        "all channels, (C, T', H', W')",
        layer=True,
        target=False,
    )
    p.add_argument(
        "--channel", type=int, help="channel to overlay (default: the most active; then also a grid of all)"
    )
    p.add_argument("--grid", type=int, default=16, help="channels in the grid (default 16)")
    p.set_defaults(func=cmd_featuremaps)

    p = sub.add_parser(
        "filters",
        help="a convolution's learned kernels (no video needed)",
        description="A convolution's learned kernels: <stem>.npy (C_out, C_in, t, h, w); for a first layer "
        "each kernel as a tiny RGB animation over its time slices, for deeper ones where in space and time "
        "each filter looks (<stem>.gif/.mp4/.png) and the norms of its kernels (<stem>_norms.png).",
    )
    add_model_options(p)
    p.add_argument("--layer", default="conv1", help="convolution tap or module path (default conv1)")
    p.add_argument("--channel", type=int, help="one filter only (default: all)")
    _add_output_options(p, default="interpret/<model>", fps=2.0)
    p.set_defaults(func=cmd_filters)

    p = _add_parser(
        sub,
        "deconv",
        "deconvolution (Zeiler & Fergus): a layer's strongest activation projected back to the pixels",
        "the projection, (3, T, H, W); <stem>_rgb.* shows it signed",
        layer=True,
        target=False,
    )
    p.add_argument("--channel", type=int, help="the strongest activation of this channel (default: any)")
    p.set_defaults(func=cmd_deconv)

    p = _add_parser(
        sub, "saliency", "saliency: |d logit / d pixel|", "the gradient magnitude, (3, T, H, W)", layer=False,
        target=True,
    )  # fmt: skip
    p.set_defaults(func=cmd_saliency)

    p = _add_parser(
        sub,
        "cam",
        "Grad-CAM, Grad-CAM++ or time-resolved Grad-CAM of a layer",
        "the map upsampled to the clip, (T, H, W) in [0, 1]",
        layer=True,
        target=True,
    )
    p.add_argument(
        "--method",
        choices=list(CAM_METHODS),
        default="gradcam",
        help="gradcam (one weight per channel), gradcam++, or time (one weight per channel and time step)",
    )
    p.set_defaults(func=cmd_cam)

    p = _add_parser(
        sub,
        "occlusion",
        "occlusion: how much the class logit drops when a window of the clip is hidden",
        "the mean logit drop per voxel, (T, H, W), signed",
        layer=False,
        target=True,
    )
    p.add_argument("--window", type=_triple, nargs=3, default=[4, 16, 16], metavar=("T", "H", "W"),
                   help="occluder size in frames and pixels (default 4 16 16)")  # fmt: skip
    p.add_argument("--stride", type=_triple, nargs=3, default=[2, 8, 8], metavar=("T", "H", "W"),
                   help="step between windows (default 2 8 8)")  # fmt: skip
    p.add_argument("--batch-size", type=int, default=16, help="occluded clips per forward pass (default 16)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_occlusion)
