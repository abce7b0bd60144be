"""`s2s zoo create`: a zoo assembled from trained units loads; mismatched units are refused."""

from __future__ import annotations

import torch

from s2s_core.checkpoints import save_ae, save_classifier, save_finetuned
from s2s_core.cli import main
from s2s_core.models.classifiers import Classifier
from s2s_core.models.segnet import SegNet
from s2s_core.zoo import Zoo

WIDTHS, DEPTHS = (4, 8, 8, 8, 8), (1, 1, 1, 1, 1)


def _units(tmp_path):
    torch.manual_seed(0)
    base = SegNet(WIDTHS, DEPTHS)
    save_ae(tmp_path / "runs" / "pre" / "model", base)
    tuned = SegNet(WIDTHS, DEPTHS)
    tuned.load_state_dict(base.state_dict())
    with torch.no_grad():
        tuned.decoder.conv_final.bias.add_(0.1)
    save_finetuned(tmp_path / "runs" / "ft" / "model", tuned, tmp_path / "runs" / "pre" / "model", "L")
    save_classifier(tmp_path / "runs" / "clf", Classifier.from_name("lenet5_demo", num_classes=10))
    return tmp_path / "runs"


def test_created_zoo_loads_and_reconstructs(tmp_path) -> None:
    runs = _units(tmp_path)
    for c in ("a", "b"):
        (tmp_path / "data" / c).mkdir(parents=True)
    code = main(["zoo", "create", str(tmp_path / "zoo"), "--base", str(runs / "pre" / "model"),
                 "--ae", f"L={runs / 'ft' / 'model'}", "--classifier", f"L={runs / 'clf'}", "--input-size", "32",
                 "--classes-from", str(tmp_path / "data")])
    assert code == 0
    zoo = Zoo.load(tmp_path / "zoo")
    assert list(zoo.decoders) == ["L"] and zoo.classes == ["a", "b"] and zoo.input_size == 32
    recon = zoo.reconstruct_all(torch.rand(1, 3, 32, 32))
    assert not torch.equal(recon["A_S"], recon["A_L"])


def test_mismatched_units_are_refused(tmp_path, capsys) -> None:
    runs = _units(tmp_path)
    save_ae(tmp_path / "other", SegNet(WIDTHS, DEPTHS))
    assert main(["zoo", "create", str(tmp_path / "zoo"), "--base", str(tmp_path / "other"),
                 "--ae", f"L={runs / 'ft' / 'model'}", "--classifier", f"L={runs / 'clf'}"]) == 1
    assert "not from --base" in capsys.readouterr().err
    assert main(["zoo", "create", str(tmp_path / "zoo"), "--base", str(runs / "pre" / "model"),
                 "--ae", f"L={runs / 'ft' / 'model'}"]) == 1
    assert "--classifier" in capsys.readouterr().err
    assert main(["zoo", "create", str(tmp_path / "zoo"), "--base", str(runs / "pre" / "model"),
                 "--ae", "L", "--classifier", "L=nosuchnet"]) == 1
    assert "NAME=VALUE" in capsys.readouterr().err
