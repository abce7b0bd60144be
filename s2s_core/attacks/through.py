"""i∘A as one differentiable model: a classifier on an AE's reconstruction, with autograd through the AE (the
white-box attacks of Folz, Palacio et al., WACV 2020; Palacio et al., CVPR 2018, Sec. 3.3 for i∘A_i)."""

from __future__ import annotations

from torch import Tensor, nn

from s2s_core.views import BASE_KEY, ae_key


class ThroughAE(nn.Module):
    """i∘A: classifier ``i`` on the reconstruction of its input by A (``ae`` = ``"S"`` or a fine-tuned AE's name),
    with autograd through the AE. (B, 3, S, S) in [0, 1] -> logits (B, C)."""

    def __init__(self, zoo, classifier: str, ae: str) -> None:
        super().__init__()
        self.zoo, self.classifier, self.ae = zoo, zoo.classifiers[classifier], ae
        self.eval()

    def forward(self, x01: Tensor) -> Tensor:
        names = [] if self.ae in ("S", BASE_KEY) else [self.ae]
        images = self.zoo.reconstruct_all(x01, names=names, inference=False)
        return self.classifier(images[BASE_KEY if not names else ae_key(self.ae)])
