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


def test_the_gradient_reads_the_zoos_classifier_and_leaves_it_as_it_was(zoo_dir: Path) -> None:
    from s2s_core.lenses.channels.probe import ChannelProbe

    zoo = Zoo.load(zoo_dir)
    names = list(zoo.classifiers)
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(3))
    before = {n: [p.detach().clone() for p in zoo.classifiers[n].parameters()] for n in names}
    view = LENSES["gradient"].view(zoo, x, names)
    for name in names:
        clf = zoo.classifiers[name]
        assert all(p.grad is None for p in clf.parameters())  # only the input's gradient was asked for
        assert not clf._forward_hooks and not any(m._forward_hooks or m._backward_hooks for m in clf.modules())
        assert all(torch.equal(a, b) for a, b in zip(before[name], clf.parameters(), strict=True))
        # the same map as through a private hooked copy (the relevant-channels probe, plain gradient rule)
        probe = ChannelProbe(clf, [], input_size=64)
        with torch.enable_grad():
            xx = x.clone().requires_grad_(True)
            logits, _ = probe.run(xx)
            (g,) = torch.autograd.grad(logits.max(dim=1).values.sum(), xx)
        np.testing.assert_allclose(view.heatmaps[name]["gradient"], g.norm(dim=1)[0].numpy(), rtol=1e-4, atol=1e-7)


def test_the_colour_table_is_made_once_and_read_only() -> None:
    from s2s_core.imaging import colour_lut

    lut = colour_lut()
    assert colour_lut() is lut and not lut.flags.writeable
    with pytest.raises(ValueError):
        lut[0, 0] = 1


def test_the_lenses_page_pieces_are_prepared_in_the_background(zoo_dir: Path, tmp_path: Path, monkeypatch) -> None:
    import shutil
    import threading

    import dashboard.lenses.channels as channels_section
    import dashboard.lenses.inversion as inversion_section

    zoo = tmp_path / "copy"  # a path of its own: nothing of it is in the process-wide caches yet
    shutil.copytree(zoo_dir, zoo)
    monkeypatch.setenv("S2S_ZOO", str(zoo))
    monkeypatch.setenv("S2S_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("S2S_THREADS", "1")
    at = AppTest.from_file(APP, default_timeout=180).run()  # the Overview; the warm-up starts after it
    assert not at.exception, at.exception
    warming = [t for t in threading.enumerate() if t.name == "s2s-lenses-warm-up"]
    assert warming
    for t in warming:
        t.join(timeout=120)

    def built_again(*args, **kwargs):
        raise AssertionError("the Lenses page built what the warm-up had prepared")

    monkeypatch.setattr(channels_section, "ChannelLens", built_again)
    monkeypatch.setattr(inversion_section, "list_layers", built_again)
    at.switch_page("pages/lenses.py").run()
    assert not at.exception, at.exception
    assert any("top relevant channels" in str(m.value) for m in at.markdown)  # W's lens, from the warm-up
    assert any(s.label.startswith("layer of ") for s in at.selectbox)  # the layer lists, from the warm-up


def test_ranking_and_projecting_in_one_pass_equals_doing_them_apart(zoo_dir: Path) -> None:
    zoo = Zoo.load(zoo_dir)
    name = list(zoo.classifiers)[0]  # the classifier with W
    lens = ChannelLens(zoo.classifiers[name], load_channel_weights(zoo_dir, name))
    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(5))
    rel, maps = lens.rank_and_project(x, 3, ("deconvnet", "guided"))
    apart = lens.relevant(x, 3)
    assert torch.equal(rel.rows, apart.rows) and torch.equal(rel.predicted, apart.predicted)
    assert rel.names == apart.names and torch.allclose(rel.responses, apart.responses)
    for rule in ("deconvnet", "guided"):
        assert torch.allclose(maps[rule], lens.backproject(x, apart, rule), rtol=1e-5, atol=1e-7), rule
        assert maps[rule].shape == (2, 3, 64, 64) and maps[rule].abs().sum() > 0


def test_the_lenses_page_encodes_the_image_once_for_every_lens(zoo_dir: Path, tmp_path: Path, monkeypatch) -> None:
    import shutil

    from s2s_core.models.segnet import SegNet

    zoo = tmp_path / "copy"  # nothing of it cached yet
    shutil.copytree(zoo_dir, zoo)
    monkeypatch.setenv("S2S_ZOO", str(zoo))
    monkeypatch.setenv("S2S_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("S2S_THREADS", "1")
    at = AppTest.from_file(APP, default_timeout=180).run()
    passes = []
    encode = SegNet.encode
    monkeypatch.setattr(SegNet, "encode", lambda self, x: passes.append(len(x)) or encode(self, x))
    at.switch_page("pages/lenses.py").run()
    assert not at.exception, at.exception
    captions = "\n".join(str(e.proto) for e in at.get("image"))
    assert "S2S: A_L(x)" in captions and "|x − A_S(x)| (before fine-tuning)" in captions  # both lenses drawn
    assert passes == [1]  # S2S and the S2S control read the same one encoder pass
