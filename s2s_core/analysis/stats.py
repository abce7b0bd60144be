"""Summaries of samples of per-image scores: mean, standard deviation, standard error and a 95 % confidence
interval, for one sample and for paired differences (Sec. 3.5 reports mean and standard deviation; the
standard error and the interval say how far a mean can be trusted).

The interval is Student's t: ``mean ± t(0.975, n - 1) · s / √n`` with the sample standard deviation ``s``
(``ddof = 1``). With one value the spread and the interval are NaN. A difference between two methods scored on
the same images is decided by :func:`paired_bootstrap`: the percentile interval of the mean per-image
difference over resamples of the images (Efron & Tibshirani 1993, ch. 13), which assumes nothing about the
shape of the scores (pointing-game hits are 0/1, AUCs pile up near 1).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

#: Coverage of the confidence intervals.
CONFIDENCE = 0.95


@dataclass(frozen=True)
class Summary:
    """Mean, sample standard deviation, standard error, t-interval (``ci_low``, ``ci_high``) and count."""

    mean: float
    std: float
    se: float
    ci_low: float
    ci_high: float
    n: int

    def as_dict(self, prefix: str = "") -> dict[str, float | int]:
        return {f"{prefix}{k}": v for k, v in asdict(self).items()}


def summarize(values: Sequence[float] | np.ndarray) -> Summary:
    """:class:`Summary` of the finite values (NaN are left out); no values -> all NaN with ``n = 0``."""
    v = np.asarray(values, dtype=np.float64).ravel()
    v = v[np.isfinite(v)]
    n = int(v.size)
    if n == 0:
        return Summary(*(math.nan,) * 5, 0)
    mean = float(v.mean())
    if n == 1:
        return Summary(mean, math.nan, math.nan, math.nan, math.nan, 1)
    std = float(v.std(ddof=1))
    se = std / math.sqrt(n)
    half = float(stats.t.ppf(0.5 + CONFIDENCE / 2, n - 1)) * se
    return Summary(mean, std, se, mean - half, mean + half, n)


def paired_difference(first: Sequence[float] | np.ndarray, second: Sequence[float] | np.ndarray) -> Summary:
    """:func:`summarize` of ``first - second`` over the items both scored (the same images or pairs)."""
    a, b = np.asarray(first, dtype=np.float64), np.asarray(second, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired samples must have the same length, got {a.shape} and {b.shape}")
    return summarize(a - b)


def difference_of_means(first: Summary, second: Summary) -> tuple[float, float, float, float]:
    """``(difference, se, ci_low, ci_high)`` of two independent means (Welch's interval, normal quantile
    when both samples are large): how far a score lies above its chance level."""
    diff = first.mean - second.mean
    se = math.sqrt(first.se**2 + second.se**2) if first.n > 1 and second.n > 1 else math.nan
    if not math.isfinite(se):
        return diff, math.nan, math.nan, math.nan
    dof = se**4 / ((first.se**4 / (first.n - 1)) + (second.se**4 / (second.n - 1))) if se > 0 else math.inf
    half = float(stats.t.ppf(0.5 + CONFIDENCE / 2, dof)) * se if math.isfinite(dof) else 1.959963984540054 * se
    return diff, se, diff - half, diff + half


def format_interval(value: float, low: float, high: float, digits: int = 2, signed: bool = False) -> str:
    """``"0.31 [0.27, 0.35]"`` (``signed``: ``"+0.031 [+0.021, +0.040]"``): a value with its 95 % interval, as
    every table and sentence of s2s writes one; the value alone where the interval is not known (NaN)."""
    form = f"{{:{'+' if signed else ''}.{digits}f}}"
    if not (math.isfinite(low) and math.isfinite(high)):
        return form.format(value)
    return f"{form.format(value)} [{form.format(low)}, {form.format(high)}]"


def wilson_interval(successes: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The Wilson score interval of a proportion ``successes / n`` (e.g. a top-1 accuracy over n images); NaN for
    ``n = 0``. Unlike ``p ± z·√(p(1−p)/n)`` it stays inside [0, 1] and is not empty at p = 0 or 1."""
    if n <= 0:
        return math.nan, math.nan
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


#: Resamples of :func:`paired_bootstrap` (2000: the percentile interval's ends are stable to about 0.1 of a
#: standard error) and its seed (fixed, so a table regenerated from the same scores gives the same interval).
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 1_800_002


@dataclass(frozen=True)
class PairedBootstrap:
    """Mean per-item difference ``first - second``, its percentile bootstrap interval and the item count."""

    diff: float
    ci_low: float
    ci_high: float
    n: int

    @property
    def verdict(self) -> str:
        """``"higher"`` (the interval lies above 0), ``"lower"`` (below 0) or ``"tie"`` (it holds 0, or n = 0)."""
        if self.ci_low > 0:
            return "higher"
        if self.ci_high < 0:
            return "lower"
        return "tie"

    def as_dict(self, prefix: str = "") -> dict[str, float | int | str]:
        return {f"{prefix}{k}": v for k, v in {**asdict(self), "verdict": self.verdict}.items()}


def paired_bootstrap(first: Sequence[float] | np.ndarray, second: Sequence[float] | np.ndarray, *,
                     resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED,
                     confidence: float = CONFIDENCE) -> PairedBootstrap:
    """Paired percentile bootstrap of the mean of ``first - second`` over the items both scored (pairs with a
    NaN on either side are left out): ``resamples`` resamples of the items with replacement, the interval
    between the ``(1 - confidence) / 2`` and ``(1 + confidence) / 2`` quantiles of their means. With every
    difference equal, the interval is that value; with no pairs, NaN and ``n = 0``."""
    a, b = np.asarray(first, dtype=np.float64).ravel(), np.asarray(second, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"paired samples must have the same length, got {a.shape} and {b.shape}")
    d = a - b
    d = d[np.isfinite(d)]
    n = int(d.size)
    if n == 0:
        return PairedBootstrap(math.nan, math.nan, math.nan, 0)
    rng = np.random.default_rng(seed)
    means = d[rng.integers(0, n, size=(int(resamples), n))].mean(axis=1)
    low, high = np.quantile(means, [(1 - confidence) / 2, (1 + confidence) / 2])
    return PairedBootstrap(float(d.mean()), float(low), float(high), n)
