"""Sec. 3.2 augmentations: shapes, range, determinism, each operation on/off, geometry, config validation."""

from __future__ import annotations

import pytest
import torch

from s2s_core.data.augment import Augment, AugmentConfig, _affine, _gaussian_blur
from s2s_core.errors import ConfigError

OFF = dict(scale=None, rotation=0, shift=0, noise=0, blur=None, brightness=0, contrast=0, color=0, mirror=False)
ON = dict(scale=(1.2, 1.4), rotation=20.0, shift=0.2, noise=0.05, blur=(0.8, 1.5), brightness=0.3, contrast=0.4,
          color=0.5, mirror=True)


def _image(seed: int = 0, shape: tuple[int, ...] = (3, 24, 32)) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    smooth = torch.nn.functional.interpolate(torch.rand(1, 3, 6, 8, generator=g), size=shape[-2:], mode="bilinear")
    return (0.1 + 0.8 * smooth[0]).expand(shape).contiguous()


def test_shapes_dtype_and_range() -> None:
    aug = Augment(seed=0, p=1.0, **ON)
    x = _image()
    assert aug(x).shape == x.shape
    batch = torch.stack([_image(1), _image(2)])
    out = aug(batch)
    assert out.shape == batch.shape and out.dtype == torch.float32
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert Augment(16, seed=0)(x).shape == (3, 16, 16)
    assert Augment(16, seed=0)(batch).shape == (2, 3, 16, 16)
    bright = Augment(seed=0, p=1.0, **{**OFF, "brightness": 1.0, "noise": 1.0})(torch.full((3, 8, 8), 0.95))
    assert bright.min() >= 0.0 and bright.max() <= 1.0
    assert Augment(seed=0)(x.double()).dtype == torch.float64


def test_deterministic_for_a_seed() -> None:
    x = torch.stack([_image(1), _image(2), _image(3)])
    a, b, c = Augment(seed=7, **ON), Augment(seed=7, **ON), Augment(seed=8, **ON)
    assert torch.equal(a(x), b(x))
    assert not torch.equal(a(x), c(x))
    gen = torch.Generator().manual_seed(3)
    first = Augment(**ON)(x, generator=gen)
    assert torch.equal(first, Augment(seed=99, **ON)(x, generator=torch.Generator().manual_seed(3)))


def test_all_off_or_p_zero_is_identity() -> None:
    x = _image()
    assert torch.equal(Augment(seed=0, p=1.0, **OFF)(x), x)
    assert torch.equal(Augment(seed=0, p=0.0, **ON)(x), x)


@pytest.mark.parametrize("op", list(ON))
def test_each_operation_changes_the_image(op: str) -> None:
    x = _image()
    out = Augment(seed=0, p=1.0, **{**OFF, op: ON[op]})(x)
    assert out.shape == x.shape
    assert (out - x).abs().max() > 1e-3, op


def test_mirror_flips() -> None:
    x = _image()
    assert torch.equal(Augment(seed=0, p=1.0, **{**OFF, "mirror": True})(x), x.flip(-1))


def test_parameters_differ_per_image_of_a_batch() -> None:
    x = _image().expand(4, 3, 24, 32).contiguous()
    out = Augment(seed=0, p=1.0, **{**OFF, "brightness": 0.5})(x)
    means = out.mean(dim=(1, 2, 3))
    assert len(set(means.tolist())) == 4


def test_affine_geometry() -> None:
    x = torch.zeros(1, 3, 16, 16)
    x[..., :, 4] = 1.0  # vertical line at column 4
    one, zero = torch.ones(1), torch.zeros(1)
    shifted = _affine(x, one, zero, torch.tensor([0.25]), zero)
    assert shifted[0, 0, 8].argmax().item() == 8  # moved right by 0.25 * 16 px
    rotated = _affine(x, one, torch.tensor([90.0]), zero, zero)
    assert torch.allclose(rotated, torch.rot90(x, k=-1, dims=(-2, -1)), atol=1e-4) or torch.allclose(
        rotated, torch.rot90(x, k=1, dims=(-2, -1)), atol=1e-4
    )
    identity = _affine(x, one, zero, zero, zero)
    assert torch.allclose(identity, x, atol=1e-5)
    zoomed = _affine(x, torch.tensor([2.0]), zero, zero, zero)  # line at 4 -> 8 + 2 * (4.5 - 8) - 0.5 = 0.5
    assert zoomed[0, 0, 8, :2].sum() > 0.5 and zoomed[0, 0, 8, 4] < 0.5


def test_blur_keeps_constants_and_smooths_noise() -> None:
    flat = torch.full((2, 3, 10, 10), 0.3)
    assert torch.allclose(_gaussian_blur(flat, torch.tensor([0.5, 2.0]), 2.0), flat, atol=1e-6)
    noise = torch.rand(2, 3, 20, 20)
    blurred = _gaussian_blur(noise, torch.tensor([0.5, 2.0]), 2.0)
    assert blurred[1].std() < blurred[0].std() < noise[0].std()


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"rotation": -5}, "rotation"), ({"p": 1.5}, "p"), ({"blur": (1.0, 0.5)}, "blur"), ({"scale": (0.0, 1.0)}, "scale"),
     ({"scale": 1.1}, "scale"), ({"shift": 2.0}, "shift"), ({"noise": float("nan")}, "noise"),
     ({"brightness": -0.1}, "brightness"), ({"contrast": "high"}, "contrast"), ({"color": 3}, "color"),
     ({"mirror": "yes"}, "mirror")],
)
def test_bad_config_names_the_field(kwargs: dict, field: str) -> None:
    with pytest.raises(ConfigError, match=rf"augment {field} "):
        AugmentConfig(**kwargs)


def test_config_from_dict() -> None:
    cfg = AugmentConfig.from_dict({"scale": [0.9, 1.1], "blur": 0, "rotation": 5})
    assert cfg.scale == (0.9, 1.1) and cfg.blur is None and cfg.rotation == 5.0
    assert AugmentConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ConfigError, match="unknown augment option.*zoom"):
        AugmentConfig.from_dict({"zoom": 2})
    aug = Augment.from_config({"p": 1.0, **{k: v for k, v in OFF.items()}, "mirror": True}, seed=0)
    assert torch.equal(aug(_image()), _image().flip(-1))
    with pytest.raises(ConfigError, match="size"):
        Augment(0)
    with pytest.raises(ValueError, match="float images"):
        Augment()(torch.zeros(3, 4, 4, dtype=torch.uint8))
