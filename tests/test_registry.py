"""Sweep the registry: every model builds, runs forward and backward, and keeps the model contract
(vidlens.models.contract: named taps, a declared classifier, input shape, paper, published preset; a preset
and class names on every instance) that the rest of vidlens relies on."""

from __future__ import annotations

import inspect

import pytest
import torch

from vidlens.models import (
    ModelSpec,
    VideoModel,
    create_model,
    describe_models,
    extract,
    get_classifier,
    get_layer,
    list_layers,
    list_models,
    model_spec,
)
from vidlens.models.registry import model_entrypoint
from vidlens.presets import PRESETS

NUM_CLASSES = 7
# Models whose layers adapt to any clip size are swept on smaller clips to keep the suite fast.
SIZE_AGNOSTIC_INPUT = (3, 8, 32, 32)


def _small(name: str) -> tuple[torch.nn.Module, tuple[int, ...]]:
    """The model with few classes (and a narrow width where it has one), and a batch of clips' shape."""
    kwargs: dict = {"num_classes": NUM_CLASSES}
    with torch.device("meta"):
        model_class = type(model_entrypoint(name)())
    if "width" in inspect.signature(model_class.__init__).parameters:
        kwargs["width"] = 8
    model = create_model(name, **kwargs)
    if model.spec.size_agnostic:
        return model, (2, *SIZE_AGNOSTIC_INPUT)
    return model, (1, *model.spec.input_shape)  # full-size clips: one is enough


def test_registry_is_populated():
    names = list_models()
    assert "c3d" in names and names == sorted(names)


@pytest.mark.parametrize("name", list_models())
def test_model_conventions(name):
    model, _ = _small(name)
    spec = model_spec(model)
    assert isinstance(model, VideoModel) and isinstance(spec, ModelSpec) and spec is model.spec
    assert model.num_classes == NUM_CLASSES
    assert len(spec.input_shape) == 4 and spec.input_shape[0] == 3
    assert isinstance(spec.paper, str) and len(spec.paper) > 20
    assert spec.published_preset in PRESETS
    # A freshly built model carries the plain recipe (or the one its builder is for) and no class names.
    assert model.preset is PRESETS["sports1m" if name == "c3d_sports1m" else "plain"]
    assert model.class_names is None
    assert get_classifier(model).out_features == NUM_CLASSES
    assert list(spec.feature_layers) == list_layers(model)
    layers = list_layers(model)
    assert layers, f"{name} declares no feature layers"
    for layer in layers:
        get_layer(model, layer)
    relus = [m for m in model.modules() if isinstance(m, torch.nn.ReLU)]
    assert relus and not any(m.inplace for m in relus), "ReLUs must be non-inplace nn.ReLU modules"


@pytest.mark.parametrize("name", list_models())
def test_forward_backward_and_taps(name):
    torch.manual_seed(0)
    model, shape = _small(name)
    x = torch.randn(*shape)
    logits = model.train()(x)
    assert logits.shape == (len(x), NUM_CLASSES) and torch.isfinite(logits).all()
    logits.logsumexp(dim=1).sum().backward()
    first = next(p for p in model.parameters() if p.ndim > 1)
    assert first.grad is not None and first.grad.abs().sum() > 0, "no gradient reached the first layer"
    model.eval()
    with torch.inference_mode():
        a, b = model(x), model(x)
    assert torch.equal(a, b), "eval mode must be deterministic"
    feats = extract(model, x, list_layers(model))
    assert all(t.shape[0] == len(x) for t in feats.values())


def test_describe_models_covers_the_registry():
    infos = describe_models()
    assert [i.name for i in infos] == list_models()
    for info in infos:
        assert info.params > 0 and info.macs > 0 and info.layers and info.paper


def test_a_users_own_model_joins_through_a_partial_spec():
    """A model outside the registry declares only what it takes part in: named taps here, no classifier."""

    class Net(torch.nn.Module):
        spec = ModelSpec(feature_layers={"features": "body.1"})

        def __init__(self) -> None:
            super().__init__()
            self.body = torch.nn.Sequential(torch.nn.Conv3d(3, 4, 3, padding=1), torch.nn.ReLU())

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.body(x).mean(dim=(2, 3, 4))

    net = Net()
    assert list_layers(net) == ["features"] and get_layer(net, "features") is net.body[1]
    assert extract(net, torch.randn(1, 3, 4, 8, 8), "features")["features"].shape == (1, 4, 4, 8, 8)
    with pytest.raises(AttributeError, match=r"ModelSpec\(classifier="):
        get_classifier(net)
    with pytest.raises(ValueError, match="not ''"):
        ModelSpec(classifier="")


def test_post_relu_taps_reads_convs_and_fcs_after_their_relu():
    from vidlens.models.contract import post_relu_taps

    assert post_relu_taps("conv1 pool1 conv3a fc6 fc8", classifier="fc8") == {
        "conv1": "relu1",
        "pool1": "pool1",
        "conv3a": "relu3a",
        "fc6": "relu6",
        "fc8": "fc8",  # the classifier: raw logits
    }
    assert post_relu_taps(["conv2", "gru3", "fc"], classifier="fc") == {
        "conv2": "relu2",
        "gru3": "gru3",
        "fc": "fc",
    }
