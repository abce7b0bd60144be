"""The offline demo data: deterministic, and the class is decided by the shape's outline only."""

from __future__ import annotations

import math

import pytest
import torch

from s2s_core.data import demo_data as dd
from s2s_core.data.datasets import LabelledImageFolder


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_same_seed_same_images_other_seed_other_images() -> None:
    g = dd.ShapeGenerator(64)
    x1, y1 = g.sample(16, _gen(3))
    x2, y2 = g.sample(16, _gen(3))
    x3, _ = g.sample(16, _gen(4))
    assert torch.equal(x1, x2) and torch.equal(y1, y2)
    assert not torch.equal(x1, x3)
    assert x1.shape == (16, 3, 64, 64) and y1.dtype == torch.int64
    assert float(x1.min()) >= 0 and float(x1.max()) <= 1


def test_batches_are_reiterable_and_deterministic() -> None:
    src = dd.ShapeGenerator(32).batches(4, seed=7)
    a = [b for _, b in zip(range(3), src, strict=False)]
    b = [b for _, b in zip(range(3), src, strict=False)]
    for (xa, ya), (xb, yb) in zip(a, b, strict=True):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    assert not torch.equal(a[0][0], a[1][0])


def _nuisance(n: int, seed: int):
    g = _gen(seed)
    centre = torch.rand(n, 2, generator=g) * 20 + 22
    radius = torch.rand(n, generator=g) * 4 + 11
    angle = torch.rand(n, generator=g) * 2 * math.pi
    return centre, radius, angle


def test_every_class_has_the_same_area_so_area_says_nothing() -> None:
    n = len(dd.CLASS_NAMES)
    centre = torch.full((n, 2), 32.0)
    radius = torch.full((n,), 12.0)
    masks = dd.render_masks(torch.arange(n), centre, radius, torch.zeros(n), 64)
    areas = masks.sum(dim=(1, 2, 3))
    assert torch.allclose(areas, torch.full_like(areas, math.pi * 144), rtol=0.06), areas


def test_same_nuisance_different_class_changes_only_the_mask() -> None:
    centre, radius, angle = _nuisance(1, 0)
    masks = [dd.render_masks(torch.tensor([c]), centre, radius, angle, 64) for c in range(len(dd.CLASS_NAMES))]
    # every pair of classes differs in outline by a clear margin (pixels of the symmetric difference)
    for i in range(len(masks)):
        for j in range(i + 1, len(masks)):
            assert float((masks[i] - masks[j]).abs().sum()) > 40, (dd.CLASS_NAMES[i], dd.CLASS_NAMES[j])


def test_classes_stay_distinct_under_any_rotation() -> None:
    """The best rotation of one class never matches another (a rotation-invariant difference)."""
    centre = torch.full((1, 2), 32.0)
    radius = torch.full((1,), 13.0)
    angles = torch.linspace(0, 2 * math.pi, 73)[:-1]
    n = len(dd.CLASS_NAMES)
    ref = [dd.render_masks(torch.tensor([c]), centre, radius, torch.zeros(1), 64) for c in range(n)]
    for c in range(n):
        rotated = dd.render_masks(torch.full((len(angles),), c), centre.expand(len(angles), 2),
                                  radius.expand(len(angles)), angles, 64)
        for other in range(n):
            if other == c:
                continue
            best = float((rotated - ref[other]).abs().sum(dim=(1, 2, 3)).min())
            assert best > 25, (dd.CLASS_NAMES[c], dd.CLASS_NAMES[other], best)


def test_nuisance_factors_do_not_depend_on_the_class() -> None:
    """Mean colour, brightness and shape centroid are about the same for every class."""
    x, y = dd.ShapeGenerator(64).sample(2000, _gen(11))
    mean_rgb = torch.stack([x[y == c].mean(dim=(0, 2, 3)) for c in range(len(dd.CLASS_NAMES))])
    assert float((mean_rgb - mean_rgb.mean(0)).abs().max()) < 0.05
    counts = torch.bincount(y, minlength=len(dd.CLASS_NAMES)).float()
    assert float(counts.min()) > 0.7 * float(counts.mean())


def test_fixed_splits_are_fixed_balanced_and_differ_from_each_other() -> None:
    xv, yv = dd.fixed_split("val", 40, seed=0, size=32)
    xv2, _ = dd.fixed_split("val", 40, seed=0, size=32)
    xt, yt = dd.fixed_split("test", 40, seed=0, size=32)
    assert torch.equal(xv, xv2)
    assert not torch.equal(xv, xt)
    assert torch.equal(torch.bincount(yv), torch.full((10,), 4))
    assert torch.equal(torch.bincount(yt), torch.full((10,), 4))
    with pytest.raises(ValueError):
        dd.fixed_split("train", 4)


def test_test_backgrounds_come_from_photos_training_never_sees() -> None:
    assert set(dd.TEST_PHOTOS) <= set(dd.photo_library())
    train = dd.ShapeGenerator(32, split="train").photos
    test = dd.ShapeGenerator(32, split="test").photos
    assert len(test) == len(dd.TEST_PHOTOS)
    assert not any(any(p is q for q in train) for p in test)


def test_photo_crops_are_fresh_images_in_range() -> None:
    stream = dd.PhotoCropStream(size=32, seed=0)
    a = stream.sample(8, _gen(0))
    b = stream.sample(8, _gen(1))
    assert a.shape == (8, 3, 32, 32)
    assert float(a.min()) >= 0 and float(a.max()) <= 1
    assert not torch.equal(a, b)
    assert float(a.std(dim=(1, 2, 3)).min()) > 0.0  # not constant images
    held = stream.heldout(6)
    assert torch.equal(held, dd.PhotoCropStream(size=32, seed=0).heldout(6))


def test_write_split_to_folder_gives_an_imagefolder_the_loader_reads(tmp_path) -> None:
    root = dd.write_split_to_folder(tmp_path / "test", "test", 20, seed=0, size=32)
    folders = sorted(p.name for p in root.iterdir())
    assert folders == sorted(dd.CLASS_NAMES)
    ds = LabelledImageFolder(root, size=32, class_to_idx={n: i for i, n in enumerate(dd.CLASS_NAMES)})
    assert len(ds) == 20
    x, y = ds[0]
    xs, ys = dd.fixed_split("test", 20, seed=0, size=32)
    # the PNG holds the split's image (8-bit rounding) under its class
    match = [(torch.abs(x - xs[i]).max() <= 1 / 255 + 1e-6) and int(ys[i]) == y for i in range(20)]
    assert any(match)
