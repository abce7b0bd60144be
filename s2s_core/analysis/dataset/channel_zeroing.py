"""The first check of Oramas et al. (seed 004): zeroing an image's top-k relevant channels must hurt more than
zeroing k random channels of the same layers.

For every classifier with fitted channel weights (:mod:`s2s_core.lenses.channels.store`) and every k of ``KS``,
per test image: the classifier's prediction c on the image as it is, and its output (i) with the image's top-k
relevant channels of c set to zero and (ii) with k random channels set to zero instead, drawn from the same
layers (as many from each layer as the top-k took there, never one of the top-k), ``DRAWS`` times. Scored per
image (:func:`prediction_change`):

- the **drop** of the predicted class's probability, ``softmax(z)_c − softmax(z')_c`` (z the logits as they
  are, z' with the channels zeroed; positive: the class lost confidence);
- the **flip**: 1 when the prediction changes (``argmax z' ≠ c``), else 0;

the random side averaged over its draws per image. Relevant vs random is decided over images by a paired
percentile bootstrap of the per-image difference (:func:`s2s_core.analysis.stats.paired_bootstrap`, 95 %
interval): the verdict comes from the drop's interval (:data:`VERDICTS`), never from the extreme of the draws.
Top-1 against the label (which saturates for a confident classifier) is kept beside it. Draws are seeded per
image, so no number depends on the batch size. Writes ``channel_zeroing.csv``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from s2s_core.analysis.dataset.base import Analysis, BatchViews
from s2s_core.analysis.stats import paired_bootstrap
from s2s_core.errors import CheckpointError, ConfigError
from s2s_core.lenses.channels.lens import ChannelLens
from s2s_core.lenses.channels.store import has_channel_weights, load_channel_weights

KS = (1, 3, 5)
DRAWS = 10
ZEROING_SEED = 1_800_001
#: The verdict of the drop test (:attr:`~s2s_core.analysis.stats.PairedBootstrap.verdict`) in words.
VERDICTS = {"higher": "hurts more than random", "tie": "no more than random", "lower": "less than random"}
#: Per-image scores kept for each (classifier, k): hits are 0/1 against the label; ``*_random`` are means over draws.
SCORES = ("top1", "top1_relevant", "top1_random", "drop_relevant", "drop_random", "flip_relevant", "flip_random")


def random_like(picks: list[tuple[str, int]], widths: dict[str, int], rng: np.random.Generator) -> list[tuple[str, int]]:
    """As many random channels from each layer as ``picks`` holds there, none of them in ``picks``."""
    out = []
    for layer in dict.fromkeys(lay for lay, _ in picks):
        taken = {c for lay, c in picks if lay == layer}
        free = np.setdiff1d(np.arange(widths[layer]), sorted(taken))
        count = min(len(taken), len(free))
        out += [(layer, int(c)) for c in rng.choice(free, size=count, replace=False)]
    return out


def prediction_change(logits: torch.Tensor, zeroed: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """``(drop, flip)``, each ``(B,)`` float64: for logits ``(B, K)`` as they are and ``zeroed`` ``(B, K)`` after a
    change, the drop of the probability of the class predicted from ``logits`` (softmax over the K classes) and
    whether the prediction changed (1.0) or not (0.0)."""
    c = logits.argmax(dim=1, keepdim=True)
    before = logits.double().softmax(dim=1).gather(1, c)[:, 0]
    after = zeroed.double().softmax(dim=1).gather(1, c.to(zeroed.device))[:, 0]
    drop = (before.cpu() - after.cpu()).numpy()
    flip = (zeroed.argmax(dim=1).cpu() != c[:, 0].cpu()).double().numpy()
    return drop, flip


def zeroing_scores(lens: ChannelLens, x: torch.Tensor, y: torch.Tensor, k: int, items: list[int],
                   draws: int = DRAWS) -> dict[str, np.ndarray]:
    """Per-image scores (:data:`SCORES`, each ``(B,)``) of one batch ``x`` ``(B, 3, H, W)`` in [0, 1] with labels
    ``y`` ``(B,)``: the top-k relevant channels of each image's prediction zeroed, and ``draws`` draws of k random
    channels (image ``b``'s draws seeded by ``items[b]``, its stable number, so batches do not matter)."""
    widths = dict(lens.weights.layers)
    logits = lens.logits_without(x, [[] for _ in items])  # nothing zeroed: the same pass as the zeroed ones
    y = y.cpu()
    rel = lens.relevant(x, k)
    relevant = lens.logits_without(x, rel.names)
    drop_rel, flip_rel = prediction_change(logits, relevant)
    drops, flips, hits = [], [], []
    for d in range(draws):
        picks = [random_like(row, widths, np.random.default_rng([ZEROING_SEED, items[b], k, d]))
                 for b, row in enumerate(rel.names)]
        zeroed = lens.logits_without(x, picks)
        drop, flip = prediction_change(logits, zeroed)
        drops.append(drop)
        flips.append(flip)
        hits.append((zeroed.argmax(1).cpu() == y).double().numpy())
    return {"top1": (logits.argmax(1).cpu() == y).double().numpy(),
            "top1_relevant": (relevant.argmax(1).cpu() == y).double().numpy(),
            "top1_random": np.mean(hits, axis=0), "drop_relevant": drop_rel, "drop_random": np.mean(drops, axis=0),
            "flip_relevant": flip_rel, "flip_random": np.mean(flips, axis=0)}


def zeroing_row(scores: dict[str, np.ndarray], draws: int = DRAWS) -> dict[str, float | int | str]:
    """One table row from the per-image :data:`SCORES` of all images: means, the paired bootstrap of
    relevant − random for the drop and for the flip (difference, 95 % interval), and the drop's verdict."""
    drop = paired_bootstrap(scores["drop_relevant"], scores["drop_random"])
    flip = paired_bootstrap(scores["flip_relevant"], scores["flip_random"])
    return {"top1": float(np.mean(scores["top1"])), "top1_relevant_zeroed": float(np.mean(scores["top1_relevant"])),
            "top1_random_zeroed": float(np.mean(scores["top1_random"])),
            "drop_relevant": float(np.mean(scores["drop_relevant"])),
            "drop_random": float(np.mean(scores["drop_random"])),
            "drop_diff": drop.diff, "drop_ci_low": drop.ci_low, "drop_ci_high": drop.ci_high,
            "flip_relevant": float(np.mean(scores["flip_relevant"])),
            "flip_random": float(np.mean(scores["flip_random"])),
            "flip_diff": flip.diff, "flip_ci_low": flip.ci_low, "flip_ci_high": flip.ci_high,
            "verdict": VERDICTS[drop.verdict], "draws": int(draws), "n": int(len(scores["top1"]))}


class ChannelZeroingAnalysis(Analysis):
    """Relevant channels' first check: class-probability drop and flips, top-k relevant vs k random zeroed."""

    name = "channel_zeroing"

    def setup(self) -> None:
        self.lenses: dict[str, ChannelLens] = {}
        path = getattr(self.zoo, "path", None)
        for name in getattr(self.zoo, "classifiers", {}):
            if path is None or not has_channel_weights(Path(path), name):
                continue
            try:
                self.lenses[name] = ChannelLens(self.zoo.classifiers[name], load_channel_weights(Path(path), name),
                                                input_size=getattr(self.zoo, "input_size", 64))
            except (CheckpointError, ConfigError):
                continue  # stale or foreign W: `s2s channels fit` says so when it is re-fitted
        self.scores: dict[tuple[str, int], list[dict[str, np.ndarray]]] = {
            (n, k): [] for n in self.lenses for k in KS}

    def update(self, views: BatchViews) -> None:
        items = [views.item(b) for b in range(views.size)]
        for name, lens in self.lenses.items():
            for k in KS:
                self.scores[(name, k)].append(zeroing_scores(lens, views.x, views.y, k, items))

    def tables(self) -> dict[str, pd.DataFrame]:
        rows = []
        for (name, k), batches in self.scores.items():
            if batches:
                joined = {s: np.concatenate([b[s] for b in batches]) for s in SCORES}
                rows.append({"classifier": name, "k": k, **zeroing_row(joined)})
        return {"channel_zeroing": pd.DataFrame(rows)} if rows else {}
