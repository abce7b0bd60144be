"""The classifier registry, the Classifier wrapper (Sec. 3.3) and the demo-sized networks."""

from __future__ import annotations

import urllib.error
from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F
import torchvision
from safetensors.torch import save_file

from s2s_core import settings
from s2s_core.errors import CheckpointError, ConfigError, WeightsUnavailableError
from s2s_core.models import classifiers as C
from s2s_core.models.demo_nets import DEMO_ENTRIES
from s2s_core.models.lenet import LeNet5

PAPER = ["lenet5", "alexnet", "vgg16_bn", "resnet50", "inception_v3"]
DEMO = list(DEMO_ENTRIES)
HEAVY = {"vgg16_bn", "resnet50", "inception_v3", "alexnet"}  # one forward at batch 1 each


@pytest.fixture
def registry_guard():
    """Undo registrations made by a test."""
    before = dict(C._REGISTRY)
    yield
    C._REGISTRY.clear()
    C._REGISTRY.update(before)


@pytest.fixture
def empty_hub(tmp_path, monkeypatch):
    """An empty torch hub cache and no permission to download."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    monkeypatch.delenv(settings.ALLOW_DOWNLOAD_ENV, raising=False)
    return tmp_path / "torch_home" / "hub" / "checkpoints"


def test_registry_lists_paper_and_demo_classifiers():
    names = C.available()
    assert names[: len(PAPER)] == PAPER and set(DEMO) <= set(names)
    assert {C.get_spec(n).family for n in PAPER} == {"LeNet", "AlexNet", "VGG", "ResNet", "Inception"}
    assert {C.get_spec(n).family for n in DEMO} == {"LeNet", "AlexNet", "VGG", "ResNet", "Inception"}
    assert C.get_spec("inception_v3").input_size == 299 and C.get_spec("resnet50").input_size == 224
    assert C.get_spec("lenet5").default_weights is None and C.get_spec("alexnet").default_weights == "DEFAULT"
    assert "mobilenet_v3_small" in C.available(include_torchvision=True)


@pytest.mark.parametrize("name", C.available())
def test_every_entry_builds_and_gives_finite_logits(name):
    spec = C.get_spec(name)
    clf = C.Classifier.from_name(name).eval()
    batch = 1 if name in HEAVY else 3
    x = torch.rand(batch, 3, spec.input_size, spec.input_size)
    with torch.no_grad():
        out = clf(x)
    assert out.shape == (batch, spec.num_classes)
    assert torch.isfinite(out).all()
    assert clf.name == name and clf.spec == replace(spec, weights=None, origin="random")  # no published accuracy
    assert all(k.startswith("net.") for k in clf.state_dict())  # mean/std are not saved


@pytest.mark.parametrize("name", DEMO)
def test_demo_nets_are_small_and_64px(name):
    spec = C.get_spec(name)
    assert (spec.input_size, spec.num_classes) == (64, 10)
    assert (spec.mean, spec.std) == (C.IMAGENET_MEAN, C.IMAGENET_STD)
    net = C.build(name, num_classes=4)
    assert sum(p.numel() for p in net.parameters()) < 1_500_000
    assert net(torch.randn(2, 3, 64, 64)).shape == (2, 4)
    with pytest.raises(ConfigError, match="no pre-trained weights"):
        C.build(name, weights="DEFAULT")


def test_wrapper_resizes_any_size_and_backpropagates_to_the_input():
    clf = C.Classifier.from_name("resnet_demo").eval()
    for h, w in [(64, 64), (37, 90), (128, 96)]:
        x = torch.rand(2, 3, h, w, requires_grad=True)
        out = clf(x)
        assert out.shape == (2, 10)
        out[:, 3].sum().backward()
        assert x.grad is not None and x.grad.abs().sum() > 0


def test_wrapper_preprocessing_is_resize_then_normalise():
    clf = C.Classifier.from_name("lenet5_demo")
    mean = torch.tensor(C.IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(C.IMAGENET_STD).view(1, 3, 1, 1)
    x = torch.rand(2, 3, 64, 64)
    assert torch.equal(clf.preprocess(x), (x - mean) / std)  # no resize at the input size
    y = torch.rand(2, 3, 50, 70)
    ref = (F.interpolate(y, size=(64, 64), mode="bilinear", align_corners=False) - mean) / std
    torch.testing.assert_close(clf.preprocess(y), ref)
    with pytest.raises(ConfigError, match=r"\(B, 3, H, W\)"):
        clf(torch.rand(3, 64, 64))


def test_duplicate_registration_is_refused(registry_guard):
    spec = C.get_spec("lenet5_demo")
    with pytest.raises(ConfigError, match="already registered"):
        C.register(spec)
    C.register(C.ClassifierSpec(name="my_net", builder=spec.builder, input_size=32, mean=spec.mean, std=spec.std))
    assert "my_net" in C.available() and C.Classifier.from_name("my_net")(torch.rand(1, 3, 32, 32)).shape == (1, 1000)
    with pytest.raises(ConfigError, match="my_net"):
        C.register(C.ClassifierSpec(name="my_net", builder=spec.builder, input_size=32, mean=spec.mean, std=spec.std))


def test_unknown_name_suggests_close_matches():
    with pytest.raises(ConfigError, match="resnet50") as info:
        C.get_spec("resnet5O")
    assert "unknown classifier 'resnet5O'" in str(info.value)
    with pytest.raises(ConfigError, match="vgg_demo"):
        C.build("vgg_dem")


def test_any_torchvision_model_by_name():
    spec = C.get_spec("mobilenet_v3_small")
    assert (spec.input_size, spec.num_classes, spec.family) == (224, 1000, "mobilenetv3")
    clf = C.Classifier.from_name("mobilenet_v3_small", num_classes=7).eval()
    assert isinstance(clf.net, torchvision.models.MobileNetV3)
    assert clf.spec.num_classes == 7 and clf(torch.rand(1, 3, 80, 80)).shape == (1, 7)
    # preprocessing follows the chosen weights' transforms, without loading them
    assert C.spec_for_weights("vit_b_16", "IMAGENET1K_SWAG_E2E_V1").input_size == 384
    assert C.get_spec("efficientnet_b3").input_size == 300


def test_missing_weights_name_the_file_and_the_place(empty_hub):
    w = torchvision.models.ResNet50_Weights.DEFAULT
    expected = empty_hub / w.url.rsplit("/", 1)[-1]
    assert C.hub_weights_path(w) == expected
    with pytest.raises(WeightsUnavailableError) as info:
        C.build("resnet50", weights="DEFAULT")
    message = str(info.value)
    assert str(expected) in message and w.url in message and "S2S_ALLOW_DOWNLOAD=1" in message
    with pytest.raises(WeightsUnavailableError, match="alexnet-owt"):
        C.Classifier.from_name("alexnet", weights="IMAGENET1K_V1")
    with pytest.raises(ConfigError, match="IMAGENET1K_V1"):
        C.build("resnet50", weights="NO_SUCH_TAG")


def test_cached_torchvision_weights_load_without_network(empty_hub):
    w = torchvision.models.MobileNet_V3_Small_Weights.DEFAULT
    reference = torchvision.models.mobilenet_v3_small()
    empty_hub.mkdir(parents=True)
    torch.save(reference.state_dict(), C.hub_weights_path(w))
    net = C.build("mobilenet_v3_small", weights="DEFAULT")
    for (k, a), b in zip(reference.state_dict().items(), net.state_dict().values(), strict=True):
        assert torch.equal(a, b), k
    with pytest.raises(ConfigError, match="1000 classes"):
        C.build("mobilenet_v3_small", weights="DEFAULT", num_classes=10)


def test_download_only_when_allowed(empty_hub, monkeypatch):
    """S2S_ALLOW_DOWNLOAD=1 hands over to torch hub's downloader (faked here: no network in tests)."""
    reference = torchvision.models.mobilenet_v3_small()
    calls = []

    def fake_download(url, dst, *args, **kwargs):
        calls.append(url)
        torch.save(reference.state_dict(), dst)

    monkeypatch.setattr(torch.hub, "download_url_to_file", fake_download)
    with pytest.raises(WeightsUnavailableError):
        C.build("mobilenet_v3_small", weights="DEFAULT")
    assert calls == []
    monkeypatch.setenv(settings.ALLOW_DOWNLOAD_ENV, "1")
    net = C.build("mobilenet_v3_small", weights="DEFAULT")
    assert calls == [torchvision.models.MobileNet_V3_Small_Weights.DEFAULT.url]
    assert torch.equal(net.classifier[3].weight, reference.classifier[3].weight)

    def offline(url, dst, *args, **kwargs):
        raise urllib.error.URLError("no route to host")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(WeightsUnavailableError, match="could not download"):
        C.build("resnet18", weights="DEFAULT")


