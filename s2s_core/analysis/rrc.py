"""Relative rate of change (RRC), Sec. 3.4.

``RRC(j∘A_i) = acc(j∘A_i) / min(acc_i, acc_j)`` with ``acc_i = acc(i∘A_i)``: how much of the accuracy of
the weaker of the two models survives when classifier ``j`` reads the signal kept by ``A_i``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from s2s_core.errors import InputTableError

#: RRC values are rounded to this many decimals, so that ratios that are mathematically equal (e.g. two
#: pairs with the same accuracies) compare equal and do not create empty threshold intervals.
RRC_DECIMALS = 12


def rrc_matrix(acc: np.ndarray) -> np.ndarray:
    """RRC of every AE-classifier pair.

    Args:
        acc: ``(n, n)`` cross accuracies, ``acc[i, j] = acc(j∘A_i)``, positive diagonal.

    Returns:
        ``(n, n)`` float64, ``rrc[i, j] = acc[i, j] / min(acc[i, i], acc[j, j])`` (row: AE, column:
        classifier), rounded to :data:`RRC_DECIMALS` decimals; the diagonal is exactly 1.
    """
    acc = np.asarray(acc, dtype=np.float64)
    if acc.ndim != 2 or acc.shape[0] != acc.shape[1] or acc.shape[0] == 0:
        raise InputTableError(f"the cross-accuracy table must be square and non-empty, got shape {acc.shape}")
    diag = np.diag(acc)
    if not np.all(diag > 0):
        raise InputTableError("the diagonal acc(i∘A_i) must be positive because RRC divides by it")
    return np.round(acc / np.minimum.outer(diag, diag), RRC_DECIMALS)


@dataclass(frozen=True)
class RRCPair:
    """One ``j∘A_i`` combination: AE index ``i``, classifier index ``j`` and its RRC."""

    ae: int
    classifier: int
    value: float

    def label(self, names: list[str]) -> str:
        """``"j∘A_i"`` written with classifier names, e.g. ``"V∘A_R"``."""
        return f"{names[self.classifier]}∘A_{names[self.ae]}"


def sorted_pairs(rrc: np.ndarray) -> list[RRCPair]:
    """All ``n²`` pairs sorted by increasing RRC (ties: by AE, then classifier index), as in Fig. 6."""
    rrc = np.asarray(rrc, dtype=np.float64)
    n = rrc.shape[0]
    pairs = [RRCPair(i, j, float(rrc[i, j])) for i in range(n) for j in range(n)]
    return sorted(pairs, key=lambda p: (p.value, p.ae, p.classifier))
