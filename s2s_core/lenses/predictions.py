"""What a classifier says about an image: its top-k classes with their probabilities (shown by every lens)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Prediction:
    """Top-k of one classifier on one view: class indices, softmax probabilities and class names."""

    indices: tuple[int, ...]
    probs: tuple[float, ...]
    labels: tuple[str, ...]

    @property
    def top1(self) -> str:
        return self.labels[0]

    def text(self, k: int = 1) -> str:
        """``"circle (62%)"`` for the first ``k`` entries, joined by ``", "``."""
        return ", ".join(f"{lab} ({p:.0%})" for lab, p in zip(self.labels[:k], self.probs[:k], strict=True))


def class_label(classes: Sequence[str], index: int) -> str:
    """The name of class ``index``, or ``"class <index>"`` where the names do not reach it."""
    return classes[index] if 0 <= index < len(classes) else f"class {index}"


def predictions(logits: torch.Tensor, classes: Sequence[str], k: int = 5) -> list[Prediction]:
    """Top-``k`` of each row of ``(N, C)`` logits as :class:`Prediction`."""
    probs = torch.softmax(logits.detach().float().cpu(), dim=1)
    top = probs.topk(min(k, probs.shape[1]), dim=1)
    return [Prediction(tuple(int(i) for i in idx), tuple(float(p) for p in val),
                       tuple(class_label(classes, int(i)) for i in idx))
            for idx, val in zip(top.indices, top.values, strict=True)]
