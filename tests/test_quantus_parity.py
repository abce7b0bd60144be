"""Our localisation metrics equal Quantus 0.6's on the same arrays (issue 25): Quantus is the test-only oracle
(a test extra, so that opencv and matplotlib stay out of the runtime install); s2s computes the scores itself,
vectorised over a batch of torch tensors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from s2s_core.lenses import scores

quantus = pytest.importorskip("quantus")

QUIET = {"disable_warnings": True, "display_progressbar": False}


def _quantus(metric, heat: np.ndarray, mask: np.ndarray) -> np.ndarray:
    b, h, w = heat.shape
    x = np.zeros((b, 3, h, w), dtype=np.float32)
    out = metric(model=None, x_batch=x, y_batch=np.zeros(b, dtype=int), a_batch=heat[:, None].astype(np.float32),
                 s_batch=mask[:, None].astype(np.float32))
    return np.asarray(out, dtype=np.float64)


def _cases() -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Continuous random maps (no ties: Quantus breaks ties by NumPy's unstable sort), on rectangles, a disc, a
    thin ring (the outline band's shape) and a map that follows the mask loosely."""
    rng = np.random.default_rng(25)
    size = 40
    yy, xx = np.mgrid[:size, :size]
    rect = np.zeros((size, size), bool)
    rect[6:22, 9:33] = True
    disc = (yy - 20) ** 2 + (xx - 18) ** 2 < 11**2
    ring = disc & ~((yy - 20) ** 2 + (xx - 18) ** 2 < 8**2)
    out = []
    for name, mask in (("rectangle", rect), ("disc", disc), ("ring", ring)):
        masks = np.stack([mask] * 5)
        noise = rng.random((5, size, size))
        out.append((f"{name}-noise", noise, masks))
        out.append((f"{name}-informative", noise + 0.8 * masks * rng.random((5, 1, 1)), masks))
    return out


METRICS = {
    "auc": lambda: quantus.AUC(**QUIET),
    "pointing": lambda: quantus.PointingGame(**QUIET),
    "mass": lambda: quantus.RelevanceMassAccuracy(**QUIET),
    "rank": lambda: quantus.RelevanceRankAccuracy(**QUIET),
    "topk": lambda: quantus.TopKIntersection(k=scores.topk_pixels(40 * 40), **QUIET),
}


@pytest.mark.parametrize("metric", list(METRICS))
@pytest.mark.parametrize("case", _cases(), ids=lambda c: c[0])
def test_our_metric_equals_quantus_on_the_same_arrays(metric: str, case) -> None:
    _, heat, mask = case
    ours = scores.score_all(torch.from_numpy(heat), torch.from_numpy(mask))[metric].numpy()
    np.testing.assert_allclose(ours, _quantus(METRICS[metric](), heat, mask), rtol=1e-6, atol=1e-9)


def test_every_standard_metric_is_checked_against_quantus() -> None:
    """The two that Quantus lacks are the seed's IoU curve and the optimistic best IoU (known answers in
    tests/test_lens_metrics.py and tests/test_ground_truth.py)."""
    assert set(scores.METRICS) - set(METRICS) == {"iou_auc", "best_iou"}
