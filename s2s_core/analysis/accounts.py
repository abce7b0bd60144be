"""What the results say, as sentences computed from the results tables, so that the README's report
(:mod:`s2s_core.demo.report`) and the dashboard pages state the same thing, each number beside its baseline.

* :func:`nmi_account`: nMI (Sec. 3.5) against the estimator's chance level, with intervals and the order of the
  AEs where paired differences support it.
* :func:`noise_claims` / :func:`noise_account`: Fig. 4's claim acc(i∘A_i) > acc(i) on noisy input, for which
  classifiers and strengths it holds, beside chance.
* :func:`pattern_account`: the image-independent part of each AE (Sec. 3.3.1).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from s2s_core.analysis.nmi import Estimator
from s2s_core.analysis.stats import format_interval
from s2s_core.analysis.tables import nmi_summary, primary_nmi
from s2s_core.errors import InputTableError
from s2s_core.views import BASE_KEY, ORIGINAL, ae_key

#: A top-1 within this many points of chance counts as "at chance" in the noise account.
NEAR_CHANCE_POINTS = 5.0


def _verdict(low: float, high: float) -> str:
    if not (math.isfinite(low) and math.isfinite(high)):
        return "undetermined"
    return "above" if low > 0 else "below" if high < 0 else "at"


def _paired(diffs: pd.DataFrame | None, kind: str, a: str, b: str) -> tuple[float, float, float] | None:
    """(mean, low, high) of ``a − b`` from ``nmi_differences.csv`` (either order stored)."""
    if diffs is None:
        return None
    for first, second, sign in ((a, b, 1.0), (b, a, -1.0)):
        row = diffs[(diffs["kind"] == kind) & (diffs["first"] == first) & (diffs["second"] == second)]
        if not row.empty:
            r = row.iloc[0]
            lo, hi = sign * float(r["ci_low"]), sign * float(r["ci_high"])
            return sign * float(r["mean"]), min(lo, hi), max(lo, hi)
    return None


def nmi_order(summary: pd.DataFrame, kind: str, diffs: pd.DataFrame | None, aes: list[str] | None = None) -> str:
    """``"A_V > A_I ≈ A_L"``: AEs sorted by mean ``kind`` nMI; ``>`` where the paired difference of neighbours has a
    95 % interval above 0, ``≈`` where it does not (or no paired difference is known)."""
    col = f"{kind} mean"
    order = summary[col].dropna()
    if aes is not None:
        order = order[[a for a in aes if a in order.index]]
    order = order.sort_values(ascending=False)
    text = ""
    for k, ae in enumerate(order.index):
        if k:
            d = _paired(diffs, kind, order.index[k - 1], ae)
            text += " > " if d is not None and d[1] > 0 else " ≈ "
        text += str(ae)
    return text


def nmi_account(nmi_df: pd.DataFrame, diffs: pd.DataFrame | None = None) -> list[str]:
    """Sentences on ``nmi.csv`` (and ``nmi_differences.csv`` when given): the chance level, which AEs lie
    above, at or below it (95 % intervals), and the order of the fine-tuned AEs."""
    summary = nmi_summary(nmi_df)
    primary = primary_nmi(nmi_df)
    est = Estimator.parse(str(primary["estimator"].iloc[0]))
    chance = summary.iloc[0]
    out = [f"Chance level ({est.describe()}): random pairs of unrelated original test images score "
           f"{chance['chance mean']:.3f} ± {chance['chance std']:.3f} (standard error {chance['chance se']:.4f}, "
           f"{int(chance['chance n'])} pairs)."]
    raw = nmi_df[nmi_df["estimator"] == "raw-256"]
    if est.name != "raw-256" and not raw.empty:
        r = raw.iloc[0]
        out.append(f"With the raw 256-level estimator the same pairs score {r['chance_mean']:.3f} ± "
                   f"{r['chance_std']:.3f}: that is what two unrelated images get at this image size without "
                   "the correction.")
    for kind, what in (("intra", "nMI(x, A(x))"), ("inter", "nMI(A(x₁), A(x₂))")):
        if f"{kind} − chance" not in summary.columns:
            continue
        groups: dict[str, list[str]] = {"above": [], "at": [], "below": [], "undetermined": []}
        for ae, row in summary.iterrows():
            low, high = row[f"{kind} − chance low"], row[f"{kind} − chance high"]
            groups[_verdict(low, high)].append(
                f"{ae} {row[f'{kind} mean']:.3f} ({format_interval(row[f'{kind} − chance'], low, high, 3, True)})")
        parts = [f"{label} chance: {'; '.join(items)}" for label, items in
                 (("above", groups["above"]), ("indistinguishable from", groups["at"]),
                  ("below", groups["below"]), ("too few samples to compare with", groups["undetermined"])) if items]
        out.append(f"{kind.capitalize()} {what} (mean, then difference to chance with its 95 % interval) is "
                   + "; ".join(parts) + ".")
        if kind == "inter" and groups["below"]:
            out.append("Below chance, reconstructions of two unrelated images share less than the two images "
                       "themselves: the AEs remove structure that unrelated originals have in common. An AE that "
                       "stamped its own pattern on every image would push inter nMI above chance instead.")
        if kind == "intra" and groups["at"] + groups["below"]:
            out.append("An intra nMI at or below chance says nothing about what that AE keeps of its input.")
    tuned = [a for a in summary.index if a != BASE_KEY]
    if len(tuned) > 1:
        out.append("Order of the fine-tuned AEs (> where the paired 95 % interval of neighbours excludes 0, ≈ "
                   f"where it does not): by intra nMI {nmi_order(summary, 'intra', diffs, tuned)}; by inter nMI "
                   f"{nmi_order(summary, 'inter', diffs, tuned)}.")
    return out


# ----------------------------------------------------------------------------------------------- noise
def noise_claims(noise_df: pd.DataFrame, chance: float | None = None) -> pd.DataFrame:
    """Fig. 4's claim per classifier i and noise strength s > 0: top-1 (in %) of i on the noisy original,
    of i∘A_S and of i∘A_i, ``gain`` = A_i − original (points), ``holds`` = acc(i∘A_i) > acc(i), and
    ``at chance`` when both i and i∘A_i lie within :data:`NEAR_CHANCE_POINTS` of ``chance`` (a fraction)."""
    missing = [c for c in ("classifier", "input", "s", "top1") if c not in noise_df.columns]
    if missing:
        raise InputTableError(f"noise table lacks column(s) {', '.join(missing)}")
    rows = []
    for clf in dict.fromkeys(noise_df["classifier"]):
        mine = noise_df[(noise_df["classifier"] == clf) & (noise_df["s"] > 0)]
        wide = mine.pivot_table(index="s", columns="input", values="top1")
        own = ae_key(clf)
        if own not in wide.columns or ORIGINAL not in wide.columns:
            continue
        for s, row in wide.iterrows():
            orig, tuned = 100 * row[ORIGINAL], 100 * row[own]
            near = (chance is not None and abs(orig - 100 * chance) <= NEAR_CHANCE_POINTS
                    and abs(tuned - 100 * chance) <= NEAR_CHANCE_POINTS)
            rows.append({"classifier": clf, "s": float(s), "original": orig,
                         "A_S": 100 * row.get(BASE_KEY, np.nan), "A_i": tuned, "gain": tuned - orig,
                         "holds": bool(tuned > orig), "at chance": bool(near)})
    return pd.DataFrame(rows, columns=["classifier", "s", "original", "A_S", "A_i", "gain", "holds", "at chance"])


def _s_list(values) -> str:
    return ", ".join(f"{s:g}" for s in values)


def noise_account(noise_df: pd.DataFrame, chance: float | None = None) -> str:
    """One sentence per classifier: where acc(i∘A_i) > acc(i) holds on noisy input, its largest gain with both
    values, and where it does not; chance stated."""
    claims = noise_claims(noise_df, chance)
    if claims.empty:
        return "The noise table has no strength s > 0 with both i and i∘A_i, so Fig. 4's claim cannot be checked."
    parts = []
    for clf, mine in claims.groupby("classifier", sort=False):
        held = mine[mine["holds"] & ~mine["at chance"]]
        if held.empty:
            parts.append(f"{clf}: at no s above chance")
            continue
        best = held.loc[held["gain"].idxmax()]
        text = (f"{clf}: at s = {_s_list(held['s'])} (largest gain at s = {best['s']:g}: "
                f"{best['A_i']:.1f} % against {best['original']:.1f} %)")
        fails = mine[~mine["holds"] & ~mine["at chance"]]
        if not fails.empty:
            text += f", not at s = {_s_list(fails['s'])}"
        parts.append(text)
    near = claims[claims["at chance"]]
    chance_text = f"chance is {100 * chance:.0f} %" if chance is not None else "chance is not known"
    tail = (f"; where both are within {NEAR_CHANCE_POINTS:g} points of chance the comparison says nothing "
            f"({len(near)} of {len(claims)} cases)" if chance is not None and not near.empty else "")
    return ("On inputs with uniform noise U(−s, s) the paper's claim acc(i∘A_i) > acc(i) holds for "
            + "; ".join(parts) + f" ({chance_text}{tail}).")


# -------------------------------------------------------------------------------------------- patterns
def pattern_account(patterns: pd.DataFrame) -> str:
    """A sentence on ``ae_patterns.csv``: how large each AE's image-independent part is, which AE puts most of it at
    the un-pooling period 2 and which has the largest colour cast, against A_S."""
    p = patterns.set_index("ae")
    tuned = [a for a in p.index if a != BASE_KEY]
    if not tuned:
        return ""

    def share(a: str) -> float:
        v = p.loc[a, "peak_share"]
        return float(v) if math.isfinite(v) else -1.0

    casts = p[["cast_r", "cast_g", "cast_b"]].abs().max(axis=1)
    board, cast_ae, big = max(tuned, key=share), max(tuned, key=lambda a: casts[a]), max(tuned, key=lambda a: p.loc[a, "mean_abs"])
    cast = p.loc[cast_ae, ["cast_r", "cast_g", "cast_b"]]
    ref = p.loc[BASE_KEY] if BASE_KEY in p.index else None
    text = (f"Averaged over {int(p['n'].iloc[0])} test images, the residual A(x) − x keeps an image-independent part: "
            f"largest for {big} (mean |E[A(x) − x]| {p.loc[big, 'mean_abs']:.4f}"
            + (f", A_S {ref['mean_abs']:.4f}" if ref is not None else "") + "). "
            f"{board} puts {100 * share(board):.0f} % of that part's power at the un-pooling period 2, a checkerboard"
            + (f" (A_S {100 * ref['peak_share']:.0f} %)" if ref is not None and math.isfinite(ref["peak_share"]) else "")
            + f". {cast_ae} has the largest colour cast (R, G, B {cast['cast_r']:+.3f}, {cast['cast_g']:+.3f}, "
            f"{cast['cast_b']:+.3f} of the image range).")
    return text


# -------------------------------------------------------------------------------------------- channel zeroing
#: The zeroing verdicts (``channel_zeroing.csv``'s ``verdict``, from the drop's paired interval) and how to say them.
ZEROING_LEADS = {
    "hurts more than random": "Zeroing the top-k relevant channels lowers the predicted class's probability more "
                              "than zeroing k random channels (interval of relevant − random above 0) for ",
    "no more than random": "No more than random channels (the interval holds 0) for ",
    "less than random": "Less than random channels (interval below 0) for ",
}


def _by_classifier(rows: pd.DataFrame, what: str, digits: int = 3) -> str:
    """``"L (k = 1: +0.030 [+0.021, +0.040]; k = 3: ...), A (...)"``: ``what``'s difference with its interval."""
    parts = []
    for name, sub in rows.groupby("classifier", sort=False):
        cells = "; ".join(f"k = {int(r.k)}: " + format_interval(getattr(r, f"{what}_diff"), getattr(r, f"{what}_ci_low"),
                                                              getattr(r, f"{what}_ci_high"), digits, signed=True)
                          for r in sub.itertuples())
        parts.append(f"{name} ({cells})")
    return ", ".join(parts)


