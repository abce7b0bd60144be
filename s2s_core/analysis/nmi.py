"""Normalised mutual information between images, Sec. 3.5 (Figs. 8-9).

``nMI(X, Y) = I(X; Y) / sqrt(H(X) H(Y))`` (Strehl & Ghosh), where ``X`` and ``Y`` are the 8-bit values of
corresponding pixels of two images, all channels flattened together: exactly
``sklearn.metrics.normalized_mutual_info_score(a.ravel(), b.ravel(), average_method="geometric")``,
including its conventions (both entropies zero -> 1.0; zero mutual information -> 0.0).

The joint histogram of a chunk of pairs is one ``torch.bincount`` over ``a * 256 + b`` shifted by
``65536 * n`` for pair ``n`` (64 pairs per chunk on CUDA; on the CPU one pair per call measured fastest); entropies come from the counts in float64 (``H = log T - sum(c log c) / T``). It runs on
the CPU or the GPU, wherever the images are.

* intra-class nMI: ``nMI(x, A_i(x))``; inter-class nMI: ``nMI(A_i(x1), A_i(x2))``.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from s2s_core.errors import ConfigError

LEVELS = 256
#: Pairs per bincount call in :func:`nmi_batch` on CUDA (a (chunk, 256, 256) histogram: 0.5 MB per pair).
CHUNK = 64
#: Pairs per bincount call on the CPU, where one pair at a time measured fastest (benchmarks/bench_nmi.py).
CPU_CHUNK = 1


def quantize(x: torch.Tensor | np.ndarray) -> torch.Tensor:
    """Image values as 8-bit levels.

    Args:
        x: uint8 (kept as is) or floating point in [0, 1] (clamped, then ``round(x * 255)``), any shape.

    Returns:
        int32 tensor of the same shape with values in 0..255, on the same device.
    """
    t = torch.as_tensor(x)
    if t.dtype == torch.uint8:
        return t.to(torch.int32)
    if not t.is_floating_point():
        raise ConfigError(f"images for nMI must be uint8 or floating point in [0, 1], got {t.dtype}")
    return torch.round(t.clamp(0.0, 1.0) * 255.0).to(torch.int32)


def nmi(a: torch.Tensor | np.ndarray, b: torch.Tensor | np.ndarray) -> float:
    """nMI of two images of the same shape (``(H, W, 3)`` or ``(3, H, W)``, uint8 or float in [0, 1])."""
    ta, tb = _check(torch.as_tensor(a), torch.as_tensor(b))
    if ta.numel() == 0:
        raise ConfigError("nMI of empty images is undefined")
    return float(_nmi_chunk(quantize(ta.reshape(1, -1)), quantize(tb.reshape(1, -1)))[0])


def nmi_batch(a: torch.Tensor | np.ndarray, b: torch.Tensor | np.ndarray) -> torch.Tensor:
    """nMI of ``N`` image pairs at once.

    Args:
        a, b: ``(N, ...)`` uint8 or float in [0, 1] (e.g. ``(N, 3, H, W)``), same shape and device.

    Returns:
        ``(N,)`` float64 tensor on the images' device, ``out[n] = nmi(a[n], b[n])``.
    """
    ta, tb = _check(torch.as_tensor(a), torch.as_tensor(b))
    if ta.dim() < 2 or math.prod(ta.shape[1:]) == 0:
        raise ConfigError(
            f"nmi_batch expects (N, ...) batches of non-empty images, got shape {tuple(ta.shape)}"
        )
    size = math.prod(ta.shape[1:])
    ta, tb = ta.reshape(ta.shape[0], size), tb.reshape(tb.shape[0], size)
    # Quantise chunk by chunk: on the CPU, large temporary tensors cost more (page faults) than the loop.
    step = CHUNK if ta.device.type == "cuda" else CPU_CHUNK
    parts = [
        _nmi_chunk(quantize(ta[s : s + step]), quantize(tb[s : s + step]))
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


def _entropy(counts: torch.Tensor, total: float) -> torch.Tensor:
    """Entropy in nats of each row of ``counts`` (float64), all rows summing to ``total``."""
    return np.log(total) - torch.xlogy(counts, counts).sum(dim=1) / total


def _nmi_chunk(qa: torch.Tensor, qb: torch.Tensor) -> torch.Tensor:
    """nMI of rows of ``(n, P)`` integer level tensors (0..255), as float64 ``(n,)``."""
    n, p = qa.shape
    index = qa * LEVELS + qb
    if n > 1:  # pair k counts into bins [k * 65536, (k + 1) * 65536)
        index = index + torch.arange(n, device=qa.device, dtype=index.dtype).unsqueeze(1) * (LEVELS * LEVELS)
    joint = torch.bincount(index.reshape(-1), minlength=n * LEVELS * LEVELS)
    joint = joint.to(torch.float64).reshape(n, LEVELS, LEVELS)
    h_a = _entropy(joint.sum(dim=2), p)
    h_b = _entropy(joint.sum(dim=1), p)
    h_ab = _entropy(joint.reshape(n, -1), p)
    mi = (h_a + h_b - h_ab).clamp_min(0.0)
    # sklearn's conventions: a single level in both images is a perfect match (1.0); otherwise no shared
    # information is 0.0 (this also covers one constant image, where sqrt(H_a H_b) = 0).
    single_a = (joint.sum(dim=2) > 0).sum(dim=1) == 1
    single_b = (joint.sum(dim=1) > 0).sum(dim=1) == 1
    denom = torch.sqrt(h_a * h_b)
    out = torch.where(denom > 0, mi / denom.clamp_min(1e-300), torch.zeros_like(mi))
    out = torch.where(single_a & single_b, torch.ones_like(out), out)
    return out.clamp(0.0, 1.0)
