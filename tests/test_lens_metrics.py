"""Known answers for the localisation metrics, the outline band and the model-free maps (issue 25): hand-made
maps whose scores are known by counting."""

from __future__ import annotations

import math

import pytest
import torch

from s2s_core.lenses import scores
from s2s_core.lenses.base import BatchContext, ImageBatch
from s2s_core.lenses.baselines.maps import border_contrast, centre_prior, edge_map, spectral_residual
from s2s_core.lenses.registry import LENSES
from s2s_core.views import BASE_KEY, ORIGINAL


def _square(size: int = 20, lo: int = 5, hi: int = 15) -> torch.Tensor:
    m = torch.zeros(1, size, size, dtype=torch.bool)
    m[:, lo:hi, lo:hi] = True
    return m


def test_pointing_game_hits_where_the_maximum_is_in_the_mask_and_counts_tied_maxima() -> None:
    mask = _square()
    heat = torch.zeros(3, 20, 20)
    heat[0, 7, 7] = 1.0  # inside
    heat[1, 0, 0] = 1.0  # outside
    heat[2, 0, 0] = heat[2, 9, 9] = 1.0  # tied: one of them inside (Quantus counts it)
    got = scores.pointing_game(heat, mask.expand(3, -1, -1))
    assert got.tolist() == [1.0, 0.0, 1.0]


def test_relevance_mass_is_the_share_of_the_sum_inside() -> None:
    mask = _square()  # 100 of 400 pixels
    heat = torch.where(mask, torch.tensor(1.0), torch.tensor(0.5)).float()  # 100 inside, 150 outside
    assert scores.relevance_mass(heat, mask).item() == pytest.approx(100 / 250)
    assert math.isnan(scores.relevance_mass(torch.zeros(1, 20, 20), mask).item())  # no mass: undefined


def test_rank_and_topk_count_the_top_pixels_inside() -> None:
    mask = _square()  # K = 100
    heat = torch.zeros(1, 20, 20)
    heat[0, 5:10, 5:15] = 3.0  # 50 pixels inside, highest
    heat[0, 0:5, 0:10] = 2.0  # 50 pixels outside, next
    assert scores.relevance_rank(heat, mask).item() == pytest.approx(0.5)
    k = scores.topk_pixels(400)
    assert k == 20  # 5 % of 400
    assert scores.topk_intersection(heat, mask).item() == pytest.approx(1.0)  # the 20 highest are inside
    assert scores.topk_intersection(-heat, mask).item() < 1.0


def test_area_under_the_iou_curve_of_a_perfect_and_a_constant_map() -> None:
    mask = _square()
    a = 100 / 400
    perfect = scores.iou_auc(mask.float(), mask).item()
    assert perfect == pytest.approx(1 - (1 - a) / 200)  # at t = 0 every pixel is marked: IoU = a there
    assert scores.iou_auc(torch.ones(1, 20, 20), mask).item() == pytest.approx(a)  # everything at every threshold
    ramp = torch.where(mask, torch.tensor(1.0), torch.tensor(0.5)).float()  # the mask alone from t > 0.5
    assert scores.iou_auc(ramp, mask).item() == pytest.approx(0.5 * a + 0.5 * 1 - (1 - a) / 200, abs=0.006)


def test_undefined_masks_give_nan_for_every_metric() -> None:
    heat = torch.rand(2, 8, 8)
    masks = torch.stack([torch.zeros(8, 8, dtype=torch.bool), torch.ones(8, 8, dtype=torch.bool)])
    for metric, values in scores.score_all(heat, masks).items():
        assert torch.isnan(values).all(), metric


def test_random_maps_score_chance_on_every_metric() -> None:
    mask = _square(64, 16, 48).expand(200, -1, -1)  # share a = 0.25
    got = {k: v.mean().item() for k, v in scores.score_all(scores.random_heatmaps((200, 64, 64), 7), mask).items()}
    assert got["auc"] == pytest.approx(0.5, abs=0.01)
    for metric in ("pointing", "mass", "rank", "topk"):
        assert got[metric] == pytest.approx(0.25, abs=0.07), metric


def test_outline_band_is_the_dilation_minus_the_erosion() -> None:
    mask = _square(20, 5, 15)
    band = scores.outline_band(mask, radius=1)
    assert int(band.sum()) == 12 * 12 - 8 * 8  # a 12-pixel square ring minus an 8-pixel square
    assert not band[0, 10, 10] and band[0, 5, 5] and band[0, 4, 4] and not band[0, 3, 3]
    assert scores.outline_radius(64) == 2 and scores.outline_radius(224) == 7 and scores.outline_radius(16) == 1
    edge = torch.zeros(1, 10, 10, dtype=torch.bool)
    edge[:, :, :5] = True  # touches the image border: no contour there
    assert not scores.outline_band(edge, radius=1)[0, :, 0].any()
    with pytest.raises(ValueError):
        scores.outline_band(mask, radius=0)


