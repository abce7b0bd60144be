"""The first check of Oramas et al. (seed 004): zeroing an image's top-k relevant channels must hurt more than
zeroing k random channels of the same layers.

For every classifier with fitted channel weights (:mod:`s2s_core.lenses.channels.store`) and every k of ``KS``: the
top-1 accuracy on the original images (i) as they are, (ii) with each image's top-k relevant channels of its
predicted class set to zero, and (iii) with k random channels set to zero instead, drawn per image from the
same layers (as many from each layer as the top-k took there, never one of the top-k), ``DRAWS`` times. The
random draws give a mean, a standard deviation, a minimum and a maximum: the spread of the baseline. Draws
are seeded per image (the numbers do not depend on the batch size). Writes ``channel_zeroing.csv``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from s2s_core.analysis.dataset.base import ORIGINAL, Analysis, BatchViews
from s2s_core.errors import CheckpointError, ConfigError
from s2s_core.lenses.channels.lens import ChannelLens
from s2s_core.lenses.channels.store import has_channel_weights, load_channel_weights

KS = (1, 3, 5)
DRAWS = 10
ZEROING_SEED = 1_800_001


def random_like(picks: list[tuple[str, int]], widths: dict[str, int], rng: np.random.Generator) -> list[tuple[str, int]]:
    """As many random channels from each layer as ``picks`` holds there, none of them in ``picks``."""
    out = []
    for layer in dict.fromkeys(lay for lay, _ in picks):
        taken = {c for lay, c in picks if lay == layer}
        free = np.setdiff1d(np.arange(widths[layer]), sorted(taken))
        count = min(len(taken), len(free))
        out += [(layer, int(c)) for c in rng.choice(free, size=count, replace=False)]
    return out


class ChannelZeroingAnalysis(Analysis):
    """Relevant channels' first check: top-1 with the top-k relevant vs k random channels zeroed."""

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
        self.hits = {(n, k): np.zeros(2 + DRAWS, dtype=np.int64) for n in self.lenses for k in KS}
        self.n = dict.fromkeys(self.lenses, 0)

    def update(self, views: BatchViews) -> None:
        y = views.y.cpu()
        for name, lens in self.lenses.items():
            widths = dict(lens.weights.layers)
            base = views.logits(name, ORIGINAL).argmax(1).cpu()
            self.n[name] += len(y)
            for k in KS:
                rel = lens.relevant(views.x, k)
                counts = self.hits[(name, k)]
                counts[0] += int((base == y).sum())
                counts[1] += int((lens.logits_without(views.x, rel.names).argmax(1).cpu() == y).sum())
                for d in range(DRAWS):
                    picks = [random_like(row, widths, np.random.default_rng([ZEROING_SEED, views.item(b), k, d]))
                             for b, row in enumerate(rel.names)]
                    counts[2 + d] += int((lens.logits_without(views.x, picks).argmax(1).cpu() == y).sum())

    def tables(self) -> dict[str, pd.DataFrame]:
        if not self.lenses or not any(self.n.values()):
            return {}
        rows = []
        for (name, k), counts in self.hits.items():
            n = self.n[name]
            rand = counts[2:] / n
            rows.append({"classifier": name, "k": k, "top1": counts[0] / n, "top1_relevant_zeroed": counts[1] / n,
                         "top1_random_zeroed": float(rand.mean()), "random_std": float(rand.std(ddof=1)),
                         "random_min": float(rand.min()), "random_max": float(rand.max()), "draws": DRAWS, "n": n})
        return {"channel_zeroing": pd.DataFrame(rows)}
