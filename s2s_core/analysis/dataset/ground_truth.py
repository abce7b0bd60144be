"""Every lens scored against ground truth, beside the maps that need no classifier (issue 25).

For data with masks of where the class is (the demo's test split: the shape, :mod:`s2s_core.data.masks`), every
heatmap of every lens of :mod:`s2s_core.lenses.registry` (S2S's |A_i − A_S| and |x − A_i|, the relevant
channels under the interpolating DeconvNet and guided backpropagation, the plain gradient, any lens registered
later; the feature-inversion error map when ``gt_inversion_per_class`` > 0, on that many images per class) is
scored per image, for every classifier with a fine-tuned AE, by the standard localisation metrics of
:data:`s2s_core.lenses.scores.METRICS` (pixel AUC, pointing game, relevance mass and rank accuracy, top-k
intersection, Oramas et al.'s area under the IoU curve; the best-threshold IoU, optimistic) against two masks:

* ``filled``: the filled shape, the stored mask;
* ``outline``: a band around its contour (:func:`~s2s_core.lenses.scores.outline_band`): the demo's class is
  the shape's outline, and a classifier that looks at the outline should not be marked down for it.

The same images are scored by maps that look at no classifier: a random map (uniform noise, seeded per image:
the chance level), and the model-free lenses of the registry (``needs_model = False``: a centre prior, an edge
map, saliency maps; for S2S its own control |x − A_S(x)|, the AE before any fine-tuning). A lens explains the
classifier only where it beats the **best** of them, so every lens row is compared with the baseline that
scores highest on the same images (per mask and metric), by a paired bootstrap 95 % interval of the per-image
difference (:func:`s2s_core.analysis.stats.paired_bootstrap`); the verdict comes from that interval.

Writes ``ground_truth.csv`` (one row per heatmap, classifier, mask and metric: mean, t-interval of the mean, n)
and ``ground_truth_baselines.csv`` (one row per lens heatmap, classifier, mask and metric: the best baseline on
the same images and the paired difference with its interval and verdict). Without masks in the data it writes
nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from s2s_core.analysis.dataset.base import Analysis, BatchViews, option
from s2s_core.analysis.stats import paired_bootstrap, summarize
from s2s_core.errors import ConfigError
from s2s_core.lenses.base import BatchContext, Lens
from s2s_core.lenses.inversion.error_map import GT_STEPS
from s2s_core.lenses.registry import heatmap_rows
from s2s_core.lenses.scores import METRICS, binary_masks, outline_band, random_heatmaps, score_all

#: Seed stream of the chance heatmaps: image i of the data gets generator seed CHANCE_SEED + i.
CHANCE_SEED = 1_800_000
#: The masks every heatmap is scored against, and what a reader calls them.
MASKS = {"filled": "filled shape", "outline": "outline band"}
#: The chance row: a lens key and heatmap key no registered lens uses.
CHANCE_LENS, CHANCE_KEY, CHANCE_LABEL = "chance", "random", "random map (uniform noise)"
#: Verdicts of a lens against the best baseline, from the paired interval.
VERDICTS = {"higher": "beats", "lower": "below", "tie": "tie"}

#: A row of the tables: (lens key, heatmap key, classifier; "" for a map that reads no classifier).
RowKey = tuple[str, str, str]


@dataclass(frozen=True)
class GroundTruthOptions:
    gt_inversion_per_class: int = option(0, "also score the feature-inversion error map |x - x*| (i's mid layer) "
                                            "in ground_truth.csv, on the first N images of every class met in the "
                                            "seeded order (0: off; an optimisation per image: about 0.1 s per image "
                                            "and classifier on the demo at 64 px, 2 threads; 50 = all 500 demo test "
                                            "images, about 3.5 min more)", metavar="N")
    gt_inversion_steps: int = option(GT_STEPS, "gradient steps per inversion of that error map", metavar="S")


@dataclass
class _Scores:
    """Per-image scores of one row: the images' data indices and, per (mask, metric), their values."""

    items: list[np.ndarray]
    values: dict[tuple[str, str], list[np.ndarray]]

    def frame(self) -> pd.DataFrame:
        """Item-indexed frame, one column per (mask, metric)."""
        index = np.concatenate(self.items)
        return pd.DataFrame({key: np.concatenate(v) for key, v in self.values.items()}, index=index)


