"""Models: the registry, C3D, named feature taps, weight loading and complexity counts.

    from vidlens.models import extract, load_model
    model = load_model("c3d", weights="c3d.pickle")  # eval mode; model.preset: sports1m
    clips = model.preset.normalize(frames)         # uint8 (N, 16, 112, 112, 3) -> (N, 3, 16, 112, 112)
    feats = extract(model, clips, "fc6")["fc6"]  # (N, 4096)

Importing this package registers every built-in model.
"""

from vidlens.models.c3d import C3D
from vidlens.models.c3d_depth import C3DDepth
from vidlens.models.complexity import ModelInfo, count_macs, count_parameters, describe_model, describe_models
from vidlens.models.contract import ModelSpec, VideoModel, model_spec
from vidlens.models.finetune import PretrainedReport, get_classifier, load_pretrained, reset_classifier
from vidlens.models.fusion import FusionNet
from vidlens.models.loading import load_model
from vidlens.models.recurrent import GRURCN, ConvGRU, ConvGRUCell
from vidlens.models.registry import UnknownNameError, create_model, list_models, register_model
from vidlens.models.resnet3d import VideoResNet
from vidlens.models.taps import FeatureTaps, extract, get_layer, list_layers
from vidlens.models.weights import (
    UnsafeCheckpointError,
    WeightsMismatchError,
    WeightsRecord,
    load_weights,
    read_weights,
    save_weights,
)

__all__ = [
    "C3D",
    "GRURCN",
    "C3DDepth",
    "ConvGRU",
    "ConvGRUCell",
    "FeatureTaps",
    "FusionNet",
    "ModelInfo",
    "ModelSpec",
    "PretrainedReport",
    "UnknownNameError",
    "UnsafeCheckpointError",
    "VideoModel",
    "VideoResNet",
    "WeightsMismatchError",
    "WeightsRecord",
    "count_macs",
    "count_parameters",
    "create_model",
    "describe_model",
    "describe_models",
    "extract",
    "get_classifier",
    "get_layer",
    "list_layers",
    "list_models",
    "load_model",
    "load_pretrained",
    "load_weights",
    "model_spec",
    "read_weights",
    "register_model",
    "reset_classifier",
    "save_weights",
]
