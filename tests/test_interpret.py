"""vidlens.interpret against reference implementations: Captum (saliency, Grad-CAM, deconvolution,
occlusion), closed forms written out here (Grad-CAM++, time-resolved Grad-CAM) and a voxel loop (random
filter maps); plus targets, hook hygiene and a registry sweep (every model rectifies with nn.ReLU modules,
so deconvolution sees every ReLU).

Models are C3D's family (c3d_depth3, width 4) and two fusion nets (slow fusion, early fusion with batch
norm), all in eval mode on 16x112x112 clips; hook and target tests use a tiny net of our own.
"""

from __future__ import annotations

import inspect
from collections import OrderedDict

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from vidlens.interpret import (
    deconvolve,
    feature_maps,
    filters,
    filters_for_display,
    grad_cam,
    grad_cam_pp,
    occlusion,
    random_filter_maps,
    random_filters,
    saliency,
)
from vidlens.interpret.core import minmax_per_sample
from vidlens.models import UnknownNameError, create_model, extract, get_layer, list_layers, list_models
from vidlens.models.registry import model_entrypoint

from conftest import model_state

NUM_CLASSES = 5
# name -> (registry name, builder kwargs, CAM layer (T' > 1 where the net has it), deconvolution layer)
MODELS = {
    "c3d_depth3": ("c3d_depth3", {"width": 4}, "conv4", "conv5"),
    "slow_fusion": ("slow_fusion", {"width": 8}, "conv2", "conv5"),
    "early_fusion_bn": ("early_fusion", {"width": 8, "norm": "batch"}, "conv5", "conv5"),
}
# Occlusion is the costly comparison (a forward pass per window): a window that leaves a cut one at the
# right and bottom borders (starts 0, 40, 80 on 112 pixels), 27 positions.
WINDOW, STRIDE = (6, 48, 48), (5, 40, 40)


@pytest.fixture(scope="module")
def built() -> dict[str, tuple[nn.Module, torch.Tensor]]:
    """Each model of MODELS (eval mode, batch norm statistics moved off their defaults) and a batch of two
    clips; built once per module, on first use."""
    cache: dict[str, tuple[nn.Module, torch.Tensor]] = {}

    def get(key: str) -> tuple[nn.Module, torch.Tensor]:
        if key not in cache:
            name, kwargs, _, _ = MODELS[key]
            torch.manual_seed(0)
            model = create_model(name, num_classes=NUM_CLASSES, dropout=0.0, **kwargs)
            for m in model.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.running_mean.uniform_(-0.1, 0.1)
                    m.running_var.uniform_(0.5, 2.0)
            cache[key] = (model.eval(), torch.randn(2, 3, 16, 112, 112))
        return cache[key]

    return get  # type: ignore[return-value]


@pytest.fixture
def captum_attr():
    return pytest.importorskip("captum.attr")


def assert_agrees(actual: torch.Tensor, expected: torch.Tensor) -> None:
    """Relative error below 1e-4 (float32), with an absolute floor of 1e-6 of the reference's scale."""
    scale = expected.abs().max().item()
    assert scale > 0, "the reference is all zeros: the comparison would prove nothing"
    torch.testing.assert_close(actual, expected, rtol=1e-4, atol=1e-6 * scale)


