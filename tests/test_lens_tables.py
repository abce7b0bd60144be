"""What a reader sees of the ground-truth tables (issue 25): intervals in every cell, the model-free maps beside
the lenses, verdicts and sentences generated from the paired comparisons, never a claim against chance alone."""

from __future__ import annotations

import pandas as pd
import pytest

from s2s_core.analysis.figures import ground_truth_figure
from s2s_core.analysis.lens_tables import (
    best_baseline,
    lens_headline,
    scores_wide,
    standard_metrics,
    verdict_sentences,
    verdicts_wide,
)
from s2s_core.demo.report import ground_truth_section


def _gt() -> pd.DataFrame:
    rows = []
    for mask in ("filled", "outline"):
        for metric in ("auc", "pointing"):
            for heat, label, clf, mean, n in (("gradient", "gradient of the class score", "L", 0.80, 500),
                                              ("gradient", "gradient of the class score", "A", 0.60, 500),
                                              ("ae_residual", "|x − A_i(x)|", "L", 0.90, 500),
                                              ("ae_residual", "|x − A_i(x)|", "A", 0.70, 500),
                                              ("inversion_error", "x* error", "L", 0.65, 30),
                                              ("centre", "centre prior", "", 0.85, 500),
                                              ("random", "random map (uniform noise)", "", 0.50, 500)):
                rows.append({"lens": heat, "heatmap": heat, "label": label, "classifier": clf,
                             "model_free": not clf, "mask": mask, "metric": metric, "mean": mean, "std": 0.1,
                             "ci_low": mean - 0.01, "ci_high": mean + 0.01, "n": n})
    return pd.DataFrame(rows)


def _vs(gt: pd.DataFrame) -> pd.DataFrame:
    lens = gt[~gt["model_free"]]
    return pd.DataFrame([{"lens": r.lens, "heatmap": r.heatmap, "label": r.label, "classifier": r.classifier,
                          "mask": r.mask, "metric": r.metric, "baseline": "centre", "baseline_label": "centre prior",
                          "score": r.mean, "baseline_score": 0.85, "diff": r.mean - 0.85,
                          "ci_low": r.mean - 0.87, "ci_high": r.mean - 0.83,
                          "verdict": "beats" if r.mean - 0.87 > 0 else ("below" if r.mean - 0.83 < 0 else "tie")}
                         for r in lens.itertuples()])


def test_the_wide_tables_carry_intervals_and_the_model_free_rows() -> None:
    gt = _gt()
    wide = scores_wide(gt, "auc", "filled", ["A", "L"])
    assert list(wide.columns) == ["A", "L"]
    assert wide.loc["gradient of the class score", "L"] == "0.800 [0.790, 0.810]"
    assert wide.loc["x* error", "A"] == "—"  # a lens that did not score A
    assert list(wide.loc["model-free: centre prior"]) == ["0.850 [0.840, 0.860]"] * 2
    assert best_baseline(gt)["label"] == "centre prior"
    v = verdicts_wide(_vs(gt), "auc", "filled", ["L", "A"])
    assert v.loc["|x − A_i(x)|", "L"] == "beats: +0.050 [+0.030, +0.070] vs centre prior"
    assert v.loc["gradient of the class score", "L"].startswith("below: -0.050 [-0.070, -0.030]")


def test_the_sentences_name_the_best_baseline_and_who_beats_it() -> None:
    gt = _gt()
    vs = _vs(gt)
    text = " ".join(verdict_sentences(vs, gt, ["L", "A"]))
    assert "the strongest map that reads no classifier is centre prior (0.850 [0.840, 0.860] over 500 images)" in text
    assert "|x − A_i(x)| for L (+0.050 [+0.030, +0.070])." in text  # the best map is named once, above
    assert "The other 4 of 5 lens × classifier pairs tie with it or fall below it." in text
    assert "the lenses that beat the best model-free map at least once: |x − A_i(x)| for L (4 of " \
           f"{2 * len(standard_metrics())})" in text
    assert "random" not in text.lower()  # no claim against chance alone
    head = lens_headline(gt, vs, ["L", "A"])
    assert head.startswith("by pixel AUC on the filled shape, centre prior scores 0.850 [0.840, 0.860]")
    assert head.endswith("|x − A_i(x)| for L (+0.050 [+0.030, +0.070]) (1 of 5 lens × classifier pairs).")
    own = vs.assign(baseline_label=vs["baseline_label"].where(vs["classifier"] != "L", "its own control"))
    assert "|x − A_i(x)| for L (+0.050 [+0.030, +0.070] vs its own control)" in " ".join(verdict_sentences(own, gt))
    nobody = vs.assign(verdict="tie")
    assert "No lens beats the best model-free map for any classifier" in " ".join(verdict_sentences(nobody, gt))
    assert "no lens beats it for any classifier (5 lens × classifier pairs" in lens_headline(gt, nobody)


def test_the_report_section_reads_the_tables() -> None:
    gt = _gt()
    text = "\n".join(ground_truth_section(gt, _vs(gt), ["L", "A"]))
    assert "| \\|x − A_i(x)\\| | 0.900 [0.890, 0.910] | 0.700 [0.690, 0.710] |" in text  # a pipe would end the cell
    assert "| model-free: centre prior | 0.850 [0.840, 0.860] | 0.850 [0.840, 0.860] |" in text
    assert "over 500 test images; x\\* error: 30 of them" in text
    assert "beats: +0.050 [+0.030, +0.070] vs centre prior" in text
    assert "above the random" not in text


def test_the_figure_draws_the_model_free_maps_and_a_line_at_the_best() -> None:
    gt = _gt()
    fig = ground_truth_figure(gt, "auc", "filled", ["L", "A"])
    assert [t.name for t in fig.data] == ["L", "A", "reads no classifier"]
    assert list(fig.data[0].x) == [0.8, 0.9, 0.65]
    assert list(fig.data[0].error_x.array) == pytest.approx([0.01] * 3)
    assert list(fig.data[-1].y) == ["model-free: centre prior", "model-free: random map (uniform noise)"]
    assert fig.layout.shapes[0].x0 == 0.85  # the best model-free map
