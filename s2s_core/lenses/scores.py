"""Scoring a heatmap against a ground-truth mask, as an8flower is scored (Oramas et al., seed 004).

A heatmap says how much each pixel matters; the mask says where the class is. Two scores per image:

* **pixel AUC**: the probability that a random pixel inside the mask scores higher than a random pixel outside
  (ties count half): the area under the ROC curve of the heatmap as a pixel classifier. 1 = every mask pixel
  above every other, 0.5 = chance, 0 = the complement.
* **best IoU**: binarise the heatmap at every threshold it takes (``heat >= t``) and keep the largest
  intersection over union with the mask. A heatmap that highlights exactly the mask scores 1.

Both are computed per image on ``(B, H, W)`` tensors, without loops over pixels. :func:`random_heatmaps` gives
the chance baseline: i.i.d. uniform noise scored the same way (AUC about 0.5; its best IoU is about the mask's
area fraction, what "everything" scores).
"""

from __future__ import annotations

import torch

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
    the heatmap takes, and that ``t``. NaN for an empty mask."""
    h, m = _check(heat, mask)
    ious = torch.full((h.shape[0],), float("nan"), dtype=torch.float64)
    thresholds = torch.full_like(ious, float("nan"))
    for b in range(h.shape[0]):
        pos = int(m[b].sum())
        if pos == 0:
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
