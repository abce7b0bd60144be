"""``s2s evaluate --only inversion`` against direct inversions of the same images (the oracle): N images per
class in data order, every number independent of the batch size, and the CSV through s2s_core.results."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from tiny_zoo import CLASSES, build_tiny_zoo

from s2s_core import results
from s2s_core.analysis.evaluate import evaluate_zoo
from s2s_core.cli import main
from s2s_core.data.datasets import LabelledImageFolder
from s2s_core.errors import ConfigError
from s2s_core.lenses.inversion.invert import InversionSettings, feature_errors, invert
from s2s_core.models.layers import LayerTap, list_layers, sweep_layers
from s2s_core.zoo import Zoo

OPTIONS = {"per_class": 2, "inversion_layers": 2, "inversion_steps": 4}
SEED = 11


@pytest.fixture(scope="module")
def zoo_dir(tmp_path_factory):
    return build_tiny_zoo(tmp_path_factory.mktemp("inva") / "tiny", images_per_class=3, evaluate=False)


@pytest.fixture(scope="module")
def data(zoo_dir):
    dataset = LabelledImageFolder(zoo_dir / "data" / "test", size=64, class_to_idx={c: i for i, c in enumerate(CLASSES)})
    return torch.stack([dataset[i][0] for i in range(len(dataset))]), torch.tensor(dataset.targets)


def _batches(x, y, size):
    return [(x[k: k + size], y[k: k + size]) for k in range(0, len(y), size)]


def _run(zoo, x, y, size):
    return evaluate_zoo(zoo, _batches(x, y, size), only=["inversion"], options={**OPTIONS, "seed": SEED}).tables["inversion"]


def test_numbers_match_direct_inversions_and_do_not_depend_on_the_batch(zoo_dir, data):
    zoo = Zoo.load(zoo_dir)
    x, y = data
    tables = [_run(zoo, x, y, size) for size in (1, 4, len(y))]
    for other in tables[1:]:
        pd.testing.assert_frame_equal(tables[0], other, atol=1e-4, rtol=1e-4)
    table = tables[0]
    # the oracle: the first 2 images of each class, inverted one by one with seed SEED + index
    chosen = [k for k in range(len(y)) if (y[:k] == y[k]).sum() < 2]
    assert len(chosen) == 2 * len(set(y.tolist()))
    settings = InversionSettings(steps=4, seed=SEED)
    for name in ("L", "A", "V"):
        clf = zoo.classifiers[name]
        infos = list_layers(clf, 64)
        layers = sweep_layers(infos, 2)
        rows = table[table["classifier"] == name]
        assert list(rows["layer"]) == [i.name for i in layers] and list(rows["depth"])[-1] == 1.0
        ae = zoo.reconstruct_all(x[chosen], names=[name])[f"A_{name}"]
        with torch.no_grad():
            on_x = (clf(x[chosen]).argmax(1) == y[chosen]).float().mean().item()
            on_ae = (clf(ae).argmax(1) == y[chosen]).float().mean().item()
        for info, (_, row) in zip(layers, rows.iterrows(), strict=True):
            errors, hits = [], []
            for k in chosen:
                r = invert(clf, x[k: k + 1], info.name, settings, seeds=[SEED + k], layer_infos=infos)
                errors.append(r.errors[info.name].item())
                with torch.no_grad():
                    hits.append(float(clf(r.images).argmax(1).item() == y[k].item()))
            assert row["n"] == len(chosen)
            assert row["error_mean"] == pytest.approx(sum(errors) / len(errors), rel=1e-4)
            assert row["top1_inversion"] == pytest.approx(sum(hits) / len(hits))
            ae_errs = feature_errors(clf, x[chosen], ae, [info])[info.name].double().numpy()
            assert row["ae_error_mean"] == pytest.approx(ae_errs.mean(), rel=1e-4)
            assert row["top1_original"] == pytest.approx(on_x) and row["top1_ae"] == pytest.approx(on_ae)
            assert row["chance"] == pytest.approx(1 / len(CLASSES)) and row["steps"] == 4
            # the paper's scale, by brute force over the ordered pairs of different chosen images
            with torch.no_grad():
                f = LayerTap(clf, [info])(x[chosen])[info.name].flatten(1).double().numpy()
            pairs = [np.linalg.norm(f[b] - f[a]) / np.linalg.norm(f[a])
                     for a in range(len(f)) for b in range(len(f)) if a != b]
            assert row["pair_distance"] == pytest.approx(np.mean(pairs), rel=1e-5)
            scaled, ae_scaled = np.array(errors) / np.mean(pairs), np.array(ae_errs) / np.mean(pairs)
            assert row["error_norm"] == pytest.approx(scaled.mean(), rel=1e-4)
            assert row["ae_error_norm"] == pytest.approx(ae_scaled.mean(), rel=1e-4)
            assert row["norm_diff"] == pytest.approx((scaled - ae_scaled).mean(), rel=1e-4, abs=1e-6)
            assert row["error_norm_ci_low"] < row["error_norm"] < row["error_norm_ci_high"]
            assert row["norm_diff_ci_low"] <= row["norm_diff"] <= row["norm_diff_ci_high"]
            assert bool(row["fitted_to_logits"]) == (info.depth == 1.0)


def test_cli_writes_inversion_csv_and_refuses_bad_options(zoo_dir, capsys):
    code = main(["evaluate", str(zoo_dir), "--data", str(zoo_dir / "data" / "test"), "--only", "inversion",
                 "--per-class", "1", "--inversion-layers", "1", "--inversion-steps", "2"])
    assert code == 0
    table = results.read(zoo_dir / "results", "inversion")
    assert len(table) == 3 and set(table["n"]) == {3} and set(table["depth"]) == {1.0}  # 1 image x 3 classes
    assert "Feature inversion" in capsys.readouterr().out
    assert not results.exists(zoo_dir / "results", "accuracy")  # nothing else ran
    code = main(["evaluate", str(zoo_dir), "--data", str(zoo_dir / "data" / "test"), "--only", "inversion",
                 "--per-class", "0"])
    assert code == 1 and "at least 1 image per class" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="unknown evaluation option"):
        evaluate_zoo(Zoo.load(zoo_dir), [], options={"per_clas": 1})


def test_depth_figure_draws_both_lenses_per_classifier():
    from s2s_core.analysis.figures import inversion_depth_figure

    table = pd.DataFrame({"classifier": ["L", "L", "A", "A"], "layer": ["a", "b", "c", "d"], "depth": [0.2, 1, 0.5, 1],
                          "n": [4] * 4, "error_norm": [0.1, 0.2, 0.3, 0.4], "error_norm_ci_low": [0.05, 0.1, 0.2, 0.3],
                          "error_norm_ci_high": [0.2, 0.3, 0.4, 0.5], "ae_error_norm": [0.5] * 4,
                          "ae_error_norm_ci_low": [0.4] * 4, "ae_error_norm_ci_high": [0.7] * 4,
                          "top1_inversion": [0.9, 0.5, 0.8, 0.7], "top1_ae": [0.6] * 4, "top1_original": [1.0] * 4,
                          "fitted_to_logits": [False, True, False, True], "chance": [0.1] * 4})
    fig = inversion_depth_figure(table)
    names = [t.name for t in fig.data]
    assert names[:5] == ["L inversion", "L A_L(x)", "L on inversions", "L∘A_L", "L on x"] and names[-1] == "chance"
    assert list(fig.data[0].y) == [0.1, 0.2] and list(fig.data[5].x) == [0.5, 1.0]
    assert list(fig.data[0].error_y.arrayminus) == pytest.approx([0.05, 0.1])
    assert list(fig.data[1].error_y.array) == pytest.approx([0.2, 0.2])
    assert list(fig.data[2].marker.symbol) == ["circle", "circle-open"]  # fitted to the logits: open
    assert fig.layout.shapes[0].y0 == 1.0  # as far as another image
    with pytest.raises(Exception, match="inversion table"):
        inversion_depth_figure(table.drop(columns=["chance"]))
