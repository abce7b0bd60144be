"""Two classifiers side by side on one image: the single-image view of Table 2 (Sec. 3.4).

For classifiers ``i`` and ``j`` and an :class:`~s2s_core.inspection.Inspection` of an image ``x``: the difference
``|A_i(x) - A_j(x)|`` between what their fine-tuned AEs keep, and each classifier's top-k on its own AE's
reconstruction and on the other's (``i∘A_i``, ``i∘A_j``, ``j∘A_j``, ``j∘A_i``): Table 2's four cells for
this pair, on one image instead of a test set.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from s2s_core.errors import ConfigError
from s2s_core.views import ae_key


def _check(inspection, i: str, j: str) -> None:
    for name in (i, j):
        if name not in inspection.names:
            raise ConfigError(f"no classifier {name!r} in this zoo; choose one of {', '.join(inspection.names)}")


def pair_difference(inspection, i: str, j: str) -> np.ndarray:
    """``(S, S)`` float32 in [0, 1]: ``|A_i(x) - A_j(x)|`` averaged over R, G, B (of the shown 8-bit images)."""
    _check(inspection, i, j)
    a = inspection.images[ae_key(i)].astype(np.float32)
    b = inspection.images[ae_key(j)].astype(np.float32)
    return (np.abs(a - b).mean(axis=2) / 255.0).astype(np.float32)


def difference_scale(diff: np.ndarray, quantile: float = 0.99) -> float:
    """An upper end for the colour scale of ``diff``: its ``quantile`` (at least 1/255)."""
    return float(max(np.quantile(diff, quantile), 1.0 / 255.0))


def cross_top1(inspection, i: str, j: str) -> pd.DataFrame:
    """2×2, rows the AEs ``A_i, A_j``, columns the classifiers ``i, j``: top-1 ``"label (p%)"`` of each
    classifier on each reconstruction (Table 2's layout: rows A, columns classifiers)."""
    _check(inspection, i, j)
    return pd.DataFrame({c: [inspection.predictions[c][ae_key(a)].text(1) for a in (i, j)] for c in (i, j)},
                        index=pd.Index([ae_key(i), ae_key(j)], name="reconstruction"))


def cross_topk(inspection, i: str, j: str) -> pd.DataFrame:
    """Top-k by rank of ``i∘A_i``, ``i∘A_j``, ``j∘A_j`` and ``j∘A_i`` on this image (``"label p%"``)."""
    _check(inspection, i, j)
    cols = {}
    for c, a in ((i, i), (i, j), (j, j), (j, i)):
        p = inspection.predictions[c][ae_key(a)]
        cols[f"{c}∘A_{a}(x)"] = [f"{lab} {q:.0%}" for lab, q in zip(p.labels, p.probs, strict=True)]
    k = len(next(iter(cols.values())))
    return pd.DataFrame(cols, index=pd.RangeIndex(1, k + 1, name="rank"))
