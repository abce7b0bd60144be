"""The natural-image priors of feature inversion and how they are balanced (Mahendran & Vedaldi, CVPR 2015,
Sec. 2: "Regularisers" and "Balancing the different terms"; seed 003).

The inversion works on a normalised image ``u``: the image is ``x = m + σ u`` with ``m`` the per-channel mean
of natural images and ``σ`` their average Euclidean norm around that mean, so that ``‖u‖ ≈ 1`` for a natural
image of any size. The objective (paper Eq. 3) is

    ‖Φ(x) − Φ(x0)‖² / ‖Φ(x0)‖²  +  λ_α R_α(u)  +  λ_TV R_TV^β(u)

* ``R_α(u) = Σ |u|^α`` over every pixel and channel: the α-norm of the mean-subtracted image (α = 6).
* ``R_TV^β(u) = Σ_c Σ_ij ((u[i, j+1] − u[i, j])² + (u[i+1, j] − u[i, j])²)^(β/2)``: finite-difference total
  variation raised to β/2, per channel, differences beyond the last row/column taken as 0 (β = 2).
* ``λ_α = σ^α / (H W B^α)`` (the paper's choice: pixels of ``σ u`` should stay within ``[−B, B]``; B = 128 grey
  levels, 128/255 here), so λ_α R_α ≈ 1 when most pixels sit at the edge of the range.
* ``λ_TV`` depends on the layer's depth, as in the paper's table of λ values for its 20 AlexNet layers:
  0.5 for the first 6 (depth ≤ 0.3), 5 for the next 6 (≤ 0.6), 50 for the last 8. Deeper layers keep less of
  the image and need a stronger prior.

``m`` and ``σ`` come from the classifier's own normalisation, which holds the statistics of its training
images: with per-channel mean ``m_c`` and standard deviation ``s_c``, ``E‖x − m‖² = H W Σ_c s_c²``, so
``σ = sqrt(H W Σ_c s_c²)`` (the root-mean-square norm; ImageNet: 0.226 per value, σ = 25.1 at 64 px).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

#: Default exponent of the α-norm prior (paper: α = 6).
ALPHA = 6.0
#: Default exponent of the TV prior (paper: β = 2 for CNNs; β = 1 is classical total variation).
BETA = 2.0
#: Half-range of mean-subtracted pixel values: the paper's B = 128 grey levels, in [0, 1] units.
PIXEL_RANGE = 128.0 / 255.0
#: The paper's λ_TV for layers by depth: (largest depth, λ). AlexNet's 20 layers: 1-6, 7-12, 13-20.
TV_BY_DEPTH: tuple[tuple[float, float], ...] = ((6 / 20, 0.5), (12 / 20, 5.0), (1.0, 50.0))


def alpha_norm(u: torch.Tensor, alpha: float = ALPHA) -> torch.Tensor:
    """``R_α(u) = Σ |u|^α`` per image: ``(B, C, H, W)`` -> ``(B,)``."""
    return u.abs().pow(alpha).flatten(1).sum(dim=1)


def tv_beta(u: torch.Tensor, beta: float = BETA) -> torch.Tensor:
    """``R_TV^β(u)`` per image: ``(B, C, H, W)`` -> ``(B,)``.

    Forward differences along width and height, 0 beyond the last column/row, combined per channel and pixel as
    ``(dx² + dy²)^(β/2)``. Where both differences are 0 the value is 0 and so is the gradient (for β < 2 the
    plain power would give NaN gradients there).
    """
    dx = torch.zeros_like(u)
    dy = torch.zeros_like(u)
    dx[..., :, :-1] = u[..., :, 1:] - u[..., :, :-1]
    dy[..., :-1, :] = u[..., 1:, :] - u[..., :-1, :]
    sq = dx * dx + dy * dy
    if beta == 2.0:
        return sq.flatten(1).sum(dim=1)
    positive = sq > 0
    safe = torch.where(positive, sq, torch.ones_like(sq))
    return torch.where(positive, safe.pow(beta / 2.0), torch.zeros_like(sq)).flatten(1).sum(dim=1)


def natural_sigma(std: Sequence[float], height: int, width: int) -> float:
    """σ: the root-mean-square Euclidean norm of mean-subtracted natural images of ``height × width``, from the
    per-channel standard deviations ``std`` of the training images (``sqrt(H W Σ_c s_c²)``)."""
    return math.sqrt(height * width * sum(float(s) ** 2 for s in std))


def alpha_weight(sigma: float, height: int, width: int, alpha: float = ALPHA, pixel_range: float = PIXEL_RANGE) -> float:
    """The paper's ``λ_α = σ^α / (H W B^α)``, computed in log space (σ^α overflows nothing, but stays exact)."""
    return math.exp(alpha * math.log(sigma) - math.log(height * width) - alpha * math.log(pixel_range))


def tv_weight(depth: float) -> float:
    """The paper's λ_TV for a layer at ``depth`` in (0, 1] (see :data:`TV_BY_DEPTH`)."""
    for upper, lam in TV_BY_DEPTH:
        if depth <= upper + 1e-9:
            return lam
    return TV_BY_DEPTH[-1][1]
