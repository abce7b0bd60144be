"""Per-class Tables 1-2 (Sec. 3.3-3.4 per class): top-1/top-5 of every classifier j on every input (original,
A_S, every A_i) for each class, with the counts behind them, so that any set of classes can be pooled exactly.

Writes ``per_class.csv`` (:mod:`s2s_core.results`): ``classifier,input,label,class,n,top1_correct,top5_correct,
top1,top5``. The rows with ``input = A_<i>`` are the per-class cross accuracy acc(j∘A_i) of Table 2; those
with ``classifier = i`` and ``input`` in ``original``, ``A_S``, ``A_<i>`` are the per-class Table 1.
:func:`s2s_core.analysis.tables.cross_accuracy_of_classes` pools them into Table 2 of a set of classes.
The logits are the ones Table 1 already computed (:meth:`BatchViews.logits` caches them).
"""

from __future__ import annotations

import pandas as pd
import torch

from s2s_core import results
from s2s_core.analysis.dataset.base import Analysis, BatchViews

COLUMNS = results.PER_CLASS_COLUMNS


class PerClassAnalysis(Analysis):
    """Tables 1-2 per class: top-1/top-5 of every classifier on every input, class by class."""

    name = "per_class"

    def setup(self) -> None:
        self.keys = [(clf, view) for clf in self.zoo.classifiers for view in self.views]
        self.counts: dict[tuple[str, str], torch.Tensor] = {}  # (clf, view) -> (classes, 3): n, top1, top5

    def update(self, views: BatchViews) -> None:
        y = views.y.cpu().long()
        for key in self.keys:
            logits = views.logits(*key)
            hits = logits.topk(min(5, logits.shape[1]), dim=1).indices.cpu() == y.view(-1, 1)
            size = max(int(logits.shape[1]), int(y.max()) + 1)
            add = torch.stack([torch.bincount(y, minlength=size),
                               torch.bincount(y, hits[:, 0].long(), minlength=size),
                               torch.bincount(y, hits.any(dim=1).long(), minlength=size)], dim=1).long()
            old = self.counts.get(key, add.new_zeros(0, 3))
            grown = add.new_zeros(max(size, old.shape[0]), 3)
            grown[: old.shape[0]] += old
            grown[:size] += add
            self.counts[key] = grown

    def tables(self) -> dict[str, pd.DataFrame]:
        names = self.data.class_names
        rows = []
        for (clf, view), counts in self.counts.items():
            for label, (n, top1, top5) in enumerate(counts.tolist()):
                if n == 0:
                    continue
                rows.append({"classifier": clf, "input": view, "label": label,
                             "class": names[label] if names and label < len(names) else str(label), "n": n,
                             "top1_correct": top1, "top5_correct": top5, "top1": top1 / n, "top5": top5 / n})
        return {"per_class": pd.DataFrame(rows, columns=list(COLUMNS))} if rows else {}
