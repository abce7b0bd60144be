"""Ground truth on the demo (issue 18 item 4): the shipped masks, and scoring heatmaps against them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from sklearn.metrics import roc_auc_score

from s2s_core.cli import main
from s2s_core.data import demo_data as dd
from s2s_core.data.masks import masks_folder
from s2s_core.demo.masks import write_demo_masks
from s2s_core.errors import ConfigError
from s2s_core.lenses.scores import best_iou, binary_masks, pixel_auc, random_heatmaps

DEMO = Path(__file__).resolve().parents[1] / "checkpoints" / "demo"
TEST_DIR = DEMO / "data" / "test"
MASK_DIR = DEMO / "data" / "test_masks"


def _pairs() -> list[tuple[Path, Path]]:
    images = sorted(TEST_DIR.rglob("*.png"))
    return [(p, MASK_DIR / p.relative_to(TEST_DIR)) for p in images]


def test_every_shipped_test_image_has_a_mask_equal_to_the_generators() -> None:
    pairs = _pairs()
    assert len(pairs) == 500
    x, y, m = dd.fixed_split_with_masks("test", 500, seed=0, size=64)
    for image, mask in pairs:
        i = int(image.stem.split("_")[1])
        assert image.parent.name == dd.CLASS_NAMES[int(y[i])]
        stored = np.asarray(Image.open(mask))
        assert stored.dtype == np.uint8 and stored.shape == (64, 64)
        assert np.array_equal(stored, dd.mask_to_uint8(m[i]))


def test_masks_align_pixel_exactly_with_the_rendered_shapes() -> None:
    """Inside a mask (full coverage) every pixel of the PNG has the one fill colour; moved by one pixel, the same
    region takes in background pixels of other colours, so the alignment is exact, not approximate."""
    shifted_breaks = 0
    for image, mask in _pairs()[::5]:
        rgb = np.asarray(Image.open(image).convert("RGB")).reshape(-1, 3).astype(int)
        cover = np.asarray(Image.open(mask))
        inside = cover.reshape(-1) == 255
        assert inside.sum() > 50
        fill = np.median(rgb[inside], axis=0)
        # coverage in (254.5/255, 1) also rounds to 255: at most one level of blending with the background
        assert np.abs(rgb[inside] - fill).max() <= 1, image
        for dy, dx in ((1, 0), (0, 1), (-1, 0), (0, -1)):
            moved = np.roll(cover == 255, (dy, dx), axis=(0, 1)).reshape(-1)
            if np.abs(rgb[moved] - fill).max() > 1:
                shifted_breaks += 1
    assert shifted_breaks == 4 * len(_pairs()[::5])


def test_render_with_masks_draws_the_same_images_as_render() -> None:
    gen = dd.ShapeGenerator(64, split="test")
    labels = torch.arange(10)
    x1 = gen.render(labels, torch.Generator().manual_seed(5))
    x2, m = gen.render_with_masks(labels, torch.Generator().manual_seed(5))
    assert torch.equal(x1, x2) and m.shape == (10, 1, 64, 64)
    assert float(m.min()) >= 0 and float(m.max()) == 1.0


def test_demo_masks_refuse_a_split_the_generator_did_not_draw(tmp_path: Path) -> None:
    zoo = tmp_path / "zoo"
    (zoo / "data" / "test" / "circle").mkdir(parents=True)
    (zoo / "zoo.json").write_text('{"format": "s2s-zoo/1", "name": "z", "input_size": 64, "num_classes": 10, '
                                  '"base": "base", "recipe": {"seed": 0, "size": 64, "test_images": 10}}')
    with pytest.raises(ConfigError, match="missing"):
        write_demo_masks(zoo)
    dd.write_split_to_folder(zoo / "data" / "test", "test", 10, seed=0, size=64)
    first = next((zoo / "data" / "test").rglob("*.png"))
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(first)
    assert main(["demo-masks", str(zoo)]) == 1
    assert not (zoo / "data" / "test_masks").exists()


def test_write_split_with_masks_then_regenerating_them_agrees(tmp_path: Path) -> None:
    root = dd.write_split_to_folder(tmp_path / "data" / "test", "test", 10, seed=0, size=64, masks=True)
    before = {p.relative_to(tmp_path): p.read_bytes() for p in masks_folder(root).rglob("*.png")}
    assert len(before) == 10
    (tmp_path / "zoo.json").write_text('{"format": "s2s-zoo/1", "name": "z", "input_size": 64, "num_classes": 10, '
                                       '"base": "base", "recipe": {"seed": 0, "size": 64, "test_images": 10}}')
    _, n = write_demo_masks(tmp_path)
    assert n == 10
    after = {p.relative_to(tmp_path): p.read_bytes() for p in masks_folder(root).rglob("*.png")}
    assert after == before


# ----------------------------------------------------------------------------------------- scores
def _masks(n: int = 6) -> torch.Tensor:
    _, _, m = dd.fixed_split_with_masks("val", n, seed=1, size=64)
    return binary_masks(m)


def test_a_heatmap_equal_to_the_mask_scores_one_and_its_complement_zero() -> None:
    mask = _masks()
    heat = mask.float()
    assert torch.allclose(pixel_auc(heat, mask), torch.ones(6, dtype=torch.float64))
    iou, thr = best_iou(heat, mask)
    assert torch.allclose(iou, torch.ones(6, dtype=torch.float64)) and torch.all(thr == 1.0)
    assert torch.allclose(pixel_auc(1 - heat, mask), torch.zeros(6, dtype=torch.float64))
    # the complement's best IoU is at its lowest threshold: everything, i.e. the mask's area fraction
    frac = mask.flatten(1).double().mean(1)
    assert torch.allclose(best_iou(1 - heat, mask)[0], frac)


def test_random_heatmaps_score_chance() -> None:
    mask = _masks(20)
    auc = pixel_auc(random_heatmaps(tuple(mask.shape), seed=3), mask)
    assert abs(float(auc.mean()) - 0.5) < 0.01 and float(auc.std()) < 0.03
    iou, _ = best_iou(random_heatmaps(tuple(mask.shape), seed=4), mask)
    frac = mask.flatten(1).double().mean(1)
    assert torch.all(iou >= frac - 1e-12) and float((iou - frac).max()) < 0.05


def test_pixel_auc_equals_scikit_learn_with_ties() -> None:
    mask = _masks(4)
    heat = (torch.rand(mask.shape, generator=torch.Generator().manual_seed(0)) * 5).floor() + mask.float()
    ours = pixel_auc(heat, mask)
    for b in range(4):
        ref = roc_auc_score(mask[b].flatten().numpy(), heat[b].flatten().numpy())
        assert float(ours[b]) == pytest.approx(ref, abs=1e-12)


def test_best_iou_equals_a_brute_force_over_thresholds() -> None:
    mask = _masks(3)
    heat = (torch.rand(mask.shape, generator=torch.Generator().manual_seed(1)) * 7).floor() + 2 * mask.float()
    ours, thr = best_iou(heat, mask)
    for b in range(3):
        brute = max(float(((heat[b] >= t) & mask[b]).sum().double() / ((heat[b] >= t) | mask[b]).sum())
                    for t in heat[b].unique())
        assert float(ours[b]) == pytest.approx(brute, abs=1e-12)
        got = float(((heat[b] >= thr[b]) & mask[b]).sum().double() / ((heat[b] >= thr[b]) | mask[b]).sum())
        assert got == pytest.approx(brute, abs=1e-12)


def test_empty_masks_score_nan_and_shapes_must_match() -> None:
    empty = torch.zeros(2, 8, 8, dtype=torch.bool)
    assert torch.isnan(pixel_auc(torch.rand(2, 8, 8), empty)).all()
    assert torch.isnan(best_iou(torch.rand(2, 8, 8), empty)[0]).all()
    with pytest.raises(ValueError, match="must match"):
        pixel_auc(torch.rand(2, 8, 8), torch.zeros(2, 8, 9, dtype=torch.bool))
