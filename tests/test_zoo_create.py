"""`s2s zoo create`: a zoo assembled from trained units loads; mismatched units are refused before anything
is written (class order, class count, sizes, unavailable weights)."""

from __future__ import annotations

import torch

from s2s_core.checkpoints import save_ae, save_classifier, save_finetuned
from s2s_core.cli import main
from s2s_core.models.classifiers import Classifier
from s2s_core.models.segnet import SegNet
from s2s_core.zoo import Zoo

WIDTHS, DEPTHS = (4, 8, 8, 8, 8), (1, 1, 1, 1, 1)
CLASSES = ["b", "a", *(f"c{i}" for i in range(8))]


def _units(tmp_path, size=32):
    torch.manual_seed(0)
    base = SegNet(WIDTHS, DEPTHS)
    save_ae(tmp_path / "runs" / "pre" / "model", base, {"size": size})
    tuned = SegNet(WIDTHS, DEPTHS)
    tuned.load_state_dict(base.state_dict())
    with torch.no_grad():
        tuned.decoder.conv_final.bias.add_(0.1)
    save_finetuned(tmp_path / "runs" / "ft" / "model", tuned, tmp_path / "runs" / "pre" / "model", "L",
                   meta={"size": size})
    save_classifier(tmp_path / "runs" / "clf", Classifier.from_name("lenet5_demo", num_classes=10), classes=CLASSES)
    return tmp_path / "runs"


def _create(runs, out, *extra):
    return main(["zoo", "create", str(out), "--base", str(runs / "pre" / "model"),
                 "--ae", f"L={runs / 'ft' / 'model'}", "--classifier", f"L={runs / 'clf'}", *extra])


def test_created_zoo_loads_and_reconstructs(tmp_path) -> None:
    runs = _units(tmp_path)
    for c in ("a", "b"):
        (tmp_path / "data" / c).mkdir(parents=True)
    assert _create(runs, tmp_path / "zoo", "--classes-from", str(tmp_path / "data")) == 0
    zoo = Zoo.load(tmp_path / "zoo")
    # names and order come from the classifier unit, not from the sorted folders; the size from the units
    assert list(zoo.decoders) == ["L"] and zoo.classes == CLASSES and zoo.input_size == 32
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
    assert not (tmp_path / "zoo").exists()  # a refused zoo leaves nothing behind


def test_refusals_leave_nothing_behind(tmp_path, capsys) -> None:
    runs = _units(tmp_path)
    out = tmp_path / "new" / "zoo"
    # a data class unknown to the classifiers
    (tmp_path / "data" / "zebra").mkdir(parents=True)
    assert _create(runs, out, "--classes-from", str(tmp_path / "data")) == 1
    assert "data class 'zebra' is not a class of classifier L" in capsys.readouterr().err
    # two classifiers with different label orders
    save_classifier(runs / "clf2", Classifier.from_name("lenet5_demo", num_classes=10), classes=sorted(CLASSES))
    assert _create(runs, out, "--classifier", f"V={runs / 'clf2'}") == 1
    assert "order their classes differently (label 0 is 'b' in one and 'a' in the other)" in capsys.readouterr().err
    # a torchvision classifier whose weights are not in the cache is refused now, not at evaluate
    assert _create(runs, out, "--classifier", "R=torchvision:resnet18") == 1
    err = capsys.readouterr().err
    assert "not in the local cache" in err and len(err.strip().splitlines()) == 1
    # an input size that contradicts the units'
    assert _create(runs, out, "--input-size", "64") == 1
    assert "differs from the 32 px" in capsys.readouterr().err
    assert not out.parent.exists()


def test_units_of_different_sizes_are_refused(tmp_path, capsys) -> None:
    runs = _units(tmp_path)
    save_ae(runs / "pre" / "model", SegNet(WIDTHS, DEPTHS), {"size": 64})
    assert _create(runs, tmp_path / "zoo") == 1
    assert "--base was trained at 64 px, --ae L at 32 px" in capsys.readouterr().err


def test_test_images_are_attached_with_test_and_found_by_the_zoo(tmp_path, capsys) -> None:
    """Issue 23 item 4: `zoo create --test DIR` records the zoo's test images (relative path), checked like
    --classes-from; evaluate and the pages find them there."""
    runs = _units(tmp_path)
    test = tmp_path / "mydata" / "held_out"
    for c in ("a", "b"):
        (test / c).mkdir(parents=True)
    capsys.readouterr()
    assert _create(runs, tmp_path / "zoo", "--test", str(test)) == 0
    assert f"test images: {test} (evaluate with: s2s evaluate" in capsys.readouterr().out
    zoo = Zoo.load(tmp_path / "zoo")
    assert zoo.info.data["test"] == "../mydata/held_out" and zoo.info.test_dir.resolve() == test.resolve()
    assert _create(runs, tmp_path / "zoo2", "--test", str(tmp_path / "nowhere")) == 1
    assert "--test" in capsys.readouterr().err and not (tmp_path / "zoo2").exists()
    (test / "zebra").mkdir()
    assert _create(runs, tmp_path / "zoo3", "--test", str(test)) == 1
    assert "zebra" in capsys.readouterr().err and not (tmp_path / "zoo3").exists()


def test_an_ae_is_paired_only_with_the_classifier_it_was_fine_tuned_through(tmp_path, capsys) -> None:
    """Issue 23 item 13: by the weights hash the fine-tuned unit records."""
    from s2s_core.checkpoints import classifier_weights_sha256, read_manifest

    runs = _units(tmp_path)
    save_classifier(runs / "other", Classifier.from_name("lenet5_demo", num_classes=10), classes=CLASSES)
    manifest_path = runs / "ft" / "model" / "manifest.json"
    manifest = read_manifest(runs / "ft" / "model")
    manifest.update(classifier_sha256=classifier_weights_sha256(runs / "clf"), classifier_source=str(runs / "clf"))
    import json

    manifest_path.write_text(json.dumps(manifest))
    assert main(["zoo", "create", str(tmp_path / "bad"), "--base", str(runs / "pre" / "model"),
                 "--ae", f"L={runs / 'ft' / 'model'}", "--classifier", f"L={runs / 'other'}"]) == 1
    assert "fine-tuned through another classifier" in capsys.readouterr().err and not (tmp_path / "bad").exists()
    assert _create(runs, tmp_path / "good") == 0
    manifest.update(classifier_sha256=None, classifier_source="resnet18", classifier_weights="IMAGENET1K_V1")
    manifest_path.write_text(json.dumps(manifest))
    assert main(["zoo", "create", str(tmp_path / "bad2"), "--base", str(runs / "pre" / "model"),
                 "--ae", f"L={runs / 'ft' / 'model'}", "--classifier", "L=torchvision:alexnet"]) == 1
    assert "fine-tuned through resnet18" in capsys.readouterr().err
