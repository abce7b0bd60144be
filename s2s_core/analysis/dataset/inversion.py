"""Feature inversion over a data set (Mahendran & Vedaldi 2015, seed 003), set against S2S's A_i (Sec. 3.3).

For the first ``options.per_class`` images of every class met (in the evaluation's seeded order), each
classifier i and each of
``options.inversion_layers`` of its default layers (:func:`~s2s_core.models.layers.default_layers`: its block
outputs, evenly spaced; for the demo networks its layers evenly spaced from the first to the last): the inversion x* of the image at that layer
(:func:`~s2s_core.lenses.inversion.invert.invert`, the paper's settings, ``options.inversion_steps`` steps, the random
start of image k seeded with ``options.seed + k``, so no number depends on the batch size), its normalised error
``‖Φ_ℓ(x*) − Φ_ℓ(x)‖ / ‖Φ_ℓ(x)‖``, the same error of A_i(x), and i's top-1 on x*, on A_i(x) and on x for the
same images. Chance is 1 / classes.

On the paper's scale: ``pair_distance`` is the same measure between two different images of the sample, averaged
over its ordered pairs (:func:`~s2s_core.lenses.inversion.invert.mean_pair_distance`); ``error_norm`` and
``ae_error_norm`` are the per-image errors divided by it (1: as far from x as another image), mean with a 95 %
t-interval (:func:`~s2s_core.analysis.stats.summarize`; the scale is taken as fixed), and ``norm_diff`` is
their paired difference x* − A_i(x) with a paired bootstrap interval (below 0: x* lies nearer x's features).
At the logits (depth 1, ``fitted_to_logits``) x* was fitted to i's own output, so i's top-1 on it is
near-tautological and is no evidence for the lens. A row per (classifier, layer). Writes ``inversion.csv``.
Expensive (an optimisation per image, layer and classifier), so it runs only when asked for:
``s2s evaluate ZOO --data DIR --only inversion``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import pandas as pd
import torch

from s2s_core.analysis.dataset.base import Analysis, BatchViews, Counts, option, seed_option
from s2s_core.analysis.stats import paired_bootstrap, summarize
from s2s_core.errors import ConfigError
from s2s_core.lenses.inversion.invert import (
    STEPS,
    InversionSettings,
    feature_errors,
    invert,
    is_logits_layer,
    layer_features,
    mean_pair_distance,
)
from s2s_core.models.layers import LayerInfo, default_layers, list_layers
from s2s_core.views import ORIGINAL, ae_key


@dataclass(frozen=True)
class InversionOptions:
    per_class: int = option(2, "images per class for sampling analyses (inversion)", metavar="N")
    inversion_layers: int = option(4, "layers per classifier for inversion: its stage outputs, evenly spaced "
                                      "(`s2s layers` marks them)", metavar="K")
    inversion_steps: int = option(STEPS, "gradient steps per inversion", metavar="S")
    seed: int = seed_option()


class InversionAnalysis(Analysis):
    """Feature inversion: error and i's top-1 on its inversions from each depth, against A_i (only with --only)."""

    name = "inversion"
    default = False
    Options = InversionOptions

    def setup(self) -> None:
        o = self.options
        if o.per_class < 1 or o.inversion_layers < 1 or o.inversion_steps < 1:
            raise ConfigError("inversion needs at least 1 image per class, 1 layer and 1 step "
                              f"(got {o.per_class}, {o.inversion_layers}, {o.inversion_steps})")
        self.settings = InversionSettings(steps=int(o.inversion_steps), seed=int(o.seed)).check()
        self.taken: Counter[int] = Counter()
        self.infos: dict[str, list[LayerInfo]] = {}
        self.layers: dict[str, list[LayerInfo]] = {}
        self.images: list[torch.Tensor] = []  # the chosen originals, for the pair distances
        self.errors: dict[tuple[str, str], list[torch.Tensor]] = {}
        self.ae_errors: dict[tuple[str, str], list[torch.Tensor]] = {}
        self.on_inversion: dict[tuple[str, str], Counts] = {}
        self.on_view = {(clf, view): Counts() for clf in self.names for view in (ORIGINAL, ae_key(clf))}

    def _layers_of(self, clf: str, size: int) -> list[LayerInfo]:
        if clf not in self.layers:
            self.infos[clf] = list_layers(self.zoo.classifiers[clf], size)
            self.layers[clf] = default_layers(self.zoo.classifiers[clf], self.infos[clf],
                                              int(self.options.inversion_layers))
            for info in self.layers[clf]:
                key = (clf, info.name)
                self.errors[key], self.ae_errors[key], self.on_inversion[key] = [], [], Counts()
        return self.layers[clf]

    def update(self, views: BatchViews) -> None:
        chosen = []
        for k, label in enumerate(views.y.tolist()):
            if self.taken[label] < self.options.per_class:
                self.taken[label] += 1
                chosen.append(k)
        if not chosen:
            return
        x, y = views.x[chosen], views.y[chosen]
        self.images.append(x.detach().cpu())
        seeds = [int(self.options.seed) + views.item(k) for k in chosen]
        for clf in self.names:
            model = self.zoo.classifiers[clf]
            for view in (ORIGINAL, ae_key(clf)):
                self.on_view[(clf, view)].add(views.logits(clf, view)[chosen], y)
            ae = views.images[ae_key(clf)][chosen]
            for info in self._layers_of(clf, int(x.shape[-1])):
                key = (clf, info.name)
                result = invert(model, x, info.name, self.settings, layer_infos=self.infos[clf], seeds=seeds)
                self.errors[key].append(result.errors[info.name].double())
                self.ae_errors[key].append(feature_errors(model, x, ae, [info])[info.name].double())
                self.on_inversion[key].add(model(result.images.to(x.device)), y)

    def _scaled(self, key: tuple[str, str], scale: float) -> dict[str, float | int]:
        """The errors of ``key`` on the paper's scale: means with intervals, and the paired difference."""
        err, ae = torch.cat(self.errors[key]).numpy(), torch.cat(self.ae_errors[key]).numpy()
        norm, ae_norm = summarize(err / scale), summarize(ae / scale)
        diff = paired_bootstrap(err / scale, ae / scale)
        return {"n": int(err.size), "error_mean": float(err.mean()), "error_std": float(err.std()),
                "ae_error_mean": float(ae.mean()), "pair_distance": scale,
                "error_norm": norm.mean, "error_norm_ci_low": norm.ci_low, "error_norm_ci_high": norm.ci_high,
                "ae_error_norm": ae_norm.mean, "ae_error_norm_ci_low": ae_norm.ci_low,
                "ae_error_norm_ci_high": ae_norm.ci_high,
                "norm_diff": diff.diff, "norm_diff_ci_low": diff.ci_low, "norm_diff_ci_high": diff.ci_high}

    def tables(self) -> dict[str, pd.DataFrame]:
        chance = 1.0 / max(int(self.zoo.num_classes), 1)
        images = torch.cat(self.images) if self.images else None
        rows = []
        for clf in self.names:
            layers = self.layers.get(clf, [])
            features = layer_features(self.zoo.classifiers[clf], images, layers) if layers else {}
            for info in layers:
                key = (clf, info.name)
                rows.append({
                    "classifier": clf, "layer": info.name, "kind": info.kind, "depth": info.depth,
                    **self._scaled(key, mean_pair_distance(features[info.name])),
                    "top1_inversion": self.on_inversion[key].rate(1),
                    "top1_ae": self.on_view[(clf, ae_key(clf))].rate(1),
                    "top1_original": self.on_view[(clf, ORIGINAL)].rate(1),
                    "fitted_to_logits": is_logits_layer(info), "chance": chance, "steps": self.settings.steps})
        if not rows:
            raise ConfigError("inversion saw no images: the data has no labelled images")
        return {"inversion": pd.DataFrame(rows)}
