"""The image-independent part of an AE (Sec. 3.3.1): what it adds to every image, whatever the image.

The paper (and the authors' blog) describe regular patterns in the reconstructions of the fine-tuned AEs,
checkerboards and colour casts. Over a data set, the residual ``d = A(x) - x`` (reconstruction clamped to
[0, 1], as an image would hold it) splits into a part that depends on ``x`` and a part that does not; the
mean ``m = E[d]`` keeps the second and averages the first away. Measured here, per AE:

* the mean residual ``m`` ``(3, H, W)`` and the pixel-wise standard deviation of ``d`` ``(3, H, W)``;
* the power spectrum of ``m`` (per-channel spatial mean removed, power summed over channels), ``(H, W)``;
* **colour cast**: the spatial mean of ``m`` per channel (R, G, B), in [−1, 1] units of the image range;
* **un-pooling peak**: SegNet's last 2×2 max-unpooling writes each value into one pixel of a 2×2 block, so a
  pattern it stamps on every image has period 2: power in the three Fourier bins at 1/2 cycle per pixel
  (``(H/2, 0)``, ``(0, W/2)``, ``(H/2, W/2)``). ``peak_ratio`` is their mean power over the median power of all
  non-constant bins (1: no peak), ``peak_share`` their share of ``m``'s non-constant power; ``peak4_ratio``
  the same for the period-4 bins of the next un-pooling (those not already on the period-2 grid).

:class:`PatternAccumulator` keeps float64 sums, so the result does not depend on the batch size.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

#: The period (pixels) of the finest un-pooling of SegNet (2x2 max-unpooling).
UNPOOL_PERIOD = 2
#: Total non-constant power below which a mean residual counts as flat (an amplitude of 1e-6, far below one
#: grey level): its peak is undefined (NaN) rather than a ratio of rounding errors.
FLAT_POWER = 1e-12


class PatternAccumulator:
    """Running sums of ``A(x) - x`` and its square per AE: ``update(x, recons)``, then :meth:`mean`, :meth:`std`."""

    def __init__(self) -> None:
        self.sums: dict[str, torch.Tensor] = {}
        self.squares: dict[str, torch.Tensor] = {}
        self.n = 0

    def update(self, x: torch.Tensor, recons: Mapping[str, torch.Tensor]) -> None:
        """``x``: (B, 3, H, W) in [0, 1]; ``recons``: AE key -> (B, 3, H, W) reconstructions (clamped here)."""
        x64 = x.detach().to("cpu", torch.float64)
        for key, rec in recons.items():
            d = rec.detach().to("cpu", torch.float64).clamp(0.0, 1.0) - x64
            self.sums[key] = self.sums.get(key, 0) + d.sum(dim=0)
            self.squares[key] = self.squares.get(key, 0) + (d * d).sum(dim=0)
        self.n += int(x.shape[0])

    def mean(self, key: str) -> torch.Tensor:
        """``(3, H, W)`` mean residual E[A(x) - x]."""
        return self.sums[key] / self.n

    def std(self, key: str) -> torch.Tensor:
        """``(3, H, W)`` pixel-wise (population) standard deviation of A(x) - x."""
        m = self.mean(key)
        return (self.squares[key] / self.n - m * m).clamp_min(0.0).sqrt()


def power_spectrum(image: torch.Tensor) -> np.ndarray:
    """``(C, H, W)`` -> ``(H, W)`` float64: |FFT2|² of each channel minus its spatial mean, summed over channels,
    normalised by (H W)² (Parseval: bins sum to the mean squared amplitude). Unshifted (DC at [0, 0])."""
    a = image.detach().to("cpu", torch.float64).numpy()
    a = a - a.mean(axis=(1, 2), keepdims=True)
    h, w = a.shape[1:]
    return (np.abs(np.fft.fft2(a, axes=(1, 2))) ** 2).sum(axis=0) / (h * w) ** 2


def period_bins(h: int, w: int, period: int) -> list[tuple[int, int]]:
    """The Fourier bins ``(ky, kx)`` of patterns with period ``period`` in both axes, without DC and without the
    bins of the finer period ``period / 2`` (so each un-pooling level is counted once)."""
    if h % period or w % period:
        return []
    grid = {(a * h // period, b * w // period) for a in range(period) for b in range(period)}
    finer = set(period_bins(h, w, period // 2)) if period > 2 else set()
    return sorted(grid - finer - {(0, 0)})


def peak(power: np.ndarray, period: int = UNPOOL_PERIOD) -> tuple[float, float]:
    """``(peak_ratio, peak_share)`` of an unshifted ``(H, W)`` spectrum at the bins of ``period``
    (module docstring); NaN when the image is too small or constant."""
    h, w = power.shape
    bins = period_bins(h, w, period)
    ac = power.copy()
    ac[0, 0] = np.nan
    values = ac[~np.isnan(ac)]
    if not bins or values.sum() <= FLAT_POWER:
        return float("nan"), float("nan")
    at = np.array([power[b] for b in bins])
    median = float(np.median(values))
    ratio = float(at.mean() / median) if median > 0 else float("inf")
    return ratio, float(at.sum() / values.sum())


# ------------------------------------------------------------------------------------------- images to show
def mean_image(mean: torch.Tensor, scale: float) -> np.ndarray:
    """``(3, H, W)`` mean residual -> ``(H, W, 3)`` uint8, 128 = no change, ±``scale`` = 0/255 (one scale for
    every AE, so that the images compare)."""
    m = mean.detach().to("cpu", torch.float64).numpy().transpose(1, 2, 0)
    return np.clip(np.rint(127.5 + 127.5 * m / max(scale, 1e-12)), 0, 255).astype(np.uint8)


def std_values(std: torch.Tensor) -> np.ndarray:
    """``(3, H, W)`` pixel-wise standard deviation -> ``(H, W)`` its mean over channels (for a colour map)."""
    return std.detach().to("cpu", torch.float64).numpy().mean(axis=0)


def spectrum_values(spectrum: torch.Tensor | np.ndarray) -> np.ndarray:
    """Unshifted ``(H, W)`` power -> ``(H, W)`` log10 power, DC in the centre (``fftshift``), DC itself masked
    to the minimum so that it does not set the colour scale."""
    p = np.asarray(spectrum, dtype=np.float64).copy()
    p[0, 0] = np.nan
    logp = np.log10(np.maximum(p, 1e-20))
    logp[np.isnan(p)] = np.nanmin(logp)
    return np.fft.fftshift(logp)


def peak_marks(h: int, w: int, period: int = UNPOOL_PERIOD) -> list[tuple[int, int]]:
    """Where the bins of :func:`period_bins` lie in the ``fftshift``-ed spectrum image, ``(row, column)``."""
    return [((ky + h // 2) % h, (kx + w // 2) % w) for ky, kx in period_bins(h, w, period)]


def mark(image: np.ndarray, points: list[tuple[int, int]], radius: int = 1,
         rgb: tuple[int, int, int] = (0, 255, 255)) -> np.ndarray:
    """A copy of ``(H, W, 3)`` uint8 ``image`` with a square outline of ``radius`` around each point (clipped)."""
    out = image.copy()
    h, w = out.shape[:2]
    for r, c in points:
        top, bottom, left, right = max(r - radius, 0), min(r + radius, h - 1), max(c - radius, 0), min(c + radius, w - 1)
        out[top, left: right + 1] = rgb
        out[bottom, left: right + 1] = rgb
        out[top: bottom + 1, left] = rgb
        out[top: bottom + 1, right] = rgb
    return out