def zeroing_account(z: pd.DataFrame) -> list[str]:
    """Sentences on ``channel_zeroing.csv``: for which classifiers and k zeroing the relevant channels lowers the
    predicted class's probability more than random channels (each with the paired 95 % interval of relevant −
    random), for which not, and where the prediction flips more often."""
    out = [ZEROING_LEADS[verdict] + _by_classifier(z[z["verdict"] == verdict], "drop", 4) + "."
           for verdict in ZEROING_LEADS if (z["verdict"] == verdict).any()]
    flips = z[z["flip_ci_low"] > 0]
    out.append("The prediction flips more often with the relevant channels zeroed than with random ones for "
               + (_by_classifier(flips, "flip") or "no classifier and k") + ".")
    return out


# -------------------------------------------------------------------------------------------- feature inversion
def inversion_account(inv: pd.DataFrame) -> list[str]:
    """Sentences on ``inversion.csv`` on the paper's scale (1 = as far as another test image): per classifier, the
    layers where the inversion x* lies nearer x's features than A_i(x) does, and where farther, each with the
    paired 95 % interval of the normalised errors' difference; and why top-1 on x* at the logits proves nothing."""
    nearer, farther, tied = [], [], []
    for name, rows in inv.groupby("classifier", sort=False):
        for r in rows.sort_values("depth").itertuples():
            cell = (f"{name} {r.layer} (depth {r.depth:.2f}: {r.error_norm:.2f} vs {r.ae_error_norm:.2f}, "
                    f"{format_interval(r.norm_diff, r.norm_diff_ci_low, r.norm_diff_ci_high, 2, True)})")
            verdict = _verdict(r.norm_diff_ci_low, r.norm_diff_ci_high)
            (nearer if verdict == "below" else farther if verdict == "above" else tied).append(cell)
    out = ["On the paper's scale (the error divided by the mean distance between two different test images at that "
           "layer, so 1 means as far as another image), the inversion x* lies nearer to x's features than A_i(x) "
           "does at " + ("; ".join(nearer) or "no layer") + "; farther at " + ("; ".join(farther) or "no layer")
           + ("; the intervals hold 0 at " + "; ".join(tied) if tied else "") + "."]
    highs = pd.concat([inv["error_norm_ci_high"], inv["ae_error_norm_ci_high"]])
    if (highs < 1).all():
        out.append(f"Every interval lies below 1 (the highest end {highs.max():.2f}): x* and A_i(x) both stay nearer "
                   "to x than another test image is, at every inverted layer. x* is fitted to this very error at its "
                   "own layer and A_i(x) is not, so x* being nearer is expected; the scale says by how much.")
    else:
        far = inv[(inv["error_norm_ci_high"] >= 1) | (inv["ae_error_norm_ci_high"] >= 1)]
        out.append("An interval reaches 1 (as far as another image) at " + "; ".join(
            f"{r.classifier} {r.layer}" for r in far.itertuples()) + ".")
    fitted = inv[inv["fitted_to_logits"].astype(bool)]
    if not fitted.empty:
        out.append("Top-1 on x* inverted from the logits (" + ", ".join(
            f"{r.classifier} {r.top1_inversion:.2f}" for r in fitted.itertuples()) + ") is no evidence that the "
            "inversion keeps what i uses: x* was fitted to i's own logits, so it is left out of any comparison with S2S.")
    return out
