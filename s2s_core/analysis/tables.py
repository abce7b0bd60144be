"""Tables people read, built from the results tables (:mod:`s2s_core.results`); pure pandas, no plotting.

* :func:`table1`: Table 1 of the paper from ``accuracy.csv`` (the CLI, the Overview page, the demo report).
* :func:`nmi_summary`: ``nmi.csv`` as one row per AE beside its chance level (the Information page, the report).
* :func:`cross_accuracy_of_classes`, :func:`class_shifts`, :func:`class_highlights`: ``per_class.csv`` pooled
  over chosen classes (Signal order page) and the classes where an A_i loses or gains most (Overview).
* :func:`classifier_frame`: a zoo's classifiers (the Overview page).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from s2s_core.errors import InputTableError
from s2s_core.views import BASE_KEY, ORIGINAL, ae_key

TABLE1_COLUMNS = ("network", "top-1", "diff top-1", "top-5", "diff top-5")


def _require(df: pd.DataFrame, columns: tuple[str, ...], what: str) -> pd.DataFrame:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise InputTableError(f"{what} lacks column(s) {', '.join(missing)}; expected columns {','.join(columns)}")
    if df.empty:
        raise InputTableError(f"{what} has no rows")
    return df


def table1(acc_df: pd.DataFrame) -> pd.DataFrame:
    """Table 1: for each classifier ``i``, rows ``i``, ``i∘A_S``, ``i∘A_i`` with top-1/top-5 in percent
    and the difference to the original input in percentage points (NaN on the original's row).

    Args:
        acc_df: ``accuracy.csv`` rows (fractions). Rows for other inputs (``j∘A_i``, ``i != j``) are ignored.

    Returns:
        Columns ``network, top-1, diff top-1, top-5, diff top-5`` rounded to 2 decimals.
    """
    df = _require(acc_df, ("classifier", "input", "top1", "top5"), "accuracy table")
    rows = []
    for clf in dict.fromkeys(df["classifier"]):
        mine = df[df["classifier"] == clf].drop_duplicates("input", keep="last").set_index("input")
        base = mine.loc[ORIGINAL] if ORIGINAL in mine.index else None
        for inp, label in ((ORIGINAL, str(clf)), (BASE_KEY, f"{clf}∘{BASE_KEY}"), (ae_key(clf), f"{clf}∘{ae_key(clf)}")):
            if inp not in mine.index:
                continue
            r = mine.loc[inp]
            top1, top5 = 100 * float(r["top1"]), 100 * float(r["top5"])
            diff = inp != ORIGINAL and base is not None
            rows.append({
                "network": label,
                "top-1": top1,
                "diff top-1": top1 - 100 * float(base["top1"]) if diff else np.nan,
                "top-5": top5,
                "diff top-5": top5 - 100 * float(base["top5"]) if diff else np.nan,
            })
    return pd.DataFrame(rows, columns=list(TABLE1_COLUMNS)).round(2)


def primary_nmi(nmi_df: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``nmi.csv``'s primary estimator (the first row's ``estimator``: the binning rule with the bias
    correction unless ``s2s evaluate --nmi-estimator`` chose another)."""
    df = _require(nmi_df, ("ae", "kind", "estimator", "mean", "std", "se", "n", "chance_mean", "chance_std",
                           "chance_se", "chance_n", "above_chance", "above_chance_low", "above_chance_high"),
                  "nMI table")
    return df[df["estimator"] == df["estimator"].iloc[0]]


def nmi_summary(nmi_df: pd.DataFrame) -> pd.DataFrame:
    """One row per AE (index ``AE``, in order of appearance; the originals' pairs are the chance level, not a row)
    for the primary estimator: for each kind (``intra``, ``inter``) ``mean``, ``std``, ``se``, ``n`` and
    ``− chance`` with its 95 % interval (``low``, ``high``); then the chance level ``chance mean/std/se/n``."""
    df = primary_nmi(nmi_df)
    aes = [a for a in dict.fromkeys(df["ae"]) if a != ORIGINAL]
    table = pd.DataFrame(index=pd.Index(aes, name="AE"))
    for kind in ("intra", "inter"):
        rows = df[df["kind"] == kind].drop_duplicates("ae", keep="last").set_index("ae").reindex(aes)
        if rows["mean"].isna().all():
            continue
        for col in ("mean", "std", "se"):
            table[f"{kind} {col}"] = rows[col]
        table[f"{kind} n"] = rows["n"].astype("Int64")
        table[f"{kind} − chance"] = rows["above_chance"]
        table[f"{kind} − chance low"] = rows["above_chance_low"]
        table[f"{kind} − chance high"] = rows["above_chance_high"]
    first = df.iloc[0]
    for col in ("mean", "std", "se"):
        table[f"chance {col}"] = float(first[f"chance_{col}"])
    table["chance n"] = int(first["chance_n"])
    return table


# ------------------------------------------------------------------------------------------ per class
def cross_accuracy_of_classes(per_class: pd.DataFrame, classes=None) -> pd.DataFrame:
    """Table 2 restricted to ``classes`` (names; ``None``: all), pooled exactly from the counts of
    ``per_class.csv``: rows ``A_<i>`` (index ``ae``), columns classifiers j, cells acc(j∘A_i) in [0, 1]."""
    df = _require(per_class, ("classifier", "input", "class", "n", "top1_correct"), "per-class table")
    if classes is not None:
        chosen = {str(c) for c in classes}
        df = df[df["class"].astype(str).isin(chosen)]
        if df.empty:
            raise InputTableError(f"the per-class table has no images of {', '.join(sorted(chosen)) or 'no class'}")
    names = list(dict.fromkeys(df["classifier"]))
    aes = [ae_key(n) for n in names if ae_key(n) in set(df["input"])]
    sums = df[df["input"].isin(aes)].groupby(["input", "classifier"], sort=False)[["top1_correct", "n"]].sum()
    acc = (sums["top1_correct"] / sums["n"]).unstack("classifier")
    return acc.reindex(index=aes, columns=[n for n in names if ae_key(n) in aes]).rename_axis("ae").rename_axis(
        None, axis=1)


def class_shifts(per_class: pd.DataFrame) -> pd.DataFrame:
    """Per class and classifier i: top-1 of i on the originals, of i∘A_S and of i∘A_i, and the changes
    ``A_i − original`` and ``A_i − A_S`` in percentage points. Columns ``classifier, class, n, original, A_S,
    A_i, A_i − original, A_i − A_S``."""
    df = _require(per_class, ("classifier", "input", "class", "n", "top1"), "per-class table")
    rows = []
    for clf in dict.fromkeys(df["classifier"]):
        mine = df[df["classifier"] == clf]
        wide = mine.pivot_table(index="class", columns="input", values="top1", sort=False)
        counts = mine[mine["input"] == ORIGINAL].set_index("class")["n"]
        own = ae_key(clf)
        if own not in wide.columns or ORIGINAL not in wide.columns:
            continue
        for cls, row in wide.iterrows():
            rows.append({"classifier": clf, "class": cls, "n": int(counts.get(cls, 0)),
                         "original": 100 * row[ORIGINAL], "A_S": 100 * row.get(BASE_KEY, np.nan),
                         "A_i": 100 * row[own], "A_i − original": 100 * (row[own] - row[ORIGINAL]),
                         "A_i − A_S": 100 * (row[own] - row.get(BASE_KEY, np.nan))})
    return pd.DataFrame(rows, columns=["classifier", "class", "n", "original", "A_S", "A_i", "A_i − original",
                                       "A_i − A_S"])


def class_highlights(per_class: pd.DataFrame, top: int = 2) -> pd.DataFrame:
    """For each classifier i the ``top`` classes where i∘A_i loses most and gains most against i on the
    originals (rows of :func:`class_shifts` with a ``direction`` column: ``loses``/``gains``; ties by class)."""
    shifts = class_shifts(per_class)
    out = []
    for _, mine in shifts.groupby("classifier", sort=False):
        ordered = mine.sort_values(["A_i − original", "class"], kind="stable")
        losses = ordered[ordered["A_i − original"] < 0].head(top).assign(direction="loses")
        gains = ordered[ordered["A_i − original"] > 0].iloc[::-1].head(top).assign(direction="gains")
        out += [losses, gains]
    cols = ["classifier", "direction", "class", "n", "original", "A_i", "A_i − original", "A_S"]
    frames = [f for f in out if not f.empty]
    return pd.concat(frames, ignore_index=True)[cols] if frames else pd.DataFrame(columns=cols)


def parameter_count(module: torch.nn.Module) -> int:
    """Number of parameters of a module."""
    return sum(p.numel() for p in module.parameters())


def classifier_frame(zoo) -> pd.DataFrame:
    """The zoo's classifiers: short name, registry name, family, parameters, input size, fine-tuned AE."""
    rows = []
    for name, clf in zoo.classifiers.items():
        spec = getattr(clf, "spec", None)
        rows.append({
            "name": name,
            "network": getattr(spec, "name", type(clf).__name__),
            "family": getattr(spec, "family", "") or "",
            "parameters": parameter_count(clf),
            "input size": f"{spec.input_size}×{spec.input_size}" if spec else "",
            "fine-tuned AE": ae_key(name) if name in zoo.decoders else "—",
        })
    return pd.DataFrame(rows)
