"""What the Per image page sorts: ``per_image.csv`` (:mod:`s2s_core.analysis.dataset.per_image`) as choices a
person reads ("pixel AUC of the gradient") and a ranking worst first ("show me where this lens fails").

Every measure is ranked so that the image where the lens or the AE does worst comes first: the lowest AUC,
mass and nMI; for ``correct`` the images i gets wrong; for ``disagreement`` those where A_i changes i's answer.
Ties keep the data's order (by item), so a ranking is stable.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from s2s_core.analysis.dataset.ground_truth import CHANCE_KEY, CHANCE_LABEL

#: Measure key -> (what a reader sees, True where a larger value is worse).
MEASURES: dict[str, tuple[str, bool]] = {
    "auc": ("pixel AUC", False),
    "mass": ("relevance mass accuracy", False),
    "nmi": ("nMI(x, A_i(x))", False),
    "disagreement": ("A_i changes i's answer", True),
    "correct": ("i reads x right", False),
}


#: The text columns, whose empty cells a CSV reader gives back as NaN.
TEXT_COLUMNS = ("file", "label", "classifier", "heatmap")


def as_read(per: pd.DataFrame) -> pd.DataFrame:
    """``per_image.csv`` as read back: the empty text cells (a map that reads no classifier, a measure of no
    heatmap) as ``""`` again, not NaN."""
    return per.assign(**{c: per[c].fillna("").astype(str) for c in TEXT_COLUMNS if c in per})


@dataclass(frozen=True)
class Choice:
    """One sortable column: a measure, the heatmap it scores (``""`` for the others) and what a reader sees."""

    measure: str
    heatmap: str
    label: str


def choices(per: pd.DataFrame, labels: dict[str, str] | None = None) -> list[Choice]:
    """Every (measure, heatmap) in the file, named with ``labels`` (heatmap key -> label; the chance map is
    named here): first the lenses' heatmaps, which read a classifier (by measure, then in file order), then i's
    and A_i's own measures, then the maps that read no classifier."""
    labels = {CHANCE_KEY: CHANCE_LABEL, **(labels or {})}
    free = set(per.loc[per["classifier"] == "", "heatmap"])
    pairs = per[["measure", "heatmap"]].drop_duplicates()
    order = {m: i for i, m in enumerate(MEASURES)}

    def group(measure: str, heatmap: str) -> int:
        return 2 if heatmap in free else 0 if heatmap else 1

    pairs = pairs.assign(_g=[group(m, h) for m, h in zip(pairs["measure"], pairs["heatmap"], strict=True)],
                         _o=pairs["measure"].map(order).fillna(len(order)))
    pairs = pairs.sort_values(["_g", "_o"], kind="stable")
    out = []
    for measure, heatmap in zip(pairs["measure"], pairs["heatmap"], strict=True):
        name = MEASURES.get(measure, (measure, False))[0]
        text = f"{name} of {labels.get(heatmap, heatmap)}" if heatmap else name
        out.append(Choice(measure, heatmap, text + (" (reads no classifier)" if heatmap in free else "")))
    return out


def classifiers_for(per: pd.DataFrame, choice: Choice) -> list[str]:
    """The classifiers that have ``choice`` (``[""]`` for a map that reads no classifier)."""
    rows = per[(per["measure"] == choice.measure) & (per["heatmap"] == choice.heatmap)]
    return list(dict.fromkeys(rows["classifier"]))


def ranked(per: pd.DataFrame, choice: Choice, classifier: str) -> pd.DataFrame:
    """The images scored by ``choice`` for ``classifier``, worst first: ``item, file, label, value`` plus
    ``rank`` (1 = worst). NaN scores (a mask the metric cannot score) go last."""
    rows = per[(per["measure"] == choice.measure) & (per["heatmap"] == choice.heatmap)
               & (per["classifier"] == classifier)]
    worse_high = MEASURES.get(choice.measure, ("", False))[1]
    rows = rows.sort_values(["value", "item"], ascending=[not worse_high, True], na_position="last", kind="stable")
    out = rows[["item", "file", "label", "value"]].reset_index(drop=True)
    out.insert(0, "rank", range(1, len(out) + 1))
    return out
