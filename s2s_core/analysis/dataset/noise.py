"""Fig. 4 (Sec. 3.3.2): top-1 of each classifier i on x + n, A_S(x + n) and A_i(x + n), n ~ U(-s, s).

For every strength s > 0 of the grid the noisy batch is encoded once and decoded by every AE
(:meth:`~s2s_core.zoo.Zoo.reconstruct_all`); s = 0 reuses the clean views and their cached logits. The noise
comes from one generator seeded with ``options.seed`` and drawn batch by batch, s by s, so every classifier
and AE sees the same noise. A classifier with its own centre crop of the original (``views.natives``) reads
that crop plus noise of the same strength on the original curve. Writes ``noise.csv``: ``classifier,input,s,top1``.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import torch

from s2s_core.analysis.dataset.base import Analysis, BatchViews, Counts, option, seed_option
from s2s_core.analysis.noise import NOISE_GRID, add_uniform_noise, noise_generator, parse_grid
from s2s_core.errors import ConfigError
from s2s_core.views import BASE_KEY, ORIGINAL, ae_key


@dataclass(frozen=True)
class NoiseOptions:
    noise_grid: tuple[float, ...] = option(NOISE_GRID, "strengths s of the noise U(-s, s), e.g. 0,0.1,...,1",
                                           parse=parse_grid, metavar="S,S,...")
    seed: int = seed_option()


class NoiseAnalysis(Analysis):
    """Fig. 4: top-1 under additive uniform noise, on the input, A_S and A_i."""

    name = "noise"
    Options = NoiseOptions

    def setup(self) -> None:
        self.grid = [float(s) for s in self.options.noise_grid]
        if any(not (0.0 <= s <= 1.0) for s in self.grid):
            raise ConfigError(f"noise strengths must lie in [0, 1], got {self.grid}")
        self.generator = noise_generator(self.options.seed)
        self.counts = {(clf, view, s): Counts() for clf in self.names
                       for view in (ORIGINAL, BASE_KEY, ae_key(clf)) for s in self.grid}

    def update(self, views: BatchViews) -> None:
        for s in self.grid:
            if s == 0.0:
                logits = views.logits
            else:
                noisy = add_uniform_noise(views.x.cpu(), s, self.generator).to(views.x.device)
                natives = self._noisy_natives(views.natives, s)
                logits = BatchViews.of(views.zoo, noisy, views.y, views.names, views.start, views.ids, natives).logits
            for clf in self.names:
                for view in (ORIGINAL, BASE_KEY, ae_key(clf)):
                    self.counts[(clf, view, s)].add(logits(clf, view), views.y)

    def _noisy_natives(self, natives: dict[str, torch.Tensor], s: float) -> dict[str, torch.Tensor]:
        """Each classifier's own crop plus noise of the same strength (drawn after the AE input's; classifiers
        that share a crop share its noise)."""
        noisy: dict[int, torch.Tensor] = {}
        for t in natives.values():
            if id(t) not in noisy:
                noisy[id(t)] = add_uniform_noise(t.cpu(), s, self.generator).to(t.device)
        return {clf: noisy[id(t)] for clf, t in natives.items()}

    def tables(self) -> dict[str, pd.DataFrame]:
        rows = [{"classifier": clf, "input": view, "s": s, "top1": c.rate(1)}
                for (clf, view, s), c in self.counts.items()]
        frame = pd.DataFrame(rows).sort_values(["classifier", "input", "s"], kind="stable", ignore_index=True)
        return {"noise": frame}