class GroundTruthAnalysis(Analysis):
    """Ground truth: every lens's heatmap vs the masks by standard metrics, against the best model-free map."""

    name = "ground_truth"
    tables_written = ("ground_truth", "ground_truth_baselines")
    Options = GroundTruthOptions

    def setup(self) -> None:
        o = self.options
        if o.gt_inversion_per_class < 0 or o.gt_inversion_steps < 1:
            raise ConfigError("the ground-truth table's feature-inversion error map needs 0 or more images per "
                              f"class and at least 1 step (got {o.gt_inversion_per_class}, {o.gt_inversion_steps})")
        self.context = BatchContext(self.zoo, {"inversion_per_class": int(o.gt_inversion_per_class),
                                               "inversion_steps": int(o.gt_inversion_steps)})
        rows = heatmap_rows()
        self.lens_rows = [(lens, spec) for lens, spec in rows if lens.needs_model]
        self.baseline_rows = [(lens, spec) for lens, spec in rows if not lens.needs_model]
        labels = self.context.options
        self.labels: dict[tuple[str, str], str] = {
            (lens.key, spec.key): spec.label.format(steps=labels["inversion_steps"]) for lens, spec in rows}
        self.labels[(CHANCE_LENS, CHANCE_KEY)] = CHANCE_LABEL
        self.lenses: dict[str, Lens] = {lens.key: lens for lens, _ in rows}
        self.scores: dict[RowKey, _Scores] = {}

    def update(self, views: BatchViews) -> None:
        if views.masks is None:
            return
        filled = binary_masks(views.masks).cpu()
        valid = filled.flatten(1).any(1) & ~filled.flatten(1).all(1)
        if not bool(valid.any()):
            return
        masks = {"filled": filled, "outline": outline_band(filled)}
        items = np.array([views.item(b) for b in range(filled.shape[0])], dtype=np.int64)
        chance = torch.stack([random_heatmaps((1, *filled.shape[1:]), CHANCE_SEED + int(i))[0] for i in items])
        self._add((CHANCE_LENS, CHANCE_KEY, ""), chance, valid, masks, items)
        self.context.start_batch(views, valid)
        anyone = self.names[0] if self.names else ""
        for lens, spec in self.baseline_rows:  # maps that read no classifier: once per image
            self._add((lens.key, spec.key, ""), lens.heatmap(self.context, anyone, spec.key), valid, masks, items)
        for lens, spec in self.lens_rows:
            for name in self.names:
                self._add((lens.key, spec.key, name), lens.heatmap(self.context, name, spec.key), valid, masks, items)

    def _add(self, key: RowKey, heat: torch.Tensor | None, valid: torch.Tensor, masks: dict[str, torch.Tensor],
             items: np.ndarray) -> None:
        """Score ``heat`` ``(B, S, S)`` on the images that are ``valid`` and that the lens mapped (a lens may
        leave images out as NaN maps) against every mask, and keep the per-image values."""
        if heat is None:
            return
        heat = heat.detach().float().cpu()
        scored = valid & torch.isfinite(heat).flatten(1).all(1)
        if not bool(scored.any()):
            return
        acc = self.scores.setdefault(key, _Scores([], {}))
        acc.items.append(items[scored.numpy()])
        for kind, mask in masks.items():
            for metric, values in score_all(heat[scored], mask[scored]).items():
                acc.values.setdefault((kind, metric), []).append(values.numpy())

    def per_image(self, metrics: tuple[str, ...], mask: str) -> list[pd.DataFrame]:
        """The per-image scores of every row for ``metrics`` on ``mask``, as frames of ``item, classifier,
        measure, heatmap, value`` (for :mod:`s2s_core.analysis.dataset.per_image`)."""
        out = []
        for (_, heat_key, classifier), acc in self.scores.items():
            frame = acc.frame()
            for metric in metrics:
                out.append(pd.DataFrame({"item": frame.index.to_numpy(), "classifier": classifier, "measure": metric,
                                         "heatmap": heat_key, "value": frame[(mask, metric)].to_numpy()}))
        return out

    def _baselines_for(self, lens_key: str) -> list[RowKey]:
        """The baseline rows a lens is compared with: chance, every model-free map meant for every lens, and
        those meant for this one (``baseline_for``)."""
        out = []
        for key in self.scores:
            if key[2] or key[0] == lens_key:
                continue
            lens = self.lenses.get(key[0])
            meant = None if lens is None else getattr(lens, "baseline_for", None)
            if meant is None or lens_key in meant:
                out.append(key)
        return out

    def tables(self) -> dict[str, pd.DataFrame]:
        if not self.scores:
            return {}
        frames = {key: acc.frame() for key, acc in self.scores.items()}
        order = {(lens.key, spec.key): i for i, (lens, spec) in enumerate(self.lens_rows + self.baseline_rows)}
        keys = sorted(frames, key=lambda k: (bool(not k[2]), order.get(k[:2], len(order)),
                                             self.names.index(k[2]) if k[2] in self.names else 0))
        rows, versus = [], []
        for key in keys:
            lens_key, heat_key, classifier = key
            base = {"lens": lens_key, "heatmap": heat_key, "label": self.labels.get(key[:2], heat_key),
                    "classifier": classifier, "model_free": not classifier}
            for kind in MASKS:
                for metric in METRICS:
                    s = summarize(frames[key][(kind, metric)].to_numpy())
                    rows.append({**base, "mask": kind, "metric": metric, "mean": s.mean, "std": s.std,
                                 "ci_low": s.ci_low, "ci_high": s.ci_high, "n": s.n})
            if classifier:
                versus += self._versus(key, frames, base)
        gt = pd.DataFrame(rows)
        out = {"ground_truth": gt}
        if versus:
            out["ground_truth_baselines"] = pd.DataFrame(versus)
        return out

    def _versus(self, key: RowKey, frames: dict[RowKey, pd.DataFrame], base: dict) -> list[dict]:
        """One row per mask and metric: ``key`` against the baseline that scores highest on its images."""
        own = frames[key]
        candidates = self._baselines_for(key[0])
        out = []
        for kind in MASKS:
            for metric in METRICS:
                col = (kind, metric)
                mine = own[col]
                best, best_mean, theirs = None, -np.inf, None
                for b in candidates:
                    other = frames[b][col].reindex(mine.index)
                    m = float(np.nanmean(other.to_numpy())) if other.notna().any() else -np.inf
                    if m > best_mean:
                        best, best_mean, theirs = b, m, other
                if best is None:
                    continue
                test = paired_bootstrap(mine.to_numpy(), theirs.to_numpy())
                out.append({**{k: base[k] for k in ("lens", "heatmap", "label", "classifier")}, "mask": kind,
                            "metric": metric, "baseline": best[1], "baseline_label": self.labels.get(best[:2], best[1]),
                            "score": float(np.nanmean(mine.to_numpy())), "baseline_score": best_mean,
                            "diff": test.diff, "ci_low": test.ci_low, "ci_high": test.ci_high, "n": test.n,
                            "verdict": VERDICTS[test.verdict]})
        return out
