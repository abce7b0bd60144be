"""The S2S control (issue 26 item 3): is what A_i does to x the classifier's doing, or the fine-tuning's?

For every A_i with a control A_rand,i in the zoo (A_S's decoder tuned with A_i's recipe through a randomly
initialised copy of i, :mod:`s2s_core.demo.controls`), per test image:

* ``change``: mean over pixels and RGB of |A(x) − A_S(x)| (reconstructions clamped to [0, 1]): how far fine-tuning
  moved A_S (Sec. 3.3's |A_i − A_S| map, averaged);
* ``top1_by_i``: 1 if i reads A(x) right (Table 1's i∘A_i, and i∘A_rand,i: does the control keep what i needs?);
* ``psnr``: PSNR of A(x) against x in dB;
* ``auc``: where the data has masks, the pixel AUC of |x − A(x)| against the filled mask (S2S's second heatmap).

One row per classifier and measure with A_i's mean, the control's, A_S's (where it applies) and the paired
bootstrap 95 % interval of A_i − control over the same images; the verdict says which is higher or that they
tie. An effect that the control shows as strongly is the AE's and the recipe's, not i's. The controls are decoded
from the code of the batch's one encoder pass (``BatchViews.code``), so the analysis costs a decoder and a
classifier pass per control, no encoder pass; it writes nothing for a zoo without controls.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from s2s_core.analysis.dataset.base import Analysis, BatchViews
from s2s_core.analysis.stats import paired_bootstrap
from s2s_core.lenses.scores import binary_masks, pixel_auc
from s2s_core.views import BASE_KEY, ae_key

MEASURES = {"change": "mean |A(x) − A_S(x)|", "top1_by_i": "i's top-1 on A(x)", "psnr": "PSNR of A(x) vs x (dB)",
            "auc": "pixel AUC of |x − A(x)| (filled mask)"}
VERDICTS = {"higher": "A_i higher", "lower": "control higher", "tie": "tie"}
COLUMNS = ["classifier", "measure", "label", "a_i", "control", "a_s", "diff", "ci_low", "ci_high", "n", "verdict"]


def _psnr(ref: torch.Tensor, img: torch.Tensor) -> torch.Tensor:
    """``(B,)`` PSNR in dB of ``img`` against ``ref`` (both ``(B, 3, S, S)`` in [0, 1])."""
    mse = (img - ref).pow(2).flatten(1).mean(1).clamp_min(1e-12)
    return 10 * torch.log10(1.0 / mse)


class S2SControlAnalysis(Analysis):
    """The S2S control: A_i against A_S's decoder tuned through a random copy of i (change, i's top-1, PSNR, AUC)."""

    name = "s2s_control"

    def setup(self) -> None:
        self.chosen = [n for n in self.names if n in getattr(self.zoo, "controls", {})]
        self.values: dict[tuple[str, str, str], list[np.ndarray]] = {}  # (classifier, measure, which) -> per image

    def _add(self, name: str, measure: str, which: str, values: torch.Tensor) -> None:
        self.values.setdefault((name, measure, which), []).append(values.double().cpu().numpy())

    def update(self, views: BatchViews) -> None:
        if not self.chosen:
            return
        code = views.code if views.code is not None else self.zoo.encode(views.x)  # the batch's own pass
        base = views.images[BASE_KEY].clamp(0, 1)
        masks = binary_masks(views.masks).cpu() if views.masks is not None else None
        for name in self.chosen:
            shown = {"a_i": views.images[ae_key(name)],
                     "control": self.zoo.base.decode(code, self.zoo.controls[name])}
            for which, image in shown.items():
                clamped = image.clamp(0, 1)
                self._add(name, "change", which, (clamped - base).abs().flatten(1).mean(1))
                self._add(name, "top1_by_i", which, self.zoo.classifiers[name](image).argmax(1) == views.y)
                self._add(name, "psnr", which, _psnr(views.x, clamped))
                if masks is not None:
                    self._add(name, "auc", which, pixel_auc((views.x - clamped).abs().mean(1).cpu(), masks))
            self._add(name, "top1_by_i", "a_s", views.logits(name, BASE_KEY).argmax(1) == views.y)
            self._add(name, "psnr", "a_s", _psnr(views.x, base))

    def tables(self) -> dict[str, pd.DataFrame]:
        if not self.values:
            return {}
        rows = []
        for name in self.chosen:
            for measure, label in MEASURES.items():
                if (name, measure, "a_i") not in self.values:
                    continue
                mine, theirs = (np.concatenate(self.values[(name, measure, w)]) for w in ("a_i", "control"))
                a_s = self.values.get((name, measure, "a_s"))
                test = paired_bootstrap(mine, theirs)
                rows.append({"classifier": name, "measure": measure, "label": label, "a_i": float(np.nanmean(mine)),
                             "control": float(np.nanmean(theirs)),
                             "a_s": float(np.nanmean(np.concatenate(a_s))) if a_s else float("nan"),
                             "diff": test.diff, "ci_low": test.ci_low, "ci_high": test.ci_high, "n": test.n,
                             "verdict": VERDICTS[test.verdict]})
        return {"s2s_control": pd.DataFrame(rows, columns=COLUMNS)}
