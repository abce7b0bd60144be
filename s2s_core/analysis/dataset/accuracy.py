"""Table 1 (Sec. 3.3): top-1/top-5 of every classifier j on the original, on A_S(x) and on every A_i(x).

Writes ``accuracy.csv`` (:mod:`s2s_core.results`): ``classifier,input,top1,top5``, one row per (j, input),
classifiers in zoo order, inputs ``original``, ``A_S``, ``A_<name>``.
"""

from __future__ import annotations

import pandas as pd

from s2s_core.analysis.dataset.base import Analysis, BatchViews, Counts


class AccuracyAnalysis(Analysis):
    """Table 1: top-1/top-5 of every classifier on the original and every reconstruction."""

    name = "accuracy"

    def setup(self) -> None:
        self.classifiers = list(self.zoo.classifiers)
        self.counts = {(clf, view): Counts() for clf in self.classifiers for view in self.views}

    def update(self, views: BatchViews) -> None:
        for (clf, view), counts in self.counts.items():
            counts.add(views.logits(clf, view), views.y)

    def tables(self) -> dict[str, pd.DataFrame]:
        rows = [{"classifier": clf, "input": view, "top1": c.rate(1), "top5": c.rate(5)}
                for (clf, view), c in self.counts.items()]
        return {"accuracy": pd.DataFrame(rows)}
