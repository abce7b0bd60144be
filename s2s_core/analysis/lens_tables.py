"""What ``ground_truth.csv`` and ``ground_truth_baselines.csv`` say, as tables and sentences a reader sees (the
Lenses page and the zoo's account, :mod:`s2s_core.demo.report`, read the same functions, so they never
disagree).

Every number here is read from the two files written by
:class:`~s2s_core.analysis.dataset.ground_truth.GroundTruthAnalysis`; nothing is recomputed except counts.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from s2s_core.analysis.stats import format_interval
from s2s_core.lenses.scores import METRICS

#: The metric and mask a reader sees first: pixel AUC (chance 0.5 whatever the mask's size) on the filled shape.
HEADLINE_METRIC, HEADLINE_MASK = "auc", "filled"
#: Metrics that pick something with the mask in hand: never used for a verdict.
OPTIMISTIC = ("best_iou",)


def metric_label(metric: str) -> str:
    """``"auc"`` -> ``"pixel AUC"`` (the labels of :data:`s2s_core.lenses.scores.METRICS`)."""
    return METRICS[metric][0] if metric in METRICS else metric


def standard_metrics() -> list[str]:
    """Every metric a verdict may rest on (the optimistic best-threshold IoU left out)."""
    return [m for m in METRICS if m not in OPTIMISTIC]


def _order(names: Sequence[str] | None, present: Sequence[str]) -> list[str]:
    have = list(dict.fromkeys(present))
    return [c for c in (names or []) if c in have] or have


def scores_wide(gt: pd.DataFrame, metric: str = HEADLINE_METRIC, mask: str = HEADLINE_MASK,
                classifiers: Sequence[str] | None = None) -> pd.DataFrame:
    """Heatmap (rows: the lenses, then the model-free maps) x classifier of ``metric`` on ``mask`` as
    ``mean [95 % interval]``; a model-free map's row has its one value (on every image) in every column."""
    df = gt[(gt["metric"] == metric) & (gt["mask"] == mask)]
    lenses, free = df[~df["model_free"].astype(bool)], df[df["model_free"].astype(bool)]
    order = _order(classifiers, lenses["classifier"].tolist())
    cell = lambda r: format_interval(r["mean"], r["ci_low"], r["ci_high"], 3)  # noqa: E731
    wide = (lenses.assign(cell=lenses.apply(cell, axis=1))
            .pivot(index="label", columns="classifier", values="cell")
            .reindex(list(dict.fromkeys(lenses["label"]))))
    wide = wide.reindex(columns=order).fillna("—")
    for _, r in free.iterrows():
        wide.loc[f"model-free: {r['label']}"] = [cell(r)] * len(order)
    wide.index.name = "heatmap"
    return wide


def verdicts_wide(vs: pd.DataFrame, metric: str = HEADLINE_METRIC, mask: str = HEADLINE_MASK,
                  classifiers: Sequence[str] | None = None) -> pd.DataFrame:
    """Lens heatmap x classifier: the mean difference to the best model-free map on the same images with its
    paired 95 % interval, the verdict and that map (``"beats: +0.031 [+0.012, +0.050] vs edge map"``)."""
    df = vs[(vs["metric"] == metric) & (vs["mask"] == mask)]
    order = _order(classifiers, df["classifier"].tolist())
    cells = df.assign(cell=[f"{v}: {format_interval(d, lo, hi, 3, signed=True)} vs {b}" for v, d, lo, hi, b in
                            zip(df["verdict"], df["diff"], df["ci_low"], df["ci_high"], df["baseline_label"],
                                strict=True)])
    wide = (cells.pivot(index="label", columns="classifier", values="cell")
            .reindex(list(dict.fromkeys(df["label"]))).reindex(columns=order).fillna("—"))
    wide.index.name = "heatmap"
    return wide


def best_baseline(gt: pd.DataFrame, metric: str = HEADLINE_METRIC, mask: str = HEADLINE_MASK) -> pd.Series | None:
    """The model-free row that scores highest on ``metric`` / ``mask`` over every image (None without one)."""
    free = gt[gt["model_free"].astype(bool) & (gt["metric"] == metric) & (gt["mask"] == mask)]
    return None if free.empty else free.loc[free["mean"].idxmax()]


def _grouped(rows: pd.DataFrame, best_label: str | None) -> str:
    """``"relevant channels, guided backprop for L (+0.027 [+0.016, +0.037]), A (…); gradient for A (…)"``: one
    clause per lens heatmap, its classifiers in order; a baseline is named only where it is not ``best_label``
    (on the lens's own images another map may score higher)."""
    clauses = []
    for label, group in rows.groupby("label", sort=False):
        parts = [f"{r.classifier} ({format_interval(r.diff, r.ci_low, r.ci_high, 3, signed=True)}"
                 + (f" vs {r.baseline_label})" if r.baseline_label != best_label else ")") for r in group.itertuples()]
        clauses.append(f"{label} for " + ", ".join(parts))
    return "; ".join(clauses)


