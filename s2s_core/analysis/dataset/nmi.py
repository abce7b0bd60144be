"""Figs. 8-9 (Sec. 3.5): intra-class nMI(x, A(x)) and inter-class nMI(A(x1), A(x2)) per AE (A_S and every A_i).

Inter-class pairs are consecutive images of the data, (0, 1), (2, 3), ...: a batch's last image waits for the
next batch's first, so the pairs (and the numbers) do not depend on the batch size. nMI quantises the
reconstructions to 8-bit images (:func:`s2s_core.analysis.nmi.nmi_batch`). Writes ``nmi.csv``:
``ae,kind,mean,std,n`` (n: images for intra, pairs for inter).
"""

from __future__ import annotations

import pandas as pd
import torch

from s2s_core.analysis.dataset.base import Analysis, BatchViews, Moments
from s2s_core.analysis.nmi import nmi_batch


class NmiAnalysis(Analysis):
    """Figs. 8-9: intra- and inter-class normalised mutual information per AE."""

    name = "nmi"

    def setup(self) -> None:
        self.aes = self.views[1:]
        self.intra = {ae: Moments() for ae in self.aes}
        self.inter = {ae: Moments() for ae in self.aes}
        self.carry: dict[str, torch.Tensor] = {}

    def update(self, views: BatchViews) -> None:
        for ae in self.aes:
            recon = views.images[ae]
            self.intra[ae].add(nmi_batch(views.x, recon))
            pair_source = torch.cat([self.carry[ae], recon]) if ae in self.carry else recon
            even = pair_source.shape[0] // 2 * 2
            if even:
                self.inter[ae].add(nmi_batch(pair_source[0:even:2], pair_source[1:even:2]))
            self.carry[ae] = pair_source[even:]

    def tables(self) -> dict[str, pd.DataFrame]:
        rows = [{"ae": ae, "kind": kind, "mean": m.mean, "std": m.std, "n": m.n}
                for ae in self.aes for kind, m in (("intra", self.intra[ae]), ("inter", self.inter[ae]))]
        return {"nmi": pd.DataFrame(rows)}
