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
from tiny_zoo import add_masks_and_channel_weights, build_tiny_zoo

from s2s_core import results
from s2s_core.analysis.dataset.channel_zeroing import DRAWS, KS, random_like
from s2s_core.analysis.evaluate import run_evaluation
from s2s_core.data.datasets import LabelledImageFolder
from s2s_core.demo.report import zeroing_section
from s2s_core.errors import ConfigError
from s2s_core.lenses.base import Heatmap, Lens
from s2s_core.lenses.registry import LENSES
from s2s_core.zoo import Zoo


class Oracle(Lens):
    """Test lenses that look at the answer: the mask (scores 1), its complement (0), and the mask on the images
    the feature-inversion lens picked for this batch only (NaN elsewhere: a lens that scores a subset)."""

    key, title, summary, paper = "oracle", "Oracle", "the answer", "(test)"
    heatmaps = (Heatmap("oracle", "the mask"), Heatmap("complement", "1 - mask"),
                Heatmap("subset_oracle", "the mask, a subset"))

    def heatmap(self, ctx, classifier, variant, target=None):
        mask = ctx.batch.masks[:, 0].clone().float()
        if variant == "complement":
            return 1 - mask
        if variant == "subset_oracle":
            chosen = ctx.cached(("inversion", "chosen"), lambda: None)  # the inversion lens's pick (it runs first)
            if chosen is None:  # the inversion lens is off
                return None
            mask[[k for k in range(mask.shape[0]) if k not in chosen]] = float("nan")
        return mask


@pytest.fixture(scope="module")
def zoo_with_masks(tmp_path_factory) -> Path:
    return add_masks_and_channel_weights(build_tiny_zoo(tmp_path_factory.mktemp("zoo") / "tiny", evaluate=False),
                                         lambda k: (slice(8 + k, 40 + k), slice(10, 30 + 2 * k)))


def _run(zoo: Path, batch_size: int) -> dict[str, pd.DataFrame]:
    result, _ = run_evaluation(zoo, zoo / "data" / "test", batch_size=batch_size, device="cpu", show_progress=False,
                               only=["ground_truth", "channel_zeroing"])
    return result.tables


def _metric(gt: pd.DataFrame, metric: str, mask: str = "filled") -> pd.DataFrame:
    """One metric and mask of the long ground-truth table, indexed by (heatmap, classifier)."""
    return gt[(gt["metric"] == metric) & (gt["mask"] == mask)].set_index(["heatmap", "classifier"])


def test_an_oracle_lens_scores_one_its_complement_zero_and_every_lens_has_a_row(zoo_with_masks: Path,
                                                                                monkeypatch) -> None:
    monkeypatch.setitem(LENSES, "oracle", Oracle())
    one, every = _run(zoo_with_masks, 1), _run(zoo_with_masks, 100)
    for key in ("ground_truth", "ground_truth_baselines", "channel_zeroing"):
        # float32 convs differ by batch size in the last bits, which can swap two near-tied pixels of a map:
        # the metrics that rank pixels move by a pixel's share (1 / 4096 at 64 px), nothing more
        pd.testing.assert_frame_equal(one[key], every[key], check_exact=False, rtol=0, atol=2e-3)
    full = every["ground_truth"]
    names = list(Zoo.load(zoo_with_masks).names)
    fitted = next(iter(Zoo.load(zoo_with_masks).classifiers))
    assert set(full["mask"]) == {"filled", "outline"}
    assert set(full["metric"]) == {"auc", "pointing", "mass", "rank", "topk", "iou_auc", "best_iou"}
    for mask in ("filled", "outline"):
        for metric in ("auc", "pointing", "mass", "rank", "topk", "best_iou"):
            gt = _metric(full, metric, mask)
            for name in names:
                if mask == "filled":  # the mask itself: a perfect map of the filled shape
                    assert gt.loc[("oracle", name), "mean"] == pytest.approx(1.0), metric
                    if metric != "best_iou":  # its lowest threshold marks everything: IoU = the mask's share
                        assert gt.loc[("complement", name), "mean"] == pytest.approx(0.0), metric
                for lens in ("ae_change", "ae_residual", "gradient"):
                    row = gt.loc[(lens, name)]
                    assert 0 <= row["mean"] <= 1 and row["n"] == 9
                    assert row["ci_low"] <= row["mean"] <= row["ci_high"]
    gt = _metric(full, "auc")
    for name in names:  # the band around the outline lies half inside the shape: the filled mask is no oracle there
        assert 0.3 < _metric(full, "auc", "outline").loc[("oracle", name), "mean"] < 0.9
    assert {lens for lens, name in gt.index if name == fitted} >= {"channels_deconvnet", "channels_guided"}
    assert not any(lens.startswith("channels") for lens, name in gt.index if name != fitted)
    # the maps that read no classifier: one row each, on every image, flagged
    free = gt[gt["model_free"].astype(bool)]
    assert set(free.index.get_level_values(0)) == {"random", "centre", "edges", "spectral", "border", "ae_control"}
    assert (free.index.get_level_values(1) == "").all() and (free["n"] == 9).all()
    assert abs(gt.loc[("random", ""), "mean"] - 0.5) < 0.05
    # each lens against the best model-free map on its images: the control |x - A_S| only for S2S's heatmaps
    vs = every["ground_truth_baselines"]
    auc = vs[(vs["metric"] == "auc") & (vs["mask"] == "filled")].set_index(["heatmap", "classifier"])
    general = free.drop(index=("ae_control", ""))["mean"]
    for name in names:
        assert auc.loc[("oracle", name), "baseline"] == general.idxmax()[0]
        assert auc.loc[("oracle", name), "baseline_score"] == pytest.approx(general.max())
        assert auc.loc[("oracle", name), "verdict"] == "beats" and auc.loc[("complement", name), "verdict"] == "below"
        assert auc.loc[("ae_residual", name), "baseline"] == free["mean"].idxmax()[0]
        assert auc.loc[("oracle", name), "diff"] == pytest.approx(1.0 - general.max())
    # written through the results module, readable with its schema
    assert set(results.read(zoo_with_masks / "results", "ground_truth")["lens"]) >= {"oracle", "gradient"}
    assert set(results.read(zoo_with_masks / "results", "ground_truth_baselines")["verdict"]) <= {"beats", "below",
                                                                                                  "tie"}


