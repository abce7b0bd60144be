"""Cascading model randomisation (Adebayo et al. 2018; issue 26 item 2): a map that copies the input stays at
Spearman 1 and fails, a gradient map moves as soon as the top layer is random, S2S is reported as not reading
the weights, the cascade is cumulative and seeded, and the zoo's classifiers are never touched."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.stats import spearmanr
from tiny_zoo import build_tiny_zoo

from dashboard.lenses import TABS
from s2s_core import results
from s2s_core.analysis.dataset.randomisation import NOT_READ, THRESHOLD, compare, spearman_rows, verdict
from s2s_core.analysis.evaluate import run_evaluation
from s2s_core.demo.report import randomisation_section
from s2s_core.lenses.base import Heatmap, Lens
from s2s_core.lenses.registry import LENSES
from s2s_core.models.randomise import cascade, cut_points, parametrised_layers
from s2s_core.zoo import Zoo


class CopiesInput(Lens):
    """A map that reads no weight although it claims to: the mean over RGB of x."""

    key, title, summary, paper = "copies_input", "Copies the input", "x itself", "(test)"
    heatmaps = (Heatmap("copy", "mean over RGB of x"),)

    def heatmap(self, ctx, classifier, variant, target=None):
        return ctx.x.mean(dim=1)


class TopGradient(Lens):
    """|∂ max logit / ∂x| (mean over RGB) of the classifier the context's zoo holds under that name."""

    key, title, summary, paper = "top_gradient", "Top gradient", "the gradient", "(test)"
    heatmaps = (Heatmap("top_gradient", "gradient of the top logit"),)

    def heatmap(self, ctx, classifier, variant, target=None):
        with torch.inference_mode(False), torch.enable_grad():
            x = ctx.x.detach().clone().requires_grad_(True)
            (grad,) = torch.autograd.grad(ctx.zoo.classifiers[classifier](x).max(dim=1).values.sum(), x)
        return grad.abs().mean(dim=1)


@pytest.fixture(scope="module")
def zoo(tmp_path_factory) -> Path:
    return build_tiny_zoo(tmp_path_factory.mktemp("zoo") / "tiny", evaluate=False)


def _run(zoo: Path, **options) -> pd.DataFrame:
    result, _ = run_evaluation(zoo, zoo / "data" / "test", batch_size=4, device="cpu", show_progress=False,
                               only=["randomisation"], options={"randomisation_steps": 3, **options})
    return result.tables["randomisation"]


def _spearman(table: pd.DataFrame, heatmap: str) -> pd.DataFrame:
    return table[(table["heatmap"] == heatmap) & (table["metric"] == "spearman")].set_index(["classifier", "step"])


def test_a_copy_of_the_input_fails_a_gradient_moves_and_the_table_is_seeded(zoo: Path, monkeypatch) -> None:
    monkeypatch.setitem(LENSES, "copies_input", CopiesInput())
    monkeypatch.setitem(LENSES, "top_gradient", TopGradient())
    table = _run(zoo)
    names = list(Zoo.load(zoo).names)
    copy, grad = _spearman(table, "copy"), _spearman(table, "top_gradient")
    for name in names:
        assert list(copy.loc[name].index) == [0, 1, 2, 3]
        assert np.allclose(copy.loc[name, "mean"], 1.0) and (copy.loc[name, "n"] == 9).all()
        assert copy.loc[name, "verdict"].eq("fails").all()
        assert grad.loc[(name, 0), "mean"] == pytest.approx(1.0)
        assert grad.loc[(name, 1), "mean"] < 0.99, name  # the top layer alone re-initialised
        assert grad.loc[(name, 3), "fraction"] == 1.0 and grad.loc[(name, 0), "fraction"] == 0.0
    ssim = table[(table["heatmap"] == "copy") & (table["metric"] == "ssim")]
    assert np.allclose(ssim["mean"], 1.0)
    # S2S reads A_i, not i's weights: not a pass, not a fail; model-free maps have no row
    s2s = table[table["lens"] == "s2s"]
    assert set(s2s["verdict"]) == {NOT_READ} and np.allclose(s2s["mean"], 1.0)
    assert not {"model_free", "s2s_control"} & set(table["lens"])
    assert set(table["verdict"]) <= {"fails", "passes", "unclear", NOT_READ}
    text = " ".join(randomisation_section(table, names))
    assert f"Mean over RGB of x fails for {', '.join(f'{n} (1.00 [1.00, 1.00])' for n in names)}." in text
    assert "read A_i" in text and "left out" in text
    pd.testing.assert_frame_equal(table, _run(zoo))  # seeded: the same table twice
    assert set(results.read(zoo / "results", "randomisation")["lens"]) >= {"copies_input", "top_gradient", "gradient"}
    assert (_run(zoo, randomisation_images=5)["n"] == 5).all()


