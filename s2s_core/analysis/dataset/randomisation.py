"""Cascading model-parameter randomisation of every lens (Adebayo et al., "Sanity checks for saliency maps",
NeurIPS 2018, Sec. 3.1; issue 26 item 2): a lens whose maps stay the same once the classifier's weights are
random explains the image, not the classifier.

For every classifier and every step of :func:`s2s_core.models.randomise.cascade` (the top layer re-initialised,
then evenly spaced cuts downwards, then every layer), every heatmap of every lens that reads a classifier
(``needs_model``; lenses off by default, feature inversion, are left out, and so are the model-free maps, which
read no weights to randomise) is drawn under the randomised copy and compared, per image, with the same lens's
map under the original classifier:

* Spearman's rank correlation of the ``S * S`` pixel values (ties averaged; NaN for a constant map, left out);
* SSIM (scikit-image, default 7 x 7 window) of the two maps, each divided by its own maximum (data range 1).

Each on the first ``randomisation_images`` images of the evaluation's seeded order, with a t-interval of the
mean (:func:`s2s_core.analysis.stats.summarize`). The lens is drawn on a copy of the zoo whose classifier of
that name is the randomised copy, with a fresh :class:`~s2s_core.lenses.base.BatchContext` per step (a lens
caches its probes per classifier); the zoo's classifiers are never changed.

Verdict per heatmap and classifier, from Spearman's mean at the last step (every layer random): ``fails`` when
its interval lies above :data:`THRESHOLD` (the maps keep most of their ranking with no trained weight left),
``passes`` when it lies below, ``unclear`` when it contains it. 0.5 is the midpoint between unrelated maps (0)
and unchanged ones (1): maps of a random network still share the image's edges, so a passing lens need not
reach 0. A lens that reads no weights when it is drawn (``reads_weights`` False: S2S, whose A_i was tuned
through i beforehand) gets the verdict :data:`NOT_READ` instead: randomising i cannot change its maps, and the
question belongs to the S2S control (A_S's decoder tuned through a random i).

Writes ``randomisation.csv``: ``lens,heatmap,label,classifier,step,layer,fraction,metric,mean,ci_low,ci_high,n,
verdict``. Cost on the demo zoo (5 classifiers, 6 steps, gradient and relevant channels): see
:data:`COST_NOTE`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from scipy.stats import rankdata
from skimage.metrics import structural_similarity

from s2s_core.analysis.dataset.base import Analysis, BatchViews, option
from s2s_core.analysis.stats import summarize
from s2s_core.errors import ConfigError
from s2s_core.lenses.base import BatchContext, Heatmap, Lens
from s2s_core.lenses.registry import heatmap_rows
from s2s_core.models.randomise import DEFAULT_STEPS, RANDOMISATION_SEED, RandomisedCopy, cascade

#: Spearman's mean at the last step above which (whole interval) a lens fails, below which it passes.
THRESHOLD = 0.5
METRICS = ("spearman", "ssim")
#: The verdict of a lens that reads no classifier weights when its maps are drawn.
NOT_READ = "not model-parameter-dependent at evaluation; see the S2S control"
COST_NOTE = "about 0.5 s per image on the demo zoo, 5 classifiers x 6 steps: 52 s for 100 images on one CPU thread"


@dataclass(frozen=True)
class RandomisationOptions:
    randomisation_images: int = option(100, "images of the model-randomisation check (the first N of the seeded "
                                            f"order; {COST_NOTE})", metavar="N")
    randomisation_steps: int = option(DEFAULT_STEPS, "randomised steps per classifier after the original: the top "
                                                     "layer, evenly spaced cuts downwards, every layer", metavar="K")
    randomisation_seed: int = option(RANDOMISATION_SEED, "seed of the re-initialisations (step k: seed + k)",
                                     metavar="SEED")


class _ZooWith:
    """The zoo as a lens sees it, with classifier ``name`` replaced by ``model`` (everything else delegated)."""

    def __init__(self, zoo, name: str, model: torch.nn.Module) -> None:
        self._zoo = zoo
        self.classifiers = {**zoo.classifiers, name: model}

    def __getattr__(self, attr: str):
        return getattr(self._zoo, attr)


def spearman_rows(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """``(B,)`` Spearman rank correlation of the rows of two ``(B, N)`` arrays (ties get their average rank);
    NaN where either row is constant."""
    ra, rb = rankdata(first, axis=1), rankdata(second, axis=1)
    ra -= ra.mean(axis=1, keepdims=True)
    rb -= rb.mean(axis=1, keepdims=True)
    norm = np.sqrt((ra * ra).sum(axis=1) * (rb * rb).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(norm > 0, (ra * rb).sum(axis=1) / np.where(norm > 0, norm, 1.0), np.nan)


def _unit_max(heat: np.ndarray) -> np.ndarray:
    """A map ``(S, S)`` divided by its maximum (an all-zero map stays zero)."""
    top = float(heat.max())
    return heat / top if top > 0 else np.zeros_like(heat)


def ssim_rows(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """``(B,)`` SSIM of two stacks of maps ``(B, S, S)``, each map divided by its maximum (data range 1)."""
    return np.array([structural_similarity(_unit_max(a), _unit_max(b), data_range=1.0)
                     for a, b in zip(first, second, strict=True)], dtype=np.float64)


def compare(original: torch.Tensor, randomised: torch.Tensor) -> dict[str, np.ndarray]:
    """Per image, ``{"spearman": (B,), "ssim": (B,)}`` between two ``(B, S, S)`` maps; images whose maps are
    not finite (a lens that skipped them) give NaN."""
    a = original.detach().double().cpu().numpy()
    b = randomised.detach().double().cpu().numpy()
    finite = np.isfinite(a).reshape(len(a), -1).all(1) & np.isfinite(b).reshape(len(b), -1).all(1)
    out = {metric: np.full(len(a), np.nan) for metric in METRICS}
    if finite.any():
        out["spearman"][finite] = spearman_rows(a[finite].reshape(finite.sum(), -1),
                                                b[finite].reshape(finite.sum(), -1))
        out["ssim"][finite] = ssim_rows(a[finite], b[finite])
    return out


def verdict(spearman_last: tuple[float, float], reads_weights: bool = True) -> str:
    """``fails`` / ``passes`` / ``unclear`` from the interval ``(low, high)`` of Spearman's mean at the last step
    against :data:`THRESHOLD`; :data:`NOT_READ` for a lens that reads no weights when drawn."""
    if not reads_weights:
        return NOT_READ
    low, high = spearman_last
    if low > THRESHOLD:
        return "fails"
    if high < THRESHOLD:
        return "passes"
    return "unclear"


def _head(views: BatchViews, m: int) -> BatchViews:
    """The first ``m`` images of a batch (its views, labels, ids and masks)."""
    if m >= views.size:
        return views
    return BatchViews(x=views.x[:m], y=views.y[:m], images={k: v[:m] for k, v in views.images.items()},
                      names=views.names, zoo=views.zoo, start=views.start,
                      ids=None if views.ids is None else views.ids[:m],
                      natives={k: v[:m] for k, v in views.natives.items()},
                      masks=None if views.masks is None else views.masks[:m])


class RandomisationAnalysis(Analysis):
    """Model randomisation (Adebayo et al.): every lens's maps vs. its maps under top-down randomised classifiers."""

    name = "randomisation"
    default = False
    Options = RandomisationOptions

    def setup(self) -> None:
        o = self.options
        if o.randomisation_images < 1 or o.randomisation_steps < 1:
            raise ConfigError("the model-randomisation check needs at least 1 image and 1 step (got "
                              f"{o.randomisation_images} images, {o.randomisation_steps} steps)")
        self.rows: list[tuple[Lens, Heatmap]] = [(lens, spec) for lens, spec in heatmap_rows()
                                                 if lens.needs_model and lens.default]
        self.original = BatchContext(self.zoo, {})
        self.copies: dict[str, list[RandomisedCopy]] = {}
        self.contexts: dict[tuple[str, int], BatchContext] = {}
        for name in self.names:
            self.copies[name] = list(cascade(self.zoo.classifiers[name], o.randomisation_steps,
                                             o.randomisation_seed))
            for c in self.copies[name][1:]:
                self.contexts[(name, c.step)] = BatchContext(_ZooWith(self.zoo, name, c.model), {})
        self.values: dict[tuple[str, str, str, int], dict[str, list[np.ndarray]]] = {}
        self.seen = 0

    def update(self, views: BatchViews) -> None:
        left = self.options.randomisation_images - self.seen
        if left <= 0:
            return
        batch = _head(views, left)
        self.seen += batch.size
        self.original.start_batch(batch)
        for ctx in self.contexts.values():
            ctx.start_batch(batch)
        for lens, spec in self.rows:
            for name in self.names:
                before = lens.heatmap(self.original, name, spec.key)
                if before is None:
                    continue
                self._add((lens.key, spec.key, name, 0), compare(before, before))
                for c in self.copies[name][1:]:
                    after = lens.heatmap(self.contexts[(name, c.step)], name, spec.key)
                    if after is not None:
                        self._add((lens.key, spec.key, name, c.step), compare(before, after))

    def _add(self, key: tuple[str, str, str, int], values: dict[str, np.ndarray]) -> None:
        acc = self.values.setdefault(key, {m: [] for m in METRICS})
        for metric, v in values.items():
            acc[metric].append(v)

    def tables(self) -> dict[str, pd.DataFrame]:
        if not self.values:
            return {}
        lenses = {lens.key: lens for lens, _ in self.rows}
        labels = {(lens.key, spec.key): spec.label for lens, spec in self.rows}
        rows = []
        for (lens_key, heat_key, name, step), acc in self.values.items():
            c = self.copies[name][step]
            for metric in METRICS:
                s = summarize(np.concatenate(acc[metric]))
                rows.append({"lens": lens_key, "heatmap": heat_key, "label": labels[(lens_key, heat_key)],
                             "classifier": name, "step": step, "layer": c.layer, "fraction": c.fraction,
                             "metric": metric, "mean": s.mean, "ci_low": s.ci_low, "ci_high": s.ci_high, "n": s.n})
        table = pd.DataFrame(rows)
        verdicts = {}
        for (heat_key, name), group in table.groupby(["heatmap", "classifier"], sort=False):
            last = group[(group["metric"] == "spearman") & (group["step"] == group["step"].max())].iloc[0]
            verdicts[(heat_key, name)] = verdict((last["ci_low"], last["ci_high"]),
                                                 lenses[last["lens"]].reads_weights)
        table["verdict"] = [verdicts[(h, n)] for h, n in zip(table["heatmap"], table["classifier"], strict=True)]
        return {"randomisation": table}


def randomisation_summary(table: pd.DataFrame) -> pd.DataFrame:
    """One row per heatmap and classifier of a ``randomisation.csv`` table: Spearman's mean and interval at the
    last step (every layer random) and the verdict."""
    spearman = table[table["metric"] == "spearman"]
    last = spearman[spearman["step"] == spearman.groupby(["heatmap", "classifier"])["step"].transform("max")]
    return last[["lens", "heatmap", "classifier", "mean", "ci_low", "ci_high", "n", "verdict"]].reset_index(drop=True)