def test_zeroing_rows_for_the_classifier_with_weights(zoo_with_masks: Path) -> None:
    z = _run(zoo_with_masks, 4)["channel_zeroing"]
    zoo = Zoo.load(zoo_with_masks)
    fitted = next(iter(zoo.classifiers))
    assert list(z["classifier"]) == [fitted] * len(KS) and list(z["k"]) == list(KS)
    assert (z["draws"] == DRAWS).all() and (z["n"] == 9).all()
    for what in ("drop", "flip"):
        assert (z[f"{what}_ci_low"] <= z[f"{what}_diff"]).all() and (z[f"{what}_diff"] <= z[f"{what}_ci_high"]).all()
        assert np.allclose(z[f"{what}_diff"], z[f"{what}_relevant"] - z[f"{what}_random"])
    assert z["flip_relevant"].between(0, 1).all() and z["drop_relevant"].between(-1, 1).all()
    assert set(z["verdict"]) <= {"hurts more than random", "no more than random", "less than random"}
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
    z = pd.DataFrame({"classifier": ["L", "L", "V"], "k": [1, 3, 1], "top1": [0.9, 0.9, 0.97],
                      "top1_relevant_zeroed": [0.85, 0.5, 0.97], "top1_random_zeroed": [0.88, 0.87, 0.97],
                      "drop_relevant": [0.02, 0.3, 0.03], "drop_random": [0.01, 0.02, 0.001],
                      "drop_diff": [0.01, 0.28, 0.029], "drop_ci_low": [-0.002, 0.25, 0.02],
                      "drop_ci_high": [0.02, 0.31, 0.04], "flip_relevant": [0.05, 0.4, 0.0],
                      "flip_random": [0.04, 0.03, 0.0], "flip_diff": [0.01, 0.37, 0.0],
                      "flip_ci_low": [-0.01, 0.33, 0.0], "flip_ci_high": [0.03, 0.41, 0.0],
                      "verdict": ["no more than random", "hurts more than random", "hurts more than random"],
                      "draws": [10, 10, 10], "n": [500, 500, 500]})
    text = "\n".join(zeroing_section(z))
    assert ("than zeroing k random channels (interval of relevant − random above 0) for L (k = 3: +0.2800 "
            "[+0.2500, +0.3100]), V (k = 1: +0.0290 [+0.0200, +0.0400]).") in text
    assert "No more than random channels (the interval holds 0) for L (k = 1: +0.0100 [-0.0020, +0.0200])." in text
    assert "flips more often with the relevant channels zeroed than with random ones for L (k = 3: +0.370" in text
    assert "| L | 3 | 0.900 / 0.500 / 0.870 | 0.3000 / 0.0200 | +0.2800 [+0.2500, +0.3100] |" in text
    assert "every random draw" not in text and "min" not in text


