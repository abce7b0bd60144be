"""Figs. 8-9 (Sec. 3.5): intra nMI(x, A(x)) and inter nMI(A(x1), A(x2)) per AE, beside the estimator's chance level.

**Pairs.** The paper draws inter-class pairs at random. Here images ``2k`` and ``2k + 1`` of the data stream
form pair ``k`` when their labels differ (a same-class pair is left out and counted); ``s2s evaluate`` streams
the data in the seeded order of :func:`s2s_core.analysis.pairs.pair_order`, which puts random pairs of
different classes next to each other, so every AE (and the originals) is scored on the same pairs. A batch's
last image waits for the next batch's first, so pairs and numbers do not depend on the batch size.

**Chance level.** The same estimator on the same pairs of *originals*, nMI(x1, x2) of two unrelated images, is
the chance level every other row is read against (row ``ae = original, kind = inter``).

**Estimators.** The primary one follows the binning rule for the images' sample count with the Miller-Madow
correction (:func:`s2s_core.analysis.nmi.estimator_for`); the raw 256-level estimator (scikit-learn's, as the
paper's numbers presumably were) is reported too, each with its own chance level.

Writes (all through :mod:`s2s_core.results`):

* ``nmi.csv``: one row per (estimator, kind, ae), primary estimator first: mean, sample standard deviation,
  standard error, 95 % t-interval, n (images for intra, pairs for inter), the chance level (mean, std, se, n)
  and how far the mean lies above it (difference with a Welch 95 % interval).
* ``nmi_pairs.csv``: every pair (stream positions, data indices, labels, files when known) and its inter nMI
  for the originals and every AE (primary estimator): the pairs can be checked and the numbers recomputed.
* ``nmi_differences.csv``: paired differences between AEs (same images for intra, same pairs for inter; inter
  also against the originals' pairs), primary estimator, with 95 % t-intervals.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np
import pandas as pd
import torch

from s2s_core import results
from s2s_core.analysis.dataset.base import Analysis, BatchViews, option
from s2s_core.analysis.nmi import RAW, Estimator, estimator_for, nmi_batch
from s2s_core.analysis.stats import difference_of_means, paired_difference, summarize
from s2s_core.views import ORIGINAL

SUMMARY = results.SUMMARY_COLUMNS
NMI_COLUMNS = results.spec("nmi").columns
PAIR_COLUMNS = results.NMI_PAIR_COLUMNS
DIFF_COLUMNS = results.NMI_DIFF_COLUMNS


@dataclass(frozen=True)
class NmiOptions:
    nmi_estimator: str | None = option(None, "force the nMI estimator, e.g. raw-256 (scikit-learn's) or mm-64; "
                                             "default: levels by the binning rule for the image size, Miller-Madow "
                                             "corrected", metavar="NAME")


class NmiAnalysis(Analysis):
    """Figs. 8-9: intra- and inter-class nMI per AE beside the chance level of random pairs of originals."""

    name = "nmi"
    tables_written = ("nmi", "nmi_pairs", "nmi_differences")
    Options = NmiOptions

    def setup(self) -> None:
        self.aes = self.views[1:]
        self.estimators: list[Estimator] = []  # fixed at the first batch, from the image size
        self.intra: dict[tuple[str, str], list[np.ndarray]] = {}  # (estimator, ae) -> per-image values
        self.inter: dict[tuple[str, str], list[np.ndarray]] = {}  # (estimator, view) -> per-pair values
        self.pairs: list[dict] = []
        self.carry: dict | None = None  # the last unpaired image of the stream

    def _choose(self, views: BatchViews) -> None:
        forced = self.options.nmi_estimator
        primary = Estimator.parse(forced) if forced else estimator_for(int(views.x[0].numel()))
        self.estimators = [primary] + ([RAW] if primary != RAW else [])

    def update(self, views: BatchViews) -> None:
        if not self.estimators:
            self._choose(views)
        for est in self.estimators:
            for ae in self.aes:
                self.intra.setdefault((est.name, ae), []).append(nmi_batch(views.x, views.images[ae], est).cpu().numpy())
        ids = views.ids if views.ids is not None else torch.arange(views.start, views.start + views.size)
        batch = {"pos": torch.arange(views.start, views.start + views.size), "id": ids.cpu(), "y": views.y.cpu(),
                 **{v: views.images[v] for v in (ORIGINAL, *self.aes)}}
        stream = batch if self.carry is None else {k: torch.cat([self.carry[k], batch[k]]) for k in batch}
        even = stream["y"].shape[0] // 2 * 2
        self.carry = {k: t[even:] for k, t in stream.items()}
        if not even:
            return
        first, second = slice(0, even, 2), slice(1, even, 2)
        keep = stream["y"][first] != stream["y"][second]
        if not keep.any():
            return
        values = {}
        for est in self.estimators:
            for view in (ORIGINAL, *self.aes):
                a, b = stream[view][first][keep.to(stream[view].device)], stream[view][second][keep.to(stream[view].device)]
                values[(est.name, view)] = nmi_batch(a, b, est).cpu().numpy()
                self.inter.setdefault((est.name, view), []).append(values[(est.name, view)])
        primary = self.estimators[0].name
        names = self.data.item_names
        for k, (p1, p2, i1, i2, y1, y2) in enumerate(zip(*(stream[c][s][keep].tolist() for c in ("pos", "id", "y")
                                                           for s in (first, second)), strict=True)):
            row = {"pair": len(self.pairs), "first": p1, "second": p2, "first_id": i1, "second_id": i2,
                   "first_label": y1, "second_label": y2}
            if names:
                row.update(first_file=names[i1], second_file=names[i2])
            row.update({view: float(values[(primary, view)][k]) for view in (ORIGINAL, *self.aes)})
            self.pairs.append(row)

    def _values(self, table: dict, est: str, view: str) -> np.ndarray:
        parts = table.get((est, view), [])
        return np.concatenate(parts) if parts else np.zeros(0)

    def tables(self) -> dict[str, pd.DataFrame]:
        rows, diffs = [], []
        for est in self.estimators:
            chance = summarize(self._values(self.inter, est.name, ORIGINAL))
            for kind, table, views in (("intra", self.intra, self.aes), ("inter", self.inter, (ORIGINAL, *self.aes))):
                for view in views:
                    s = summarize(self._values(table, est.name, view))
                    above, _, low, high = difference_of_means(s, chance)
                    rows.append({"ae": view, "kind": kind, "estimator": est.name, "levels": est.levels,
                                 **s.as_dict(), **{f"chance_{k}": getattr(chance, k) for k in ("mean", "std", "se", "n")},
                                 "above_chance": above, "above_chance_low": low, "above_chance_high": high})
        primary = self.estimators[0].name if self.estimators else RAW.name
        for kind, table, views in (("intra", self.intra, self.aes), ("inter", self.inter, (*self.aes, ORIGINAL))):
            for a, b in combinations(views, 2):
                d = paired_difference(self._values(table, primary, a), self._values(table, primary, b))
                diffs.append({"kind": kind, "first": a, "second": b, "estimator": primary, **d.as_dict()})
        pairs = pd.DataFrame(self.pairs, columns=[*PAIR_COLUMNS, *(["first_file", "second_file"]
                             if self.data.item_names else []), ORIGINAL, *self.aes])
        out = {"nmi": pd.DataFrame(rows, columns=list(NMI_COLUMNS))}
        if self.pairs:  # fewer than two images of different classes: no pairs, no inter rows to compare
            out.update(nmi_pairs=pairs, nmi_differences=pd.DataFrame(diffs, columns=list(DIFF_COLUMNS)))
        return out
