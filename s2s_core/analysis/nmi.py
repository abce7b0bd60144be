"""Normalised mutual information between images, Sec. 3.5 (Figs. 8-9), and the estimator the analyses use.

``nMI(X, Y) = I(X; Y) / sqrt(H(X) H(Y))`` (Strehl & Ghosh), where ``X`` and ``Y`` are the grey levels of
corresponding pixels of two images, all channels flattened together.

**The raw estimator** (:func:`nmi`, :func:`nmi_batch` with the defaults ``levels=256, corrected=False``) is the
plug-in estimate on 8-bit values: exactly ``sklearn.metrics.normalized_mutual_info_score(a.ravel(), b.ravel(),
average_method="geometric")``, including its conventions (both entropies zero -> 1.0; zero mutual information
-> 0.0). It is biased upwards by about ``(levels - 1)² / (2 N)`` nats for ``N`` samples: a 64 px RGB image has
N = 12,288 samples for 65,536 joint cells, and two independent uniform-noise images score about 0.32.

**The estimator of the analyses** (:func:`estimator_for`), chosen for the sample count by a documented rule:

1. *Binning*: ``levels`` is the largest power of two <= 256 with ``levels² <= N / 8``, i.e. at least eight
   samples per joint cell on average (``N`` = pixels × channels of one image): 32 levels at 64 px,
   128 levels at 224 px, 256 levels from 419 px. Grey levels are pooled in equal-width bins of
   ``256 / levels`` values.
2. *Bias correction* (Miller-Madow): every entropy gets ``+ (m - 1) / (2 N)`` for its ``m`` occupied bins,
   so ``I`` loses ``(m_XY - m_X - m_Y + 1) / (2 N)``; nMI is the corrected ``I`` over the corrected
   entropies. Identical images still give exactly 1; independent noise gives about 0 (it may dip just
   below 0, which is kept so that means over many pairs stay unbiased).

Both together: two independent uniform-noise 64 px images score about 0.000 instead of 0.32 (binning alone:
0.012). What remains for unrelated *natural* images (shared layout, colour statistics, the channel pooling)
is measured, not assumed: the analyses report every nMI beside the chance level, the mean nMI of random pairs
of unrelated originals with the same estimator on the same data
(:class:`~s2s_core.analysis.dataset.nmi.NmiAnalysis`).

The joint histogram of a chunk of pairs is one ``torch.bincount`` over ``a * L + b`` shifted by ``L² n`` for
pair ``n`` (64 pairs per chunk on CUDA; on the CPU one pair per call measured fastest); entropies come from the
counts in float64 (``H = log T - sum(c log c) / T``). It runs on the CPU or the GPU, wherever the images are.

* intra-class nMI: ``nMI(x, A_i(x))``; inter-class nMI: ``nMI(A_i(x1), A_i(x2))``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from s2s_core.errors import ConfigError

LEVELS = 256
#: Pairs per bincount call in :func:`nmi_batch` on CUDA (a (chunk, L, L) histogram: 0.5 MB per pair at L = 256).
CHUNK = 64
#: Pairs per bincount call on the CPU, where one pair at a time measured fastest (benchmarks/bench_nmi.py).
CPU_CHUNK = 1
#: The binning rule's minimum mean number of samples per joint cell.
SAMPLES_PER_CELL = 8


@dataclass(frozen=True)
class Estimator:
    """How nMI is estimated: ``levels`` grey levels per value (a power of two <= 256) and whether the
    Miller-Madow bias correction is applied. ``Estimator()`` is the raw (scikit-learn) estimator."""

    levels: int = LEVELS
    corrected: bool = False

    def __post_init__(self) -> None:
        if self.levels not in {2**k for k in range(1, 9)}:
            raise ConfigError(f"nMI levels must be a power of two from 2 to 256, got {self.levels}")

    @property
    def name(self) -> str:
        """``"raw-256"`` or ``"mm-32"`` (Miller-Madow at 32 levels): the ``estimator`` column of ``nmi.csv``."""
        return f"{'mm' if self.corrected else 'raw'}-{self.levels}"

    def describe(self) -> str:
        if not self.corrected and self.levels == LEVELS:
            return "plug-in estimate on 256 grey levels (Strehl & Ghosh, = scikit-learn)"
        return (f"{self.levels} grey levels (bins of {LEVELS // self.levels})"
                + (", Miller-Madow bias-corrected" if self.corrected else ", plug-in"))

    @classmethod
    def parse(cls, name: str) -> Estimator:
        """The inverse of :attr:`name`."""
        kind, _, levels = str(name).partition("-")
        if kind not in ("raw", "mm") or not levels.isdigit():
            raise ConfigError(f"unknown nMI estimator {name!r}: expected raw-<levels> or mm-<levels>")
        return cls(levels=int(levels), corrected=kind == "mm")


RAW = Estimator()


def levels_for(samples: int) -> int:
    """The binning rule: the largest power of two ``L <= 256`` with ``L² <= samples / 8`` (at least 2)."""
    if samples < 1:
        raise ConfigError(f"nMI needs at least one sample per image, got {samples}")
    levels = 2
    while levels < LEVELS and (2 * levels) ** 2 * SAMPLES_PER_CELL <= samples:
        levels *= 2
    return levels


def estimator_for(samples: int) -> Estimator:
    """The estimator the analyses use for images of ``samples`` values (pixels × channels): the binning rule
    of :func:`levels_for` with the Miller-Madow correction (module docstring)."""
    return Estimator(levels=levels_for(samples), corrected=True)


def quantize(x: torch.Tensor | np.ndarray, levels: int = LEVELS) -> torch.Tensor:
    """Image values as grey levels.

    Args:
        x: uint8 (kept as is) or floating point in [0, 1] (clamped, then ``round(x * 255)``), any shape.
        levels: a power of two <= 256; the 8-bit value ``v`` falls into bin ``v * levels // 256``.

    Returns:
        int32 tensor of the same shape with values in ``0 .. levels - 1``, on the same device.
    """
    t = torch.as_tensor(x)
    if t.dtype == torch.uint8:
        q = t.to(torch.int32)
    elif not t.is_floating_point():
        raise ConfigError(f"images for nMI must be uint8 or floating point in [0, 1], got {t.dtype}")
    else:
        q = torch.round(t.clamp(0.0, 1.0) * 255.0).to(torch.int32)
    return q if levels == LEVELS else q // (LEVELS // levels)


def nmi(a: torch.Tensor | np.ndarray, b: torch.Tensor | np.ndarray, estimator: Estimator = RAW) -> float:
    """nMI of two images of the same shape (``(H, W, 3)`` or ``(3, H, W)``, uint8 or float in [0, 1])."""
    ta, tb = _check(torch.as_tensor(a), torch.as_tensor(b))
    if ta.numel() == 0:
        raise ConfigError("nMI of empty images is undefined")
    L = estimator.levels
    return float(_nmi_chunk(quantize(ta.reshape(1, -1), L), quantize(tb.reshape(1, -1), L), L,
                            estimator.corrected)[0])


def nmi_batch(a: torch.Tensor | np.ndarray, b: torch.Tensor | np.ndarray, estimator: Estimator = RAW) -> torch.Tensor:
    """nMI of ``N`` image pairs at once.

    Args:
        a, b: ``(N, ...)`` uint8 or float in [0, 1] (e.g. ``(N, 3, H, W)``), same shape and device.
        estimator: levels and correction (default: the raw scikit-learn estimator).

    Returns:
        ``(N,)`` float64 tensor on the images' device, ``out[n] = nmi(a[n], b[n], estimator)``.
    """
    ta, tb = _check(torch.as_tensor(a), torch.as_tensor(b))
    if ta.dim() < 2 or math.prod(ta.shape[1:]) == 0:
        raise ConfigError(
            f"nmi_batch expects (N, ...) batches of non-empty images, got shape {tuple(ta.shape)}"
        )
    size = math.prod(ta.shape[1:])
    ta, tb = ta.reshape(ta.shape[0], size), tb.reshape(tb.shape[0], size)
    L = estimator.levels
    # Quantise chunk by chunk: on the CPU, large temporary tensors cost more (page faults) than the loop.
    step = CHUNK if ta.device.type == "cuda" else CPU_CHUNK
    parts = [
        _nmi_chunk(quantize(ta[s : s + step], L), quantize(tb[s : s + step], L), L, estimator.corrected)
        for s in range(0, ta.shape[0], step)
    ]
    return torch.cat(parts) if parts else torch.zeros(0, dtype=torch.float64, device=ta.device)


def _check(ta: torch.Tensor, tb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if ta.shape != tb.shape:
        raise ConfigError(
            f"nMI needs two images of the same shape, got {tuple(ta.shape)} and {tuple(tb.shape)}"
        )
    if ta.device != tb.device:
        raise ConfigError(f"nMI needs both images on one device, got {ta.device} and {tb.device}")
    return ta, tb


def _entropy(counts: torch.Tensor, total: float, corrected: bool) -> torch.Tensor:
    """Entropy in nats of each row of ``counts`` (float64), all rows summing to ``total``; with ``corrected``
    plus the Miller-Madow term ``(occupied bins - 1) / (2 total)``."""
    h = np.log(total) - torch.xlogy(counts, counts).sum(dim=1) / total
    if corrected:
        h = h + ((counts > 0).sum(dim=1) - 1).to(h.dtype) / (2.0 * total)
    return h


def _nmi_chunk(qa: torch.Tensor, qb: torch.Tensor, levels: int = LEVELS, corrected: bool = False) -> torch.Tensor:
    """nMI of rows of ``(n, P)`` integer level tensors (0 .. levels - 1), as float64 ``(n,)``."""
    n, p = qa.shape
    cells = levels * levels
    index = qa * levels + qb
    if n > 1:  # pair k counts into bins [k * L², (k + 1) * L²)
        index = index + torch.arange(n, device=qa.device, dtype=index.dtype).unsqueeze(1) * cells
    joint = torch.bincount(index.reshape(-1), minlength=n * cells)
    joint = joint.to(torch.float64).reshape(n, levels, levels)
    h_a = _entropy(joint.sum(dim=2), p, corrected)
    h_b = _entropy(joint.sum(dim=1), p, corrected)
    h_ab = _entropy(joint.reshape(n, -1), p, corrected)
    mi = h_a + h_b - h_ab
    # sklearn's conventions: a single level in both images is a perfect match (1.0); otherwise no shared
    # information is 0.0 (this also covers one constant image, where sqrt(H_a H_b) = 0).
    single_a = (joint.sum(dim=2) > 0).sum(dim=1) == 1
    single_b = (joint.sum(dim=1) > 0).sum(dim=1) == 1
    denom = torch.sqrt(h_a * h_b)
    out = torch.where(denom > 0, mi / denom.clamp_min(1e-300), torch.zeros_like(mi))
    out = torch.where(single_a & single_b, torch.ones_like(out), out)
    # The plug-in estimate lies in [0, 1] up to rounding; the corrected one may dip below 0 (kept: unbiased
    # means) and never exceeds 1 (I <= min(H_a, H_b) holds for the corrected terms too).
    return out.clamp(0.0, 1.0) if not corrected else out.clamp(max=1.0)
