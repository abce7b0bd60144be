"""Feature inversion over a data set (Mahendran & Vedaldi 2015, seed 003), set against S2S's A_i (Sec. 3.3).

For the first ``options.per_class`` images of every class met (in the evaluation's seeded order), each
classifier i and each of
``options.inversion_layers`` of its default layers (:func:`~s2s_core.models.layers.default_layers`: its block
outputs, evenly spaced; for the demo networks its layers evenly spaced from the first to the last): the inversion x* of the image at that layer
(:func:`~s2s_core.lenses.inversion.invert.invert`, the paper's settings, ``options.inversion_steps`` steps, the random
start of image k seeded with ``options.seed + k``, so no number depends on the batch size), its normalised error
``‖Φ_ℓ(x*) − Φ_ℓ(x)‖ / ‖Φ_ℓ(x)‖``, the same error of A_i(x), and i's top-1 on x*, on A_i(x) and on x for the
same images. Chance is 1 / classes. A row per (classifier, layer) says which lens keeps more of what i uses, at
which depth. Writes ``inversion.csv``. Expensive (an optimisation per image, layer and classifier), so it runs
only when asked for: ``s2s evaluate ZOO --data DIR --only inversion``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import pandas as pd

from s2s_core.analysis.dataset.base import Analysis, BatchViews, Counts, Moments, option, seed_option
from s2s_core.errors import ConfigError
from s2s_core.lenses.inversion.invert import STEPS, InversionSettings, feature_errors, invert
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
        self.errors: dict[tuple[str, str], Moments] = {}
        self.ae_errors: dict[tuple[str, str], Moments] = {}
        self.on_inversion: dict[tuple[str, str], Counts] = {}
        self.on_view = {(clf, view): Counts() for clf in self.names for view in (ORIGINAL, ae_key(clf))}

    def _layers_of(self, clf: str, size: int) -> list[LayerInfo]:
        if clf not in self.layers:
            self.infos[clf] = list_layers(self.zoo.classifiers[clf], size)
            self.layers[clf] = default_layers(self.zoo.classifiers[clf], self.infos[clf],
                                              int(self.options.inversion_layers))
            for info in self.layers[clf]:
                key = (clf, info.name)
                self.errors[key], self.ae_errors[key], self.on_inversion[key] = Moments(), Moments(), Counts()
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
        seeds = [int(self.options.seed) + views.item(k) for k in chosen]
        for clf in self.names:
            model = self.zoo.classifiers[clf]
            for view in (ORIGINAL, ae_key(clf)):
                self.on_view[(clf, view)].add(views.logits(clf, view)[chosen], y)
            ae = views.images[ae_key(clf)][chosen]
            for info in self._layers_of(clf, int(x.shape[-1])):
                key = (clf, info.name)
                result = invert(model, x, info.name, self.settings, layer_infos=self.infos[clf], seeds=seeds)
                self.errors[key].add(result.errors[info.name])
                self.ae_errors[key].add(feature_errors(model, x, ae, [info])[info.name])
                self.on_inversion[key].add(model(result.images.to(x.device)), y)

    def tables(self) -> dict[str, pd.DataFrame]:
        chance = 1.0 / max(int(self.zoo.num_classes), 1)
        rows = []
        for clf in self.names:
            for info in self.layers.get(clf, []):
                key = (clf, info.name)
                rows.append({
                    "classifier": clf, "layer": info.name, "kind": info.kind, "depth": info.depth,
                    "n": self.errors[key].n, "error_mean": self.errors[key].mean, "error_std": self.errors[key].std,
                    "ae_error_mean": self.ae_errors[key].mean, "top1_inversion": self.on_inversion[key].rate(1),
                    "top1_ae": self.on_view[(clf, ae_key(clf))].rate(1),
                    "top1_original": self.on_view[(clf, ORIGINAL)].rate(1), "chance": chance,
                    "steps": self.settings.steps})
        if not rows:
            raise ConfigError("inversion saw no images: the data has no labelled images")
        return {"inversion": pd.DataFrame(rows)}
