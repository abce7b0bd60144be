"""Does the input gradient follow the image's structure? (Folz, Palacio et al., WACV 2020, after Palacio et al.,
CVPR 2018, Sec. 3.5: i∘A_i's gradients should lie on edges more than i's, which spread as noise.)

Per image: the share of the gradient's mass ``|∇x CE|`` (summed over channels) that falls on the image's
strongest edges, the top :data:`EDGE_SHARE` of pixels by Sobel magnitude of its grey level. The same share of a
random map (``|N(0, 1)|`` per pixel, seeded) is the chance level, about :data:`EDGE_SHARE`.
"""

from __future__ import annotations

import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from s2s_core.analysis.stats import summarize
from s2s_core.attacks.methods import loss_grad
from s2s_core.attacks.through import ThroughAE
from s2s_core.views import ORIGINAL, ae_key

#: Fraction of each image's pixels counted as its edges.
EDGE_SHARE = 0.1
RANDOM_SEED = 28
#: The view name of the chance level in ``gradient_structure.csv``.
RANDOM = "random"


def sobel_magnitude(x: Tensor) -> Tensor:
    """Sobel gradient magnitude of the grey level of ``x`` (B, 3, H, W) in [0, 1] -> (B, H, W)."""
    grey = x.mean(1, keepdim=True)
    kx = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]], device=x.device, dtype=x.dtype)
    kernels = torch.stack([kx, kx.T]).unsqueeze(1)  # (2, 1, 3, 3)
    g = F.conv2d(F.pad(grey, (1, 1, 1, 1), mode="replicate"), kernels)
    return g.pow(2).sum(1).sqrt()


def edge_mask(x: Tensor, share: float = EDGE_SHARE) -> Tensor:
    """(B, H, W) bool: each image's top ``share`` of pixels by Sobel magnitude (ties broken by position)."""
    mag = sobel_magnitude(x).flatten(1)
    k = max(1, round(share * mag.shape[1]))
    mask = torch.zeros_like(mag, dtype=torch.bool)
    mask.scatter_(1, mag.topk(k, dim=1).indices, True)
    return mask.view(x.shape[0], *x.shape[2:])


def mass_on(heat: Tensor, mask: Tensor) -> Tensor:
    """Share of each map's mass on its mask: ``heat`` (B, H, W) ≥ 0, ``mask`` (B, H, W) bool -> (B,)."""
    total = heat.flatten(1).sum(1)
    return (heat * mask).flatten(1).sum(1) / total.clamp_min(torch.finfo(heat.dtype).tiny)


def gradient_shares(model: nn.Module, x: Tensor, y: Tensor, mask: Tensor) -> Tensor:
    """Per image, the share of ``|∇x CE(model(x), y)|`` (channels summed) on ``mask``; (B,)."""
    return mass_on(loss_grad(model, x, y).abs().sum(1), mask)


def random_shares(mask: Tensor, seed: int = RANDOM_SEED) -> Tensor:
    """The chance level: the share of a random ``|N(0, 1)|`` map on ``mask`` (B, H, W); (B,)."""
    gen = torch.Generator().manual_seed(seed)
    return mass_on(torch.randn(mask.shape, generator=gen).abs().to(mask.device), mask)


class GradientStructure:
    """Per-image edge shares of i's and i∘A_i's input gradients and of a random map, over batches; :meth:`table`
    gives ``gradient_structure.csv`` (:mod:`s2s_core.results`): one row per classifier and view."""

    def __init__(self, zoo, share: float = EDGE_SHARE) -> None:
        self.zoo, self.share = zoo, share
        self.values: dict[tuple[str, str], list[float]] = {}
        self.batches = 0

    def add(self, x: Tensor, y: Tensor) -> None:
        """Score one batch ``x`` (B, 3, S, S) in [0, 1] with labels ``y`` (B,)."""
        mask = edge_mask(x, self.share)
        chance = random_shares(mask, RANDOM_SEED + self.batches).tolist()
        self.batches += 1
        for name, clf in self.zoo.classifiers.items():
            models = {ORIGINAL: clf}
            if name in self.zoo.names:
                models[ae_key(name)] = ThroughAE(self.zoo, name, name)
            for view, model in models.items():
                self.values.setdefault((name, view), []).extend(gradient_shares(model, x, y, mask).tolist())
            self.values.setdefault((name, RANDOM), []).extend(chance)

    def table(self) -> pd.DataFrame:
        rows = []
        for (name, view), values in self.values.items():
            s = summarize(values)
            rows.append({"classifier": name, "view": view, "mean": s.mean, "ci_low": s.ci_low, "ci_high": s.ci_high,
                         "n": s.n})
        return pd.DataFrame(rows, columns=["classifier", "view", "mean", "ci_low", "ci_high", "n"])
