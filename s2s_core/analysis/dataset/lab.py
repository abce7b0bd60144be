"""Fig. 3 (Sec. 3.3.1): global L*a*b* histograms of the originals and of every reconstruction.

Counts are kept (:class:`~s2s_core.analysis.lab.LabHistogramAccumulator`), so the result does not depend on
the batch size. Writes ``lab_histograms.csv``: ``ae,channel,bin_lo,bin_hi,density``.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from s2s_core.analysis.dataset.base import Analysis, BatchViews, option
from s2s_core.analysis.lab import LabHistogramAccumulator


@dataclass(frozen=True)
class LabOptions:
    lab_bins: int = option(64, "bins per L*a*b* channel of the histograms", metavar="N")


class LabAnalysis(Analysis):
    """Fig. 3: global L*a*b* histograms of the inputs and of every reconstruction."""

    name = "lab_histograms"
    Options = LabOptions

    def setup(self) -> None:
        self.hists = {view: LabHistogramAccumulator(bins=self.options.lab_bins) for view in self.views}

    def update(self, views: BatchViews) -> None:
        for view, acc in self.hists.items():
            acc.update(views.images[view])

    def tables(self) -> dict[str, pd.DataFrame]:
        return {"lab_histograms": pd.concat([acc.frame(view) for view, acc in self.hists.items()],
                                            ignore_index=True)}
