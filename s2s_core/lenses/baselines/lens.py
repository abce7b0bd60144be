"""The model-free maps of :mod:`s2s_core.lenses.baselines.maps` as one lens (``needs_model = False``): the
ground-truth table scores them once per image, beside every lens, and each lens is compared with the best."""

from __future__ import annotations

import torch

from s2s_core.lenses.base import BatchContext, Heatmap, Lens
from s2s_core.lenses.baselines.maps import border_contrast, centre_prior, edge_map, spectral_residual

_MAPS = {"centre": centre_prior, "edges": edge_map, "spectral": spectral_residual, "border": border_contrast}


class ModelFree(Lens):
    key = "model_free"
    title = "Maps that read no classifier"
    summary = ("what the image alone gives, with no classifier: a centre blob, edges, spectral-residual saliency "
               "and colour contrast to the border (the baselines a lens must beat)")
    paper = ("Hou & Zhang, Saliency Detection: A Spectral Residual Approach, CVPR 2007; Wei et al., Geodesic "
             "Saliency Using Background Priors, ECCV 2012")
    needs_model = False
    heatmaps = (Heatmap("centre", "centre prior (Gaussian, σ = side / 5)"),
                Heatmap("edges", "edge map (Sobel, RGB)"),
                Heatmap("spectral", "spectral residual saliency"),
                Heatmap("border", "colour distance from the border"))

    def heatmap(self, ctx: BatchContext, classifier: str, variant: str,
                target: torch.Tensor | None = None) -> torch.Tensor:
        """The map ``variant`` of the batch's images (the same for every classifier; cached per batch)."""
        return ctx.cached((self.key, variant), lambda: _MAPS[variant](ctx.x).to(ctx.x.device))