def test_centre_prior_peaks_in_the_middle_and_is_the_same_for_every_image() -> None:
    maps = centre_prior(torch.rand(3, 3, 33, 33))
    assert maps.shape == (3, 33, 33) and torch.equal(maps[0], maps[2])
    assert maps[0, 16, 16] == maps[0].max() == pytest.approx(1.0)
    assert maps[0, 16, 0] == pytest.approx(math.exp(-(16**2) / (2 * (0.2 * 33) ** 2)), rel=1e-5)


def _red_square_on_grey(size: int = 32) -> torch.Tensor:
    x = torch.full((1, 3, size, size), 0.5)
    x[0, :, 10:22, 10:22] = torch.tensor([1.0, 0.0, 0.0])[:, None, None]
    return x


def test_edge_map_is_zero_on_flat_colour_and_high_on_the_boundary() -> None:
    x = _red_square_on_grey()
    e = edge_map(x)[0]
    assert e[2, 2] == 0 and e[16, 16] == 0
    assert e[10, 16] > 0.1 and e[21, 16] > 0.1


def test_border_contrast_finds_an_object_that_differs_from_its_background() -> None:
    x = _red_square_on_grey()
    b = border_contrast(x)[0]
    assert b[0, 0] == pytest.approx(0, abs=1e-4) and b[16, 16] > 50  # L*a*b* units
    mask = torch.zeros(1, 32, 32, dtype=torch.bool)
    mask[0, 10:22, 10:22] = True
    assert scores.pixel_auc(b[None], mask).item() == pytest.approx(1.0)


def test_spectral_residual_points_at_a_small_odd_object() -> None:
    x = 0.5 + 0.05 * torch.rand(1, 1, 64, 64, generator=torch.Generator().manual_seed(0)).expand(1, 3, 64, 64)
    x[0, :, 40:46, 12:18] = 1.0  # a bright blob on a faintly textured background (a flat one has no spectrum)
    s = spectral_residual(x)[0]
    assert s.shape == (64, 64) and (s >= 0).all()
    peak = divmod(int(s.argmax()), 64)
    assert 36 <= peak[0] <= 50 and 8 <= peak[1] <= 22


def test_model_free_maps_do_not_depend_on_the_batch() -> None:
    x = torch.rand(4, 3, 24, 24)
    for f in (centre_prior, edge_map, spectral_residual, border_contrast):
        whole = f(x)
        assert whole.shape == (4, 24, 24)
        torch.testing.assert_close(whole[2:3], f(x[2:3]))


def test_the_s2s_control_is_x_minus_a_s_and_a_baseline_of_s2s_alone() -> None:
    control, free = LENSES["s2s_control"], LENSES["model_free"]
    assert not control.needs_model and control.baseline_for == ("s2s",)
    assert not free.needs_model and free.baseline_for is None
    assert all(lens.needs_model for key, lens in LENSES.items() if key not in ("s2s_control", "model_free"))
    x, base = torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8) * 1.5
    ctx = BatchContext(zoo=None)
    ctx.start_batch(ImageBatch(x=x, images={ORIGINAL: x, BASE_KEY: base}, y=torch.zeros(2, dtype=torch.long)))
    torch.testing.assert_close(control.heatmap(ctx, "any", "ae_control"), (x - base.clamp(0, 1)).abs().mean(1))
    torch.testing.assert_close(free.heatmap(ctx, "any", "centre"), centre_prior(x))


def test_the_iou_curve_equals_a_brute_force_over_thresholds_with_ties() -> None:
    g = torch.Generator().manual_seed(3)
    mask = torch.rand(6, 16, 16, generator=g) > 0.6
    for heat in (torch.rand(6, 16, 16, generator=g), (torch.rand(6, 16, 16, generator=g) * 5).round()):
        h, m = heat.reshape(6, -1).double(), mask.reshape(6, -1)
        marked = (h / h.max(1, keepdim=True).values)[:, None] >= scores.IOU_THRESHOLDS[None, :, None]
        brute = (marked & m[:, None]).sum(2).double() / (marked | m[:, None]).sum(2).double()
        torch.testing.assert_close(scores.iou_curve(heat, mask), brute)
