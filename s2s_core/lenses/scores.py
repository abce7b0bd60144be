"""Scoring a heatmap against a ground-truth mask: the standard localisation metrics, by their standard names.

A heatmap says how much each pixel matters; the mask says where the class is. Every score is computed per image
on ``(B, H, W)`` tensors (:func:`score_all` gives them all, in the order of :data:`METRICS`); the definitions are
Quantus 0.6's (Hedström et al., JMLR 2023), and ``tests/test_quantus_parity.py`` checks that they agree on the
same arrays:

* **pixel AUC** (``auc``): the probability that a random pixel inside the mask scores higher than a random pixel
  outside (ties count half): the ROC AUC of the heatmap as a pixel classifier. 1 = every mask pixel above every
  other, 0.5 = chance whatever the mask's size, 0 = the complement.
* **pointing game** (``pointing``, Zhang et al., ECCV 2016): 1 if a pixel of the heatmap's maximum lies in the
  mask (Quantus: any of the tied maxima), else 0. Chance = the mask's share of the image.
* **relevance mass accuracy** (``mass``, Arras et al., 2022): the share of the heatmap's total mass inside the
  mask (heatmaps are non-negative). Chance for uniform noise = the mask's share.
* **relevance rank accuracy** (``rank``, Arras et al.): with K the mask's pixel count, the share of the heatmap's K
  highest pixels that lie in the mask. Chance = the mask's share.
* **top-k intersection** (``topk``, Theiner et al., 2021): the share of the heatmap's k highest pixels in the
  mask, with k a fixed :data:`TOPK_FRACTION` of the image (Quantus fixes k = 1000 pixels for 224 px; 5 % is
  about that share, and scales with the image).
* **area under the IoU curve** (``iou_auc``, Oramas et al., seed 004): the heatmap scaled to [0, 1] by its
  maximum, binarised at every threshold of :data:`IOU_THRESHOLDS` (``heat >= t``), and the IoU with the mask
  integrated over the thresholds (trapezoids). A binary map equal to the mask scores ``1 − (1 − a) / 200``
  (a = the mask's share), not 1: at t = 0 every pixel is marked.
* **best IoU** (``best_iou``): the largest IoU over every threshold the heatmap takes. It picks the threshold
  with the answer in hand, so it is **optimistic**: reported, never used for a verdict.

Ties are broken by pixel index (the earlier pixel ranks higher) where a metric picks pixels. Masks with no pixel
or every pixel give NaN. Two masks are used (:func:`outline_band`): the filled shape and a band around its
contour. :func:`random_heatmaps` gives the chance baseline: i.i.d. uniform noise scored the same way.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

#: Coverage above which a mask pixel counts as inside the shape (the stored masks are anti-aliased).
MASK_THRESHOLD = 0.5


def binary_masks(masks: torch.Tensor) -> torch.Tensor:
    """``(B, 1, H, W)`` or ``(B, H, W)`` coverage in [0, 1] -> ``(B, H, W)`` bool (coverage >= 0.5)."""
    if masks.dim() == 4:
        masks = masks[:, 0]
    return masks >= MASK_THRESHOLD


def _check(heat: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if heat.dim() != 3 or heat.shape != mask.shape:
        raise ValueError(f"heatmaps (B, H, W) and masks (B, H, W) must match, got {tuple(heat.shape)} and "
                         f"{tuple(mask.shape)}")
    return heat.detach().reshape(heat.shape[0], -1).double().cpu(), mask.reshape(mask.shape[0], -1).bool().cpu()


def pixel_auc(heat: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``(B,)`` ROC AUC of each heatmap ``(B, H, W)`` as a classifier of its mask ``(B, H, W)`` (bool).

    Mann-Whitney with average ranks for ties; NaN for a mask that is empty or full.
    """
    h, m = _check(heat, mask)
    out = torch.full((h.shape[0],), float("nan"), dtype=torch.float64)
    for b in range(h.shape[0]):
        pos = int(m[b].sum())
        neg = m.shape[1] - pos
        if pos == 0 or neg == 0:
            continue
        values, inverse, counts = torch.unique(h[b], return_inverse=True, return_counts=True)
        ends = counts.cumsum(0).double()
        avg_rank = ends - (counts.double() - 1) / 2  # 1-based average rank of each distinct value
        rank_sum = avg_rank[inverse][m[b]].sum()
        out[b] = (rank_sum - pos * (pos + 1) / 2) / (pos * neg)
    return out


