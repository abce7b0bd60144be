"""What the ground-truth table's additions cost per image (issue 25), beside the plain gradient of a demo-sized
classifier on the same batch, the cheapest lens that reads a model.

Figures (64 px, the demo's size, a batch of 32 images; times per image, ratios timed side by side in this run):

* ``scores_ms_per_image``: every metric of :data:`s2s_core.lenses.scores.METRICS` for one heatmap against both
  masks (filled and outline band).
* ``baselines_ms_per_image``: the four model-free maps (centre, edges, spectral residual, border contrast).
* ``scores_vs_gradient``, ``baselines_vs_gradient``: those times over one plain-gradient map of torchvision's
  AlexNet (weights=None) at 64 px.
* ``quantus_over_ours``: Quantus 0.6's time for the five metrics it shares with us over ours (skipped without
  Quantus).
"""

from __future__ import annotations

import numpy as np
import torch
import torchvision
from timing import best_seconds

from s2s_core.lenses.baselines.maps import border_contrast, centre_prior, edge_map, spectral_residual
from s2s_core.lenses.gradient.lens import gradient_heatmap
from s2s_core.lenses.scores import outline_band, score_all, topk_pixels

BATCH, SIZE = 32, 64


def _data() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(BATCH, 3, SIZE, SIZE, generator=g)
    yy, xx = torch.meshgrid(torch.arange(SIZE), torch.arange(SIZE), indexing="ij")
    r = 10 + torch.rand(BATCH, 1, 1, generator=g) * 14
    masks = ((yy - 32) ** 2 + (xx - 30) ** 2)[None] < r**2
    return x, torch.rand(BATCH, SIZE, SIZE, generator=g), masks


def run() -> dict[str, float]:
    x, heat, masks = _data()
    both = {"filled": masks, "outline": outline_band(masks)}
    scores = best_seconds(lambda: [score_all(heat, m) for m in both.values()], reps=3) / BATCH
    baselines = best_seconds(lambda: [f(x) for f in (centre_prior, edge_map, spectral_residual, border_contrast)],
                             reps=3) / BATCH
    model = torchvision.models.alexnet(weights=None, num_classes=10).eval()
    gradient = best_seconds(lambda: gradient_heatmap(model, x), reps=3) / BATCH
    out = {"scores_ms_per_image": round(scores * 1e3, 2), "baselines_ms_per_image": round(baselines * 1e3, 2),
           "gradient_ms_per_image": round(gradient * 1e3, 2), "scores_vs_gradient": round(scores / gradient, 2),
           "baselines_vs_gradient": round(baselines / gradient, 2)}
    try:
        import quantus
    except ImportError:
        return out
    quiet = {"disable_warnings": True, "display_progressbar": False}
    metrics = [quantus.AUC(**quiet), quantus.PointingGame(**quiet), quantus.RelevanceMassAccuracy(**quiet),
               quantus.RelevanceRankAccuracy(**quiet), quantus.TopKIntersection(k=topk_pixels(SIZE * SIZE), **quiet)]
    a, s = heat[:, None].numpy(), masks[:, None].numpy().astype(np.float32)
    kw = {"model": None, "x_batch": x.numpy(), "y_batch": np.zeros(BATCH, dtype=int), "a_batch": a, "s_batch": s}
    theirs = best_seconds(lambda: [m(**kw) for m in metrics], reps=3)
    ours = best_seconds(lambda: score_all(heat, masks), reps=3)
    out["quantus_over_ours"] = round(theirs / ours, 2)
    return out
