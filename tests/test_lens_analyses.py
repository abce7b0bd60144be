"""The ground-truth and zeroing analyses through `s2s evaluate` (issue 18 items 3-4): an oracle lens scores 1,
its complement 0, every built-in lens gets a row beside the chance level, and nothing depends on the batch size."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from tiny_zoo import build_tiny_zoo

from s2s_core import results
from s2s_core.analysis.dataset.channel_zeroing import DRAWS, KS, random_like
from s2s_core.analysis.evaluate import run_evaluation
from s2s_core.analysis.heatmap_lenses import HEATMAP_LENSES, HeatmapLens
from s2s_core.channels.lens import fit_channel_weights
from s2s_core.channels.store import save_channel_weights
from s2s_core.data.datasets import LabelledImageFolder
from s2s_core.data.masks import masks_folder
from s2s_core.demo.report import ground_truth_section, zeroing_section
from s2s_core.errors import ConfigError
from s2s_core.zoo import Zoo


@pytest.fixture(scope="module")
def zoo_with_masks(tmp_path_factory) -> Path:
    zoo = build_tiny_zoo(tmp_path_factory.mktemp("zoo") / "tiny", evaluate=False)
    test = zoo / "data" / "test"
    for k, image in enumerate(sorted(test.rglob("*.png"))):
        mask = np.zeros((64, 64), np.uint8)
        mask[8 + k: 40 + k, 10: 30 + 2 * k] = 255
        target = masks_folder(test) / image.relative_to(test)
        target.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(mask).save(target)
    loaded = Zoo.load(zoo)
    name = next(iter(loaded.classifiers))
    x = torch.rand(12, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    save_channel_weights(zoo, fit_channel_weights(loaded.classifiers[name], name, [(x, torch.arange(12) % 3)], 10,
                                                  mu=2.0))
    return zoo


def _run(zoo: Path, batch_size: int) -> dict[str, pd.DataFrame]:
    result, _ = run_evaluation(zoo, zoo / "data" / "test", batch_size=batch_size, device="cpu", show_progress=False,
                               only=["ground_truth", "channel_zeroing"])
    return result.tables


def test_an_oracle_lens_scores_one_its_complement_zero_and_every_lens_has_a_row(zoo_with_masks: Path,
                                                                                monkeypatch) -> None:
    monkeypatch.setitem(HEATMAP_LENSES, "oracle", HeatmapLens("oracle", "the mask", "test",
                                                              lambda ctx, name: ctx.views.masks[:, 0]))
    monkeypatch.setitem(HEATMAP_LENSES, "complement", HeatmapLens("complement", "1 - mask", "test",
                                                                  lambda ctx, name: 1 - ctx.views.masks[:, 0]))
    one, every = _run(zoo_with_masks, 1), _run(zoo_with_masks, 100)
    for key in ("ground_truth", "channel_zeroing"):
        pd.testing.assert_frame_equal(one[key], every[key], check_exact=False, rtol=1e-5, atol=1e-5)  # float32 convs
    gt = every["ground_truth"].set_index(["lens", "classifier"])
    names = list(Zoo.load(zoo_with_masks).names)
    fitted = next(iter(Zoo.load(zoo_with_masks).classifiers))
    for name in names:
        assert gt.loc[("oracle", name), "auc"] == pytest.approx(1.0)
        assert gt.loc[("oracle", name), "iou"] == pytest.approx(1.0)
        assert gt.loc[("complement", name), "auc"] == pytest.approx(0.0)
        for lens in ("ae_change", "ae_residual", "gradient"):
            row = gt.loc[(lens, name)]
            assert 0 <= row["auc"] <= 1 and row["n"] == 9
    assert {lens for lens, name in gt.index if name == fitted} >= {"channels_deconvnet", "channels_guided"}
    assert not any(lens.startswith("channels") for lens, name in gt.index if name != fitted)
    assert gt["chance_auc"].nunique() == 1 and abs(gt["chance_auc"].iloc[0] - 0.5) < 0.05
    # written through the results module, readable with its schema
    assert set(results.read(zoo_with_masks / "results", "ground_truth")["lens"]) >= {"oracle", "gradient"}


def test_zeroing_rows_for_the_classifier_with_weights(zoo_with_masks: Path) -> None:
    z = _run(zoo_with_masks, 4)["channel_zeroing"]
    zoo = Zoo.load(zoo_with_masks)
    fitted = next(iter(zoo.classifiers))
    assert list(z["classifier"]) == [fitted] * len(KS) and list(z["k"]) == list(KS)
    assert (z["draws"] == DRAWS).all() and (z["n"] == 9).all()
    assert (z["random_min"] <= z["top1_random_zeroed"]).all() and (z["top1_random_zeroed"] <= z["random_max"]).all()
    # the unmodified accuracy is the classifier's own top-1 on the originals
    data = LabelledImageFolder(zoo_with_masks / "data" / "test", 64,
                               class_to_idx={c: i for i, c in enumerate(zoo.classes)})
    x = torch.stack([data[i][0] for i in range(len(data))])
    acc = float((zoo.classifiers[fitted](x).argmax(1) == torch.tensor(data.targets)).float().mean())
    assert z["top1"].tolist() == pytest.approx([acc] * len(KS))


def test_random_channels_come_from_the_same_layers_and_avoid_the_picks() -> None:
    picks = [("a", 0), ("a", 1), ("b", 3)]
    rng = np.random.default_rng(0)
    for _ in range(50):
        drawn = random_like(picks, {"a": 4, "b": 5}, rng)
        assert sorted(lay for lay, _ in drawn) == ["a", "a", "b"]
        assert not set(drawn) & set(picks) and len(set(drawn)) == 3


def test_a_missing_mask_is_named(zoo_with_masks: Path, tmp_path: Path) -> None:
    zoo = tmp_path / "zoo"
    shutil.copytree(zoo_with_masks, zoo)
    next((zoo / "data" / "test_masks").rglob("*.png")).unlink()
    with pytest.raises(ConfigError, match="is missing"):
        _run(zoo, 100)


def test_the_report_states_what_the_tables_say() -> None:
    gt = pd.DataFrame({"lens": ["gradient", "gradient", "channels_guided", "channels_guided"],
                       "label": ["gradient of the class score"] * 2 + ["relevant channels, guided backprop"] * 2,
                       "classifier": ["L", "A", "L", "A"], "auc": [0.8, 0.45, 0.9, 0.7],
                       "auc_std": [0.1] * 4, "iou": [0.3, 0.2, 0.5, 0.4], "iou_std": [0.05] * 4,
                       "chance_auc": [0.5] * 4, "chance_iou": [0.12] * 4, "n": [500] * 4})
    text = "\n".join(ground_truth_section(gt))
    assert "L: relevant channels, guided backprop (0.900); A: relevant channels, guided backprop (0.700)" in text
    assert "At or below the random heatmap's AUC: gradient of the class score for A (0.450)." in text
    assert "| gradient of the class score | 0.800 ± 0.100 | 0.450 ± 0.100 | 0.500 |" in text
    assert "\n".join(ground_truth_section(gt, ["A", "L"])).count("| 0.450 ± 0.100 | 0.800 ± 0.100 |") == 1
    pipes = gt.assign(label=["|x − A_i(x)|"] * 2 + ["relevant channels, guided backprop"] * 2)
    assert "| \\|x − A_i(x)\\| |" in "\n".join(ground_truth_section(pipes))
    z = pd.DataFrame({"classifier": ["L", "L"], "k": [1, 3], "top1": [0.9, 0.9], "top1_relevant_zeroed": [0.85, 0.5],
                      "top1_random_zeroed": [0.88, 0.87], "random_std": [0.01, 0.02], "random_min": [0.84, 0.85],
                      "random_max": [0.9, 0.9], "draws": [10, 10], "n": [500, 500]})
    text = "\n".join(zeroing_section(z))
    assert "costs more top-1 than every random draw for L (k = 3); not for L (k = 1)." in text
    assert "0.870 ± 0.020 (0.850–0.900)" in text
