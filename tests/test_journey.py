"""The bring-your-own journey end to end at toy size (issue 12, item 7).

Copy the demo's test images into an ImageFolder (read in alphabetical folder order, unlike the demo
classifiers' label order), pretrain a tiny A_S, fine-tune it through the demo classifier unit V, create a zoo,
evaluate, run signal-order and reconstruct. The accuracy of V on the original images must be V's real one:
the same as an independent count (V run directly, labels from the demo zoo's class order), which is also
what the demo zoo itself reports on the same images.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import torch

from s2s_core.checkpoints import load_classifier
from s2s_core.cli import main
from s2s_core.data.images import load_image_tensor

DEMO = Path(__file__).resolve().parents[1] / "checkpoints" / "demo"
PER_CLASS = 2


def _copy_demo_images(dst: Path) -> list[tuple[Path, str]]:
    items = []
    for folder in sorted((DEMO / "data" / "test").iterdir()):
        (dst / folder.name).mkdir(parents=True)
        for img in sorted(folder.glob("*.png"))[:PER_CLASS]:
            shutil.copy(img, dst / folder.name / img.name)
            items.append((dst / folder.name / img.name, folder.name))
    return items


def _top1_direct(items: list[tuple[Path, str]]) -> float:
    """The oracle: V on each image, the label being the class's index in the demo zoo.json."""
    order = json.loads((DEMO / "zoo.json").read_text())["classes"]
    clf = load_classifier(DEMO / "classifiers" / "V")
    x = torch.stack([load_image_tensor(p, 64) for p, _ in items])
    y = torch.tensor([order.index(c) for _, c in items])
    with torch.inference_mode():
        return float((clf(x).argmax(1) == y).float().mean())


@pytest.mark.slow
def test_bring_your_own_journey_gives_the_classifiers_real_accuracy(tmp_path, capsys) -> None:
    data = tmp_path / "data" / "val"
    items = _copy_demo_images(data)
    assert sorted(p.name for p in data.iterdir()) != json.loads((DEMO / "zoo.json").read_text())["classes"]
    common = ["--threads", "1", "--device", "cpu", "--no-progress-bar"]
    assert main(["pretrain", "--data", str(data), "--out", str(tmp_path / "pre"), "--steps", "2", "--batch-size", "4",
                 "--size", "64", "--widths", "4,8,8,8,8", "--depths", "1,1,1,1,1", *common]) == 0
    assert main(["finetune", "--base", str(tmp_path / "pre" / "model"), "--classifier", str(DEMO / "classifiers" / "V"),
                 "--data", str(data), "--out", str(tmp_path / "ft"), "--steps", "2", "--batch-size", "4", *common]) == 0
    capsys.readouterr()
    assert json.loads((tmp_path / "ft" / "config.json").read_text())["size"] == 64  # the base AE's size
    zoo = tmp_path / "zoo"
    assert main(["zoo", "create", str(zoo), "--base", str(tmp_path / "pre" / "model"),
                 "--ae", f"V={tmp_path / 'ft' / 'model'}", "--classifier", f"V={DEMO / 'classifiers' / 'V'}",
                 "--classes-from", str(data)]) == 0
    assert json.loads((zoo / "zoo.json").read_text())["input_size"] == 64
    assert main(["evaluate", str(zoo), "--data", str(data), "--noise-grid", "0,0.5", "--batch-size", "10",
                 "--threads", "1", "--device", "cpu"]) == 0
    acc = pd.read_csv(zoo / "results" / "accuracy.csv")
    top1 = float(acc[(acc.classifier == "V") & (acc.input == "original")].top1.iloc[0])
    expected = _top1_direct(items)
    assert expected > 0.5  # the demo V is a good classifier: a wrong class order would sink it to ~chance
    assert top1 == pytest.approx(expected, abs=1e-6)
    capsys.readouterr()
    assert main(["signal-order", str(zoo / "results" / "cross_accuracy.csv"), "--json"]) == 0
    assert set(json.loads(capsys.readouterr().out)) >= {"rrc", "concepts", "edges", "intervals"}
    out = tmp_path / "recon.png"
    assert main(["reconstruct", "--ae", f"{zoo}:V", "--image", str(items[0][0]), "--out", str(out)]) == 0
    assert out.is_file()
    assert main(["reconstruct", "--ae", f"{zoo}:V", "--image", str(items[0][0]),
                 "--out", str(tmp_path / "nonexistent" / "x.png")]) == 1
    assert "does not exist" in capsys.readouterr().err and not (tmp_path / "nonexistent").exists()


def test_demo_zoo_reports_the_same_accuracy_on_those_images(tmp_path) -> None:
    """The same classifier on the same images through the demo zoo (in memory: nothing is written into it)."""
    from s2s_core.analysis.evaluate import _data_batches, evaluate_zoo
    from s2s_core.zoo import Zoo

    data = tmp_path / "val"
    items = _copy_demo_images(data)
    demo = Zoo.load(DEMO)
    _, loader, keys, _ = _data_batches(data, demo, batch_size=10, workers=0, pair_seed=0)
    result = evaluate_zoo(demo, loader, options={"noise_grid": (0.0,)}, native_keys=keys)
    acc = result.accuracy
    top1 = float(acc[(acc.classifier == "V") & (acc.input == "original")].top1.iloc[0])
    assert top1 == pytest.approx(_top1_direct(items), abs=1e-6)


def test_folders_of_a_zoo_without_class_names_are_refused_in_one_line(tiny_zoo, tmp_path) -> None:
    """evaluate and channels fit label data folders through Zoo.folder_classes: without names, one ConfigError."""
    from s2s_core.analysis.evaluate import _data_batches
    from s2s_core.errors import ConfigError
    from s2s_core.zoo import Zoo

    zoo = Zoo.load(tiny_zoo)
    assert zoo.folder_classes(tmp_path) == zoo.class_names
    zoo.info.classes = None  # as a zoo whose classifiers and zoo.json record none
    with pytest.raises(ConfigError, match="record no class names, so the folders of .* cannot be matched"):
        _data_batches(tmp_path, zoo, batch_size=2, workers=0, pair_seed=0)
