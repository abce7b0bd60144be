"""`s2s evaluate --only/--skip`, the analysis registry, and one forward pass per classifier and view."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from test_evaluate_oracle import N, StubZoo, _batches
from tiny_zoo import build_tiny_zoo

from s2s_core import results
from s2s_core.analysis.dataset import registry
from s2s_core.analysis.dataset.base import Analysis, BatchViews
from s2s_core.analysis.evaluate import evaluate_zoo
from s2s_core.cli import main
from s2s_core.errors import ConfigError


def test_the_analyses_are_registered_in_order() -> None:
    assert registry.names() == ["accuracy", "cross_accuracy", "per_class", "noise", "nmi", "lab_histograms",
                                "recon_quality", "ae_patterns", "ground_truth", "per_image", "s2s_control",
                                "channel_zeroing", "inversion", "randomisation", "class_sensitivity"]
    # feature inversion optimises an image per image, layer and classifier, model randomisation draws every lens
    # again per randomised step, and class sensitivity reads a composite set that few zoos have: opt-in
    assert not {"inversion", "randomisation", "class_sensitivity"} & {c.name for c in registry.select()}
    assert [c.name for c in registry.select(["inversion", "nmi"])] == ["nmi", "inversion"]
    for cls in registry.ANALYSES.values():
        assert set(cls.tables_written) <= set(results.RESULT_FILES) and cls.describe()


def test_select_only_and_skip() -> None:
    assert [c.name for c in registry.select(["nmi", "noise"])] == ["noise", "nmi"]  # registry order
    assert [c.name for c in registry.select(skip=["noise", "lab_histograms"])] == [
        "accuracy", "cross_accuracy", "per_class", "nmi", "recon_quality", "ae_patterns", "ground_truth",
        "per_image", "s2s_control", "channel_zeroing"]
    with pytest.raises(ConfigError, match="unknown analysis 'nim'; known: accuracy"):
        registry.select(["nim"])
    with pytest.raises(ConfigError, match="nothing to run"):
        registry.select(["nmi"], ["nmi"])


def test_only_computes_and_returns_the_selected_tables() -> None:
    result = evaluate_zoo(StubZoo(), _batches(3), options={"noise_grid": (0.0, 0.5)}, only=["nmi", "noise"])
    assert set(result.tables) == {"nmi", "nmi_pairs", "nmi_differences", "noise"} and result.images == N
    with pytest.raises(AttributeError, match="no 'accuracy' table"):
        _ = result.accuracy


class Calls(torch.nn.Module):
    def __init__(self, inner) -> None:
        super().__init__()
        self.inner, self.calls = inner, 0

    def forward(self, x):
        self.calls += 1
        return self.inner(x)


def test_each_classifier_runs_once_per_view_and_batch(monkeypatch) -> None:
    """Tables 1-2 and the noise curve at s = 0 share the logits; the encoder runs once per batch (+1 per s > 0)."""
    zoo = StubZoo()
    zoo.classifiers = {n: Calls(c) for n, c in zoo.classifiers.items()}
    passes = []
    original = zoo.encode
    monkeypatch.setattr(zoo, "encode", lambda x: passes.append(len(x)) or original(x))
    evaluate_zoo(zoo, _batches(N), options={"noise_grid": (0.0, 0.5)})
    views = 2 + len(zoo.names)  # original, A_S, A_i
    noisy_views = 3  # i on x + n, A_S(x + n), A_i(x + n)
    assert all(c.calls == views + noisy_views for c in zoo.classifiers.values())
    assert passes == [N, N]  # the clean batch once, the s = 0.5 batch once


def test_a_new_analysis_plugs_in(monkeypatch) -> None:
    seen = []

    class CountImages(Analysis):
        """Images per batch."""

        name = "count_images"

        def setup(self) -> None:
            seen.clear()

        def update(self, views: BatchViews) -> None:
            seen.append((views.start, views.size, sorted(views.images)))

        def tables(self):
            import pandas as pd

            return {"count_images": pd.DataFrame({"batches": [len(seen)]})}

    monkeypatch.setattr(registry, "ANALYSES", dict(registry.ANALYSES))
    registry.register(CountImages)
    result = evaluate_zoo(StubZoo(), _batches(3), only=["count_images"])
    assert [(s, n) for s, n, _ in seen] == [(0, 3), (3, 3), (6, 1)]
    assert seen[0][2] == ["A_A", "A_L", "A_S", "A_V", "original"]
    assert int(result.tables["count_images"]["batches"][0]) == 3
    assert CountImages.tables_written == ("count_images",) and CountImages.describe() == "Images per batch."


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return build_tiny_zoo(tmp_path_factory.mktemp("sel") / "tiny", evaluate=False)


def test_cli_only_writes_just_those_files_and_skip_leaves_them_out(tiny: Path, capsys) -> None:
    data = tiny / "data" / "test"
    assert main(["evaluate", str(tiny), "--data", str(data), "--only", "nmi,noise", "--noise-grid", "0,1",
                 "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert "Table 1" not in out and "noise.csv" in out and "nmi.csv" in out
    nmi_files = ["nmi.csv", "nmi_differences.csv", "nmi_pairs.csv"]
    assert sorted(p.name for p in (tiny / "results").glob("*.csv")) == [*nmi_files, "noise.csv", "preprocessing.csv"]
    shutil.rmtree(tiny / "results")
    assert main(["evaluate", str(tiny), "--data", str(data), "--skip", "noise,lab_histograms", "--threads", "1"]) == 0
    assert sorted(p.name for p in (tiny / "results").glob("*.csv")) == [
        "accuracy.csv", "ae_patterns.csv", "cross_accuracy.csv", *nmi_files, "per_class.csv", "per_image.csv",
        "preprocessing.csv",
        "recon_quality.csv"]
    assert "Table 1" in capsys.readouterr().out


def test_cli_unknown_analysis_is_a_usage_error(tiny: Path, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["evaluate", str(tiny), "--data", str(tiny), "--only", "nmi,colour"])
    assert exc.value.code == 2
    assert "--only: must be comma-separated analysis names out of accuracy, cross_accuracy" in capsys.readouterr().err
