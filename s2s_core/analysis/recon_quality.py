"""How each autoencoder's reconstructions differ: fidelity and high-frequency artefacts, per AE.

Paper Sec. 3.3.1 describes the A_i qualitatively (colour shifts, regular "checkerboard" patterns from the
un-pooling); this module measures it, one row per AE (plus the input itself as the baseline row):

* ``psnr_input`` / ``ssim_input``: PSNR (dB) and SSIM of A(x) against the input x;
* ``psnr_base`` / ``ssim_base``: the same against A_S(x), i.e. how far fine-tuning moved the decoder;
* ``mad_base``: mean absolute difference |A(x) - A_S(x)| over pixels and channels, in [0, 1] units;
* ``hf_energy``: share of the image's spectral power (mean removed, summed over channels) at frequencies in
  the top octave, max(|f_x|, |f_y|) >= 1/4 cycle per pixel. The input row is the baseline: natural images
  put little power there, so a larger share is added high-frequency structure;
* ``checkerboard``: power of the period-2 patterns that 2x2 un-pooling stamps on an image (the three Fourier
  bins at 1/2 cycle per pixel: horizontal, vertical and diagonal), as a ratio to the same power in the input
  (the input row is 1 by definition). Above 1: the AE adds a checkerboard; below 1: it smooths it away.

Images are quantised to 8 bits first, as the dashboard shows them. PSNR and SSIM are scikit-image's
(``data_range=1``, ``channel_axis=-1``); statistics are means over images (``*_std``: standard deviations).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

#: Column order of ``recon_quality.csv``.
COLUMNS = ["ae", "psnr_input", "psnr_input_std", "ssim_input", "ssim_input_std", "psnr_base", "ssim_base",
           "mad_base", "hf_energy", "checkerboard", "n"]

#: Top-octave threshold of ``hf_energy`` in cycles per pixel.
HF_CUTOFF = 0.25


def _quantise(x: torch.Tensor) -> np.ndarray:
    """(B, 3, H, W) float -> (B, H, W, 3) float64 in [0, 1] on the 8-bit grid."""
    q = (x.detach().float().clamp(0, 1) * 255).round() / 255
    return q.permute(0, 2, 3, 1).cpu().numpy().astype(np.float64)


def spectral_measures(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per image: (top-octave share of spectral power, period-2 power).

    ``images``: (B, H, W, C) in [0, 1], H and W even. The per-channel mean is removed before the FFT, so the
    share is of the image's variation only. Period-2 power is the sum of |F|^2 at (H/2, 0), (0, W/2) and
    (H/2, W/2), divided by H*W (Parseval: the mean squared amplitude of those patterns, summed over channels).
    """
    b, h, w, _ = images.shape
    centred = images - images.mean(axis=(1, 2), keepdims=True)
    power = np.abs(np.fft.fft2(centred, axes=(1, 2))) ** 2  # (B, H, W, C)
    power = power.sum(axis=3)
    fy = np.abs(np.fft.fftfreq(h))[:, None]
    fx = np.abs(np.fft.fftfreq(w))[None, :]
    high = np.maximum(fy, fx) >= HF_CUTOFF
    total = power.sum(axis=(1, 2))
    share = np.where(total > 0, (power * high).sum(axis=(1, 2)) / np.maximum(total, 1e-300), 0.0)
    period2 = (power[:, h // 2, 0] + power[:, 0, w // 2] + power[:, h // 2, w // 2]) / (h * w) ** 2
    return share, period2


class ReconQualityAccumulator:
    """Accumulates the measures above over batches: ``update(x, recons)`` then ``frame()``.

    ``x``: (B, 3, H, W) originals in [0, 1]; ``recons``: AE key (``A_S``, ``A_<name>``) -> (B, 3, H, W)
    reconstructions (unclamped is fine). ``base_key`` names A_S in ``recons``.
    """

    def __init__(self, base_key: str, original_key: str = "original") -> None:
        self.base_key, self.original_key = base_key, original_key
        self.values: dict[str, dict[str, list[np.ndarray]]] = {}

    def _add(self, ae: str, name: str, values: np.ndarray) -> None:
        self.values.setdefault(ae, {}).setdefault(name, []).append(np.asarray(values, dtype=np.float64))

    def update(self, x: torch.Tensor, recons: Mapping[str, torch.Tensor]) -> None:
        xs = _quantise(x)
        base = _quantise(recons[self.base_key]) if self.base_key in recons else None
        share_x, cb_x = spectral_measures(xs)
        self._add(self.original_key, "hf_energy", share_x)
        self._add(self.original_key, "cb", cb_x)
        self._add(self.original_key, "cb_input", cb_x)
        for key, rec in recons.items():
            ys = _quantise(rec)
            psnr_in, ssim_in, psnr_b, ssim_b = [], [], [], []
            for i in range(len(xs)):
                psnr_in.append(_psnr(xs[i], ys[i]))
                ssim_in.append(structural_similarity(xs[i], ys[i], data_range=1.0, channel_axis=-1))
                if base is not None:
                    psnr_b.append(_psnr(base[i], ys[i]))
                    ssim_b.append(structural_similarity(base[i], ys[i], data_range=1.0, channel_axis=-1))
            self._add(key, "psnr_input", np.array(psnr_in))
            self._add(key, "ssim_input", np.array(ssim_in))
            if base is not None:
                self._add(key, "psnr_base", np.array(psnr_b))
                self._add(key, "ssim_base", np.array(ssim_b))
                self._add(key, "mad_base", np.abs(ys - base).mean(axis=(1, 2, 3)))
            share, cb = spectral_measures(ys)
            self._add(key, "hf_energy", share)
            self._add(key, "cb", cb)
            self._add(key, "cb_input", cb_x)

    def frame(self) -> pd.DataFrame:
        """One row per AE (the input first, then in insertion order) with the columns of :data:`COLUMNS`."""
        rows = []
        for ae, vals in self.values.items():
            cat = {k: np.concatenate(v) for k, v in vals.items()}

            def mean(name: str, cat: dict = cat) -> float:
                return float(np.mean(cat[name])) if name in cat else float("nan")

            def std(name: str, cat: dict = cat) -> float:
                return float(np.std(cat[name])) if name in cat else float("nan")

            cb_in = float(np.mean(cat["cb_input"]))
            rows.append({
                "ae": ae, "psnr_input": mean("psnr_input"), "psnr_input_std": std("psnr_input"),
                "ssim_input": mean("ssim_input"), "ssim_input_std": std("ssim_input"),
                "psnr_base": mean("psnr_base"), "ssim_base": mean("ssim_base"), "mad_base": mean("mad_base"),
                "hf_energy": mean("hf_energy"),
                "checkerboard": float(np.mean(cat["cb"])) / cb_in if cb_in > 0 else float("nan"),
                "n": int(len(cat["hf_energy"])),
            })
        return pd.DataFrame(rows, columns=COLUMNS)


def _psnr(ref: np.ndarray, img: np.ndarray) -> float:
    """PSNR in dB (scikit-image), capped at 100 dB for identical images instead of infinity."""
    if np.array_equal(ref, img):
        return 100.0
    return float(peak_signal_noise_ratio(ref, img, data_range=1.0))
