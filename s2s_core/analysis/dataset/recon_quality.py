"""Reconstruction quality per AE (issue 11; Sec. 3.3.1 measured): PSNR/SSIM against x and against A_S(x),
mean |A_i - A_S|, top-octave spectral energy and the period-2 checkerboard power, with the input as baseline row.

The measures are :mod:`s2s_core.analysis.recon_quality`'s; this module feeds them the views of each batch.
Writes ``recon_quality.csv`` (columns :data:`s2s_core.analysis.recon_quality.COLUMNS`).
"""

from __future__ import annotations

import pandas as pd

from s2s_core.analysis.dataset.base import Analysis, BatchViews
from s2s_core.analysis.recon_quality import ReconQualityAccumulator
from s2s_core.views import BASE_KEY, ORIGINAL


class ReconQualityAnalysis(Analysis):
    """Reconstruction quality per AE: PSNR/SSIM vs. x and A_S(x), |A_i - A_S|, high-frequency energy."""

    name = "recon_quality"

    def setup(self) -> None:
        self.accumulator = ReconQualityAccumulator(base_key=BASE_KEY, original_key=ORIGINAL)

    def update(self, views: BatchViews) -> None:
        self.accumulator.update(views.x, {ae: views.images[ae] for ae in self.views[1:]})

    def tables(self) -> dict[str, pd.DataFrame]:
        return {"recon_quality": self.accumulator.frame()}
