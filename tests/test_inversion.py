"""Feature inversion (Mahendran & Vedaldi 2015) with known answers: a full-rank linear layer gives x0 back, the
objective falls on a tiny conv net, each prior equals its formula on a hand-computed image, the same seed gives
the same image; plus layer listing and taps on demo and torchvision networks."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from s2s_core.errors import ConfigError
from s2s_core.lenses.inversion.invert import (
    InversionSettings,
    feature_distances,
    feature_errors,
    invert,
    is_logits_layer,
    layer_features,
    mean_pair_distance,
    schedule,
)
from s2s_core.lenses.inversion.priors import alpha_norm, alpha_weight, natural_sigma, tv_beta, tv_weight
from s2s_core.models.classifiers import IMAGENET_MEAN, IMAGENET_STD, Classifier, ClassifierSpec
from s2s_core.models.layers import LayerTap, list_layers, mid_layer, resolve_layers, sweep_layers

SIDE = 8


def _wrap(net: nn.Module, name: str, size: int = SIDE, classes: int = 10) -> Classifier:
    spec = ClassifierSpec(name=name, builder=lambda **_: net, input_size=size, mean=IMAGENET_MEAN, std=IMAGENET_STD,
                          num_classes=classes)
    return Classifier(spec, net).eval()


def _linear_classifier() -> Classifier:
    """Flatten -> a random orthogonal (hence full-rank) linear map of the 3*8*8 values."""
    n = 3 * SIDE * SIDE
    q, _ = torch.linalg.qr(torch.randn(n, n, generator=torch.Generator().manual_seed(1)))
    layer = nn.Linear(n, n)
    with torch.no_grad():
        layer.weight.copy_(q)
        layer.bias.uniform_(-0.1, 0.1)
    return _wrap(nn.Sequential(nn.Flatten(), layer), "linear", classes=n)


def _tiny_conv() -> Classifier:
    torch.manual_seed(3)
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(8, 16, 3, padding=1),
                        nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(64, 10))
    return _wrap(net, "tiny_conv", size=16)


def _image(size: int, seed: int = 0, batch: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(batch, 3, 4, 4, generator=g)
    return nn.functional.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False).clamp(0.02, 0.98)


# ------------------------------------------------------------------------------------------ priors
def test_alpha_norm_equals_the_formula_by_hand():
    u = torch.tensor([[[[1.0, -2.0], [0.0, 3.0]]]])  # (1, 1, 2, 2)
    assert alpha_norm(u, 6.0).item() == pytest.approx(1 + 64 + 0 + 729)
    assert alpha_norm(u, 2.0).item() == pytest.approx(1 + 4 + 0 + 9)
    assert alpha_norm(torch.stack([u[0], 2 * u[0]]), 2.0).tolist() == pytest.approx([14, 56])  # per image


def test_tv_beta_equals_the_formula_by_hand():
    # u = [[1, 2], [4, 8]]: forward differences dx = [[1, 0], [4, 0]], dy = [[3, 6], [0, 0]] (0 past the edge),
    # so dx² + dy² = [[10, 36], [16, 0]].
    u = torch.tensor([[[[1.0, 2.0], [4.0, 8.0]]]])
    assert tv_beta(u, 2.0).item() == pytest.approx(10 + 36 + 16)
    assert tv_beta(u, 1.0).item() == pytest.approx(math.sqrt(10) + 6 + 4)
    two_channels = torch.cat([u, -u], dim=1)  # per channel, summed
    assert tv_beta(two_channels, 2.0).item() == pytest.approx(2 * 62)


def test_tv_beta_below_two_has_finite_gradients_on_flat_images():
    u = torch.zeros(1, 3, 4, 4, requires_grad=True)
    (grad,) = torch.autograd.grad(tv_beta(u, 1.0).sum(), u)
    assert torch.isfinite(grad).all() and grad.abs().max() == 0


def test_weights_follow_the_paper():
    # σ from ImageNet's per-channel std: sqrt(H W Σ s_c²); 0.226 per value.
    assert natural_sigma(IMAGENET_STD, 64, 64) == pytest.approx(math.sqrt(64 * 64 * sum(s * s for s in IMAGENET_STD)))
    assert natural_sigma(IMAGENET_STD, 64, 64) / math.sqrt(3 * 64 * 64) == pytest.approx(0.226, abs=1e-3)
    # λ_α = σ^α / (H W B^α)
    assert alpha_weight(2.0, 1, 1, alpha=2.0, pixel_range=0.5) == pytest.approx(16.0)
    assert alpha_weight(25.0, 64, 64, alpha=6.0, pixel_range=0.5) == pytest.approx(25.0**6 / (4096 * 0.5**6))
    # λ_TV by depth: AlexNet's layers 1-6 -> 0.5, 7-12 -> 5, 13-20 -> 50
    assert [tv_weight(k / 20) for k in (1, 6, 7, 12, 13, 20)] == [0.5, 0.5, 5.0, 5.0, 50.0, 50.0]


def test_step_size_decays_in_three_stages():
    lrs = schedule(8, 1.0)
    assert lrs == [1.0, 1.0, 0.1, 0.1, 0.1, 0.1, 0.01, 0.01]
    assert schedule(1, 0.5) == [0.5]
    assert all(a >= b for a, b in zip(schedule(200, 0.004), schedule(200, 0.004)[1:], strict=False))


# ------------------------------------------------------------------------------------------ method
def test_full_rank_linear_layer_recovers_x0():
    clf = _linear_classifier()
    x0 = _image(SIDE)
    settings = InversionSettings(steps=300, lr=1.0, lambda_alpha=0.0, lambda_tv=0.0)
    result = invert(clf, x0, "1", settings)
    assert (result.images - x0).abs().max().item() < 1e-3
    assert result.errors["1"].item() < 1e-3
    assert result.objective[0, 0] > 100 * result.objective[-1, 0]


def test_objective_decreases_on_a_tiny_conv_net():
    clf = _tiny_conv()
    x0 = _image(16, batch=2)
    steps = 120
    result = invert(clf, x0, "3", InversionSettings(steps=steps, lr=0.02))
    means = result.objective.mean(dim=1)
    windows = means.view(12, 10).mean(dim=1)  # the mean over every 10 steps
    assert torch.all(windows[1:] <= windows[:-1] + 1e-6), windows
    assert windows[-1] < 0.2 * windows[0]
    assert result.images.shape == x0.shape and result.images.min() >= 0 and result.images.max() <= 1


def test_same_seed_same_image_and_another_seed_another():
    clf = _tiny_conv()
    x0 = _image(16)
    settings = InversionSettings(steps=15, lr=0.02, seed=7, jitter=2)
    a = invert(clf, x0, "4", settings).images
    b = invert(clf, x0, "4", settings).images
    c = invert(clf, x0, "4", InversionSettings(steps=15, lr=0.02, seed=8, jitter=2)).images
    assert torch.equal(a, b)
    assert (a - c).abs().max() > 1e-3


def test_an_image_does_not_depend_on_its_batch():
    clf = _tiny_conv()
    x0 = _image(16, batch=3)
    settings = InversionSettings(steps=10, lr=0.02, seed=3)
    together = invert(clf, x0, "3", settings).images
    alone = invert(clf, x0[1:2], "3", settings, seeds=[4]).images
    assert torch.allclose(together[1:2], alone, atol=1e-5)


def test_joint_layers_and_resolved_defaults():
    clf = _tiny_conv()
    x0 = _image(16)
    result = invert(clf, x0, ["1", "4"], InversionSettings(steps=5))
    assert set(result.errors) == {"1", "4"}
    infos = {i.name: i for i in list_layers(clf)}
    assert result.settings.lambda_tv == tv_weight(infos["4"].depth)  # the deepest layer decides
    assert result.settings.sigma == pytest.approx(natural_sigma(IMAGENET_STD, 16, 16))
    assert result.settings.lambda_alpha == pytest.approx(alpha_weight(result.settings.sigma, 16, 16))
    assert result.error.item() == pytest.approx((result.errors["1"] + result.errors["4"]).item() / 2)


def test_invert_leaves_the_classifier_alone_and_works_under_inference_mode():
    clf = _tiny_conv()
    before = {k: v.clone() for k, v in clf.state_dict().items()}
    with torch.inference_mode():
        x0 = _image(16)
        result = invert(clf, x0, "3", InversionSettings(steps=3))
    assert all(torch.equal(before[k], v) for k, v in clf.state_dict().items())
    assert all(p.grad is None for p in clf.parameters())
    assert torch.isfinite(result.images).all()


def test_feature_errors_are_zero_for_x_itself():
    clf = _tiny_conv()
    x0 = _image(16)
    infos = resolve_layers(clf, ["3"])
    assert feature_errors(clf, x0, x0, infos)["3"].item() == 0.0
    assert feature_errors(clf, x0, x0.flip(-1), infos)["3"].item() > 0.05


def test_mean_pair_distance_by_hand():
    # a = (3, 0), b = (0, 4), c = (3, 4): |a - b| = 5, |a - c| = 4, |b - c| = 3; norms 3, 4, 5
    f = torch.tensor([[3.0, 0.0], [0.0, 4.0], [3.0, 4.0]])
    d = feature_distances(f)
    expected = torch.tensor([[0, 5 / 3, 4 / 3], [5 / 4, 0, 3 / 4], [4 / 5, 3 / 5, 0]], dtype=torch.float64)
    assert torch.allclose(d, expected)
    assert mean_pair_distance(f) == pytest.approx((5 / 3 + 4 / 3 + 5 / 4 + 3 / 4 + 4 / 5 + 3 / 5) / 6)  # 1.0667
    assert mean_pair_distance(torch.tensor([[1.0, 2.0], [1.0, 2.0]])) == 0.0  # two copies of one image
    assert math.isnan(mean_pair_distance(f[:1]))  # no pair


def test_layer_features_match_the_tap_and_the_errors_scale_to_one_for_another_image():
    clf = _tiny_conv()
    x = _image(16, batch=5)
    infos = resolve_layers(clf, ["3", "7"], infos=list_layers(clf, 16))
    feats = layer_features(clf, x, infos, batch_size=2)
    with torch.no_grad():
        tapped = LayerTap(clf, infos)(x)
    assert {n: f.shape for n, f in feats.items()} == {"3": (5, 16 * 8 * 8), "7": (5, 10)}
    assert torch.allclose(feats["3"], tapped["3"].flatten(1).double(), atol=1e-6)
    # the error of "x* = another image" averaged over the pairs is the pair distance: scaled, exactly 1
    errors = [feature_errors(clf, x[a:a + 1], x[b:b + 1], infos[:1])["3"].item()
              for a in range(5) for b in range(5) if a != b]
    assert sum(errors) / len(errors) / mean_pair_distance(feats["3"]) == pytest.approx(1.0, rel=1e-5)
    assert [is_logits_layer(i) for i in infos] == [False, True]


@pytest.mark.parametrize("bad", [InversionSettings(steps=0), InversionSettings(lr=-1.0),
                                 InversionSettings(momentum=1.0), InversionSettings(lambda_tv=-1.0),
                                 InversionSettings(jitter=-1)])
def test_bad_settings_are_refused(bad):
    with pytest.raises(ConfigError):
        invert(_tiny_conv(), _image(16), "3", bad)


def test_bad_inputs_are_refused():
    clf = _tiny_conv()
    with pytest.raises(ConfigError, match="did you mean"):
        invert(clf, _image(16), "33")
    with pytest.raises(ConfigError, match="no layer"):
        invert(clf, _image(16), [])
    with pytest.raises(ConfigError, match="shaped"):
        invert(clf, torch.rand(1, 1, 16, 16), "3")


# ------------------------------------------------------------------------------------------ layers
def test_demo_layers_have_names_shapes_and_depths():
    clf = Classifier.from_name("lenet5_demo").eval()
    infos = {i.name: i for i in list_layers(clf)}
    assert infos["features.0"].kind == "Conv2d" and infos["features.0"].shape == (6, 60, 60)
    assert infos["classifier.4"].shape == (10,) and infos["classifier.4"].depth == 1.0
    depths = [i.depth for i in list_layers(clf)]
    assert depths == sorted(depths) and depths[0] > 0
    assert resolve_layers(clf, "net.features.0")[0].name == "features.0"


@pytest.mark.parametrize("name", ["lenet5_demo", "alexnet_demo", "vgg_demo", "resnet_demo", "inception_demo"])
def test_every_demo_classifier_inverts_at_its_mid_layer(name):
    clf = Classifier.from_name(name).eval()
    infos = list_layers(clf)
    layer = mid_layer(infos)
    assert 0.3 <= layer.depth <= 0.7
    result = invert(clf, _image(64), layer.name, InversionSettings(steps=3), layer_infos=infos)
    assert torch.isfinite(result.errors[layer.name]).all()
    sweep = sweep_layers(infos, 5)
    assert len(sweep) == 5 and sweep[-1].depth == 1.0 and sweep[0] == infos[0]


def test_torchvision_reused_modules_give_their_last_output():
    """torchvision's BasicBlock applies one ``relu`` twice: the layer is its second (last) output."""
    clf = Classifier.from_name("resnet18").eval()
    infos = {i.name: i for i in list_layers(clf, 64)}
    relu = infos["layer1.0.relu"]
    assert relu.calls == 2 and relu.shape == (64, 56, 56)  # the classifier resizes to 224 px
    x = _image(64)
    tapped = LayerTap(clf, [relu])(x)["layer1.0.relu"]
    with torch.no_grad():
        block_out = clf.net.layer1[0](clf.net.maxpool(clf.net.relu(clf.net.bn1(clf.net.conv1(clf.preprocess(x))))))
    assert torch.allclose(tapped, block_out, atol=1e-5)
    result = invert(clf, x, ["layer1.0.relu", "layer2"], InversionSettings(steps=2),
                    layer_infos=list(list_layers(clf, 64)))
    assert set(result.errors) == {"layer1.0.relu", "layer2"}


def test_tap_stops_early_and_keeps_outputs_from_inplace_ops():
    clf = Classifier.from_name("alexnet_demo").eval()  # conv -> ReLU(inplace=True)
    infos = resolve_layers(clf, ["features.0"])
    calls = []
    handle = clf.net.classifier.register_forward_hook(lambda *a: calls.append(1))
    x = _image(64)
    early = LayerTap(clf, infos)(x)["features.0"]
    handle.remove()
    assert calls == []  # the head never ran
    late = LayerTap(clf, infos, stop_early=False)(x)["features.0"]
    assert torch.equal(early, late) and late.min() < 0  # the conv output, not the ReLU'd one


def test_torchvision_alexnet_inverts_at_a_named_layer():
    clf = Classifier.from_name("alexnet").eval()  # weights=None: random, no download
    infos = list_layers(clf, 64)
    assert {i.name for i in infos} >= {"features.0", "features.3", "avgpool", "classifier.6"}
    assert next(i for i in infos if i.name == "features.3").shape == (192, 27, 27)  # at 224 px, after the resize
    result = invert(clf, _image(64), "features.3", InversionSettings(steps=2), layer_infos=infos)
    assert result.images.shape == (1, 3, 64, 64) and torch.isfinite(result.errors["features.3"]).all()
