"""Per-image scores a person can sort (issue 26 item 4): "show me where this lens fails".

One row per test image, classifier and measure (``per_image.csv``, long so that its columns never change):

* ``correct``: 1 if i reads x right (its top-1 is the label), else 0;
* ``disagreement``: 1 if i's top-1 on A_i(x) differs from its top-1 on x (Table 2 per image), else 0;
* ``nmi``: nMI(x, A_i(x)) (Sec. 3.5, Fig. 8; the estimator of :mod:`s2s_core.analysis.dataset.nmi`);
* ``auc`` and ``mass``: pixel AUC and relevance mass accuracy of every lens heatmap against the filled mask
  (:mod:`s2s_core.lenses.scores`), read from the ground-truth analysis of the same evaluation (its per-image
  scores, not computed twice); maps that read no classifier have classifier ``""``. Without masks in the data,
  or without ``ground_truth`` in the run, these rows are absent.

``item`` is the image's index in its data set and ``file`` its path inside the data folder, so a page can open
it. The Per image page sorts these rows (worst first) and opens the chosen image in the Lenses view.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from s2s_core.analysis.dataset.base import Analysis, BatchViews
from s2s_core.analysis.nmi import Estimator, estimator_for, nmi_batch
from s2s_core.views import ORIGINAL, ae_key

#: The ground-truth metrics copied per image, on this mask.
LENS_METRICS, LENS_MASK = ("auc", "mass"), "filled"
COLUMNS = ["item", "file", "label", "classifier", "measure", "heatmap", "value"]


class PerImageAnalysis(Analysis):
    """Per image: i right or wrong, A_i's disagreement with i, nMI(x, A_i(x)) and every lens's AUC and mass."""

    name = "per_image"

    def setup(self) -> None:
        self.estimator: Estimator | None = None
        self.items: list[np.ndarray] = []
        self.labels: list[np.ndarray] = []
        self.values: dict[tuple[str, str], list[np.ndarray]] = {}  # (classifier, measure) -> per image

    def update(self, views: BatchViews) -> None:
        if self.estimator is None:
            self.estimator = estimator_for(int(views.x[0].numel()))
        self.items.append(np.array([views.item(b) for b in range(views.size)], dtype=np.int64))
        self.labels.append(views.y.cpu().numpy())
        for name in self.names:
            on_x = views.logits(name, ORIGINAL).argmax(1)
            on_ae = views.logits(name, ae_key(name)).argmax(1)
            for measure, values in (("correct", on_x == views.y), ("disagreement", on_x != on_ae),
                                    ("nmi", nmi_batch(views.x, views.images[ae_key(name)], self.estimator))):
                self.values.setdefault((name, measure), []).append(values.double().cpu().numpy())

    def tables(self) -> dict[str, pd.DataFrame]:
        if not self.items:
            return {}
        items, labels = np.concatenate(self.items), np.concatenate(self.labels)
        frames = [pd.DataFrame({"item": items, "classifier": name, "measure": measure, "heatmap": "",
                                "value": np.concatenate(v)}) for (name, measure), v in self.values.items()]
        ground_truth = self.peers.get("ground_truth")
        if ground_truth is not None:
            frames += ground_truth.per_image(LENS_METRICS, LENS_MASK)
        out = pd.concat(frames, ignore_index=True)
        label_of = dict(zip(items.tolist(), labels.tolist(), strict=True))
        classes, files = self.data.class_names, self.data.item_names
        out.insert(1, "file", [files[i] if files and i < len(files) else "" for i in out["item"]])
        out.insert(2, "label", [classes[label_of[i]] if classes else str(label_of[i]) for i in out["item"]])
        return {"per_image": out[COLUMNS].sort_values(["item"], kind="stable").reset_index(drop=True)}
