"""Procedural backgrounds (issue 27): photo-free textures for the demo's training streams, never for its test."""

from __future__ import annotations

import pytest
import torch

from s2s_core.data import backgrounds as bg
from s2s_core.data import demo_data as dd
from s2s_core.demo.recipe import DemoRecipe
from s2s_core.errors import ConfigError
from s2s_core.runtime import RuntimeFlags, cpu_has_bf16


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("make", [bg.value_noise, bg.gradients, bg.patterns, bg.procedural_backgrounds])
def test_every_kind_is_an_image_batch_in_range_and_deterministic(make) -> None:
    a, b, c = make(6, 40, _gen(1)), make(6, 40, _gen(1)), make(6, 40, _gen(2))
    assert a.shape == (6, 3, 40, 40) and a.dtype == torch.float32
    assert float(a.min()) >= 0 and float(a.max()) <= 1
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert float(a.std(dim=(1, 2, 3)).min()) > 0.01  # a texture, not a flat colour


def test_value_noise_spans_the_range_and_patterns_have_two_colours() -> None:
    noise = bg.value_noise(4, 32, _gen(3))
    assert torch.allclose(noise.amin(dim=(1, 2, 3)), torch.zeros(4)) and torch.allclose(noise.amax(dim=(1, 2, 3)), torch.ones(4))
    pattern = bg.patterns(1, 64, _gen(4))[0]
    lo, hi = pattern.flatten(1).min(dim=1).values, pattern.flatten(1).max(dim=1).values
    assert float((hi - lo).max()) > 0.05  # the two colours differ


def test_shape_images_take_procedural_backgrounds_only_when_asked() -> None:
    photo = dd.ShapeGenerator(64, procedural=0.0)
    assert torch.equal(photo.sample(8, _gen(5))[0], dd.ShapeGenerator(64).sample(8, _gen(5))[0])  # 0: unchanged
    x0, y0 = photo.sample(64, _gen(6))
    x1, y1 = dd.ShapeGenerator(64, procedural=1.0).sample(64, _gen(6))
    assert torch.equal(y0, y1)  # the labels are drawn first, from the same stream
    assert not torch.equal(x0, x1)


def test_the_test_split_refuses_procedural_backgrounds() -> None:
    with pytest.raises(ValueError, match="test split"):
        dd.ShapeGenerator(64, split="test", procedural=0.5)
    with pytest.raises(ValueError, match="fraction"):
        dd.ShapeGenerator(64, procedural=1.5)


def test_the_recipe_checks_its_new_fields() -> None:
    with pytest.raises(ConfigError, match="procedural"):
        DemoRecipe(procedural=-0.1).validate()
    with pytest.raises(ConfigError, match="clf_steps"):
        DemoRecipe(clf_steps={"L": 10}).validate()
    recipe = DemoRecipe()
    assert DemoRecipe.from_dict(recipe.to_dict()) == recipe


def test_cpu_bf16_flags_follow_the_hardware() -> None:
    assert RuntimeFlags.cpu(bf16=True).autocast_bf16 == cpu_has_bf16()
    assert not RuntimeFlags.cpu(bf16=False).autocast_bf16
    assert not RuntimeFlags.cpu(bf16=True).channels_last
