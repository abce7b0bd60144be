"""Top-k counting of a classifier's logits: what training's validation and every accuracy analysis measure.

It stands low in the package (it imports only :mod:`s2s_core.errors`) so that ``train`` and ``analysis`` both
count hits the same way without either importing the other.
"""

from __future__ import annotations

import torch

from s2s_core.errors import ConfigError


def topk_correct(logits: torch.Tensor, labels: torch.Tensor, ks: tuple[int, ...] = (1, 5)) -> dict[int, int]:
    """How many samples have their label among the ``k`` highest logits.

    Args:
        logits: ``(B, C)``.
        labels: ``(B,)`` integer class indices.
        ks: the ``k`` values; ``k > C`` counts as ``C`` (every sample correct).

    Returns:
        ``{k: number of correct samples}`` (ints; divide by ``B`` for accuracy).
    """
    if logits.dim() != 2 or labels.shape != logits.shape[:1]:
        raise ConfigError(
            f"expected logits (B, C) and labels (B,), got {tuple(logits.shape)} and {tuple(labels.shape)}"
        )
    if any(k < 1 for k in ks):
        raise ConfigError(f"top-k needs k >= 1, got {ks}")
    kmax = min(max(ks), logits.shape[1])
    top = logits.topk(kmax, dim=1).indices
    hit = top == labels.to(top.device).view(-1, 1)
    return {k: int(hit[:, : min(k, kmax)].any(dim=1).sum()) for k in ks}
