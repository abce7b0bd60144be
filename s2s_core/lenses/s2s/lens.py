"""S2S as a lens (Palacio et al., CVPR 2018, Sec. 3.3): A_i(x) keeps the part of x that classifier i uses, so
``|A_i(x) − A_S(x)|`` (what fine-tuning for i changed) and ``|x − A_i(x)|`` (what A_i drops or alters) are its
heatmaps, both ``(B, S, S)`` means over RGB of the reconstructions clamped to [0, 1]."""

from __future__ import annotations

import numpy as np
import torch

from s2s_core.imaging import to_uint8
from s2s_core.lenses.base import BatchContext, Column, Heatmap, Lens
from s2s_core.lenses.tiles import heat_tile, image_tile
from s2s_core.views import BASE_KEY, ae_key


class S2S(Lens):
    key = "s2s"
    title = "S2S"
    summary = "what A_i(x) keeps of x and what fine-tuning for i changed (the decoder tuned through i)"
    paper = "Palacio et al., What do Deep Networks Like to See?, CVPR 2018"
    heatmaps = (Heatmap("ae_change", "|A_i(x) − A_S(x)|"), Heatmap("ae_residual", "|x − A_i(x)|"))
    reads_reconstructions = True
    reads_weights = False  # A_i was tuned through i before; randomising i now changes nothing (see the control)

    def heatmap(self, ctx: BatchContext, classifier: str, variant: str,
                target: torch.Tensor | None = None) -> torch.Tensor | None:
        images = ctx.batch.images
        if ae_key(classifier) not in images:
            ctx.skipped[(self.key, classifier)] = f"{classifier} has no fine-tuned AE in this zoo"
            return None
        a_i = images[ae_key(classifier)].clamp(0, 1)
        if variant == "ae_change":
            return (a_i - images[BASE_KEY].clamp(0, 1)).abs().mean(dim=1)
        return (ctx.x - a_i).abs().mean(dim=1)

    def column(self, ctx: BatchContext, classifier: str, *, mask: np.ndarray | None = None,
               factor: int = 1) -> tuple[Column, dict[str, np.ndarray]]:
        """The heatmap tiles after A_i(x) itself (clamped to [0, 1], as a saved image holds it)."""
        column, maps = super().column(ctx, classifier, mask=mask, factor=factor)
        a_i = ctx.batch.images.get(ae_key(classifier))
        if a_i is not None:
            column.tiles.insert(0, image_tile(to_uint8(a_i[0].clamp(0, 1)), f"S2S: A_{classifier}(x)", mask, factor))
        control = self.control(ctx, classifier)
        if control is not None:  # the S2S control beside A_i: A_S's decoder tuned through a random copy of i
            change = (control - ctx.batch.images[BASE_KEY].clamp(0, 1)).abs().mean(dim=1)[0]
            column.tiles += [image_tile(to_uint8(control[0]), f"control: A_S tuned through a random {classifier}",
                                          mask, factor),
                               heat_tile(change.float().cpu().numpy(), "|control(x) − A_S(x)|", mask, factor)]
        return column, maps

    @staticmethod
    def control(ctx: BatchContext, classifier: str) -> torch.Tensor | None:
        """``(B, 3, S, S)`` the S2S control's reconstruction of the batch (clamped to [0, 1]; :mod:`s2s_core.demo.
        controls`), or None when the zoo has no control for ``classifier``. It decodes the batch's code when the
        batch kept it (:meth:`~s2s_core.lenses.base.ImageBatch.of`), else encodes once per batch for all."""
        decoder = getattr(ctx.zoo, "controls", {}).get(classifier)
        if decoder is None or BASE_KEY not in ctx.batch.images:
            return None
        with torch.inference_mode():
            code = getattr(ctx.batch, "code", None)
            if code is None:
                code = ctx.cached(("s2s", "code"), lambda: ctx.zoo.encode(ctx.x))
            return ctx.zoo.base.decode(code, decoder).clamp(0, 1)
