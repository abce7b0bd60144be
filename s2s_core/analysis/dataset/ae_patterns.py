"""The image-independent part of each AE (Sec. 3.3.1): mean and spread of A(x) - x, the mean's power spectrum,
colour cast and the strength of the peak at SegNet's un-pooling period (:mod:`s2s_core.analysis.ae_patterns`).

Writes ``ae_patterns.csv`` (one row per AE: A_S, then every A_i) and ``ae_patterns.safetensors`` with the
arrays ``<ae>/mean`` and ``<ae>/std`` (3, S, S) and ``<ae>/spectrum`` (S, S, DC at [0, 0]).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from s2s_core import results
from s2s_core.analysis.ae_patterns import UNPOOL_PERIOD, PatternAccumulator, peak, power_spectrum
from s2s_core.analysis.dataset.base import Analysis, BatchViews


class AePatternsAnalysis(Analysis):
    """Image-independent part of each AE: mean and std of A(x) - x, colour cast, un-pooling peak."""

    name = "ae_patterns"
    tables_written = ("ae_patterns", "ae_pattern_images")

    def setup(self) -> None:
        self.accumulator = PatternAccumulator()

    def update(self, views: BatchViews) -> None:
        self.accumulator.update(views.x, {ae: views.images[ae] for ae in self.views[1:]})

    def tables(self) -> dict:
        acc = self.accumulator
        if not acc.n:
            return {}
        rows, arrays = [], {}
        for ae in self.views[1:]:
            mean, std = acc.mean(ae), acc.std(ae)
            spectrum = power_spectrum(mean)
            ratio, share = peak(spectrum, UNPOOL_PERIOD)
            ratio4, _ = peak(spectrum, 2 * UNPOOL_PERIOD)
            cast = mean.mean(dim=(1, 2)).tolist()
            rows.append({"ae": ae, "n": acc.n, "cast_r": cast[0], "cast_g": cast[1], "cast_b": cast[2],
                         "mean_abs": float(mean.abs().mean()), "std_mean": float(std.mean()),
                         "peak_period": UNPOOL_PERIOD, "peak_ratio": ratio, "peak_share": share, "peak4_ratio": ratio4})
            arrays.update({f"{ae}/mean": mean.float(), f"{ae}/std": std.float(),
                           f"{ae}/spectrum": torch.from_numpy(np.ascontiguousarray(spectrum)).float()})
        return {"ae_patterns": pd.DataFrame(rows, columns=list(results.PATTERN_COLUMNS)),
                "ae_pattern_images": arrays}