# ------------------------------------------------------------------------- the feature-inversion error map
class _KeepBox(torch.nn.Module):
    """A "layer" that keeps the pixels of a box and drops the rest: its inversion can only recover the box."""

    def __init__(self, keep: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("keep", keep)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.keep


def test_the_error_map_is_small_where_the_layer_keeps_the_image_and_large_where_it_drops_it() -> None:
    from s2s_core.lenses.inversion.error_map import inversion_error_map
    from s2s_core.lenses.scores import pixel_auc
    from s2s_core.models.classifiers import IMAGENET_MEAN, IMAGENET_STD, Classifier, ClassifierSpec

    keep = torch.zeros(1, 1, 16, 16)
    keep[..., 4:12, 3:10] = 1
    net = torch.nn.Sequential(_KeepBox(keep), torch.nn.Flatten(), torch.nn.Linear(3 * 16 * 16, 4))
    spec = ClassifierSpec(name="box", builder=lambda **_: net, input_size=16, mean=IMAGENET_MEAN, std=IMAGENET_STD,
                          num_classes=4)
    clf = Classifier(spec, net).eval()
    g = torch.Generator().manual_seed(0)
    x0 = torch.where(keep.bool(), 0.3 + 0.4 * torch.rand(2, 3, 16, 16, generator=g), torch.full((2, 3, 16, 16), 0.98))
    heat = inversion_error_map(clf, x0, "0", steps=100)
    assert heat.shape == (2, 16, 16) and torch.isfinite(heat).all()
    dropped = ~keep[:, 0].bool().expand(2, -1, -1)
    assert (pixel_auc(heat, dropped) > 0.99).all()  # every dropped pixel errs more than every kept one
    # the same seeds give the same map; an image's map does not depend on its batch
    assert torch.equal(heat, inversion_error_map(clf, x0, "0", steps=100))
    one = inversion_error_map(clf, x0[1:], "0", steps=100, seeds=[1_700_001])
    torch.testing.assert_close(one[0], heat[1], rtol=1e-5, atol=1e-5)


def _run_with_inversion(zoo: Path, batch_size: int, per_class: int = 1,
                        table: str = "ground_truth") -> pd.DataFrame:
    result, _ = run_evaluation(zoo, zoo / "data" / "test", batch_size=batch_size, device="cpu", show_progress=False,
                               only=["ground_truth"],
                               options={"gt_inversion_per_class": per_class, "gt_inversion_steps": 5})
    return result.tables[table]


def test_the_inversion_error_map_row_on_a_subset_beside_its_own_chance(zoo_with_masks: Path, monkeypatch) -> None:
    # an oracle that scores only the first image of every class (NaN for the others) still scores 1 there
    monkeypatch.setitem(LENSES, "oracle", Oracle())
    one, every = _run_with_inversion(zoo_with_masks, 1), _run_with_inversion(zoo_with_masks, 100)
    pd.testing.assert_frame_equal(one, every, check_exact=False, rtol=0, atol=2e-3)  # near-tied pixels, as above
    gt = _metric(every, "auc")
    zoo = Zoo.load(zoo_with_masks)
    classes = sum(1 for d in (zoo_with_masks / "data" / "test").iterdir() if d.is_dir())  # classes in the data
    for name in zoo.names:
        inv, full = gt.loc[("inversion_error", name)], gt.loc[("oracle", name)]
        sub = gt.loc[("subset_oracle", name)]
        assert inv["n"] == classes and 0 <= inv["mean"] <= 1  # one image per class
        assert inv["label"] == LENSES["inversion"].labels(steps=5)["inversion_error"]  # the steps it used
        assert full["n"] == 9 and full["mean"] == pytest.approx(1.0)
        assert sub["n"] == classes and sub["mean"] == pytest.approx(1.0)
        assert _metric(every, "best_iou").loc[("subset_oracle", name), "mean"] == pytest.approx(1.0)
    # the subset rows are compared with the baselines on their own images only
    vs = _run_with_inversion(zoo_with_masks, 100, table="ground_truth_baselines")
    auc = vs[(vs["metric"] == "auc") & (vs["mask"] == "filled")].set_index(["heatmap", "classifier"])
    for name in zoo.names:
        assert auc.loc[("subset_oracle", name), "n"] == classes and auc.loc[("oracle", name), "n"] == 9
    # off by default (an optimisation per image): no row without --gt-inversion-per-class
    assert "inversion_error" not in set(_run(zoo_with_masks, 100)["ground_truth"]["lens"])
    with pytest.raises(ConfigError, match="at least 1 step"):
        run_evaluation(zoo_with_masks, zoo_with_masks / "data" / "test", device="cpu", show_progress=False,
                       only=["ground_truth"], options={"gt_inversion_per_class": 1, "gt_inversion_steps": 0})


def test_an_empty_mask_does_not_take_a_place_in_the_inversion_subset(zoo_with_masks: Path, tmp_path: Path) -> None:
    zoo = tmp_path / "zoo"
    shutil.copytree(zoo_with_masks, zoo)
    first = sorted((zoo / "data" / "test_masks").rglob("*.png"))[0]
    Image.fromarray(np.zeros((64, 64), np.uint8)).save(first)  # nothing to score on this image
    one, every = _run_with_inversion(zoo, 1), _run_with_inversion(zoo, 100)
    pd.testing.assert_frame_equal(one, every, check_exact=False, rtol=0, atol=2e-3)  # near-tied pixels, as above
    inv = every[every["lens"] == "inversion_error"]
    assert (inv["n"] == 3).all()  # the next image of that class takes its place: still one per class
    assert (every[every["lens"] == "gradient"]["n"] == 8).all()
