"""Looking inside a video model: feature maps, filters and attributions, computed (tensors in, tensors out).

Drawing lives in :mod:`vidlens.viz`. Every function takes any ``nn.Module`` (a registry model or a user's
own), clips as the model takes them (float ``(N, 3, T, H, W)``, already normalised) and layers by tap name
or dotted module path (see :func:`vidlens.models.list_layers`); results are float tensors on the clip's
device. Hooks are removed and ``requires_grad`` flags restored when a call returns or raises; the model's
train/eval mode is never changed (call ``model.eval()`` first).

    from vidlens.interpret import actmax, deconvolve, feature_maps, grad_cam, occlusion, saliency

    maps = feature_maps(model, clip, "conv5b")  # (N, C, T', H', W')
    cam = grad_cam(model, clip, "conv5b")  # (N, T, H, W) in [0, 1], for the predicted class
    heat = occlusion(model, clip, target=3)  # (N, T, H, W): drop of logit 3 when a voxel is hidden
    pixels = deconvolve(model, clip, "conv5b", channel=7)  # (N, 3, T, H, W)
    best = actmax(model, "conv5b:7").input  # (1, 3, T, H, W): the clip channel 7 likes best
    filter_redundancy(filters(model, "conv5b")).n_redundant  # filters that repeat others (cosine >= 0.54)
    corr, mi = dependence(layer_activations(model, clips, "conv5b", positions=16))  # (C, C) each
    temporal_sensitivity(model, clips, "conv5b")  # (C,): 0 where time does not matter to the unit
    direction_tuning(model, "conv5b").dsi  # (C,): direction selectivity on drifting gratings

- :mod:`~vidlens.interpret.maps`: ``feature_maps``, ``random_filter_maps``, ``filters``, ``filters_for_display``
- :mod:`~vidlens.interpret.gradients`: ``saliency``, ``grad_cam``, ``grad_cam_pp``
- :mod:`~vidlens.interpret.occlusion`: ``occlusion``
- :mod:`~vidlens.interpret.deconv`: ``deconvolve`` (and ``deconvnet_relus``, the ReLU rule it installs)
- :mod:`~vidlens.interpret.actmax`: ``actmax`` (-> ``ActMax``); objectives ``Objective``, ``Unit``, ``Term``,
  ``neuron``, ``channel``, ``layer_mean``, ``batch``, ``parse_objective``; regularisers ``local_energy``,
  ``total_variation``; parameterisations ``PixelParam``, ``FourierParam``; ``Transforms``
- :mod:`~vidlens.interpret.redundancy`: ``filter_redundancy`` (-> ``FilterRedundancy``), ``model_redundancy``
  (-> ``LayerRedundancy`` per convolution), ``cosine_distances``
- :mod:`~vidlens.interpret.dependence`: ``layer_activations``, ``activations_by_layer``, ``dependence``
  (correlation and mutual information), ``subsample_units``, ``nonlinear_pairs`` (-> ``UnitPair``)
- :mod:`~vidlens.interpret.units`: ``temporal_sensitivity``, ``temporal_responses`` (-> ``TemporalResponses``),
  ``direction_tuning``, ``direction_tuning_by_layer`` (-> ``DirectionTuning``), stimuli ``drifting_grating``
  and ``moving_dots``, ``unit_layers``
"""

from vidlens.interpret.actmax import (
    ActMax,
    FourierParam,
    Objective,
    PixelParam,
    Term,
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
from vidlens.interpret.core import Target
from vidlens.interpret.deconv import deconvnet_relus, deconvolve
from vidlens.interpret.dependence import (
    UnitPair,
    activations_by_layer,
    dependence,
    layer_activations,
    nonlinear_pairs,
    subsample_units,
)
from vidlens.interpret.gradients import grad_cam, grad_cam_pp, saliency
from vidlens.interpret.maps import (
    feature_maps,
    filters,
    filters_for_display,
    random_filter_maps,
    random_filters,
)
from vidlens.interpret.occlusion import occlusion
from vidlens.interpret.redundancy import (
    FilterRedundancy,
    LayerRedundancy,
    cosine_distances,
    filter_redundancy,
    model_redundancy,
)
from vidlens.interpret.units import (
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

__all__ = [
    "ActMax",
    "DirectionTuning",
    "FilterRedundancy",
    "FourierParam",
    "LayerRedundancy",
    "Objective",
    "PixelParam",
    "Target",
    "TemporalResponses",
    "Term",
    "Transforms",
    "Unit",
    "UnitPair",
    "activations_by_layer",
    "actmax",
    "batch",
    "channel",
    "cosine_distances",
    "deconvnet_relus",
    "deconvolve",
    "dependence",
    "direction_tuning",
    "direction_tuning_by_layer",
    "drifting_grating",
    "feature_maps",
    "filter_redundancy",
    "filters",
    "filters_for_display",
    "grad_cam",
    "grad_cam_pp",
    "layer_activations",
    "layer_mean",
    "local_energy",
    "model_redundancy",
    "moving_dots",
    "neuron",
    "nonlinear_pairs",
    "occlusion",
    "parse_objective",
    "random_filter_maps",
    "random_filters",
    "saliency",
    "subsample_units",
    "temporal_responses",
    "temporal_sensitivity",
    "total_variation",
    "unit_layers",
]
