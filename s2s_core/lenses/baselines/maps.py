"""Heatmaps computed from the image alone, with no classifier: what a lens must beat to be explaining the
classifier rather than the image (issue 25). Each takes ``x`` ``(B, 3, S, S)`` in [0, 1] and gives ``(B, S, S)``
non-negative float32 maps.

* :func:`centre_prior`: a Gaussian blob in the middle (σ = S / 5), the same for every image: photographers,
  and the demo's generator, put the object near the centre.
* :func:`edge_map`: the Sobel gradient magnitude of the colour image (scikit-image, the L2 norm over R, G and
  B, so that an edge between two colours of the same lightness counts): where anything changes.
* :func:`spectral_residual`: Hou & Zhang's spectral-residual saliency (CVPR 2007), the classic model-free
  saliency map: the log amplitude spectrum minus its local mean, back to the image with the phase kept,
  squared and smoothed.
* :func:`border_contrast`: each pixel's L*a*b* distance from the median colour of the image's border, the
  background-prior idea of salient-object detection (Wei et al., ECCV 2012; Zhu et al., CVPR 2014) in its
  simplest form. It is the strongest map that needs no model on object-centred data such as the demo's: an
  object that differs from its background in colour is found without knowing what it is.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage
from skimage import color, filters

#: σ of the centre prior as a share of the image side.
CENTRE_SIGMA = 0.2
#: Width of the border whose median colour is the background, as a share of the image side (at least 1 px).
BORDER_SHARE = 1 / 16
#: Side at which the spectral residual is computed (Hou & Zhang: 64 px), and its smoothing σ there.
SPECTRAL_SIDE, SPECTRAL_SIGMA = 64, 2.5


def _images(x: torch.Tensor) -> np.ndarray:
    if x.dim() != 4 or x.shape[1] != 3:
        raise ValueError(f"images must be (B, 3, S, S), got {tuple(x.shape)}")
    return x.detach().float().clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy()


def _stack(maps: list[np.ndarray]) -> torch.Tensor:
    return torch.from_numpy(np.stack(maps).astype(np.float32))


def centre_prior(x: torch.Tensor) -> torch.Tensor:
    """``(B, H, W)``: exp(−d² / 2σ²), d the distance from the image centre, σ = :data:`CENTRE_SIGMA` · side."""
    b, _, h, w = x.shape
    ys = (torch.arange(h, dtype=torch.float32) - (h - 1) / 2)[:, None]
    xs = (torch.arange(w, dtype=torch.float32) - (w - 1) / 2)[None, :]
    sigma = CENTRE_SIGMA * min(h, w)
    return torch.exp(-(ys**2 + xs**2) / (2 * sigma**2)).expand(b, h, w).clone()


def edge_map(x: torch.Tensor) -> torch.Tensor:
    """``(B, H, W)``: the L2 norm over R, G and B of each channel's Sobel magnitude (scikit-image
    ``filters.sobel``)."""
    return _stack([np.sqrt(sum(filters.sobel(im[..., c]) ** 2 for c in range(3))) for im in _images(x)])


def spectral_residual(x: torch.Tensor) -> torch.Tensor:
    """``(B, H, W)``: Hou & Zhang's spectral residual saliency of the grey image at :data:`SPECTRAL_SIDE` px
    (3 × 3 mean of the log amplitude, Gaussian smoothing σ = :data:`SPECTRAL_SIGMA` px there), resized back."""
    out = []
    for im in _images(x):
        grey = color.rgb2gray(im)
        zoom = SPECTRAL_SIDE / grey.shape[0], SPECTRAL_SIDE / grey.shape[1]
        small = ndimage.zoom(grey, zoom, order=1) if zoom != (1.0, 1.0) else grey
        spectrum = np.fft.fft2(small)
        log_amp = np.log(np.abs(spectrum) + 1e-8)
        residual = log_amp - ndimage.uniform_filter(log_amp, size=3, mode="wrap")
        sal = np.abs(np.fft.ifft2(np.exp(residual + 1j * np.angle(spectrum)))) ** 2
        sal = ndimage.gaussian_filter(sal, SPECTRAL_SIGMA)
        back = ndimage.zoom(sal, (grey.shape[0] / sal.shape[0], grey.shape[1] / sal.shape[1]), order=1)
        out.append(np.maximum(back[: grey.shape[0], : grey.shape[1]], 0))
    return _stack(out)


def border_contrast(x: torch.Tensor) -> torch.Tensor:
    """``(B, H, W)``: each pixel's L*a*b* distance (CIE76) from the median colour of the image's border
    (:data:`BORDER_SHARE` of the side on each edge)."""
    out = []
    for im in _images(x):
        lab = color.rgb2lab(im)
        w = max(1, round(BORDER_SHARE * min(lab.shape[:2])))
        frame = np.ones(lab.shape[:2], dtype=bool)
        frame[w:-w, w:-w] = False
        background = np.median(lab[frame], axis=0)
        out.append(np.linalg.norm(lab - background, axis=-1))
    return _stack(out)
