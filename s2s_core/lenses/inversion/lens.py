"""Feature inversion as a lens (Mahendran & Vedaldi, "Understanding Deep Image Representations by Inverting
Them", CVPR 2015; seed 003): the image x* that layer ℓ of classifier i cannot tell apart from x. Its heatmap is
the error map ``|x − x*|`` (:mod:`s2s_core.lenses.inversion.error_map`). An optimisation per image, so in a
data set it scores only the first ``inversion_per_class`` images of every class met in the evaluation's seeded
order (``s2s evaluate --gt-inversion-per-class N``, with ``inversion_steps`` steps), NaN elsewhere; off by
default. On one image (:meth:`FeatureInversion.view`) it shows x* and its error map per classifier.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import torch

from s2s_core.lenses.base import BatchContext, Column, Heatmap, Lens
from s2s_core.lenses.inversion.error_map import GT_SEED, GT_STEPS, default_layer, inversion_error_map
from s2s_core.lenses.tiles import heat_tile


class FeatureInversion(Lens):
    key = "inversion"
    title = "Feature inversion"
    summary = ("the image that layer ℓ of classifier i cannot tell apart from x (Mahendran & Vedaldi, CVPR "
               "2015), beside S2S's A_i(x)")
    paper = "Mahendran & Vedaldi, Understanding Deep Image Representations by Inverting Them, CVPR 2015"
    default = False
    heatmaps = (Heatmap("inversion_error", "feature inversion |x − x*| (mid layer, {steps} steps)"),)

    def _chosen(self, ctx: BatchContext) -> list[int]:
        """This batch's images that the map scores: the first ``inversion_per_class`` of every class met so far
        among the images with a scorable mask (once per batch)."""
        taken = ctx.state(f"{self.key}.taken", Counter)
        per_class = int(ctx.options.get("inversion_per_class", 0))
        chosen = []
        for k, label in enumerate(ctx.batch.y.tolist()):
            if (ctx.valid is None or bool(ctx.valid[k])) and taken[label] < per_class:
                taken[label] += 1
                chosen.append(k)
        return chosen

    def heatmap(self, ctx: BatchContext, classifier: str, variant: str,
                target: torch.Tensor | None = None) -> torch.Tensor | None:
        if int(ctx.options.get("inversion_per_class", 0)) < 1:
            ctx.skipped[(self.key, classifier)] = "off (an optimisation per image: --gt-inversion-per-class N)"
            return None
        chosen = ctx.cached((self.key, "chosen"), lambda: self._chosen(ctx))
        x = ctx.x
        out = torch.full((x.shape[0], x.shape[-2], x.shape[-1]), float("nan"), device=x.device)
        if chosen:
            clf = ctx.zoo.classifiers[classifier]
            layers = ctx.state(f"{self.key}.layers", dict)
            if classifier not in layers:
                layers[classifier] = default_layer(clf, ctx.size)
            out[chosen] = inversion_error_map(
                clf, x[chosen], layers[classifier].name, steps=int(ctx.options.get("inversion_steps", GT_STEPS)),
                seeds=[GT_SEED + ctx.batch.item(k) for k in chosen]).to(x.device)
        return out

    def column(self, ctx: BatchContext, classifier: str, *, mask: np.ndarray | None = None,
               factor: int = 1) -> tuple[Column, dict[str, np.ndarray]]:
        """The error map ``|x − x*|`` from the default layer (``inversion_steps`` steps)."""
        clf = ctx.zoo.classifiers[classifier]
        layer = default_layer(clf, ctx.size)
        steps = int(ctx.options.get("inversion_steps", GT_STEPS))
        error = inversion_error_map(clf, ctx.x, layer.name, steps=steps, seeds=[GT_SEED])
        values = error[0].detach().float().cpu().numpy()
        column = Column(classifier, f"{classifier}: {layer.name}", tiles=[
            heat_tile(values, f"|x − x*| at {layer.name} ({steps} steps)", mask, factor)])
        return column, {"inversion_error": values}
