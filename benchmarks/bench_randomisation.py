"""What the model-randomisation check costs (Adebayo et al. 2018; issue 26 item 2) on the demo zoo, beside
drawing every lens once under the trained classifiers on the same images.

Figures (the demo's five classifiers at 64 px, the default 5 randomised steps, 32 test images in one batch):

* ``randomisation_s_per_image``: the analysis's copies made and every model-reading lens drawn at every step
  and compared with its original map (Spearman and SSIM), per image (``s2s evaluate --only randomisation``
  spends this on each of its ``--randomisation-images``, plus loading and encoding the data).
* ``randomisation_over_one_draw``: that over drawing every model-reading lens once for every classifier (the
  floor: 6 draws per lens, one per step, would be 6x).
"""

from __future__ import annotations

from pathlib import Path

import torch
from timing import best_seconds

from s2s_core.analysis.dataset.base import BatchViews
from s2s_core.analysis.dataset.randomisation import RandomisationAnalysis, RandomisationOptions
from s2s_core.data.datasets import LabelledImageFolder
from s2s_core.lenses.base import BatchContext
from s2s_core.lenses.registry import heatmap_rows
from s2s_core.zoo import Zoo

ZOO = Path(__file__).resolve().parents[1] / "checkpoints" / "demo"
BATCH = 32


def run() -> dict[str, float]:
    zoo = Zoo.load(ZOO)
    data = LabelledImageFolder(ZOO / "data" / "test", size=zoo.input_size)
    picks = range(0, len(data), len(data) // BATCH)[:BATCH]
    x = torch.stack([data[i][0] for i in picks])
    y = torch.tensor([data.targets[i] for i in picks])
    names = list(zoo.names)
    with torch.inference_mode():
        views = BatchViews.of(zoo, x, y, names)
    rows = [(lens, spec) for lens, spec in heatmap_rows() if lens.needs_model and lens.default]

    def check() -> None:
        analysis = RandomisationAnalysis(RandomisationOptions(randomisation_images=BATCH), zoo, names)
        analysis.update(views)
        analysis.tables()

    def once() -> None:
        ctx = BatchContext(zoo, {})
        ctx.start_batch(views)
        for lens, spec in rows:
            for name in names:
                lens.heatmap(ctx, name, spec.key)

    full, single = best_seconds(check, reps=2), best_seconds(once, reps=2)
    return {"randomisation_s_per_image": round(full / BATCH, 3), "randomisation_over_one_draw": round(full / single, 1)}
