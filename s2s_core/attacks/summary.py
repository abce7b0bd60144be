"""Reading ``adversarial.csv`` and ``adversarial_transfer.csv`` (issue 28; Folz, Palacio et al., WACV 2020): does
A_i help i, and against whom? Shared by the report and the Attacks page.

The comparison that counts (Athalye et al. 2018): i∘A_i under an attack crafted on i∘A_i itself (white-box)
against i under an attack crafted on i. Gray-box rows (crafted on i, read by i∘A_i) only say how much of the
perturbation the AE filters out when the attacker does not know it is there.
"""

from __future__ import annotations

import pandas as pd

from s2s_core.views import BASE_KEY, ORIGINAL, ae_key


def defence_table(table: pd.DataFrame, attack: str) -> pd.DataFrame:
    """One row per classifier and ε > 0 of ``attack``: top-1 with Wilson intervals of i (crafted on i), i∘A_S and
    i∘A_i on i's examples (gray), and i∘A_i on its own (white); ``gray_helps`` / ``white_helps``: i∘A_i's interval
    lies wholly above i's."""
    t = table[(table["attack"] == attack) & (table["eps"] > 0)]
    rows = []
    for (clf, eps), group in t.groupby(["classifier", "eps"], sort=False):
        pick = {(r.threat, r.view): r for r in group.itertuples()}
        base = pick.get(("gray", ORIGINAL))
        if base is None:
            continue
        row = {"classifier": clf, "eps": eps}
        for label, key in (("i", ("gray", ORIGINAL)), ("i_AS", ("gray", BASE_KEY)),
                           ("i_Ai_gray", ("gray", ae_key(clf))), ("i_Ai_white", ("white", ae_key(clf)))):
            r = pick.get(key)
            row.update({label: r.top1 if r else float("nan"), f"{label}_low": r.ci_low if r else float("nan"),
                        f"{label}_high": r.ci_high if r else float("nan")})
        row["n"] = int(base.n)
        row["gray_helps"] = bool(row["i_Ai_gray_low"] > row["i_high"])
        row["white_helps"] = bool(row["i_Ai_white_low"] > row["i_high"])
        rows.append(row)
    return pd.DataFrame(rows)


def curves(table: pd.DataFrame, classifier: str, attack: str) -> pd.DataFrame:
    """Accuracy-vs-ε of ``classifier`` under ``attack``: columns ``eps, curve, top1, ci_low, ci_high``, curves
    ``i``, ``i∘A_S (gray)``, ``i∘A_i (gray)``, ``i∘A_i (white)`` (and ``i∘A_S (white)``)."""
    t = table[(table["classifier"] == classifier) & (table["attack"] == attack)]
    names = {("gray", ORIGINAL): "i", ("gray", BASE_KEY): "i∘A_S (gray)", ("gray", ae_key(classifier)): "i∘A_i (gray)",
             ("white", ae_key(classifier)): "i∘A_i (white)", ("white", BASE_KEY): "i∘A_S (white)"}
    rows = [{"eps": r.eps, "curve": names[(r.threat, r.view)], "top1": r.top1, "ci_low": r.ci_low,
             "ci_high": r.ci_high} for r in t.itertuples() if (r.threat, r.view) in names]
    return pd.DataFrame(rows, columns=["eps", "curve", "top1", "ci_low", "ci_high"]).sort_values(["curve", "eps"])


def transfer_matrix(transfer: pd.DataFrame, attack: str, eps: float, view: str = ORIGINAL) -> pd.DataFrame:
    """Top-1 of target j (columns) on the examples crafted on source i (rows) at ``eps`` (1/255): ``view``
    ``original`` reads them with j, ``"A_j"`` with j∘A_j (each target through its own AE)."""
    t = transfer[(transfer["attack"] == attack) & (transfer["eps"] == eps)]
    t = t[t["view"] == ORIGINAL] if view == ORIGINAL else t[t["view"] == t["target"].map(ae_key)]
    order = list(dict.fromkeys(t["source"]))
    return t.pivot(index="source", columns="target", values="top1").reindex(index=order, columns=order)
