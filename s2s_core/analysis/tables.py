"""Tables people read, built from the results tables (:mod:`s2s_core.results`); pure pandas, no plotting.

* :func:`table1`: Table 1 of the paper from ``accuracy.csv`` (the CLI, the Overview page, the demo report).
* :func:`nmi_summary`: ``nmi.csv`` as one row per AE (the Information page, the demo report).
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


def nmi_summary(nmi_df: pd.DataFrame) -> pd.DataFrame:
    """One row per AE (index ``AE``, in order of appearance): ``<kind> mean``, ``<kind> std``, ``<kind> n`` for
    each kind present (``intra``, ``inter``) and ``intra − inter`` when both are."""
    df = _require(nmi_df, ("ae", "kind", "mean", "std", "n"), "nMI table")
    wide = df.pivot_table(index="ae", columns="kind", values=["mean", "std", "n"], sort=False)
    table = pd.DataFrame(index=pd.Index(list(dict.fromkeys(df["ae"])), name="AE"))
    for kind in ("intra", "inter"):
        if ("mean", kind) in wide.columns:
            table[f"{kind} mean"] = wide[("mean", kind)]
            table[f"{kind} std"] = wide[("std", kind)]
            table[f"{kind} n"] = wide[("n", kind)].astype("Int64")
    if {"intra mean", "inter mean"} <= set(table.columns):
        table["intra − inter"] = table["intra mean"] - table["inter mean"]
    return table


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
