"""vidlens.runs: device helpers shared by the training and evaluation loops."""

from __future__ import annotations

import torch

from vidlens.models import create_model
from vidlens.runs import channels_last_3d


def test_channels_last_3d_converts_conv3d_weights_of_mixed_models():
    """Slow fusion mixes Conv3d and 2D convs: model.to(channels_last_3d) fails on it, this must not."""
    model = create_model("slow_fusion", num_classes=3, width=8)
    assert channels_last_3d(model) is True
    assert model.conv1.weight.is_contiguous(memory_format=torch.channels_last_3d)
    x = torch.randn(1, 3, 16, 112, 112).contiguous(memory_format=torch.channels_last_3d)
    assert model.eval()(x).shape == (1, 3)
    assert channels_last_3d(create_model("gru_rcn", num_classes=3, width=8)) is False
