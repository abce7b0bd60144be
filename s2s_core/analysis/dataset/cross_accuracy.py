"""Table 2 (Sec. 3.4): cross accuracy acc(j∘A_i), the top-1 of classifier j on the reconstructions of A_i.

Writes ``cross_accuracy.csv`` (:mod:`s2s_core.results`): rows ``A_<i>`` (index ``ae``), one column per
classifier j, both in zoo order; the diagonal is acc(i∘A_i), the input of RRC and the concept lattice.
"""

from __future__ import annotations

import pandas as pd

from s2s_core.analysis.dataset.base import Analysis, BatchViews, Counts
from s2s_core.views import ae_key


class CrossAccuracyAnalysis(Analysis):
    """Table 2: top-1 of every classifier j on the reconstructions of every A_i."""

    name = "cross_accuracy"

    def setup(self) -> None:
        self.counts = {(j, i): Counts() for i in self.names for j in self.names}

    def update(self, views: BatchViews) -> None:
        for (j, i), counts in self.counts.items():
            counts.add(views.logits(j, ae_key(i)), views.y)

    def tables(self) -> dict[str, pd.DataFrame]:
        frame = pd.DataFrame([[self.counts[(j, i)].rate(1) for j in self.names] for i in self.names],
                             index=pd.Index([ae_key(i) for i in self.names], name="ae"), columns=self.names)
        return {"cross_accuracy": frame}
