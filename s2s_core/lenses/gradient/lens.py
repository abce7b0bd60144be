"""The plain gradient as a lens (Simonyan, Vedaldi & Zisserman, "Deep Inside Convolutional Networks", ICLR
workshop 2014): per pixel, the L2 norm over RGB of ``∂ score_i(c) / ∂x``, c the predicted class (or a given
target). The simplest map that looks at the model, and the baseline every other lens must beat."""

from __future__ import annotations

import torch
from torch import Tensor

from s2s_core.lenses.base import BatchContext, Heatmap, Lens
from s2s_core.lenses.channels.probe import ChannelProbe


def gradient_heatmap(probe: ChannelProbe, x01: Tensor, classes: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """``(heatmap (B, H, W), class (B,))``: the L2 norm over RGB of the plain gradient of the class score
    (predicted class unless ``classes``) with respect to the input ``x01`` ``(B, 3, H, W)``."""
    with torch.inference_mode(False), torch.enable_grad():
        x = x01.detach().clone().requires_grad_(True)
        logits, _ = probe.run(x)
        cls = logits.argmax(dim=1) if classes is None else classes.to(logits.device)
        (grad,) = torch.autograd.grad(logits.gather(1, cls[:, None]).sum(), x)
    return grad.norm(dim=1).detach(), cls.detach()


class Gradient(Lens):
    key = "gradient"
    title = "Gradient"
    summary = "how strongly each pixel moves i's score for the class (the plain input gradient, a baseline)"
    paper = "Simonyan, Vedaldi & Zisserman, Deep Inside Convolutional Networks, ICLR workshop 2014"
    class_conditional = True
    heatmaps = (Heatmap("gradient", "gradient of the class score"),)

    def heatmap(self, ctx: BatchContext, classifier: str, variant: str,
                target: Tensor | None = None) -> Tensor:
        # a private copy of the classifier (gradients need parameters made outside inference mode), made once
        # per context, or once per zoo where the caller keeps it (ctx.kept)
        probe = ctx.keep((self.key, classifier, ctx.size), lambda: ChannelProbe(
            ctx.zoo.classifiers[classifier], [], input_size=ctx.size))
        return gradient_heatmap(probe, ctx.x, target)[0]
