"""Every lens scored against ground truth: pixel AUC and best-threshold IoU of each heatmap against the mask.

For data with masks of where the class is (the demo's test split: the shape, :mod:`s2s_core.data.masks`),
each heatmap lens of :mod:`s2s_core.analysis.heatmap_lenses` (S2S's |A_i − A_S| and |x − A_i|, the relevant
channels under the interpolating DeconvNet and guided backpropagation, the plain gradient, and any lens
registered later) is scored per image as an8flower is scored (Oramas et al., seed 004;
:mod:`s2s_core.analysis.heatmap_scores`), for every classifier with a fine-tuned AE. Beside every row: the
same scores of a random heatmap on the same images (the chance level; seeded per image, so the numbers do not
depend on the batch size). Writes ``ground_truth.csv``; without masks in the data it writes nothing.
"""

from __future__ import annotations

import math

import pandas as pd
import torch

from s2s_core.analysis.dataset.base import Analysis, BatchViews, Moments
from s2s_core.analysis.heatmap_lenses import HEATMAP_LENSES, LensContext
from s2s_core.analysis.heatmap_scores import best_iou, binary_masks, pixel_auc, random_heatmaps

#: Seed stream of the chance heatmaps: image i of the data gets generator seed CHANCE_SEED + i.
CHANCE_SEED = 1_800_000


class GroundTruthAnalysis(Analysis):
    """Ground truth: pixel AUC / best IoU of each lens's heatmap vs the masks, beside a random heatmap's."""

    name = "ground_truth"

    def setup(self) -> None:
        self.context = LensContext(self.zoo)
        self.scores: dict[tuple[str, str], tuple[Moments, Moments]] = {}
        self.chance = (Moments(), Moments())

    def update(self, views: BatchViews) -> None:
        if views.masks is None:
            return
        mask = binary_masks(views.masks)
        valid = mask.flatten(1).any(1) & ~mask.flatten(1).all(1)
        if not bool(valid.any()):
            return
        chance = torch.stack([random_heatmaps((1, *mask.shape[1:]), CHANCE_SEED + views.start + b)[0]
                              for b in range(mask.shape[0])])
        self._add(self.chance, chance, mask, valid)
        self.context.start_batch(views)
        for lens in HEATMAP_LENSES.values():
            for name in self.names:
                heat = lens.compute(self.context, name)
                if heat is not None:
                    self._add(self.scores.setdefault((lens.key, name), (Moments(), Moments())), heat, mask, valid)

    @staticmethod
    def _add(acc: tuple[Moments, Moments], heat: torch.Tensor, mask: torch.Tensor, valid: torch.Tensor) -> None:
        heat, mask = heat.detach().float().cpu(), mask.cpu()
        acc[0].add(pixel_auc(heat, mask)[valid])
        acc[1].add(best_iou(heat, mask)[0][valid])

    def tables(self) -> dict[str, pd.DataFrame]:
        if not self.scores:
            return {}
        rows = [{"lens": key, "label": HEATMAP_LENSES[key].label, "classifier": name,
                 "auc": auc.mean, "auc_std": auc.std, "iou": iou.mean, "iou_std": iou.std,
                 "chance_auc": self.chance[0].mean, "chance_iou": self.chance[1].mean, "n": auc.n}
                for (key, name), (auc, iou) in self.scores.items()]
        order = {k: i for i, k in enumerate(HEATMAP_LENSES)}
        frame = pd.DataFrame(rows)
        frame["_o"] = frame["lens"].map(order).fillna(math.inf)
        return {"ground_truth": frame.sort_values("_o", kind="stable").drop(columns="_o").reset_index(drop=True)}


def ground_truth_wide(frame: pd.DataFrame, metric: str = "auc", classifiers: list[str] | None = None) -> pd.DataFrame:
    """``ground_truth.csv`` as lens (rows, by label, in file order) x classifier (columns: ``classifiers``, else
    file order) of ``metric`` (``"auc"`` or ``"iou"``) as ``mean ± std``, the random heatmap's score last."""
    if metric not in ("auc", "iou"):
        raise ValueError(f"metric must be 'auc' or 'iou', got {metric!r}")
    cell = frame.assign(cell=[f"{m:.3f} ± {s:.3f}" for m, s in zip(frame[metric], frame[f"{metric}_std"],
                                                                     strict=True)])
    labels = list(dict.fromkeys(frame["label"]))
    wide = cell.pivot(index="label", columns="classifier", values="cell").reindex(labels)
    order = [c for c in (classifiers or []) if c in set(frame["classifier"])] or list(dict.fromkeys(frame["classifier"]))
    wide = wide[order].fillna("—")
    chance = frame.groupby("label", sort=False)[f"chance_{metric}"].first().reindex(labels)
    wide["random heatmap (chance)"] = [f"{v:.3f}" for v in chance]
    wide.index.name = "lens"
    return wide
