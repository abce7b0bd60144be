"""Global L*a*b* histograms of images and reconstructions, Sec. 3.3.1 (Fig. 3).

:func:`rgb_to_lab` is a vectorised torch port of ``skimage.color.rgb2lab`` (sRGB, illuminant D65,
2° observer, the same constants), so histograms of whole batches can be taken on the CPU or the GPU;
the tests check it against scikit-image. Histogram ranges are fixed so that histograms of different
AEs share bins: L* in [0, 100], a* and b* in [-128, 127] (values outside are counted in the end bins).

The ``lab_histograms.csv`` format (one row per bin) is ``ae,channel,bin_lo,bin_hi,density`` with
``ae`` in ``original``, ``A_S``, ``A_<name>`` and ``channel`` in ``L``, ``a``, ``b``; ``density``
integrates to 1 over each channel (``sum(density * (bin_hi - bin_lo)) = 1``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from s2s_core.errors import ConfigError

CHANNELS: tuple[str, ...] = ("L", "a", "b")
RANGES: dict[str, tuple[float, float]] = {"L": (0.0, 100.0), "a": (-128.0, 127.0), "b": (-128.0, 127.0)}
DEFAULT_BINS = 64
HIST_COLUMNS: tuple[str, ...] = ("ae", "channel", "bin_lo", "bin_hi", "density")

# skimage.color.colorconv: xyz_from_rgb (sRGB, D65) and the D65 / 2° reference white.
_XYZ_FROM_RGB = (
    (0.412453, 0.357580, 0.180423),
    (0.212671, 0.715160, 0.072169),
    (0.019334, 0.119193, 0.950227),
)
_WHITE_D65 = (0.95047, 1.0, 1.08883)


def to_unit_float(images: torch.Tensor | np.ndarray) -> torch.Tensor:
    """``(N, 3, H, W)`` uint8 or float images as float in [0, 1] (uint8 / 255; floats are clamped)."""
    x = torch.as_tensor(images)
    if x.dim() != 4 or x.shape[1] != 3:
        raise ConfigError(f"expected RGB images of shape (N, 3, H, W), got {tuple(x.shape)}")
    if x.dtype == torch.uint8:
        return x.to(torch.float32) / 255.0
    if not x.is_floating_point():
        raise ConfigError(f"images must be uint8 or floating point in [0, 1], got {x.dtype}")
    return x.clamp(0.0, 1.0)


def rgb_to_lab(images: torch.Tensor | np.ndarray) -> torch.Tensor:
    """sRGB to CIE L*a*b*, as ``skimage.color.rgb2lab`` (D65, 2°).

    Args:
        images: ``(N, 3, H, W)`` RGB, uint8 or float in [0, 1].

    Returns:
        ``(N, 3, H, W)`` with channels L* (0..100), a*, b*; float64 when the input is float64, else float32.
    """
    x = to_unit_float(images)
    linear = torch.where(x > 0.04045, ((x + 0.055) / 1.055) ** 2.4, x / 12.92)
    m = torch.tensor(_XYZ_FROM_RGB, dtype=x.dtype, device=x.device)
    xyz = torch.einsum("kc,nchw->nkhw", m, linear)
    xyz = xyz / torch.tensor(_WHITE_D65, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    f = torch.where(xyz > 0.008856, torch.clamp_min(xyz, 0.0) ** (1.0 / 3.0), 7.787 * xyz + 16.0 / 116.0)
    fx, fy, fz = f[:, 0], f[:, 1], f[:, 2]
    return torch.stack([116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)], dim=1)


def bin_edges(channel: str, bins: int = DEFAULT_BINS) -> np.ndarray:
    """``(bins + 1,)`` float64 edges of ``channel`` (``"L"``, ``"a"`` or ``"b"``) over its fixed range."""
    if channel not in RANGES:
        raise ConfigError(f"unknown L*a*b* channel {channel!r}: use one of {', '.join(CHANNELS)}")
    if bins < 1:
        raise ConfigError(f"number of histogram bins must be at least 1, got {bins}")
    lo, hi = RANGES[channel]
    return np.linspace(lo, hi, bins + 1)


def _counts(lab: torch.Tensor, bins: int) -> dict[str, np.ndarray]:
    out = {}
    for k, channel in enumerate(CHANNELS):
        lo, hi = RANGES[channel]
        v = lab[:, k].reshape(-1).to(torch.float64)
        idx = ((v - lo) / (hi - lo) * bins).floor().clamp(0, bins - 1).to(torch.int64)
        out[channel] = torch.bincount(idx, minlength=bins).cpu().numpy().astype(np.float64)
    return out


def _density(counts: np.ndarray, edges: np.ndarray) -> np.ndarray:
    total = counts.sum()
    return counts / (total * np.diff(edges)) if total > 0 else np.zeros_like(counts)


def lab_histograms(
    images: torch.Tensor | np.ndarray, bins: int = DEFAULT_BINS
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Global L*a*b* histograms of a batch (all pixels of all images together), Fig. 3.

    Args:
        images: ``(N, 3, H, W)`` RGB, uint8 or float in [0, 1].
        bins: bins per channel over the fixed ranges :data:`RANGES`.

    Returns:
        ``{"L": (edges, density), "a": ..., "b": ...}``: edges ``(bins + 1,)``, density ``(bins,)``, both
        float64 numpy arrays; each density integrates to 1.
    """
    acc = LabHistogramAccumulator(bins)
    acc.update(images)
    return acc.histograms()


class LabHistogramAccumulator:
    """Running L*a*b* histogram over many batches (for the evaluate pass over a data set).

    ``update(batch)`` adds the pixels of a ``(B, 3, H, W)`` batch; ``histograms()`` and ``frame(ae)``
    give the result so far. Counts are kept, so the result does not depend on how the data is batched.
    """

    def __init__(self, bins: int = DEFAULT_BINS) -> None:
        self.bins = bins
        self.edges = {c: bin_edges(c, bins) for c in CHANNELS}
        self.counts = {c: np.zeros(bins, dtype=np.float64) for c in CHANNELS}
        self.pixels = 0

    def update(self, batch: torch.Tensor | np.ndarray) -> None:
        """Add a ``(B, 3, H, W)`` batch (uint8 or float in [0, 1], any device)."""
        lab = rgb_to_lab(batch)
        for channel, counts in _counts(lab, self.bins).items():
            self.counts[channel] += counts
        self.pixels += lab.shape[0] * lab.shape[2] * lab.shape[3]

    def histograms(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """``{channel: (edges, density)}`` as in :func:`lab_histograms`."""
        if self.pixels == 0:
            raise ConfigError("no images were added to the L*a*b* histogram")
        return {c: (self.edges[c].copy(), _density(self.counts[c], self.edges[c])) for c in CHANNELS}

    def frame(self, ae_name: str) -> pd.DataFrame:
        """Rows of ``lab_histograms.csv`` (columns :data:`HIST_COLUMNS`) for ``ae_name``."""
        return histograms_frame(ae_name, self.histograms())


def histograms_frame(ae_name: str, histograms: dict[str, tuple[np.ndarray, np.ndarray]]) -> pd.DataFrame:
    """``{channel: (edges, density)}`` as ``lab_histograms.csv`` rows (columns :data:`HIST_COLUMNS`)."""
    parts = [
        pd.DataFrame({"ae": ae_name, "channel": c, "bin_lo": e[:-1], "bin_hi": e[1:], "density": d})
        for c, (e, d) in histograms.items()
    ]
    return pd.concat(parts, ignore_index=True)[list(HIST_COLUMNS)]
