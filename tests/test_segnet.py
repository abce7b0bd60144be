"""SegNet (Sec. 3.1): shapes, encoder/decoder split, use of the pooling indices, VGG16-BN initialisation."""

from __future__ import annotations

import copy
import urllib.error

import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from s2s_core.errors import ConfigError, WeightsUnavailableError
from s2s_core.models.segnet import Code, SegNet, SegNetDecoder, vgg_features_to_encoder

SMALL = {"widths": (16, 32, 64, 128, 128), "depths": (2, 2, 2, 2, 2)}
TINY = {"widths": (4, 8, 8, 16, 16), "depths": (2, 2, 3, 3, 3)}


def randomize_bn(model: nn.Module) -> nn.Module:
    """Non-trivial BatchNorm statistics so that eval-mode comparisons test the BN mapping too."""
    g = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=g) * 0.1)
    return model.eval()


@pytest.mark.parametrize("size", [32, 64])
def test_small_forward_shapes_and_finite(size: int) -> None:
    model = SegNet(**SMALL).eval()
    x = torch.rand(2, 3, size, size)
    with torch.no_grad():
        code = model.encode(x)
        y = model.decode(code)
    assert code.features.shape == (2, 128, size // 32, size // 32)
    assert [tuple(s) for s in code.sizes] == [(2, w, size >> k, size >> k) for k, w in enumerate(SMALL["widths"])]
    assert y.shape == x.shape and torch.isfinite(y).all()


def test_default_widths_at_32px_and_parameter_names() -> None:
    model = SegNet().eval()
    with torch.no_grad():
        y = model(torch.rand(1, 3, 32, 64))
    assert y.shape == (1, 3, 32, 64) and torch.isfinite(y).all()
    enc = [k.removesuffix(".weight") for k in model.encoder.state_dict() if k.startswith("conv") and k.endswith("weight")]
    dec = [k.removesuffix(".weight") for k in model.decoder.state_dict() if k.startswith("conv") and k.endswith("weight")]
    assert enc == ["conv11", "conv12", "conv21", "conv22", "conv31", "conv32", "conv33",
                   "conv41", "conv42", "conv43", "conv51", "conv52", "conv53"]
    assert dec == ["conv53d", "conv52d", "conv51d", "conv43d", "conv42d", "conv41d", "conv33d", "conv32d",
                   "conv31d", "conv22d", "conv21d", "conv12d", "conv11d", "conv_final"]
    # last conv of decoder stage k maps widths[k-1] -> widths[k-2]; stage 1 keeps 64; conv_final is 1x1 to 3
    assert tuple(model.decoder.conv51d.weight.shape) == (512, 512, 3, 3)
    assert tuple(model.decoder.conv41d.weight.shape) == (256, 512, 3, 3)
    assert tuple(model.decoder.conv21d.weight.shape) == (64, 128, 3, 3)
    assert tuple(model.decoder.conv11d.weight.shape) == (64, 64, 3, 3)
    assert tuple(model.decoder.conv_final.weight.shape) == (3, 64, 1, 1)
    assert sum(p.numel() for p in model.encoder.parameters()) == 14_723_136  # VGG16-BN features
    assert "mean" not in model.state_dict()  # normalisation lives in the config, not in the weights


def test_output_is_in_input_space_not_clamped() -> None:
    model = randomize_bn(SegNet(**TINY))
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        y_norm = model.decoder(model.encoder((x - model.mean) / model.std))
        y = model(x)
    torch.testing.assert_close(y, y_norm * model.std + model.mean)
    with torch.no_grad():
        model.decoder.conv_final.bias.fill_(10.0)  # far outside [0, 1] after de-normalisation
        assert model(x).max() > 1.5


def test_one_encoder_pass_feeds_many_decoders() -> None:
    model = randomize_bn(SegNet(**TINY))
    others = [randomize_bn(copy.deepcopy(model.decoder)) for _ in range(2)]
    for i, dec in enumerate(others):
        with torch.no_grad():
            for p in dec.parameters():
                p.add_(0.05 * (i + 1))
    x = torch.rand(2, 3, 64, 32)
    with torch.no_grad():
        code = model.encode(x)
        outs = [model.decode(code)] + [model.decode(code, dec) for dec in others]
        for dec, out in zip([model.decoder, *others], outs, strict=True):
            whole = copy.deepcopy(model)
            whole.decoder = dec
            torch.testing.assert_close(out, whole(x))
    assert not torch.allclose(outs[0], outs[1])


def test_unpool_uses_encoder_indices() -> None:
    model = randomize_bn(SegNet(**TINY))
    x = torch.rand(1, 3, 32, 32)
    seen = {}
    hook = model.decoder.conv12d.register_forward_pre_hook(lambda m, a: seen.update(x=a[0].clone()))
    with torch.no_grad():
        code = model.encode(x)
        y = model.decode(code)
    hook.remove()
    unpooled, idx = seen["x"], code.indices[0]  # stage-1 unpool output (1, C1, 32, 32) and indices (1, C1, 16, 16)
    allowed = torch.zeros_like(unpooled).flatten(2).scatter_(2, idx.flatten(2), 1.0).view_as(unpooled)
    assert (unpooled != 0).any()
    assert ((unpooled != 0) & (allowed == 0)).sum() == 0  # values only where the encoder's maxima were
    assert allowed.sum() == idx.numel()  # one position per 2x2 window
    shifted = Code(code.features, [i.clone() for i in code.indices], code.sizes)
    shifted.indices[0] = torch.where(idx % 2 == 0, idx + 1, idx - 1)  # move every max to its horizontal neighbour
    with torch.no_grad():
        assert not torch.allclose(model.decode(shifted), y)


@pytest.mark.parametrize("shape", [(1, 3, 48, 64), (1, 3, 64, 40), (1, 1, 64, 64), (3, 64, 64)])
def test_bad_input_shape_rejected(shape: tuple[int, ...]) -> None:
    model = SegNet(**TINY)
    with pytest.raises(ConfigError, match="multiples of 32|shape"):
        model(torch.rand(*shape))


def test_bad_layout_rejected_and_config_round_trip() -> None:
    with pytest.raises(ConfigError):
        SegNet(widths=(8, 8), depths=(2, 2, 2))
    with pytest.raises(ConfigError):
        SegNet(widths=(8, 8), depths=(2, 0))
    model = SegNet(widths=(4, 8, 8), depths=(1, 2, 1), mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    assert model.multiple == 8
    clone = SegNet(**model.config)
    clone.load_state_dict(model.state_dict())
    x = torch.rand(1, 3, 16, 24)
    with torch.no_grad():
        torch.testing.assert_close(clone.eval()(x), model.eval()(x))
    with pytest.raises(ConfigError, match="stages"):
        SegNetDecoder(widths=(4, 8), depths=(1, 1))(model.encoder(x))


@pytest.fixture(scope="module")
def vgg() -> nn.Module:
    torch.manual_seed(0)
    return randomize_bn(torchvision.models.vgg16_bn(weights=None))


def test_vgg16_bn_mapping_matches_activations(vgg: nn.Module) -> None:
    model = SegNet()
    model.encoder.load_state_dict(vgg_features_to_encoder(vgg.state_dict(), model.encoder))
    model.eval()
    x = torch.randn(1, 3, 32, 32)
    taps = {}
    hooks = [model.encoder.bn12.register_forward_hook(lambda m, a, o: taps.update(bn12=o.clone())),
             model.encoder.bn22.register_forward_hook(lambda m, a, o: taps.update(bn22=o.clone()))]
    with torch.no_grad():
        code = model.encoder(x)
        torch.testing.assert_close(taps["bn12"], vgg.features[:5](x))  # conv, bn, relu, conv, bn
        torch.testing.assert_close(taps["bn22"], vgg.features[:12](x))
        torch.testing.assert_close(code.features, vgg.features(x))
        torch.testing.assert_close(code.indices[0], F.max_pool2d(vgg.features[:6](x), 2, return_indices=True)[1])
    for h in hooks:
        h.remove()


def test_vgg_mapping_needs_vgg16_layout(vgg: nn.Module) -> None:
    with pytest.raises(ConfigError, match="VGG16-BN needs"):
        vgg_features_to_encoder(vgg.state_dict(), SegNet(**SMALL).encoder)


def test_from_vgg16_bn_uses_torch_cache(vgg: nn.Module, tmp_path, monkeypatch) -> None:
    def no_network(*args, **kwargs):
        raise urllib.error.URLError("no network in tests")

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    with pytest.raises(WeightsUnavailableError, match=r"hub/checkpoints"):
        SegNet.from_vgg16_bn("DEFAULT")
    cache = tmp_path / "hub" / "checkpoints"
    cache.mkdir(parents=True, exist_ok=True)
    torch.save({k: v for k, v in vgg.state_dict().items() if k.startswith("features.")},
               cache / "vgg16_bn-6c64b313.pth")
    model = SegNet.from_vgg16_bn("DEFAULT").eval()
    torch.testing.assert_close(model.encoder.conv53.weight, vgg.features[40].weight)
    torch.testing.assert_close(model.encoder.bn53.running_var, vgg.features[41].running_var)
    with pytest.raises(ConfigError, match="unknown VGG16-BN weights"):
        SegNet.from_vgg16_bn("NOPE")


def test_from_vgg16_bn_unreadable_cache(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    cache = tmp_path / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    (cache / "vgg16_bn-6c64b313.pth").write_bytes(b"truncated")
    with pytest.raises(WeightsUnavailableError, match="could not be read.*delete the file"):
        SegNet.from_vgg16_bn("DEFAULT")
