"""Where the evidence for a class is, from gradients: saliency, Grad-CAM and Grad-CAM++ for clips.

    sal = saliency(model, clip)  # (N, 3, T, H, W): |d logit / d input|
    cam = grad_cam(model, clip, "conv5")  # (N, T, H, W) in [0, 1], upsampled to the clip
    raw = grad_cam(model, clip, "conv5", upsample=False, normalize=False)  # (N, T', H', W')
    per_step = grad_cam(model, clip, "conv5", time_resolved=True)  # channel weights per time step

Both CAMs share one pass (:func:`_activations_and_gradients`: the layer's activations and the gradient of
the target logit with respect to them) and differ only in how channel weights are made.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vidlens.interpret.core import (
    Target,
    check_clip,
    input_gradients_only,
    minmax_per_sample,
    resolve_targets,
)
from vidlens.models.taps import FeatureTaps

__all__ = ["grad_cam", "grad_cam_pp", "saliency"]


def saliency(model: nn.Module, clip: torch.Tensor, target: Target = None) -> torch.Tensor:
    """Saliency map: the absolute gradient of the target logit with respect to the clip, ``(N, 3, T, H, W)``.

    Simonyan, Vedaldi, Zisserman, "Deep Inside Convolutional Networks: Visualising Image Classification
    Models and Saliency Maps", ICLR workshop 2014 (before taking the maximum over colour channels, which is
    left to the caller: ``sal.amax(dim=1)``).

    Args:
        model: any ``nn.Module`` returning logits ``(N, num_classes)``; call ``model.eval()`` first.
        clip: model input, float ``(N, 3, T, H, W)``, already normalised.
        target: class index, one per sample, or None for each sample's predicted class.
    """
    check_clip(model, clip, "saliency")
    with input_gradients_only(model):
        x = clip.detach().requires_grad_(True)
        logits = model(x)  # (N, num_classes)
        indices = resolve_targets(logits, target)
        (grad,) = torch.autograd.grad(logits.gather(1, indices[:, None]).sum(), x)  # (N, 3, T, H, W)
    return grad.abs()


def grad_cam(
    model: nn.Module,
    clip: torch.Tensor,
    layer: str,
    target: Target = None,
    *,
    time_resolved: bool = False,
    upsample: bool = True,
    normalize: bool = True,
) -> torch.Tensor:
    """Grad-CAM of ``layer`` for the target class: ``(N, T, H, W)``, or ``(N, T', H', W')`` without upsampling.

    Selvaraju, Cogswell, Das, Vedantam, Parikh, Batra, "Grad-CAM: Visual Explanations from Deep Networks
    via Gradient-based Localization", ICCV 2017: with activations A_k of channel k and gradients
    g_k = d logit / d A_k, the channel weights are w_k = mean over (t, y, x) of g_k and the map is
    ReLU(sum_k w_k A_k). With ``time_resolved=True`` the gradients are averaged over (y, x) only, one weight
    per channel and time step, w_k(t) = mean over (y, x) of g_k(t), as mmaction2 does for video.

    Args:
        model: any ``nn.Module`` returning logits ``(N, num_classes)``; call ``model.eval()`` first.
        clip: model input, float ``(N, 3, T, H, W)``, already normalised.
        layer: tap name or dotted module path of a layer with 5-D output ``(N, C, T', H', W')``.
        target: class index, one per sample, or None for each sample's predicted class.
        time_resolved: one weight per channel and time step instead of one per channel.
        upsample: interpolate trilinearly to the clip's ``(T, H, W)``; False keeps the layer's resolution.
        normalize: min-max scale each sample's map to [0, 1] (a constant map becomes zeros).
    """
    check_clip(model, clip, "grad_cam")
    acts, grads = _activations_and_gradients(model, clip, layer, target, "grad_cam")
    dims = (3, 4) if time_resolved else (2, 3, 4)
    weights = grads.mean(dim=dims, keepdim=True)  # (N, C, 1 or T', 1, 1)
    cam = F.relu((weights * acts).sum(dim=1))  # (N, T', H', W')
    return _finish(cam, clip, upsample, normalize)


def grad_cam_pp(
    model: nn.Module,
    clip: torch.Tensor,
    layer: str,
    target: Target = None,
    *,
    time_resolved: bool = False,
    upsample: bool = True,
    normalize: bool = True,
) -> torch.Tensor:
    """Grad-CAM++ of ``layer`` for the target class; arguments and shapes as :func:`grad_cam`.

    Chattopadhyay, Sarkar, Howlader, Balasubramanian, "Grad-CAM++: Generalized Gradient-based Visual
    Explanations for Deep Convolutional Networks", WACV 2018, eq. 19 (the closed form with the gradients
    of the logit, g): w_k = sum over (t, y, x) of ReLU(g_k) * alpha_k, with

        alpha_k = g_k^2 / (2 g_k^2 + (sum over (t, y, x) of A_k) * g_k^3)

    and alpha_k = 0 where the denominator is 0 (in particular where g_k = 0); the map is
    ReLU(sum_k w_k A_k). With ``time_resolved=True`` both sums run over (y, x) only, separately for each
    time step.
    """
    check_clip(model, clip, "grad_cam_pp")
    acts, grads = _activations_and_gradients(model, clip, layer, target, "grad_cam_pp")
    dims = (3, 4) if time_resolved else (2, 3, 4)
    g2 = grads.pow(2)  # (N, C, T', H', W')
    denominator = 2 * g2 + acts.sum(dim=dims, keepdim=True) * g2 * grads
    nonzero = denominator != 0
    alpha = torch.where(nonzero, g2 / torch.where(nonzero, denominator, 1.0), 0.0)
    weights = (F.relu(grads) * alpha).sum(dim=dims, keepdim=True)  # (N, C, 1 or T', 1, 1)
    cam = F.relu((weights * acts).sum(dim=1))  # (N, T', H', W')
    return _finish(cam, clip, upsample, normalize)


def _activations_and_gradients(
    model: nn.Module, clip: torch.Tensor, layer: str, target: Target, method: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """Activations of ``layer`` and the gradient of the target logit with respect to them, both
    ``(N, C, T', H', W')`` and detached: one forward and one backward pass that stops at ``layer``."""
    with input_gradients_only(model), FeatureTaps(model, layer) as taps:
        # The clip requires grad so that activations do with frozen parameters; its own gradient is
        # never computed (the backward pass stops at the layer).
        logits = model(clip.detach().requires_grad_(True))  # (N, num_classes)
        acts = taps[layer]
        if not isinstance(acts, torch.Tensor) or acts.ndim != 5:
            shape = tuple(acts.shape) if isinstance(acts, torch.Tensor) else type(acts).__name__
            raise ValueError(
                f"{method} needs a layer with feature maps (N, C, T', H', W'); {layer!r} gives {shape}: choose "
                "a convolutional layer, usually the last one (e.g. 'conv5b' for C3D, 'layer4' for a ResNet)"
            )
        indices = resolve_targets(logits, target)
        (grads,) = torch.autograd.grad(logits.gather(1, indices[:, None]).sum(), acts)
    return acts.detach(), grads


def _finish(cam: torch.Tensor, clip: torch.Tensor, upsample: bool, normalize: bool) -> torch.Tensor:
    """Raw map ``(N, T', H', W')`` -> upsampled to the clip's ``(N, T, H, W)`` and/or scaled to [0, 1]."""
    if upsample:
        cam = F.interpolate(cam[:, None], size=clip.shape[2:], mode="trilinear", align_corners=False)[:, 0]
    return minmax_per_sample(cam) if normalize else cam
