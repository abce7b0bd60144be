"""The bring-your-own journey at the paper's size (issue 23): a tiny 224 px tree of photo crops of several
sizes, torchvision ResNet-18 and Inception v3 (299 px) trained here with ``s2s train-classifier``, a
randomly initialised unit (``s2s finetune --classifier-weights none``) and a 5-stage A_S. It runs
evaluate, report and the Overview page.

What must hold: units trained here or random are never labelled with torchvision's published weights or
accuracies, each reads its own recorded protocol, and the random-initialisation route the README allows
reaches ``evaluate``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from own_data import photo_tree
from streamlit.testing.v1 import AppTest

from s2s_core import results
from s2s_core.checkpoints import load_classifier, read_manifest
from s2s_core.cli import main
from s2s_core.demo.report import report

ROOT = Path(__file__).resolve().parents[1]
COMMON = ["--threads", "1", "--device", "cpu", "--no-progress-bar"]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("photos")
    data = photo_tree(tmp / "photos", per_class={"train": 4, "test": 3})
    units = {}
    for key, arch, size in (("R18", "resnet18", "224"), ("I", "inception_v3", "299")):
        assert main(["train-classifier", "--arch", arch, "--size", size, "--data", str(data["train"]),
                     "--epochs", "1", "--batch-size", "8", "--preset", "small", "--out", str(tmp / f"clf-{key}"),
                     *COMMON]) == 0
        units[key] = tmp / f"clf-{key}" / "model"
    assert main(["pretrain", "--data", str(data["train"]), "--out", str(tmp / "pre"), "--steps", "2",
                 "--batch-size", "4", "--size", "224", "--widths", "4,8,8,16,16", "--depths", "1,1,1,1,1",
                 *COMMON]) == 0
    base = tmp / "pre" / "model"
    for key, unit in units.items():
        assert main(["finetune", "--base", str(base), "--classifier", str(unit), "--data", str(data["train"]),
                     "--out", str(tmp / f"ft-{key}"), "--steps", "1", "--batch-size", "4", *COMMON]) == 0
    assert main(["finetune", "--base", str(base), "--classifier", "resnet18", "--classifier-weights", "none",
                 "--data", str(data["train"]), "--out", str(tmp / "ft-RND"), "--steps", "1", "--batch-size", "4",
                 *COMMON]) == 0
    units["RND"] = tmp / "ft-RND" / "classifier"
    args = ["zoo", "create", str(tmp / "zoo"), "--base", str(base), "--test", str(data["test"])]
    for key, unit in units.items():
        args += ["--ae", f"{key}={tmp / f'ft-{key}' / 'model'}", "--classifier", f"{key}={unit}"]
    assert main(args) == 0
    assert main(["evaluate", str(tmp / "zoo"), "--noise-grid", "0", "--batch-size", "6", "--threads", "1"]) == 0
    return {"zoo": tmp / "zoo", **{f"unit_{k}": v for k, v in units.items()}}


def test_units_trained_here_are_not_labelled_as_published_weights(photos) -> None:
    origins = {k: read_manifest(photos[f"unit_{k}"])["weights_origin"] for k in ("R18", "I", "RND")}
    assert origins == {"R18": "trained", "I": "trained", "RND": "random"}
    for key in ("R18", "I", "RND"):
        spec = load_classifier(photos[f"unit_{key}"]).spec
        assert spec.weights is None and spec.origin == origins[key]
    protocol = results.read(photos["zoo"] / "results", "preprocessing").set_index("model")
    assert protocol.loc[["R18", "I", "RND"], "published_top1"].isna().all()
    assert list(protocol.loc[["R18", "I", "RND"], "weights"]) == ["trained", "trained", "random"]
    # each reads the validation crop it was trained with: 256 -> 224 and 342 -> 299 (size / 0.875)
    assert (protocol.loc["R18", "resize_size"], protocol.loc["R18", "crop_size"]) == (256, 224)
    assert (protocol.loc["I", "resize_size"], protocol.loc["I", "crop_size"]) == (342, 299)
    acc = results.read(photos["zoo"] / "results", "accuracy")
    assert set(acc["classifier"]) == {"R18", "I", "RND"}


def test_report_and_overview_on_the_photo_zoo(photos, monkeypatch, tmp_path) -> None:
    text = report(photos["zoo"])
    assert "top-5 is 100 % by construction with 4 classes" in text
    assert "IMAGENET1K" not in text and "the demo" not in text
    monkeypatch.setenv("S2S_ZOO", str(photos["zoo"]))
    monkeypatch.setenv("S2S_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("S2S_THREADS", "1")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300).run()
    assert not at.exception, at.exception
    warnings = [w.value for w in at.warning]
    assert any("Classifier RND has randomly initialised weights" in w for w in warnings)
    assert not any("Classifier R18 has randomly" in w for w in warnings)
    frames = [pd.DataFrame(d.value) for d in at.dataframe]
    assert not any("IMAGENET1K_V1" in f.to_string() for f in frames)
