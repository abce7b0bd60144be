"""Which lens passes which check, in one table (issues 25-26): the scorecard the Lenses page and ``s2s report``
show first, read from the check tables (nothing is recomputed):

* **beats the best map that reads no classifier** (``ground_truth_baselines.csv``; pixel AUC, filled shape and
  outline band; paired bootstrap 95 % interval of the per-image difference);
* **follows the class** (``class_sensitivity.csv``; two-shape images, the symmetric target sensitivity's interval
  above 0);
* **follows the weights** (``randomisation.csv``; Spearman with the original map once every layer is random, its
  interval below 0.5).

Each cell lists the classifiers for which the lens passes, "k of n"; a check that does not apply (S2S is not
class-conditional and reads A_i, not i's weights) says so, and a check whose table is absent is left out.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

#: Column -> the verdict that counts as a pass.
CHECKS = {"beats the best model-free map (pixel AUC, filled shape)": "beats",
          "beats it on the outline band": "beats",
          "follows the class (two shapes)": "follows the class",
          "follows the weights (randomisation)": "passes"}


def _cell(rows: pd.DataFrame, passing: str, order: Sequence[str]) -> str:
    if rows.empty:
        return "—"
    why = rows["note"] if "note" in rows else rows["verdict"]
    if why.fillna("").astype(str).str.startswith("not ").all():
        return "does not apply"
    won = [c for c in order if c in set(rows.loc[rows["verdict"] == passing, "classifier"])]
    total = rows["classifier"].nunique()
    return f"{', '.join(won)} ({len(won)} of {total})" if won else f"none of {total}"


def scorecard(tables: dict[str, pd.DataFrame], classifiers: Sequence[str] | None = None) -> pd.DataFrame:
    """Lens heatmap (rows, by label, in the registry's order) x check (columns of :data:`CHECKS` whose table is in
    ``tables``, keyed by results key): the classifiers for which it passes."""
    vs, sens, rand = (tables.get(k) for k in ("ground_truth_baselines", "class_sensitivity", "randomisation"))
    sources: dict[str, pd.DataFrame] = {}
    if vs is not None:
        auc = vs[vs["metric"] == "auc"]
        sources[list(CHECKS)[0]] = auc[auc["mask"] == "filled"]
        sources[list(CHECKS)[1]] = auc[auc["mask"] == "outline"]
    if sens is not None:
        mine = sens[~sens["model_free"].astype(bool) & (sens["subset"] == "all")]
        sources[list(CHECKS)[2]] = mine[(mine["measure"] == "sensitivity")
                                        | mine["note"].fillna("").astype(str).str.startswith("not ")]
    if rand is not None:
        last = rand[rand["step"] == rand.groupby(["heatmap", "classifier"])["step"].transform("max")]
        sources[list(CHECKS)[3]] = last[last["metric"] == "spearman"]
    if not sources:
        return pd.DataFrame()
    labels = list(dict.fromkeys(label for frame in sources.values() for label in frame["label"]))
    present = list(dict.fromkeys(c for frame in sources.values() for c in frame["classifier"].dropna() if c))
    order = [c for c in (classifiers or []) if c in present] or present
    out = pd.DataFrame({check: [_cell(frame[frame["label"] == label], CHECKS[check], order) for label in labels]
                        for check, frame in sources.items()}, index=pd.Index(labels, name="heatmap"))
    return out


#: How :func:`scorecard_line` names each check.
SHORT = dict(zip(CHECKS, ("beats the best model-free map on the filled shape", "on the outline band",
                          "follows the class", "follows the weights"), strict=True))


def _count(cell: str) -> str | None:
    """``"A, V (2 of 5)"`` -> ``"2/5"``, ``"none of 5"`` -> ``"0/5"``; None for a check that does not apply."""
    if cell.startswith("none of "):
        return f"0/{cell.removeprefix('none of ')}"
    if cell.endswith(")") and " of " in cell:
        k, n = cell.rsplit("(", 1)[1].rstrip(")").split(" of ")
        return f"{k}/{n}"
    return None


def scorecard_line(card: pd.DataFrame) -> str:
    """One generated line for the README: per lens heatmap, for how many classifiers it passes each check that
    applies (``k/n``)."""
    parts = []
    for label, row in card.iterrows():
        cells = [f"{SHORT.get(c, c)} {n}" for c, v in row.items() if (n := _count(str(v))) is not None]
        if cells:
            parts.append(f"{label}: " + ", ".join(cells))
    return "; ".join(parts)
