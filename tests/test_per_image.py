"""The per-image file (issue 26 item 4): one row per image, classifier and measure, whose means are the tables'
own numbers (Table 1's top-1, Table 2's diagonal, the ground-truth means), the lens scores read from the
ground-truth analysis of the same run rather than computed twice."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tiny_zoo import add_masks_and_channel_weights, build_tiny_zoo

from s2s_core import results
from s2s_core.analysis.dataset.per_image import COLUMNS
from s2s_core.analysis.evaluate import run_evaluation


@pytest.fixture(scope="module")
def zoo(tmp_path_factory) -> Path:
    return add_masks_and_channel_weights(build_tiny_zoo(tmp_path_factory.mktemp("zoo") / "tiny", evaluate=False),
                                         lambda k: (slice(8 + k, 40 + k), slice(10, 30 + 2 * k)))


def _run(zoo: Path, only: list[str]) -> dict[str, pd.DataFrame]:
    result, _ = run_evaluation(zoo, zoo / "data" / "test", batch_size=4, device="cpu", show_progress=False,
                               only=only)
    return result.tables


def test_per_image_means_are_the_tables_numbers(zoo: Path) -> None:
    tables = _run(zoo, ["accuracy", "cross_accuracy", "ground_truth", "per_image"])
    per = tables["per_image"]
    assert list(per.columns) == COLUMNS
    assert per["item"].nunique() == 9 and (per["file"] != "").all()
    assert set(per["label"]) == {"circle", "square", "stripes"}
    files = per.drop_duplicates("item").set_index("item")["file"]
    assert all(Path(f).parts[0] == lab for f, lab in zip(files, per.drop_duplicates("item")["label"], strict=True))
    acc = tables["accuracy"].set_index(["classifier", "input"])["top1"]
    for name in ("L", "A", "V"):
        mine = per[per["classifier"] == name].set_index("measure")
        assert mine.loc["correct", "value"].mean() == pytest.approx(acc[(name, "original")])
        assert mine.loc["correct", "value"].size == 9
        assert set(mine.loc["disagreement", "value"]) <= {0.0, 1.0}
        assert ((mine.loc["nmi", "value"] > 0) & (mine.loc["nmi", "value"] <= 1)).all()
    gt = tables["ground_truth"]
    gt = gt[(gt["mask"] == "filled")].set_index(["heatmap", "classifier", "metric"])["mean"]
    for (heat, name, metric), value in per[per["measure"].isin(["auc", "mass"])].groupby(
            ["heatmap", "classifier", "measure"])["value"].mean().items():
        assert value == pytest.approx(gt[(heat, name, metric)], abs=1e-9), (heat, name, metric)
    free = per[(per["classifier"] == "") & (per["measure"] == "auc")]
    assert {"centre", "border", "random"} <= set(free["heatmap"])  # the maps that read no classifier, once each
    assert (free.groupby("heatmap").size() == 9).all()
    results.write(zoo / "results", {"per_image": per})
    back = results.read(zoo / "results", "per_image")
    np.testing.assert_allclose(back["value"].to_numpy(), per["value"].to_numpy(), rtol=1e-5)


def test_without_the_ground_truth_in_the_run_there_are_no_lens_rows(zoo: Path) -> None:
    per = _run(zoo, ["per_image"])["per_image"]
    assert set(per["measure"]) == {"correct", "disagreement", "nmi"}
    assert (per["heatmap"] == "").all()


def test_a_lens_score_is_read_beside_chance_and_the_best_model_free_map() -> None:
    from s2s_core.analysis.per_image_table import Choice, beside_baselines

    gt = pd.DataFrame({"heatmap": ["gradient", "random", "border", "gradient"], "classifier": ["L", None, None, "L"],
                       "mask": ["filled", "filled", "filled", "outline"], "metric": ["auc"] * 4,
                       "mean": [0.79, 0.50, 0.99, 0.7], "ci_low": [0.78, 0.49, 0.98, 0.6],
                       "ci_high": [0.80, 0.51, 0.99, 0.8], "n": [500, 500, 500, 500]})
    versus = pd.DataFrame({"heatmap": ["gradient"], "classifier": ["L"], "mask": ["filled"], "metric": ["auc"],
                           "baseline_label": ["colour distance from the border"], "baseline_score": [0.99],
                           "diff": [-0.2], "ci_low": [-0.21], "ci_high": [-0.19], "verdict": ["below"]})
    text = beside_baselines(Choice("auc", "gradient", "pixel AUC of gradient"), "L", gt, versus)
    assert text == ("Mean pixel AUC 0.790 [0.780, 0.800] over 500 images; chance (a random map) 0.500; the best map "
                    "that reads no classifier on the same images, colour distance from the border, 0.990: difference "
                    "-0.200 [-0.210, -0.190] (paired 95 % interval: below).")
    assert beside_baselines(Choice("auc", "border", "…"), "", gt, versus) == (
        "Mean pixel AUC 0.990 [0.980, 0.990] over 500 images; chance (a random map) 0.500.")
    assert beside_baselines(Choice("nmi", "", "nMI"), "L", gt, versus) is None  # not a lens's score
    assert beside_baselines(Choice("auc", "gradient", "…"), "L", None, None) is None  # no ground truth yet
