"""Every lens scored against ground truth: pixel AUC and best-threshold IoU of each heatmap against the mask.

For data with masks of where the class is (the demo's test split: the shape, :mod:`s2s_core.data.masks`),
every heatmap of every lens of :mod:`s2s_core.lenses.registry` (S2S's |A_i − A_S| and |x − A_i|, the relevant
channels under the interpolating DeconvNet and guided backpropagation, the plain gradient, and any lens
registered later; the feature-inversion error map when ``gt_inversion_per_class`` > 0, on that many
images per class) is scored per image as an8flower is scored (Oramas et al., seed 004;
:mod:`s2s_core.lenses.scores`), for every classifier with a fine-tuned AE. Beside every row: the
same scores of a random heatmap on the same images as that row (the chance level; seeded per image, so the
numbers do not depend on the batch size). Writes ``ground_truth.csv``; without masks in the data it writes
nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd
import torch

from s2s_core.analysis.dataset.base import Analysis, BatchViews, Moments, option
from s2s_core.errors import ConfigError
from s2s_core.lenses.base import BatchContext
from s2s_core.lenses.inversion.error_map import GT_STEPS
from s2s_core.lenses.registry import heatmap_rows
from s2s_core.lenses.scores import best_iou, binary_masks, pixel_auc, random_heatmaps

#: Seed stream of the chance heatmaps: image i of the data gets generator seed CHANCE_SEED + i.
CHANCE_SEED = 1_800_000


@dataclass(frozen=True)
class GroundTruthOptions:
    gt_inversion_per_class: int = option(0, "also score the feature-inversion error map |x - x*| (i's mid layer) "
                                            "in ground_truth.csv, on the first N images of every class met in the "
                                            "seeded order (0: off; an optimisation per image)", metavar="N")
    gt_inversion_steps: int = option(GT_STEPS, "gradient steps per inversion of that error map", metavar="S")


class GroundTruthAnalysis(Analysis):
    """Ground truth: pixel AUC / best IoU of each lens's heatmap vs the masks, beside a random heatmap's."""

    name = "ground_truth"
    Options = GroundTruthOptions

    def setup(self) -> None:
        o = self.options
        if o.gt_inversion_per_class < 0 or o.gt_inversion_steps < 1:
            raise ConfigError("the ground-truth table's feature-inversion error map needs 0 or more images per "
                              f"class and at least 1 step (got {o.gt_inversion_per_class}, {o.gt_inversion_steps})")
        self.context = BatchContext(self.zoo, {"inversion_per_class": int(o.gt_inversion_per_class),
                                               "inversion_steps": int(o.gt_inversion_steps)})
        self.rows = heatmap_rows()
        #: (lens, classifier) -> (AUC, IoU, chance AUC, chance IoU) over the images that row scored
        self.scores: dict[tuple[str, str], tuple[Moments, Moments, Moments, Moments]] = {}

    def update(self, views: BatchViews) -> None:
        if views.masks is None:
            return
        mask = binary_masks(views.masks)
        valid = mask.flatten(1).any(1) & ~mask.flatten(1).all(1)
        if not bool(valid.any()):
            return
        chance = torch.stack([random_heatmaps((1, *mask.shape[1:]), CHANCE_SEED + views.item(b))[0]
                              for b in range(mask.shape[0])])
        chance_scores = None
        self.context.start_batch(views, valid)
        for lens, spec in self.rows:
            for name in self.names:
                heat = lens.heatmap(self.context, name, spec.key)
                if heat is None:
                    continue
                heat = heat.detach().float().cpu()
                scored = valid & torch.isfinite(heat).flatten(1).all(1)  # a lens may leave images out (NaN)
                if not bool(scored.any()):
                    continue
                if chance_scores is None:
                    chance_scores = self._scores(chance, mask)
                acc = self.scores.setdefault((spec.key, name), (Moments(), Moments(), Moments(), Moments()))
                for moments, values in zip(acc, (*self._scores(heat, mask), *chance_scores), strict=True):
                    moments.add(values[scored])

    @staticmethod
    def _scores(heat: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B,)`` pixel AUC and ``(B,)`` best IoU of ``heat`` against ``mask`` (NaN maps are zeroed first;
        their images are not counted)."""
        heat, mask = torch.nan_to_num(heat.detach().float().cpu()), mask.cpu()
        return pixel_auc(heat, mask), best_iou(heat, mask)[0]

    def tables(self) -> dict[str, pd.DataFrame]:
        if not self.scores:
            return {}
        steps = self.context.options["inversion_steps"]
        labels = {spec.key: spec.label.format(steps=steps) for _, spec in self.rows}
        rows = [{"lens": key, "label": labels[key],
                 "classifier": name,
                 "auc": auc.mean, "auc_std": auc.std, "iou": iou.mean, "iou_std": iou.std,
                 "chance_auc": c_auc.mean, "chance_iou": c_iou.mean, "n": auc.n}
                for (key, name), (auc, iou, c_auc, c_iou) in self.scores.items()]
        order = {spec.key: i for i, (_, spec) in enumerate(self.rows)}
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
