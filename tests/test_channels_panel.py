"""The Lenses page with every lens of the registry, under AppTest (issue 18 item 5; issue 24), and the
display-ready per-image views of the lenses."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest
from tiny_zoo import add_masks_and_channel_weights, build_tiny_zoo

from dashboard.lenses import TABS
from s2s_core.analysis.evaluate import run_evaluation
from s2s_core.lenses.channels.lens import ChannelLens
from s2s_core.lenses.channels.store import load_channel_weights
from s2s_core.lenses.registry import LENSES
from s2s_core.lenses.tiles import outline, with_outline
from s2s_core.zoo import Zoo

APP = str(Path(__file__).resolve().parents[1] / "app.py")


@pytest.fixture(scope="module")
def zoo_dir(tmp_path_factory) -> Path:
    zoo = add_masks_and_channel_weights(build_tiny_zoo(tmp_path_factory.mktemp("zoo") / "tiny", evaluate=False),
                                        lambda k: (slice(16, 48), slice(20, 44)))
    test = zoo / "data" / "test"
    run_evaluation(zoo, test, device="cpu", show_progress=False, only=["ground_truth", "channel_zeroing"])
    return zoo


def test_the_views_rank_project_and_score_against_a_mask(zoo_dir: Path) -> None:
    zoo = Zoo.load(zoo_dir)
    name, other = list(zoo.classifiers)[:2]
    lenses = {name: ChannelLens(zoo.classifiers[name], load_channel_weights(zoo_dir, name)), other: "no W"}
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    mask = np.zeros((64, 64), bool)
    mask[10:30, 10:30] = True
    view = LENSES["channels"].view(zoo, x, [name, other], classes=zoo.classes, mask=mask, factor=2,
                                   options={"k": 2, "channel_lenses": lenses, "classes": zoo.classes})
    fitted, missing = view.columns
    assert missing.note == "no W" and not missing.tiles and view.image.shape == (64, 64, 3)
    assert list(fitted.table["rank"]) == [1, 2] and len(fitted.details) == 2
    assert [t.image.shape for t in fitted.tiles] == [(128, 128, 3)] * 2  # enlarged twice, ready to show
    assert (fitted.tiles[0].image == (0, 255, 255)).all(axis=2).any()  # the mask's outline is drawn
    assert view.heatmaps[name]["channels_deconvnet"].shape == (64, 64)
    scores = view.scores(mask, LENSES["channels"].labels())
    assert set(scores["lens"]) == {"channels_deconvnet", "channels_guided"} and scores["AUC"].between(0, 1).all()
    s2s = LENSES["s2s"].view(zoo, x, [name], mask=mask)
    assert [t.caption for t in s2s.columns[0].tiles] == [f"S2S: A_{name}(x)", f"|A_{name}(x) − A_S(x)|",
                                                         f"|x − A_{name}(x)|"]
    grad = LENSES["gradient"].view(zoo, x, [name, other])
    assert [len(c.tiles) for c in grad.columns] == [1, 1]  # a model lens: every classifier, W or not


def test_outline_is_the_one_pixel_border_of_the_mask() -> None:
    mask = np.zeros((6, 6), bool)
    mask[1:5, 1:5] = True
    edge = outline(mask)
    assert edge.sum() == 12 and not edge[2:4, 2:4].any()
    drawn = with_outline(np.zeros((12, 12, 3), np.uint8), mask, factor=2)
    assert (drawn[2, 2] == (0, 255, 255)).all() and (drawn[5, 5] == 0).all()


def test_lenses_page(zoo_dir: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("S2S_ZOO", str(zoo_dir))
    monkeypatch.setenv("S2S_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("S2S_THREADS", "1")
    at = AppTest.from_file(APP, default_timeout=180).run()
    at.session_state["inv_steps"] = 25  # short inversions: this test is about the channels lens
    at.session_state["inv_auto"] = True
    at.switch_page("pages/lenses.py").run()
    assert not at.exception, at.exception
    text = "\n".join(str(m.value) for m in [*at.markdown, *at.caption, *at.info, *at.header])
    fitted, other = list(Zoo.load(zoo_dir).classifiers)[:2]
    assert "Ground-truth mask available" in text and "predicts" in text
    assert f"{other}: no relevant-channel weights yet" in text
    # S2S's three images for every classifier, W or not
    captions = "\n".join(str(e.proto) for e in at.get("image"))
    for n in Zoo.load(zoo_dir).names:
        assert all(c in captions for c in (f"S2S: A_{n}(x)", f"|A_{n}(x) − A_S(x)|", f"|x − A_{n}(x)|")), n
    assert at.toggle(key="lens_outline").value is True

    def channel_rows(at: AppTest) -> int:  # rows of the top relevant channels tables (k per fitted classifier)
        return sum(str(m.value).count("<tr><td") for m in at.markdown if "top relevant channels" in str(m.value))

    assert channel_rows(at) == 3  # k = 3 rows of the one fitted classifier
    # the inversion lens outlines the mask too and scores its error map against it
    assert "pixel AUC against the mask" in text
    assert [h.value for h in at.header] == [lens.title for lens in LENSES.values()]  # no test-set table here

    at.session_state["lens_tab"] = TABS[1]  # the test-set tab: the tables and checks
    at.run()
    assert not at.exception, at.exception
    frames = [df.value for df in at.dataframe]
    tab_text = "\n".join(str(m.value) for m in [*at.markdown, *at.caption, *at.info, *at.header])
    assert not any(lens.title == h.value for lens in LENSES.values() for h in at.header)  # no lens drawn here
    gt = next(f for f in frames if "model-free: random map (uniform noise)" in f.index)
    assert fitted in gt.columns and "gradient of the class score" in gt.index
    assert "model-free: colour distance from the border" in gt.index  # the baselines beside the lenses
    verdicts = next(f for f in frames if f is not gt and fitted in f.columns
                    and "gradient of the class score" in f.index and f[fitted].astype(str).str.contains(" vs ").any())
    assert verdicts[fitted].str.match(r"(beats|below|tie): [+-]").all()
    card = next(f for f in frames if "beats the best model-free map (pixel AUC, filled shape)" in f.columns)
    assert card.loc["gradient of the class score"].iloc[0].endswith(" of 3)") or \
        card.loc["gradient of the class score"].iloc[0] == "none of 3"  # the scorecard heads the tables
    zero = next(f for f in frames if "drop: relevant − random [95 % CI]" in f.columns)
    assert set(zero["verdict"]) <= {"hurts more than random", "no more than random", "less than random"}
    assert "paired bootstrap 95 % interval" in tab_text and "The prediction flips more often" in tab_text
    at.session_state["lens_tab"] = TABS[0]
    at.run()
    at.select_slider(key="lens_k").set_value(1).run()
    assert not at.exception
    assert channel_rows(at) == 1
    assert len(at.get("download_button")) >= 4
    at.toggle(key="lens_outline").set_value(False).run()
    assert not at.exception


def test_s2s_lenses_lists_the_registry(capsys) -> None:
    import json

    from s2s_core.cli import main

    assert main(["lenses", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["key"] for r in rows] == list(LENSES)
    gradient = next(r for r in rows if r["key"] == "gradient")
    assert gradient["class_conditional"] and gradient["heatmaps"] == {"gradient": "gradient of the class score"}
    assert main(["lenses"]) == 0 and "inversion: Feature inversion (opt-in)" in capsys.readouterr().out


def test_only_a_lens_that_reads_reconstructions_runs_the_encoder(zoo_dir: Path, monkeypatch) -> None:
    zoo = Zoo.load(zoo_dir)
    calls = []
    original = zoo.reconstruct_all
    monkeypatch.setattr(zoo, "reconstruct_all", lambda *a, **k: calls.append(1) or original(*a, **k))
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    names = list(zoo.classifiers)
    LENSES["gradient"].view(zoo, x, names)
    LENSES["channels"].view(zoo, x, names, options={"channel_lenses": dict.fromkeys(names, "no W")})
    assert calls == []  # neither reads A_i(x): no AE pass
    LENSES["s2s"].view(zoo, x, names)
    assert calls == [1]  # one encoder pass for every decoder


def test_the_gradient_copies_are_made_once_where_the_caller_keeps_them(zoo_dir: Path, monkeypatch) -> None:
    import s2s_core.lenses.gradient.lens as gradient_lens

    zoo = Zoo.load(zoo_dir)
    made = []
    probe = gradient_lens.ChannelProbe
    monkeypatch.setattr(gradient_lens, "ChannelProbe", lambda *a, **k: made.append(1) or probe(*a, **k))
    names = list(zoo.classifiers)
    x, y = (torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(s)) for s in (3, 4))
    first = LENSES["gradient"].view(zoo, x, names)
    LENSES["gradient"].view(zoo, x, names)
    assert len(made) == 2 * len(names)  # no kept dict: a copy per classifier and view
    kept: dict = {}
    made.clear()
    again = LENSES["gradient"].view(zoo, x, names, kept=kept)
    other = LENSES["gradient"].view(zoo, y, names, kept=kept)
    assert len(made) == len(names)  # one copy per classifier for both views
    for name in names:  # the same maps as with fresh copies, and another image gives other maps
        np.testing.assert_allclose(again.heatmaps[name]["gradient"], first.heatmaps[name]["gradient"], rtol=1e-5)
        assert not np.allclose(other.heatmaps[name]["gradient"], first.heatmaps[name]["gradient"])


def test_the_colour_table_is_made_once_and_read_only() -> None:
    from s2s_core.imaging import colour_lut

    lut = colour_lut()
    assert colour_lut() is lut and not lut.flags.writeable
    with pytest.raises(ValueError):
        lut[0, 0] = 1
