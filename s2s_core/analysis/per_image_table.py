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
from s2s_core.analysis.dataset.per_image import LENS_MASK, LENS_METRICS
from s2s_core.analysis.stats import format_interval

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


def beside_baselines(choice: Choice, classifier: str, gt: pd.DataFrame | None,
                     versus: pd.DataFrame | None) -> str | None:
    """What a lens's per-image scores are worth, in one sentence: their mean with its 95 % interval, chance (the
    random map) and the best map that reads no classifier on the same images, with the paired difference and its
    interval. The numbers are those of ``ground_truth.csv`` and ``ground_truth_baselines.csv`` (the Lenses page's
    test-set tab) for the per-image file's mask; ``None`` for a score that is not a lens's (nMI, i's answers) or
    when those tables are missing. A map that reads no classifier gets its mean beside chance."""
    if not choice.heatmap or gt is None or choice.measure not in LENS_METRICS:
        return None
    rows = gt[(gt["metric"] == choice.measure) & (gt["mask"] == LENS_MASK)]
    heat = rows[(rows["heatmap"] == choice.heatmap) & (rows["classifier"].fillna("").astype(str) == classifier)]
    chance = rows[rows["heatmap"] == CHANCE_KEY]
    if heat.empty:
        return None
    r = heat.iloc[0]
    name = MEASURES[choice.measure][0]
    text = f"Mean {name} {format_interval(r['mean'], r['ci_low'], r['ci_high'], 3)} over {int(r['n'])} images"
    if not chance.empty and choice.heatmap != CHANCE_KEY:
        text += f"; chance (a random map) {float(chance.iloc[0]['mean']):.3f}"
    if classifier and versus is not None:
        v = versus[(versus["heatmap"] == choice.heatmap) & (versus["classifier"] == classifier)
                   & (versus["mask"] == LENS_MASK) & (versus["metric"] == choice.measure)]
        if not v.empty:
            b = v.iloc[0]
            text += (f"; the best map that reads no classifier on the same images, {b['baseline_label']}, "
                     f"{b['baseline_score']:.3f}: difference {format_interval(b['diff'], b['ci_low'], b['ci_high'], 3, True)}"
                     f" (paired 95 % interval: {b['verdict']})")
    return text + "."
