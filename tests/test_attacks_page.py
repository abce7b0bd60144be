"""The Attacks page under AppTest (issue 28): an image attacked against the chosen classifier with i's top-5 under
each view, the generated account, the accuracy-vs-ε curves and the transfer heatmap of the tiny zoo."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from tiny_zoo import build_tiny_zoo

from s2s_core.attacks.run import attack_zoo
from s2s_core.attacks.threat import AttackSettings

APP = str(Path(__file__).resolve().parents[1] / "app.py")


@pytest.fixture(scope="module")
def zoo(tmp_path_factory) -> Path:
    path = build_tiny_zoo(tmp_path_factory.mktemp("attacks") / "tiny")
    attack_zoo(path, path / "data" / "test", AttackSettings(attacks=("fgsm",), eps=(0, 4, 8), steps=2,
                                                            library="torch"), limit=6, batch_size=6, device="cpu")
    return path


def _page(zoo: Path, tmp_path: Path, monkeypatch) -> AppTest:
    monkeypatch.setenv("S2S_ZOO", str(zoo))
    monkeypatch.setenv("S2S_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("S2S_THREADS", "1")
    at = AppTest.from_file(APP, default_timeout=180).run()
    at.switch_page("pages/attacks.py").run()
    assert not at.exception, at.exception
    return at


def test_the_page_attacks_an_image_and_draws_the_zoo_tables(zoo: Path, tmp_path: Path, monkeypatch) -> None:
    page = _page(zoo, tmp_path, monkeypatch)
    captions = [im.proto.imgs[0].caption for im in page.get("image")]
    assert captions == ["x", "x + δ", "δ (amplified)", "A_L(x + δ)", "A_S(x + δ)"]
    assert "max |δ| = 4.0/255" in page.caption[0].value
    assert any("Attacks through S2S" in m.value for m in page.markdown)
    assert any("Athalye" in m.value for m in page.markdown)
    assert len(page.get("plotly_chart")) == 2  # curves and the transfer matrix
    page.selectbox(key="attack_clf").select("V").run()
    page.radio(key="attack_threat").set_value("white").run()
    page.select_slider(key="attack_eps").set_value(0).run()
    assert not page.exception, page.exception
    assert "max |δ| = 0.0/255" in page.caption[0].value
    captions = [im.proto.imgs[0].caption for im in page.get("image")]
    assert "A_V(x + δ)" in captions


def test_without_attack_tables_the_page_says_how_to_make_them(tmp_path: Path, monkeypatch) -> None:
    bare = build_tiny_zoo(tmp_path / "bare", images_per_class=1, evaluate=False)
    page = _page(bare, tmp_path, monkeypatch)
    assert len(page.get("image")) == 5  # the image is attacked all the same
    assert any("s2s attack" in i.value for i in page.info)
