"""S2S's own control (issue 25): ``|x − A_S(x)|``, what the AE loses before any fine-tuning. It reads no
classifier, so it is a baseline, and only for S2S's heatmaps: a map of |x − A_i(x)| that a reader takes as
"what i drops" must show more than what A_S drops anyway."""

from __future__ import annotations

import torch

from s2s_core.lenses.base import BatchContext, Heatmap, Lens
from s2s_core.views import BASE_KEY


class S2SControl(Lens):
    key = "s2s_control"
    title = "S2S control"
    summary = "what the pre-trained AE A_S loses of x before any fine-tuning (the control of the S2S lens)"
    paper = "Palacio et al., What do Deep Networks Like to See?, CVPR 2018"
    needs_model = False
    reads_reconstructions = True
    baseline_for = ("s2s",)
    heatmaps = (Heatmap("ae_control", "|x − A_S(x)| (before fine-tuning)"),)

    def heatmap(self, ctx: BatchContext, classifier: str, variant: str,
                target: torch.Tensor | None = None) -> torch.Tensor | None:
        """``(B, S, S)`` mean over RGB of ``|x − A_S(x)|`` (A_S clamped to [0, 1]); None without A_S in the batch."""
        base = ctx.batch.images.get(BASE_KEY)
        if base is None:
            ctx.skipped[(self.key, classifier)] = "no A_S reconstruction in this batch"
            return None
        return (ctx.x - base.clamp(0, 1)).abs().mean(dim=1)