def test_inception_v3_returns_main_logits_in_train_mode(empty_hub):
    clf = C.Classifier.from_name("inception_v3").train()
    assert clf.net.AuxLogits is None
    out = clf(torch.rand(1, 3, 120, 120))
    assert isinstance(out, torch.Tensor) and out.shape == (1, 1000)
    # pre-trained weights come with an aux head (torchvision requires aux_logits=True to load them): dropped
    w = torchvision.models.Inception_V3_Weights.DEFAULT
    empty_hub.mkdir(parents=True)
    tv = torchvision.models.inception_v3(weights=None, aux_logits=True, init_weights=False)
    torch.save(tv.state_dict(), C.hub_weights_path(w))
    clf = C.Classifier.from_name("inception_v3", weights="DEFAULT").train()
    assert clf.net.AuxLogits is None and not any("AuxLogits" in k for k in clf.state_dict())
    assert type(clf(torch.rand(1, 3, 75, 75))) is torch.Tensor


def test_user_checkpoint_loads_by_name(tmp_path, registry_guard):
    net = C.build("resnet_demo", num_classes=7).eval()
    path = tmp_path / "mine.safetensors"
    save_file({f"module.{k}": v.contiguous() for k, v in net.state_dict().items()}, str(path))
    clf = C.from_checkpoint(path, "resnet_demo", 7, input_size=48, name="mine").eval()
    assert (clf.name, clf.spec.input_size, clf.spec.num_classes) == ("mine", 48, 7)
    x = torch.rand(2, 3, 48, 48)
    with torch.no_grad():
        torch.testing.assert_close(clf(x), net(clf.preprocess(x)))
    C.register_checkpoint("mine", path, "resnet_demo", 7, 48)
    loaded = C.build("mine", weights="DEFAULT").eval()
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), loaded.state_dict().values(), strict=True))
    assert not torch.equal(C.build("mine").fc.weight, net.fc.weight)  # weights=None: random init