def best_iou(heat: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(iou (B,), threshold (B,))``: the largest IoU of ``heat >= t`` with the mask over every threshold ``t``
    the heatmap takes, and that ``t``. NaN for a mask that is empty or full."""
    h, m = _check(heat, mask)
    ious = torch.full((h.shape[0],), float("nan"), dtype=torch.float64)
    thresholds = torch.full_like(ious, float("nan"))
    for b in range(h.shape[0]):
        pos = int(m[b].sum())
        if pos == 0 or pos == h.shape[1]:
            continue
        order = torch.argsort(h[b], descending=True, stable=True)
        sorted_h, hits = h[b][order], m[b][order].double()
        tp = hits.cumsum(0)
        k = torch.arange(1, h.shape[1] + 1, dtype=torch.float64)
        last = torch.ones_like(sorted_h, dtype=torch.bool)  # the last pixel of each group of equal values
        last[:-1] = sorted_h[:-1] != sorted_h[1:]
        iou = torch.where(last, tp / (pos + k - tp), torch.zeros_like(tp))
        best = int(torch.argmax(iou))
        ious[b], thresholds[b] = iou[best], sorted_h[best]
    return ious, thresholds


def random_heatmaps(shape: tuple[int, int, int], seed: int = 0) -> torch.Tensor:
    """``(B, H, W)`` i.i.d. uniform noise from a generator seeded with ``seed``: the chance heatmap."""
    return torch.rand(shape, generator=torch.Generator().manual_seed(seed))


#: Share of the image's pixels that the top-k intersection takes (k = round(share * H * W), at least 1).
TOPK_FRACTION = 0.05
#: Thresholds of the IoU curve (on the heatmap scaled to [0, 1] by its maximum).
IOU_THRESHOLDS = torch.linspace(0, 1, 101, dtype=torch.float64)
#: Half-width of the outline band, in pixels, per 64 pixels of image side (2 px at 64 px, 7 px at 224 px).
OUTLINE_RADIUS_PER_64 = 2


def _ranked(h: torch.Tensor) -> torch.Tensor:
    """``(B, N)`` pixel indices from the highest value down, ties by index (stable)."""
    return torch.argsort(h, dim=1, descending=True, stable=True)


def _degenerate(m: torch.Tensor) -> torch.Tensor:
    """``(B,)`` True where a mask ``(B, N)`` is empty or full (no score is defined)."""
    pos = m.sum(1)
    return (pos == 0) | (pos == m.shape[1])


def pointing_game(heat: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``(B,)`` 1.0 where any pixel at the heatmap's maximum lies in the mask, else 0.0 (Zhang et al. 2016)."""
    h, m = _check(heat, mask)
    at_max = h == h.max(dim=1, keepdim=True).values
    out = (at_max & m).any(1).double()
    return out.masked_fill(_degenerate(m), float("nan"))


def relevance_mass(heat: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``(B,)`` the share of the (non-negative) heatmap's sum inside the mask (Arras et al.); NaN for a map that is
    zero everywhere."""
    h, m = _check(heat, mask)
    total = h.sum(1)
    out = (h * m).sum(1) / total
    return out.masked_fill(_degenerate(m) | (total <= 0), float("nan"))


def _top_share(h: torch.Tensor, m: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """``(B,)`` share of the ``k[b]`` highest pixels of each map that lie in its mask."""
    hits = torch.gather(m.double(), 1, _ranked(h)).cumsum(1)
    return hits.gather(1, (k.clamp(min=1) - 1)[:, None])[:, 0] / k.clamp(min=1)


def relevance_rank(heat: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``(B,)`` the share of the heatmap's K highest pixels inside the mask, K = the mask's size (Arras et al.)."""
    h, m = _check(heat, mask)
    return _top_share(h, m, m.sum(1)).masked_fill(_degenerate(m), float("nan"))


def topk_pixels(pixels: int) -> int:
    """k of the top-k intersection for an image of ``pixels`` pixels (:data:`TOPK_FRACTION`, at least 1)."""
    return max(1, round(TOPK_FRACTION * pixels))


def topk_intersection(heat: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``(B,)`` the share of the heatmap's k highest pixels (:func:`topk_pixels`) inside the mask (Theiner et al.)."""
    h, m = _check(heat, mask)
    k = torch.full((h.shape[0],), topk_pixels(h.shape[1]), dtype=torch.long)
    return _top_share(h, m, k).masked_fill(_degenerate(m), float("nan"))


def iou_curve(heat: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``(B, T)`` IoU of ``heat / max(heat) >= t`` with the mask at every threshold of :data:`IOU_THRESHOLDS`
    (a map that is zero everywhere marks every pixel at every threshold). One sort per map: the pixels at or
    above ``t`` are a suffix of the ascending order, found by binary search."""
    h, m = _check(heat, mask)
    peak = h.max(dim=1, keepdim=True).values
    scaled = torch.where(peak > 0, h / peak.clamp(min=1e-300), torch.ones_like(h))
    ascending, order = torch.sort(scaled, dim=1)
    hits = torch.zeros(h.shape[0], h.shape[1] + 1, dtype=torch.float64)
    hits[:, 1:] = torch.gather(m.double(), 1, order).cumsum(1)  # mask pixels among the i lowest
    first = torch.searchsorted(ascending, IOU_THRESHOLDS.expand(h.shape[0], -1).contiguous())  # first pixel >= t
    marked = h.shape[1] - first
    inter = hits[:, -1:] - hits.gather(1, first)
    return inter / (marked + hits[:, -1:] - inter).clamp(min=1)


def iou_auc(heat: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``(B,)`` area under the IoU-versus-threshold curve (:func:`iou_curve`, trapezoids over [0, 1]; Oramas et
    al., seed 004)."""
    _, m = _check(heat, mask)
    out = torch.trapezoid(iou_curve(heat, mask), IOU_THRESHOLDS, dim=1)
    return out.masked_fill(_degenerate(m), float("nan"))


#: Every metric: key -> (label a reader sees, what it measures). The order of every table.
METRICS: dict[str, tuple[str, str]] = {
    "auc": ("pixel AUC", "probability that a mask pixel outscores a pixel outside it (chance 0.5)"),
    "pointing": ("pointing game", "the map's maximum lies in the mask (chance: the mask's share)"),
    "mass": ("relevance mass accuracy", "share of the map's mass inside the mask"),
    "rank": ("relevance rank accuracy", "share of the map's K top pixels in the mask, K = the mask's size"),
    "topk": ("top-k intersection", f"share of the map's top {TOPK_FRACTION:.0%} pixels in the mask"),
    "iou_auc": ("area under the IoU curve", "IoU with the mask integrated over 101 thresholds (seed 004)"),
    "best_iou": ("best IoU (optimistic)", "IoU at the threshold chosen with the mask in hand"),
}


def score_all(heat: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
    """Every metric of :data:`METRICS` for heatmaps ``(B, H, W)`` and bool masks ``(B, H, W)``: key -> ``(B,)``
    float64 (NaN where undefined)."""
    return {"auc": pixel_auc(heat, mask), "pointing": pointing_game(heat, mask), "mass": relevance_mass(heat, mask),
            "rank": relevance_rank(heat, mask), "topk": topk_intersection(heat, mask),
            "iou_auc": iou_auc(heat, mask), "best_iou": best_iou(heat, mask)[0]}


def outline_radius(size: int) -> int:
    """Half-width in pixels of the outline band for an image side of ``size`` (:data:`OUTLINE_RADIUS_PER_64`)."""
    return max(1, round(OUTLINE_RADIUS_PER_64 * size / 64))


def outline_band(mask: torch.Tensor, radius: int | None = None) -> torch.Tensor:
    """``(B, H, W)`` bool: the pixels within ``radius`` (default :func:`outline_radius`) of the contour of each
    bool mask ``(B, H, W)``: its dilation minus its erosion by a (2r + 1)-pixel square. The demo's class is
    the shape's outline, so this band is where a classifier that reads the outline looks."""
    if mask.dim() != 3:
        raise ValueError(f"masks must be (B, H, W), got {tuple(mask.shape)}")
    r = outline_radius(mask.shape[-1]) if radius is None else int(radius)
    if r < 1:
        raise ValueError(f"the outline band needs a radius of at least 1 pixel, got {r}")
    m = mask.bool().float()[:, None]
    dilated = F.max_pool2d(m, 2 * r + 1, stride=1, padding=r) > 0.5
    eroded = -F.max_pool2d(-m, 2 * r + 1, stride=1, padding=r) > 0.5  # padding is -inf: the border erodes nothing
    return (dilated & ~eroded)[:, 0]
