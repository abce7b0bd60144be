"""The Lenses page under AppTest on the tiny zoo: every classifier's row (x, A_i(x), inversion, top-5, errors),
a changed layer, the depth sweep, an upload and a bad upload."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest
from tiny_zoo import build_tiny_zoo

from dashboard.lenses import TABS

APP = str(Path(__file__).resolve().parents[1] / "app.py")


@pytest.fixture(scope="module")
def tiny_zoo(tmp_path_factory) -> Path:
    return build_tiny_zoo(tmp_path_factory.mktemp("lens") / "tiny", images_per_class=1, evaluate=False)


@pytest.fixture
def lenses(tiny_zoo: Path, tmp_path: Path, monkeypatch) -> AppTest:
    monkeypatch.setenv("S2S_ZOO", str(tiny_zoo))
    monkeypatch.setenv("S2S_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("S2S_THREADS", "1")
    at = AppTest.from_file(APP, default_timeout=180).run()
    at.session_state["inv_steps"] = 25  # short inversions: the page's behaviour, not the method's, is tested here
    at.session_state["inv_auto"] = True  # invert at once (the default is on request: see the test below)
    at.switch_page("pages/lenses.py").run()
    assert not at.exception, at.exception
    return at


def test_inversion_waits_for_a_request_and_the_other_lenses_show_first(tiny_zoo: Path, tmp_path: Path,
                                                                        monkeypatch) -> None:
    monkeypatch.setenv("S2S_ZOO", str(tiny_zoo))
    monkeypatch.setenv("S2S_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("S2S_THREADS", "1")
    at = AppTest.from_file(APP, default_timeout=180).run()
    at.session_state["inv_steps"] = 50  # settings no other test of this module uses: nothing cached yet
    at.switch_page("pages/lenses.py").run()
    assert not at.exception, at.exception
    captions = "\n".join(str(e.proto) for e in at.get("image"))
    assert "S2S: A_L(x)" in captions and "gradient of the class score" in captions  # the fast lenses are there
    assert "inversion" not in captions and not any("feature error at" in m.value for m in at.markdown)
    at.button(key="inv_run").click().run()
    assert not at.exception, at.exception
    assert sum("feature error at" in m.value for m in at.markdown) == 3 * 3  # x, A_i(x), x* for L, A, V
    at.run()  # the next rerun (any widget) keeps them: asked for this image and these settings
    assert sum("feature error at" in m.value for m in at.markdown) == 9


def _texts(at: AppTest) -> str:
    return "\n".join(str(m.value) for m in [*at.markdown, *at.caption, *at.info, *at.error, *at.header])


def test_every_classifier_gets_x_its_reconstruction_and_the_inversion(lenses: AppTest) -> None:
    at = lenses
    assert [t.label for t in at.tabs] == list(TABS)
    assert [h.value for h in at.header] == ["S2S", "Relevant channels", "Gradient", "Feature inversion",
                                            "S2S control", "Maps that read no classifier"]
    assert _texts(at).count("**reads no classifier** (the same for every classifier)") == 2  # drawn once each
    layer_boxes = {s.label: s for s in at.selectbox if s.label.startswith("layer of ")}
    assert set(layer_boxes) == {"layer of L", "layer of A", "layer of V"}
    assert layer_boxes["layer of A"].value.name == "features.9"  # the mid layer by default
    text = _texts(at)
    assert text.count("feature error at features.9: <b>target</b>") == 1
    assert text.count("top-5 of A") == 3  # on x, A_A(x) and the inversion
    assert "25 steps" in text
    downloads = [b.proto.label for b in at.get("download_button")]
    assert sum("x | A_i(x) | inversion" in label for label in downloads) == 3
    assert any("errors and top-5" in label for label in downloads)


def test_another_layer_and_the_depth_sweep(lenses: AppTest) -> None:
    at = lenses
    box = at.selectbox(key="inv_layer_L")
    first = box.options[0]
    box.select_index(0).run()
    assert not at.exception
    assert f"feature error at {first.split(' · ')[0]}" in _texts(at)
    at.selectbox(key="inv_sweep_clf").set_value("V").run()
    at.select_slider(key="inv_sweep_n").set_value(4).run()
    at.button(key="inv_sweep_run").click().run()
    assert not at.exception
    sweep = next(df.value for df in at.dataframe if "feature_error" in df.value.columns)
    assert len(sweep) == 4 and sweep["depth"].iloc[-1] == 1.0 and list(sweep["lambda_tv"])[-1] == 50.0
    assert sweep["feature_error"].between(0, 10).all()
    labels = [b.proto.label for b in at.get("download_button")]
    assert any("depth sweep" in label for label in labels)
    at.run()  # cached: the sweep stays without pressing again
    assert any("feature_error" in df.value.columns for df in at.dataframe)


def test_upload_and_bad_upload(lenses: AppTest) -> None:
    at = lenses
    at.radio(key="lens_source").set_value("upload").run()
    assert "No image yet" in _texts(at)
    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (80, 90, 3), dtype=np.uint8)).save(buf, format="PNG")
    at.get("file_uploader")[0].set_value(("mine.png", buf.getvalue(), "image/png")).run()
    assert not at.exception and "your image" in _texts(at)
    at.session_state["lens_tab"] = TABS[1]  # to the test-set tab and back: the upload is still there
    at.run()
    assert "your image" not in _texts(at) and not any(h.value == "S2S" for h in at.header)
    at.session_state["lens_tab"] = TABS[0]
    at.run()
    assert not at.exception and "your image" in _texts(at) and any(h.value == "S2S" for h in at.header)
    at.get("file_uploader")[0].set_value(("notes.png", b"not an image", "image/png")).run()
    assert not at.exception and any("not an image" in e.value for e in at.error)


def test_data_set_numbers_appear_once_evaluated(lenses: AppTest, tiny_zoo: Path) -> None:
    from s2s_core.analysis.evaluate import run_evaluation

    lenses.session_state["lens_tab"] = TABS[1]  # the test-set tab
    lenses.run()
    assert "--only inversion" in _texts(lenses)  # not evaluated yet: the page says how
    assert [h.value for h in lenses.header] == [
        "Ground truth: every lens against the masks and against maps that read no classifier",
        "Zeroing the relevant channels (the paper's first check)", "Feature inversion across the test set"]
    run_evaluation(tiny_zoo, tiny_zoo / "data" / "test", only=["inversion"], show_progress=False,
                   options={"per_class": 1, "inversion_layers": 2, "inversion_steps": 2})
    at = AppTest.from_file(APP, default_timeout=180).run()
    at.session_state["inv_steps"] = 25
    at.session_state["lens_tab"] = TABS[1]
    at.switch_page("pages/lenses.py").run()
    assert not at.exception
    figures = [f.proto.spec for f in at.get("plotly_chart")]
    assert any("Feature inversion vs. S2S by depth" in spec for spec in figures)
    table = next(df.value for df in at.dataframe if "top1_inversion" in df.value.columns)
    assert set(table["classifier"]) == {"L", "A", "V"} and len(table) == 6 and "chance" in table.columns
    assert {"pair_distance", "error_norm", "norm_diff_ci_high", "fitted_to_logits"} <= set(table.columns)
    text = _texts(at)
    assert "On the paper's scale" in text and "fitted to i's own logits" in text and "keeps as much" not in text