def test_mismatching_checkpoint_names_keys_and_shapes(tmp_path, registry_guard):
    path = tmp_path / "ten.safetensors"
    save_file(C.build("resnet_demo").state_dict(), str(path))
    with pytest.raises(CheckpointError, match=r"wrong shapes: 'fc\.weight' has shape \(10, 384\) in the file, the network needs \(3, 384\)"):
        C.from_checkpoint(path, "resnet_demo", 3)
    with pytest.raises(CheckpointError, match=r"missing \d+ tensor\(s\): classifier\.0\.bias.*\d+ unexpected tensor\(s\): fc\.bias, fc\.weight"):
        C.from_checkpoint(path, "vgg_demo", 10)
    with pytest.raises(CheckpointError, match="does not exist"):
        C.register_checkpoint("ghost", tmp_path / "nope.safetensors", "resnet_demo", 10, 64)


def test_lenet5_adapts_to_224_px():
    net = C.build("lenet5")
    assert [m.out_features for m in net.classifier if isinstance(m, torch.nn.Linear)] == [120, 84, 1000]
    assert LeNet5(num_classes=5, activation="tanh")(torch.rand(1, 3, 224, 224)).shape == (1, 5)
    with pytest.raises(ConfigError, match="activation"):
        LeNet5(activation="sigmoid")


@pytest.mark.parametrize("name", DEMO)
def test_demo_nets_overfit_a_tiny_batch(name):
    """A capacity / gradient-flow check: BN in train mode, dropout off (it is there to stop memorising)."""
    net = C.Classifier.from_name(name).train()
    for m in net.modules():
        if isinstance(m, torch.nn.Dropout):
            m.eval()
    # 16 distinct smooth random images (8x8 noise upsampled), 10 classes
    x = F.interpolate(torch.rand(16, 3, 8, 8), size=(64, 64), mode="bilinear", align_corners=False)
    y = torch.arange(16) % 10
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    losses = []
    for _ in range(30):
        opt.zero_grad()
        loss = F.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses
