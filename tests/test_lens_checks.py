"""The lens scorecard (issues 25-26): each cell lists the classifiers whose check's verdict is a pass, a check that
does not apply says so, and the README line counts them."""

from __future__ import annotations

import pandas as pd

from s2s_core.analysis.lens_checks import CHECKS, scorecard, scorecard_line


def _tables() -> dict[str, pd.DataFrame]:
    vs = pd.DataFrame({"label": ["g", "g", "g", "g", "s", "s"], "classifier": ["L", "A", "L", "A", "L", "A"],
                       "metric": "auc", "mask": ["filled", "filled", "outline", "outline", "filled", "filled"],
                       "verdict": ["below", "tie", "beats", "beats", "below", "below"]})
    sens = pd.DataFrame({"label": ["g", "g", "g", "s"], "classifier": ["L", "A", "A", None],
                         "model_free": [False, False, False, False], "subset": ["all", "all", "top2", "all"],
                         "measure": ["sensitivity", "sensitivity", "sensitivity", None],
                         "verdict": ["follows the class", "ignores the class", "follows the class", None],
                         "note": [None, None, None, "not class-conditional: one map per image"]})
    rand = pd.DataFrame({"label": ["g"] * 4 + ["s"] * 2, "classifier": ["L", "L", "A", "A", "L", "L"],
                         "heatmap": ["gh"] * 4 + ["sh"] * 2, "step": [0, 3, 0, 3, 0, 3], "metric": "spearman",
                         "verdict": ["passes", "passes", "fails", "fails", "not model-parameter-dependent"] * 1
                         + ["not model-parameter-dependent"]})
    return {"ground_truth_baselines": vs, "class_sensitivity": sens, "randomisation": rand}


def test_each_cell_lists_the_classifiers_that_pass() -> None:
    card = scorecard(_tables(), ["L", "A"])
    assert list(card.columns) == list(CHECKS) and list(card.index) == ["g", "s"]
    g, s = card.loc["g"], card.loc["s"]
    assert g.iloc[0] == "none of 2" and g.iloc[1] == "L, A (2 of 2)"
    assert g.iloc[2] == "L (1 of 2)"  # the top-2 subset does not count: all images decide
    assert g.iloc[3] == "L (1 of 2)"  # the fully random step decides
    assert s.iloc[2] == "does not apply" and s.iloc[3] == "does not apply" and s.iloc[1] == "—"
    line = scorecard_line(card)
    assert line.startswith("g: beats the best model-free map on the filled shape 0/2, on the outline band 2/2, "
                           "follows the class 1/2, follows the weights 1/2; s: ")
    assert "does not apply" not in line


def test_without_check_tables_there_is_no_card() -> None:
    assert scorecard({}).empty and scorecard_line(scorecard({})) == ""
