"""Compare two (s2s_core.pair_view and pages/compare.py): the pair difference and Table 2's four cells on one
image, with known answers on a hand-made inspection; the page under AppTest with its choices in the URL."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from s2s_core import pair_view
from s2s_core.errors import ConfigError
from s2s_core.inspection import Inspection
from s2s_core.lenses.predictions import Prediction

APP = str(Path(__file__).resolve().parents[1] / "app.py")


def _inspection() -> Inspection:
    img = lambda v: np.full((4, 4, 3), v, dtype=np.uint8)  # noqa: E731
    a_i, a_j = img(200), img(100)
    a_j[0, 0] = (200, 200, 200)  # one pixel equal to A_i's
    pred = lambda *labs: Prediction(tuple(range(len(labs))), tuple(0.5 / (k + 1) for k in range(len(labs))),  # noqa: E731
                                    labs)
    predictions = {
        "P": {"A_P": pred("cat", "dog"), "A_Q": pred("dog", "cat")},
        "Q": {"A_P": pred("car", "cat"), "A_Q": pred("cat", "car")},
    }
    return Inspection(names=["P", "Q"], views=["original", "A_S", "A_P", "A_Q"],
                      images={"original": img(0), "A_S": img(0), "A_P": a_i, "A_Q": a_j}, diffs={},
                      histograms={}, predictions=predictions, classes=["cat", "dog", "car"])


def test_pair_difference_and_cells_known_answers() -> None:
    insp = _inspection()
    diff = pair_view.pair_difference(insp, "P", "Q")
    expected = np.full((4, 4), 100 / 255, dtype=np.float32)
    expected[0, 0] = 0.0
    np.testing.assert_allclose(diff, expected, atol=1e-7)
    assert pair_view.difference_scale(diff) == pytest.approx(100 / 255)
    assert pair_view.difference_scale(np.zeros((2, 2))) == pytest.approx(1 / 255)  # never a zero-width scale
    top1 = pair_view.cross_top1(insp, "P", "Q")
    assert list(top1.index) == ["A_P", "A_Q"] and list(top1.columns) == ["P", "Q"]
    assert top1.loc["A_Q", "P"] == "dog (50%)" and top1.loc["A_P", "Q"] == "car (50%)"  # the cross cells
    topk = pair_view.cross_topk(insp, "P", "Q")
    assert list(topk.columns) == ["P∘A_P(x)", "P∘A_Q(x)", "Q∘A_Q(x)", "Q∘A_P(x)"]
    assert list(topk["Q∘A_P(x)"]) == ["car 50%", "cat 25%"] and list(topk.index) == [1, 2]
    with pytest.raises(ConfigError, match="no classifier 'Z'"):
        pair_view.cross_top1(insp, "P", "Z")


def test_compare_page_with_its_choices_in_the_url(app_env: Path) -> None:
    at = AppTest.from_file(APP, default_timeout=60)
    at.switch_page("pages/compare.py").run()
    assert not at.exception, at.exception
    names = at.selectbox(key="cmp_i").options
    assert len(names) >= 2 and at.selectbox(key="cmp_j").value == names[1]
    assert len(at.dataframe) == 2 and len(at.get("image")) == 6  # three images, three zooms
    at.selectbox(key="cmp_i").set_value(names[-1])
    at.select_slider(key="cmp_zf").set_value(2).run()
    assert not at.exception
    link = {k: (v[0] if isinstance(v, list) else v) for k, v in at.query_params.items()}
    assert link["i"] == names[-1] and link["j"] == names[1] and link["zf"] == "2"
    again = AppTest.from_file(APP, default_timeout=60)
    again.query_params.update(link)
    again.switch_page("pages/compare.py").run()
    assert not again.exception
    assert again.selectbox(key="cmp_i").value == names[-1] and again.select_slider(key="cmp_zf").value == 2
    cells = again.dataframe[0].value
    assert list(cells.index) == [f"A_{names[-1]}", f"A_{names[1]}"] and list(cells.columns) == [names[-1], names[1]]
    bad = AppTest.from_file(APP, default_timeout=60)
    bad.query_params.update({"i": "nobody"})
    bad.switch_page("pages/compare.py").run()
    assert not bad.exception and any("not a classifier of this zoo" in w.value for w in bad.warning)
