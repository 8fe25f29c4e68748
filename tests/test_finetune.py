"""Fine-tuning: keep the features of a checkpoint, renew the classifier for a new label set."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from vidlens.models import ModelSpec, create_model, save_weights
from vidlens.models.finetune import get_classifier, load_pretrained, reset_classifier
from vidlens.models.weights import WeightsMismatchError


class Tiny(nn.Module):
    # A user's own model takes part in fine-tuning by naming its classifier in a spec (the model contract).
    spec = ModelSpec(classifier="head.fc")

    def __init__(self, num_classes: int = 5, hidden: int = 8) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.conv = nn.Conv3d(3, hidden, 3, padding=1)
        self.bn = nn.BatchNorm3d(hidden)
        self.head = nn.Sequential()
        self.head.add_module("fc", nn.Linear(hidden, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.bn(self.conv(x)).mean(dim=(2, 3, 4)))


def _trained(num_classes: int = 5) -> Tiny:
    torch.manual_seed(1)
    model = Tiny(num_classes)
    for p in model.parameters():
        nn.init.normal_(p)
    model.bn.running_mean.fill_(0.3)
    return model


def test_reset_classifier_replaces_the_final_layer():
    model = Tiny(5)
    reset_classifier(model, 11)
    fc = get_classifier(model)
    assert (fc.in_features, fc.out_features) == (8, 11) and model.num_classes == 11
    assert fc.bias.abs().max().item() == 0 and fc.weight.std().item() < 0.05
    assert model(torch.randn(2, 3, 4, 8, 8)).shape == (2, 11)
    with pytest.raises(ValueError):
        reset_classifier(model, 0)
    with pytest.raises(AttributeError, match=r"spec = vidlens.models.ModelSpec\(classifier="):
        reset_classifier(nn.Linear(2, 2), 3)


def test_new_number_of_classes_keeps_features_and_renews_classifier(tmp_path):
    source = _trained(5)
    path = save_weights(source, tmp_path / "pretrained.pt")
    model = Tiny(num_classes=3)
    report = load_pretrained(model, path)
    assert report.reinitialised == ["head.fc.bias", "head.fc.weight"]
    assert torch.equal(model.conv.weight, source.conv.weight)
    assert torch.equal(model.bn.running_mean, source.bn.running_mean)
    assert get_classifier(model).out_features == 3 and get_classifier(model).bias.abs().max().item() == 0
    assert "re-initialised" in str(report)


def test_same_number_of_classes_auto_loads_reset_renews(tmp_path):
    source = _trained(5)
    path = save_weights(source, tmp_path / "pretrained.pt")
    kept = Tiny(5)
    assert load_pretrained(kept, path).reinitialised == []
    assert torch.equal(kept.head.fc.weight, source.head.fc.weight)
    renewed = Tiny(5)
    load_pretrained(renewed, path, classifier="reset")
    assert not torch.equal(renewed.head.fc.weight, source.head.fc.weight)
    assert torch.equal(renewed.conv.weight, source.conv.weight)
    with pytest.raises(WeightsMismatchError, match="head.fc.weight"):
        load_pretrained(Tiny(3), path, classifier="keep")


def test_checkpoint_from_another_model_is_refused(tmp_path):
    path = save_weights(Tiny(5, hidden=16), tmp_path / "other.pt")
    with pytest.raises(WeightsMismatchError, match=r"(?s)conv.weight.*another architecture"):
        load_pretrained(Tiny(5, hidden=8), path)


def test_c3d_recipe_sports1m_to_ucf101(tmp_path):
    """Sports-1M C3D (487 classes) -> a 101-class C3D: conv and fc6/fc7 kept, fc8 renewed."""
    torch.manual_seed(0)
    path = save_weights(create_model("c3d", num_classes=487), tmp_path / "c3d_sports1m.pt")
    source = torch.load(path, weights_only=True)["state_dict"]  # next to it: the preset and class names
    model = create_model("c3d", num_classes=101)
    report = load_pretrained(model, path)
    assert report.reinitialised == ["fc8.bias", "fc8.weight"]
    assert torch.equal(model.conv5b.weight, source["conv5b.weight"])
    assert torch.equal(model.fc7.weight, source["fc7.weight"])
    assert model.fc8.out_features == 101 and model.num_classes == 101