def test_the_cascade_is_cumulative_seeded_and_leaves_the_classifier_alone(zoo: Path) -> None:
    classifier = Zoo.load(zoo).classifiers["V"]
    with torch.no_grad():  # as if trained: no parameter or statistic left at its initial value
        for v in classifier.state_dict().values():
            v.add_(0.25) if v.is_floating_point() else None
    before = {k: v.clone() for k, v in classifier.state_dict().items()}
    layers = parametrised_layers(classifier)
    steps = list(cascade(classifier, steps=4, seed=7))
    again = list(cascade(classifier, steps=4, seed=7))
    for k, v in classifier.state_dict().items():  # the zoo's classifier: unchanged, and no hook left on it
        assert torch.equal(v, before[k]), k
    assert not any(m._forward_pre_hooks for m in classifier.modules())

    def changed(model) -> set[str]:
        state = model.state_dict()
        return {k.rsplit(".", 1)[0] for k, v in state.items() if not torch.equal(v, before[k])}

    assert changed(steps[0].model) == set()
    for previous, current in zip(steps, steps[1:], strict=False):
        assert changed(previous.model) < changed(current.model)  # a strict superset, from the top down
        for k, v in previous.model.state_dict().items():  # what was random stays as it was drawn
            if k.rsplit(".", 1)[0] in changed(previous.model):
                assert torch.equal(v, current.model.state_dict()[k]), k
        assert current.layer == layers[len(layers) - current.randomised]
    assert changed(steps[-1].model) == {f"net.{name}" for name in layers}  # every layer, batch norms included
    assert steps[1].layer == layers[-1] and steps[-1].randomised == len(layers)
    for a, b in zip(steps, again, strict=True):
        for k, v in a.model.state_dict().items():
            assert torch.equal(v, b.model.state_dict()[k]), k


def test_cut_points_spread_from_the_top_layer_to_every_layer() -> None:
    assert cut_points(3, 5) == [0, 1, 2, 3]
    assert cut_points(47, 5) == [0, 1, 13, 24, 35, 47]
    assert cut_points(10, 1) == [0, 10]
    for total in (1, 2, 8, 81):
        cuts = cut_points(total, 5)
        assert cuts[:2] == [0, 1] and cuts[-1] == total and len(cuts) <= 6 and cuts == sorted(set(cuts))


def test_spearman_matches_scipy_and_the_verdicts_follow_the_interval() -> None:
    rng = np.random.default_rng(0)
    a = rng.integers(0, 5, size=(6, 50)).astype(float)  # many ties
    b = a + rng.normal(0, 2, size=a.shape)
    expected = [spearmanr(x, y).statistic for x, y in zip(a, b, strict=True)]
    assert np.allclose(spearman_rows(a, b), expected)
    assert np.isnan(spearman_rows(np.ones((1, 5)), b[:1, :5]))[0]
    maps = torch.rand(3, 8, 8)
    maps[1] = float("nan")  # a lens that skipped image 1
    same = compare(maps, maps)
    assert np.allclose(same["spearman"][[0, 2]], 1) and np.allclose(same["ssim"][[0, 2]], 1)
    assert np.isnan(same["spearman"][1]) and np.isnan(same["ssim"][1])
    assert verdict((THRESHOLD + 0.1, 0.9)) == "fails" and verdict((0.1, THRESHOLD - 0.1)) == "passes"
    assert verdict((0.4, 0.6)) == "unclear" and verdict((0.9, 1.0), reads_weights=False) == NOT_READ


def test_the_lenses_page_shows_the_check_only_once_it_was_run(tmp_path: Path, monkeypatch) -> None:
    from streamlit.testing.v1 import AppTest

    zoo = build_tiny_zoo(tmp_path / "tiny", images_per_class=1, evaluate=False)
    monkeypatch.setenv("S2S_ZOO", str(zoo))
    monkeypatch.setenv("S2S_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("S2S_THREADS", "1")

    def page() -> AppTest:
        at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "app.py"), default_timeout=180).run()
        at.switch_page("pages/lenses.py").run()
        at.session_state["lens_tab"] = TABS[1]  # the test-set tab
        at.run()
        assert not at.exception, at.exception
        return at

    assert not any("Model randomisation" in h.value for h in page().header)
    _run(zoo)
    at = page()
    assert any("Model randomisation" in h.value for h in at.header)
    spec = next(f.proto.spec for f in at.get("plotly_chart") if "Model randomisation" in f.proto.spec)
    assert "gradient of the class score" in spec and "|A_i" not in spec  # S2S reads no weights: not drawn
    wide = next(df.value for df in at.dataframe if "gradient of the class score" in df.value.index
                and "L" in df.value.columns)
    assert list(wide.columns) == ["L", "A", "V"]
    assert any("read A_i" in m.value for m in at.markdown)
