"""The URL is the state (dashboard/url_state.py), under AppTest against the tiny zoo: every page writes what
the person chose into the query string; a new session opened with that query string shows the same choices;
invalid or stale parameters fall back to the defaults with a warning, never an exception."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dashboard import url_state

APP = str(Path(__file__).resolve().parents[1] / "app.py")


def open_page(page: str, **params: str) -> AppTest:
    """A new session that opens ``pages/<page>.py`` with the query string ``params``."""
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params.update(params)
    at.switch_page(f"pages/{page}.py").run()
    assert not at.exception, at.exception
    return at


def query(at: AppTest) -> dict[str, str]:
    return {k: (v[0] if isinstance(v, list) else v) for k, v in at.query_params.items()}


def warnings(at: AppTest) -> list[str]:
    return [w.value for w in at.warning]  # main area and sidebar


def test_signal_order_round_trip(app_env: Path) -> None:
    at = open_page("signal_order")  # the tiny zoo's own table is refused (zero diagonal): the paper's instead
    assert query(at)["src"] == "zoo" and "zoo" in query(at)
    at.radio(key="so_source").set_value("paper").run()
    assert query(at)["t"] == "0.50"
    at.slider(key="threshold").set_value(0.8).run()
    link = query(at)
    assert link["src"] == "paper" and link["t"] == "0.80"
    again = open_page("signal_order", **link)  # a colleague opens the copied link
    assert again.radio(key="so_source").value == "paper" and again.slider(key="threshold").value == 0.8
    assert any("t = 0.80" in s.value for s in again.subheader) and not warnings(again)
    assert query(again) == link


def test_noise_image_and_zoom_round_trip(app_env: Path) -> None:
    at = open_page("noise")
    first = query(at)
    assert first["s"] == "0.2" and first["zx"] == "50" and first["zf"] == "4" and first["ds"] == "auto"
    titles = at.selectbox(key="noise_pick").options
    at.selectbox(key="noise_pick").set_value(titles[2])
    at.slider(key="noise_s").set_value(0.45)
    at.slider(key="noise_zx").set_value(20)
    at.select_slider(key="noise_zf").set_value(8)
    at.select_slider(key="noise_scale").set_value(0.1).run()
    link = query(at)
    assert link["s"] == "0.45" and link["zx"] == "20" and link["zf"] == "8" and link["ds"] == "0.1"
    assert link["img"] == titles[2].replace(" / ", "/")
    again = open_page("noise", **link)
    assert again.selectbox(key="noise_pick").value == titles[2]
    assert again.slider(key="noise_s").value == 0.45 and again.slider(key="noise_zx").value == 20
    assert again.select_slider(key="noise_zf").value == 8 and again.select_slider(key="noise_scale").value == 0.1
    assert any("x + U(−0.45, 0.45)" in m.value for m in again.markdown) and not warnings(again)


def test_reconstructions_image_round_trip(app_env: Path) -> None:
    at = open_page("reconstructions")
    titles = at.selectbox(key="recon_pick").options
    at.selectbox(key="recon_pick").set_value(titles[-1]).run()
    again = open_page("reconstructions", **query(at))
    assert again.selectbox(key="recon_pick").value == titles[-1] and not warnings(again)


@pytest.mark.parametrize(("page", "params", "bad", "expect"), [
    ("signal_order", {"src": "paper", "t": "7"}, 1, ("threshold", 0.5)),
    ("signal_order", {"src": "paper", "t": "nan"}, 1, ("threshold", 0.5)),
    ("signal_order", {"src": "paper", "t": "0.505"}, 1, ("threshold", 0.5)),
    ("signal_order", {"src": "upload"}, 1, ("so_source", "zoo")),
    ("noise", {"s": "-1"}, 1, ("noise_s", 0.2)),
    ("noise", {"img": "circle/no-such-file.png"}, 1, None),
    ("noise", {"zf": "5", "zx": "x"}, 2, ("noise_zf", 4)),
    ("overview", {"zoo": "/etc"}, 1, None),
])
def test_invalid_or_stale_parameters_fall_back_with_a_warning(app_env: Path, page, params, bad, expect) -> None:
    at = open_page(page, **params)
    assert not at.exception
    notes = warnings(at)
    assert len(notes) == bad and all("showing the default instead" in n for n in notes), notes
    if expect:
        key, value = expect
        widget = next(w for w in [*at.slider, *at.select_slider, *at.radio] if w.key == key)
        assert widget.value == value
    if "zoo" in params:
        assert at.sidebar.selectbox(key="zoo").value == str(app_env.resolve())
        assert query(at)["zoo"] != "/etc"
    if "img" in params:
        assert at.selectbox(key="noise_pick").value == at.selectbox(key="noise_pick").options[0]
    at.run()  # the warning is said once; the widget owns its value afterwards
    assert not warnings(at) and not at.exception


def test_parsers() -> None:
    t = url_state.number(0.0, 1.3, 0.01)
    assert t("0.55") == 0.55 and t("1.3") == 1.3 and t("0") == 0.0
    assert t("1.31") is None and t("-0.01") is None and t("inf") is None and t("0.555") is None and t("") is None
    assert url_state.integer(0, 100)("100") == 100 and url_state.integer(0, 100)("7.5") is None
    pick = url_state.choice((1, 2, "auto", 0.5))
    assert pick("auto") == "auto" and pick("0.5") == 0.5 and pick("2") == 2 and pick("3") is None
