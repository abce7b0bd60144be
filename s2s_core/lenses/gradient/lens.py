"""The plain gradient as a lens (Simonyan, Vedaldi & Zisserman, "Deep Inside Convolutional Networks", ICLR
workshop 2014): per pixel, the L2 norm over RGB of ``∂ score_i(c) / ∂x``, c the predicted class (or a given
target). The simplest map that looks at the model, and the baseline every other lens must beat."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from s2s_core.lenses.base import BatchContext, Heatmap, Lens


def gradient_heatmap(model: nn.Module, x01: Tensor, classes: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """``(heatmap (B, H, W), class (B,))``: the L2 norm over RGB of the plain gradient of the class score
    (predicted class unless ``classes``) of ``model`` ``(B, 3, H, W) in [0, 1] -> (B, K)`` logits with respect
    to the input ``x01`` ``(B, 3, H, W)``.

    Only the input's gradient is asked for (``torch.autograd.grad``), so ``model`` needs no private copy and no
    hooks: no weight gets a ``.grad`` and nothing of the model changes, so callers on several threads can share
    it (the dashboard's loaded zoo)."""
    with torch.inference_mode(False), torch.enable_grad():
        x = x01.detach().clone().requires_grad_(True)
        logits = model(x)
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
        return gradient_heatmap(ctx.zoo.classifiers[classifier], ctx.x, target)[0]