def predicted(model: nn.Module, clip: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(clip).argmax(dim=1)


# --- against Captum -----------------------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:Input Tensor 0 did not already require gradients")
@pytest.mark.parametrize("key", MODELS)
def test_saliency_matches_captum(built, captum_attr, key):
    model, clip = built(key)
    ours = saliency(model, clip)  # the predicted classes
    reference = captum_attr.Saliency(model).attribute(clip, target=predicted(model, clip), abs=True)
    assert ours.shape == clip.shape
    assert_agrees(ours, reference)


@pytest.mark.parametrize("key", MODELS)
def test_raw_grad_cam_matches_captum_layer_grad_cam(built, captum_attr, key):
    model, clip = built(key)
    layer = MODELS[key][2]
    ours = grad_cam(model, clip, layer, target=[1, 3], upsample=False, normalize=False)  # (N, T', H', W')
    reference = captum_attr.LayerGradCam(model, get_layer(model, layer)).attribute(
        clip, target=[1, 3], relu_attributions=True
    )  # (N, 1, T', H', W')
    assert_agrees(ours, reference[:, 0])


@pytest.mark.filterwarnings("ignore:Setting backward hooks on ReLU activations")
@pytest.mark.filterwarnings("ignore:Input Tensor 0 did not already require gradients")
@pytest.mark.parametrize("key", MODELS)
def test_deconvolve_matches_captum_neuron_deconvolution(built, captum_attr, key):
    """Our projection keeps the activation's value; Captum's starts from a gradient of 1 at the unit. The
    deconvnet is positively homogeneous, so ours = activation x Captum's, sample by sample."""
    model, clip = built(key)
    layer = MODELS[key][3]
    acts = feature_maps(model, clip, layer)  # (N, C, T', H', W')
    channel = int(acts[0].flatten(1).amax(dim=1).argmax())  # the channel with sample 0's strongest unit
    position = tuple(int(i) for i in torch.nonzero(acts[0, channel] == acts[0, channel].max())[0])
    ours = deconvolve(model, clip, layer, channel=channel, position=position)
    reference = captum_attr.NeuronDeconvolution(model, get_layer(model, layer)).attribute(
        clip, neuron_selector=(channel, *position)
    )
    value = acts[(slice(None), channel, *position)]  # (N,)
    assert ours.shape == clip.shape and value[0] > 0
    assert_agrees(ours, value.view(-1, 1, 1, 1, 1) * reference)


@pytest.mark.parametrize("key", ["c3d_depth3", "slow_fusion"])
def test_occlusion_matches_captum(built, captum_attr, key):
    """Captum occludes (3, *window) blocks, all channels at once, and gives every input element the mean
    drop over the windows covering it; the 3 channels of a voxel share it, so its attribution averaged
    over channels (equally: any one channel) is our (N, T, H, W) map."""
    model, clip = built(key)
    ours = occlusion(model, clip, target=2, window=WINDOW, stride=STRIDE, baseline=0.5, batch_size=9)
    reference = captum_attr.Occlusion(model).attribute(
        clip,
        target=2,
        sliding_window_shapes=(3, *WINDOW),
        strides=(3, *STRIDE),
        baselines=0.5,
        perturbations_per_eval=9,
    )  # (N, 3, T, H, W)
    torch.testing.assert_close(reference[:, 0], reference[:, 2])
    assert ours.shape == (2, 16, 112, 112)
    assert_agrees(ours, reference.mean(dim=1))


# --- against closed forms written out here -----------------------------------------------------------------


def layer_and_gradients(model: nn.Module, clip: torch.Tensor, layer: str, target: torch.Tensor):
    """The layer's output and d logit[target] / d output, taken with a plain forward hook (float64)."""
    seen = {}
    handle = get_layer(model, layer).register_forward_hook(lambda m, a, out: seen.update(out=out))
    try:
        logits = model(clip)
    finally:
        handle.remove()
    (grads,) = torch.autograd.grad(logits[torch.arange(len(clip)), target].sum(), seen["out"])
    return seen["out"].detach().double(), grads.double()


@pytest.mark.parametrize("time_resolved", [False, True])
@pytest.mark.parametrize("key", MODELS)
def test_grad_cam_pp_closed_form(built, key, time_resolved):
    model, clip = built(key)
    layer = MODELS[key][2]
    target = predicted(model, clip)
    acts, grads = layer_and_gradients(model, clip, layer, target)
    n, c, t = acts.shape[:3]
    expected = torch.zeros(n, *acts.shape[2:], dtype=torch.float64)
    # Chattopadhyay et al. 2018, eq. 19, one (sample, channel[, time step]) at a time.
    steps = [slice(s, s + 1) for s in range(t)] if time_resolved else [slice(None)]
    for i in range(n):
        for k in range(c):
            for step in steps:
                a, g = acts[i, k, step], grads[i, k, step]
                alpha = g**2 / (2 * g**2 + a.sum() * g**3)
                alpha[g == 0] = 0.0
                expected[i, step] += (torch.clamp(g, min=0) * alpha).sum() * a
    expected = expected.clamp(min=0).float()
    ours = grad_cam_pp(model, clip, layer, time_resolved=time_resolved, upsample=False, normalize=False)
    assert_agrees(ours, expected)


@pytest.mark.parametrize("key", MODELS)
def test_time_resolved_grad_cam_closed_form(built, key):
    model, clip = built(key)
    layer = MODELS[key][2]
    target = torch.tensor([0, 4])
    acts, grads = layer_and_gradients(model, clip, layer, target)
    n, c, t = acts.shape[:3]
    expected = torch.zeros(n, *acts.shape[2:], dtype=torch.float64)
    for i in range(n):
        for k in range(c):
            for s in range(t):  # one weight per channel and time step: gradients averaged over (y, x)
                expected[i, s] += grads[i, k, s].mean() * acts[i, k, s]
    expected = expected.clamp(min=0).float()
    ours = grad_cam(model, clip, layer, target=[0, 4], time_resolved=True, upsample=False, normalize=False)
    assert_agrees(ours, expected)


def test_grad_cam_upsamples_trilinearly_and_normalises_per_sample(built):
    model, clip = built("c3d_depth3")
    raw = grad_cam(model, clip, "conv4", upsample=False, normalize=False)  # (2, 4, 14, 14)
    cam = grad_cam(model, clip, "conv4")
    expected = minmax_per_sample(F.interpolate(raw[:, None], size=(16, 112, 112), mode="trilinear")[:, 0])
    assert cam.shape == (2, 16, 112, 112)
    torch.testing.assert_close(cam, expected)
    assert cam.amin() == 0 and torch.all(cam.flatten(1).amax(dim=1) == 1)


# --- a tiny net of our own: targets, hooks, modes, errors ----------------------------------------------------


class TinyNet(nn.Module):
    """conv1 -> relu1 -> pool1 -> conv2 -> relu2 -> mean -> fc, for (N, 3, 4, 8, 8) clips; ``fail`` makes the
    forward pass raise after pool1 (before conv2), as a model that breaks mid-way."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv3d(3, 4, 3, padding=1)
        self.relu1 = nn.ReLU(inplace=True)  # restored after deconvolve makes it out-of-place
        self.pool1 = nn.MaxPool3d(2)
        self.conv2 = nn.Conv3d(4, 6, 3, padding=1)
        self.relu2 = nn.ReLU()
        self.fc = nn.Linear(6, NUM_CLASSES)
        self.fail = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool1(self.relu1(self.conv1(x)))  # (N, 4, 2, 4, 4)
        if self.fail:
            raise RuntimeError("broken model")
        x = self.relu2(self.conv2(x))  # (N, 6, 2, 4, 4)
        return self.fc(x.mean(dim=(2, 3, 4)))  # (N, 5)


@pytest.fixture
def tiny() -> tuple[TinyNet, torch.Tensor]:
    torch.manual_seed(0)
    return TinyNet().eval(), torch.randn(3, 3, 4, 8, 8)


METHODS = {
    "feature_maps": lambda m, x: feature_maps(m, x, "relu2"),
    "saliency": lambda m, x: saliency(m, x, target=1),
    "grad_cam": lambda m, x: grad_cam(m, x, "relu2"),
    "grad_cam_pp": lambda m, x: grad_cam_pp(m, x, "relu2", time_resolved=True),
    "deconvolve": lambda m, x: deconvolve(m, x, "relu2", top_k=2),
    "occlusion": lambda m, x: occlusion(m, x, window=(2, 4, 4), stride=(1, 2, 2), batch_size=5),
}


@pytest.mark.parametrize("method", METHODS)
def test_hooks_flags_and_modes_are_restored(tiny, method):
    model, clip = tiny
    model.conv1.weight.requires_grad_(False)  # a partly frozen model stays partly frozen
    model.fc.train()  # a mixed mode stays mixed
    before = model_state(model)
    assert before["hooks"] == [] and before["inplace"]["relu1"] is True
    out = METHODS[method](model, clip)
    assert torch.isfinite(out).all()
    assert model_state(model) == before


@pytest.mark.parametrize("method", METHODS)
def test_hooks_flags_and_modes_are_restored_when_the_model_raises(tiny, method):
    model, clip = tiny
    model.conv2.bias.requires_grad_(False)
    before = model_state(model)
    model.fail = True
    with pytest.raises(RuntimeError, match="broken model"):
        METHODS[method](model, clip)
    assert model_state(model) == before


def test_a_model_in_training_mode_is_warned_about_and_left_in_it(tiny):
    model, clip = tiny
    model.train()
    with pytest.warns(UserWarning, match=r"training mode.*model\.eval\(\)"):
        saliency(model, clip)
    assert all(m.training for m in model.modules())


def test_target_none_is_the_predicted_class_and_lists_go_sample_by_sample(tiny):
    model, clip = tiny
    pred = predicted(model, clip)
    torch.testing.assert_close(saliency(model, clip), saliency(model, clip, target=pred.tolist()))
    torch.testing.assert_close(grad_cam(model, clip, "relu2"), grad_cam(model, clip, "relu2", target=pred))
    targets = [2, 0, 4]
    together = grad_cam(model, clip, "relu2", target=targets, normalize=False)
    for i, t in enumerate(targets):
        alone = grad_cam(model, clip[i : i + 1], "relu2", target=t, normalize=False)
        torch.testing.assert_close(together[i : i + 1], alone)
    one = saliency(model, clip, target=3)
    torch.testing.assert_close(one, saliency(model, clip, target=[3, 3, 3]))
    torch.testing.assert_close(one, saliency(model, clip, target=torch.tensor(3)))
    with pytest.raises(IndexError, match="5 classes"):
        saliency(model, clip, target=5)
    with pytest.raises(ValueError, match="one per sample"):
        saliency(model, clip, target=[1, 2])


def test_unknown_layers_are_refused_with_the_valid_names(built, tiny):
    model, clip = built("c3d_depth3")
    for call in (
        lambda: feature_maps(model, clip, "conv5b"),
        lambda: grad_cam(model, clip, "conv5b"),
        lambda: grad_cam_pp(model, clip, "conv5b"),
        lambda: deconvolve(model, clip, "conv5b"),
        lambda: filters(model, "conv5b"),
    ):
        with pytest.raises(UnknownNameError, match=r"(?s)'conv5b'.*did you mean.*choose from: conv1, pool1"):
            call()
    small, x = tiny  # a model without a spec lists its module paths
    with pytest.raises(UnknownNameError, match="choose from: conv1, relu1, pool1, conv2, relu2, fc"):
        grad_cam(small, x, "layer4")


def test_cams_refuse_layers_without_feature_maps(tiny):
    model, clip = tiny
    with pytest.raises(ValueError, match=r"feature maps \(N, C, T', H', W'\); 'fc' gives \(3, 5\)"):
        grad_cam(model, clip, "fc")
    with pytest.raises(ValueError, match="extract"):
        feature_maps(model, clip, "fc")


def test_a_constant_cam_normalises_to_zeros_not_nan(tiny):
    model, clip = tiny
    with torch.no_grad():
        model.conv2.weight.zero_()
        model.conv2.bias.fill_(-1.0)  # relu2 is 0 everywhere
    for cam in (grad_cam(model, clip, "relu2"), grad_cam_pp(model, clip, "relu2")):
        assert cam.shape == (3, 4, 8, 8) and torch.equal(cam, torch.zeros_like(cam))
    assert torch.equal(minmax_per_sample(torch.full((2, 3), 7.0)), torch.zeros(2, 3))


def test_clips_are_checked(tiny):
    model, clip = tiny
    with pytest.raises(ValueError, match="unsqueeze"):
        saliency(model, clip[0])
    with pytest.raises(TypeError, match="normalize"):
        grad_cam(model, (clip * 100).to(torch.uint8), "relu2")


# --- feature maps, random filters, learned filters ---------------------------------------------------------


def test_feature_maps_are_the_taps(built):
    model, clip = built("c3d_depth3")
    maps = feature_maps(model, clip, "conv3")
    assert maps.shape == (2, 16, 8, 28, 28) and not maps.requires_grad
    torch.testing.assert_close(maps, extract(model, clip, "conv3")["conv3"])


def test_random_filter_maps_equal_a_voxel_loop():
    clip = torch.randn(2, 3, 4, 5, 6, generator=torch.Generator().manual_seed(1))
    kernel = (2, 3, 2)
    maps = random_filter_maps(clip, 3, kernel, seed=7)
    weights = random_filters(3, kernel, seed=7)  # (3, 3, 2, 3, 2)
    expected = torch.zeros(2, 3, 3, 3, 5)
    for n in range(2):
        for f in range(3):
            for t in range(3):
                for y in range(3):
                    for x in range(5):
                        patch = clip[n, :, t : t + 2, y : y + 3, x : x + 2]
                        expected[n, f, t, y, x] = (patch * weights[f]).sum()
    torch.testing.assert_close(maps, expected)
    torch.testing.assert_close(random_filter_maps(clip, 3, kernel, seed=7), maps)  # same seed, same filters
    assert not torch.allclose(random_filter_maps(clip, 3, kernel, seed=8), maps)
    with pytest.raises(ValueError, match="does not fit"):
        random_filter_maps(clip, 3, (5, 3, 3))


def test_filters_read_the_convolution_of_a_tap(built):
    model, _ = built("c3d_depth3")
    kernels = filters(model)  # "conv1": the tap is relu1's output, the weights are conv1's
    assert torch.equal(kernels, model.conv1.weight) and kernels.shape == (4, 3, 3, 3, 3)
    assert kernels.data_ptr() != model.conv1.weight.data_ptr() and not kernels.requires_grad
    with pytest.raises(ValueError, match=r"not a convolution.*choose from conv1, conv2"):
        filters(model, "pool1")
    with torch.device("meta"):
        frame_net = create_model("single_frame", width=8)
    assert filters(frame_net, "conv2").shape == (21, 8, 1, 5, 5)  # a per-frame 2D conv: t = 1


def test_filters_for_display():
    kernels = torch.randn(4, 3, 3, 5, 5)
    rgb = filters_for_display(kernels)
    assert rgb.shape == (4, 3, 3, 5, 5)
    assert torch.all(rgb.flatten(1).amin(dim=1) == 0) and torch.all(rgb.flatten(1).amax(dim=1) == 1)
    torch.testing.assert_close(filters_for_display(kernels.flip(1), channel_order="BGR"), rgb)
    deep = filters_for_display(torch.randn(6, 8, 3, 3, 3))  # (C_out, t, h, w): norms over input channels
    assert deep.shape == (6, 3, 3, 3) and deep.min() == 0 and deep.max() == 1


# --- deconvolution and occlusion details -------------------------------------------------------------------


def test_deconvolve_picks_the_strongest_activation_and_top_k(built):
    model, clip = built("c3d_depth3")
    acts = feature_maps(model, clip, "pool3")  # (2, 16, 4, 14, 14)
    default = deconvolve(model, clip, "pool3")
    top = deconvolve(model, clip, "pool3", top_k=2)
    assert top.shape == (2, 2, 3, 16, 112, 112)
    torch.testing.assert_close(top[:, 0], default)
    for i in range(2):
        c, t, y, x = (int(v) for v in torch.nonzero(acts[i] == acts[i].max())[0])
        alone = deconvolve(model, clip[i : i + 1], "pool3", channel=c, position=(t, y, x))
        torch.testing.assert_close(default[i : i + 1], alone)
    with pytest.raises(IndexError, match="16 channels"):
        deconvolve(model, clip, "pool3", channel=16)
    with pytest.raises(IndexError, match="give 3 indices"):
        deconvolve(model, clip, "pool3", position=(0, 0))
    with pytest.raises(ValueError, match="leave 1 activation"):
        deconvolve(model, clip, "pool3", channel=0, position=(0, 0, 0), top_k=2)


def test_deconvolve_needs_relu_modules():
    net = nn.Sequential(OrderedDict(conv=nn.Conv3d(3, 2, 3), flat=nn.Flatten())).eval()
    with pytest.raises(ValueError, match=r"no nn\.ReLU modules.*nn\.ReLU\(\)"):
        deconvolve(net, torch.randn(1, 3, 3, 3, 3), "conv")


def test_occlusion_windows_and_errors(tiny):
    model, clip = tiny
    whole = occlusion(model, clip, target=1, window=(9, 9, 9), stride=(1, 1, 1))  # cut to the clip: 1 window
    with torch.no_grad():
        drop = model(clip)[:, 1] - model(torch.zeros_like(clip))[:, 1]  # (N,)
    torch.testing.assert_close(whole, drop.view(3, 1, 1, 1).expand(3, 4, 8, 8))
    per_channel = occlusion(model, clip, window=(2, 4, 4), stride=(2, 4, 4), baseline=torch.ones(3, 1, 1, 1))
    assert per_channel.shape == (3, 4, 8, 8)
    # Windows over voxels that already equal the baseline change nothing: their drop is exactly 0.
    half = clip.clone()
    half[:, :, :2] = 0  # frames 0-1 are the baseline already
    drops = occlusion(model, half, target=1, window=(2, 8, 8), stride=(2, 8, 8), batch_size=3)
    assert (drops[:, :2] == 0).all() and (drops[:, 2:] != 0).all()
    with pytest.raises(ValueError, match="stride at most the window"):
        occlusion(model, clip, window=(2, 2, 2), stride=(1, 3, 1))
    with pytest.raises(ValueError, match="does not broadcast"):
        occlusion(model, clip, baseline=torch.zeros(2, 1, 1, 1))


# --- registry sweep: ReLUs are modules, deconvolution works on every model -------------------------------


def small_model(name: str, device: str | None = None) -> nn.Module:
    with torch.device("meta"):
        model_class = type(model_entrypoint(name)())
    kwargs = {"width": 8} if "width" in inspect.signature(model_class.__init__).parameters else {}
    with torch.device(device or "cpu"):
        return create_model(name, num_classes=NUM_CLASSES, **kwargs).eval()


def sweep_clip(model: nn.Module, device: str | None = None) -> torch.Tensor:
    shape = (1, 3, 8, 32, 32) if model.spec.size_agnostic else (1, *model.spec.input_shape)
    return torch.randn(shape, device=device)


class ReluCalls(TorchFunctionMode):
    """Counts the rectifications a forward pass makes through torch functions (F.relu, torch.relu, ...)."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if getattr(func, "__name__", "") in ("relu", "relu_"):
            self.count += 1
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("name", list_models())
def test_every_relu_of_every_model_is_an_nn_relu_module(name):
    """Each rectification of the forward pass is an nn.ReLU module's call, so that deconvolution (which
    hooks nn.ReLU modules) sees them all: no F.relu / torch.relu in a forward() (on the meta device)."""
    model = small_model(name, device="meta")
    module_calls = 0

    def count(module, args, output):
        nonlocal module_calls
        module_calls += 1

    relus = [m for m in model.modules() if isinstance(m, nn.ReLU)]
    handles = [m.register_forward_hook(count) for m in relus]
    try:
        with ReluCalls() as functional:
            model(sweep_clip(model, device="meta"))
    finally:
        for handle in handles:
            handle.remove()
    assert relus and module_calls >= 1
    assert functional.count == module_calls, f"{name} rectifies outside nn.ReLU modules"


@pytest.mark.parametrize("name", list_models())
def test_deconvolve_works_on_every_model(name):
    torch.manual_seed(0)
    model = small_model(name)
    clip = sweep_clip(model)
    layer = list_layers(model)[1]  # the second tap: behind a ReLU and (except for ResNets) a max pool
    pixels = deconvolve(model, clip, layer)
    assert pixels.shape == clip.shape and torch.isfinite(pixels).all() and pixels.abs().amax() > 0
    assert model_state(model)["hooks"] == []