def verdict_sentences(vs: pd.DataFrame, gt: pd.DataFrame, classifiers: Sequence[str] | None = None) -> list[str]:
    """Generated claims: per mask, the best model-free map by the headline metric and which lens beats it for
    which classifier (with the interval); then, over every standard metric and both masks, each lens x
    classifier that beats the best model-free map, and how often. No claim is made against chance alone."""
    out = []
    order = _order(classifiers, vs["classifier"].tolist())
    rank = {c: i for i, c in enumerate(order)}
    for mask in dict.fromkeys(vs["mask"]):
        best = best_baseline(gt, HEADLINE_METRIC, mask)
        df = vs[(vs["metric"] == HEADLINE_METRIC) & (vs["mask"] == mask)]
        df = df.assign(_r=df["classifier"].map(rank)).sort_values("_r", kind="stable")
        beats = df[df["verdict"] == "beats"]
        head = (f"On the {mask} mask, by {metric_label(HEADLINE_METRIC)}, the strongest map that reads no classifier "
                f"is {best['label']} ({best['mean']:.3f} [{best['ci_low']:.3f}, {best['ci_high']:.3f}] over "
                f"{int(best['n'])} images). " if best is not None else f"On the {mask} mask: ")
        if beats.empty:
            head += (f"No lens beats the best model-free map for any classifier (paired 95 % intervals of the "
                     f"per-image difference; {int((df['verdict'] == 'tie').sum())} ties, "
                     f"{int((df['verdict'] == 'below').sum())} below, of {len(df)}).")
        else:
            head += ("Beating the best model-free map on the same images (difference, paired 95 % interval): "
                     + _grouped(beats, None if best is None else best["label"])
                     + f". The other {len(df) - len(beats)} of {len(df)} lens × classifier pairs tie with it or "
                     "fall below it.")
        out.append(head)
    std = vs[vs["metric"].isin(standard_metrics())]
    wins = std[std["verdict"] == "beats"]
    if wins.empty:
        out.append(f"Over all {len(standard_metrics())} standard metrics and both masks, no lens beats the best "
                   "model-free map for any classifier.")
    else:
        counts = (wins.groupby(["label", "classifier"], sort=False).size()
                  .rename("n").reset_index())
        lens_rank = {label: i for i, label in enumerate(dict.fromkeys(vs["label"]))}  # the registry's order
        counts = (counts.assign(_l=counts["label"].map(lens_rank), _r=counts["classifier"].map(rank))
                  .sort_values(["_l", "_r"], kind="stable"))
        per = len(standard_metrics()) * vs["mask"].nunique()
        out.append(f"Over all {len(standard_metrics())} standard metrics and both masks ({per} comparisons per lens "
                   "and classifier), the lenses that beat the best model-free map at least once: "
                   + "; ".join(f"{label} for " + ", ".join(f"{r.classifier} ({r.n} of {per})" for r in g.itertuples())
                               for label, g in counts.groupby("label", sort=False))
                   + ". Every other pair never does.")
    return out


def lens_headline(gt: pd.DataFrame, vs: pd.DataFrame, classifiers: Sequence[str] | None = None) -> str:
    """One line for a summary: the best model-free map by the headline metric and mask, and which lens x
    classifier beats it (paired 95 % interval), or that none does."""
    best = best_baseline(gt)
    df = vs[(vs["metric"] == HEADLINE_METRIC) & (vs["mask"] == HEADLINE_MASK)]
    rank = {c: i for i, c in enumerate(_order(classifiers, df["classifier"].tolist()))}
    beats = df[df["verdict"] == "beats"].assign(_r=lambda d: d["classifier"].map(rank)).sort_values("_r", kind="stable")
    head = (f"by {metric_label(HEADLINE_METRIC)} on the filled shape, {best['label']} scores {best['mean']:.3f} "
            f"[{best['ci_low']:.3f}, {best['ci_high']:.3f}] without looking at any classifier; "
            if best is not None else "")
    if beats.empty:
        return head + f"no lens beats it for any classifier ({len(df)} lens × classifier pairs, paired 95 % intervals)."
    return head + ("beating it on the same images: " + "; ".join(
        f"{r.label} for {r.classifier} ({format_interval(r.diff, r.ci_low, r.ci_high, 3, signed=True)})" for r in beats.itertuples())
        + f" ({len(beats)} of {len(df)} lens × classifier pairs).")
