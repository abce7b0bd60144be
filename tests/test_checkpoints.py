"""The unit format: round trips, hashes, refusals, atomic writes, safe loading of legacy .pth files."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import pytest
import torch
from torch import nn

from s2s_core import checkpoints as ck
from s2s_core.errors import CheckpointError, ConfigError
from s2s_core.models import classifiers
from s2s_core.models.classifiers import Classifier
from s2s_core.models.segnet import SegNet
from s2s_core.weights import read_state_dict

TINY = {"widths": (4, 8, 8, 16, 16), "depths": (2, 2, 3, 3, 3)}


def tiny_ae(seed: int = 0) -> SegNet:
    torch.manual_seed(seed)
    model = SegNet(**TINY)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.normal_(0, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    return model.eval()


def same_outputs(a: nn.Module, b: nn.Module, x: torch.Tensor) -> bool:
    with torch.no_grad():
        return torch.equal(a.eval()(x), b.eval()(x))


X = torch.rand(1, 3, 32, 32)


class Marker:
    """Unpickling this would create ``path``: proof that no code ran when it is refused."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (os.mkdir, (str(self.path),))


def leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.startswith("."))


def test_ae_round_trip(tmp_path: Path) -> None:
    ae = tiny_ae()
    unit = ck.save_ae(tmp_path / "base", ae, {"data": "photos", "steps": 3, "seed": 0})
    manifest = json.loads((unit / "manifest.json").read_text())
    assert manifest["format"] == "s2s/1" and manifest["kind"] == "ae" and manifest["arch"] == "segnet"
    assert manifest["args"] == ae.config and manifest["steps"] == 3 and manifest["code_version"]
    assert set(manifest["files"]) == {"encoder.safetensors", "decoder.safetensors"}
    assert manifest["files"]["encoder.safetensors"] == ck.sha256_file(unit / "encoder.safetensors")
    loaded = ck.load_ae(unit)
    assert not loaded.training and same_outputs(ae, loaded, X)
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("trained", ["decoder", "both"])
def test_finetuned_round_trip(tmp_path: Path, trained: str) -> None:
    base = tiny_ae()
    ck.save_ae(tmp_path / "zoo" / "base", base)
    tuned = copy.deepcopy(base)
    with torch.no_grad():
        for p in (tuned.parameters() if trained == "both" else tuned.decoder.parameters()):
            p.add_(0.1)
    unit = ck.save_finetuned(tmp_path / "zoo" / "aes" / "L", tuned, tmp_path / "zoo" / "base", "L", trained=trained)
    manifest = ck.read_manifest(unit)
    assert manifest["base"] == "../../base" and manifest["classifier"] == "L" and manifest["trained"] == trained
    assert ("encoder.safetensors" in manifest["files"]) == (trained == "both")
    loaded = ck.load_finetuned(unit)
    assert same_outputs(tuned, loaded, X) and not same_outputs(base, loaded, X)
    assert same_outputs(tuned, ck.load_autoencoder(unit), X)
    with pytest.raises(CheckpointError, match="not an 'ae' unit"):
        ck.load_ae(unit)


def test_finetuned_needs_matching_base(tmp_path: Path) -> None:
    ck.save_ae(tmp_path / "base", tiny_ae())
    other = SegNet(widths=(4, 8, 8, 16, 32), depths=TINY["depths"])
    with pytest.raises(CheckpointError, match="different SegNet configuration"):
        ck.save_finetuned(tmp_path / "ft", other, tmp_path / "base", "L")
    unit = ck.save_finetuned(tmp_path / "ft", tiny_ae(), tmp_path / "base", "L")
    (tmp_path / "base" / "manifest.json").unlink()
    with pytest.raises(CheckpointError, match="no manifest.json"):
        ck.load_finetuned(unit)


def test_classifier_round_trip(tmp_path: Path) -> None:
    assert "lenet5_demo" in classifiers.available()
    clf = classifiers.Classifier.from_name("lenet5_demo", num_classes=7).eval()
    unit = ck.save_classifier(tmp_path / "L", clf, {"accuracy": 0.5}, classes=list("abcdefg"))
    manifest = ck.read_manifest(unit)
    assert manifest["arch"] == "lenet5_demo" and manifest["args"] == {"num_classes": 7}
    assert manifest["input_size"] == clf.spec.input_size and manifest["accuracy"] == 0.5
    assert manifest["classes"] == list("abcdefg") and "class_ids" not in manifest
    loaded = ck.load_classifier(unit)
    assert isinstance(loaded, classifiers.Classifier) and loaded.spec.num_classes == 7
    assert loaded.classes.names == tuple("abcdefg")
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), clf(x))
    manifest["arch"] = "no_such_net"
    (unit / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(CheckpointError, match="unknown classifier architecture 'no_such_net'"):
        ck.load_classifier(unit)


def test_classifier_units_record_class_names(tmp_path: Path) -> None:
    from s2s_core.models.classifiers import Classifier

    clf = Classifier.from_name("lenet5_demo", num_classes=3)
    with pytest.raises(ConfigError, match="must record its class names"):
        ck.save_classifier(tmp_path / "none", clf)
    with pytest.raises(ConfigError, match="2 class names for a classifier with 3 outputs"):
        ck.save_classifier(tmp_path / "short", clf, classes=["a", "b"])
    with pytest.raises(ConfigError, match="'a' appears twice"):
        ck.save_classifier(tmp_path / "dup", clf, classes=["a", "b", "a"])
    assert not any((tmp_path / n).exists() for n in ("none", "short", "dup"))
    # a legacy unit (no names) gains them by a manifest update that keeps every sha256 check valid
    unit = ck.save_classifier(tmp_path / "u", clf, classes=["x", "y", "z"])
    edit_manifest_drop(unit, "classes")
    assert ck.load_classifier(unit).classes is None
    ck.set_unit_classes(unit, ["x", "y", "z"])
    assert ck.load_classifier(unit).classes.names == ("x", "y", "z")
    with pytest.raises(CheckpointError, match="label 0 is 'x' in one and 'z'"):
        ck.set_unit_classes(unit, ["z", "y", "x"])


def edit_manifest_drop(unit: Path, key: str) -> None:
    manifest = json.loads((unit / "manifest.json").read_text())
    manifest.pop(key)
    (unit / "manifest.json").write_text(json.dumps(manifest))


def test_demo_classifier_units_record_the_zoo_class_order() -> None:
    """The shipped demo units carry zoo.json's order (added by a manifest update; their weights' hashes hold)."""
    demo = Path(__file__).resolve().parents[1] / "checkpoints" / "demo"
    order = json.loads((demo / "zoo.json").read_text())["classes"]
    for short in ("L", "A", "V", "R", "I"):
        assert list(ck.load_classifier(demo / "classifiers" / short).classes.names) == order


# ------------------------------------------------------------------------------------------- refusals
@pytest.fixture
def unit(tmp_path: Path) -> Path:
    return ck.save_ae(tmp_path / "u", tiny_ae())


def edit_manifest(unit: Path, **changes) -> None:
    manifest = json.loads((unit / "manifest.json").read_text())
    manifest.update(changes)
    (unit / "manifest.json").write_text(json.dumps(manifest))


def test_refuses_missing_unit_and_manifest(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="no unit directory"):
        ck.load_ae(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="no manifest.json"):
        ck.load_ae(tmp_path / "empty")


def test_refuses_bad_json(unit: Path) -> None:
    (unit / "manifest.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        ck.read_unit(unit)


@pytest.mark.parametrize(("field", "value", "message"), [
    ("format", "s2s/99", "unknown format 's2s/99'"),
    ("kind", "optimizer", "unknown kind 'optimizer'"),
    ("arch", "unet", "unknown architecture 'unet'"),
    ("files", {"../encoder.safetensors": "0"}, "bad file entry"),
    ("args", {"widths": [4], "depths": [2, 2]}, "do not describe a SegNet"),
])
def test_refuses_bad_manifest_fields(unit: Path, field: str, value, message: str) -> None:
    edit_manifest(unit, **{field: value})
    with pytest.raises(CheckpointError, match=message):
        ck.load_ae(unit)


def test_refuses_hash_mismatch(unit: Path) -> None:
    path = unit / "decoder.safetensors"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="hash mismatch for decoder.safetensors"):
        ck.load_ae(unit)


def test_refuses_missing_file(unit: Path) -> None:
    (unit / "encoder.safetensors").unlink()
    with pytest.raises(CheckpointError, match="encoder.safetensors listed in the manifest is missing"):
        ck.load_ae(unit)


def test_refuses_wrong_shapes_naming_the_tensor(tmp_path: Path) -> None:
    ae = tiny_ae()
    args = dict(ae.config, widths=[4, 8, 8, 16, 32])  # declares a wider stage 5 than the tensors have
    unit = ck.save_unit(tmp_path / "u", "ae", "segnet", args,
                        {"encoder": ae.encoder.state_dict(), "decoder": ae.decoder.state_dict()}, {})
    with pytest.raises(CheckpointError, match=r"'conv51\.weight' has shape \(16, 16, 3, 3\)"):
        ck.load_ae(unit)
    enc = ae.encoder.state_dict()
    del enc["bn53.running_var"]
    unit = ck.save_unit(tmp_path / "v", "ae", "segnet", ae.config, {"encoder": enc, "decoder": ae.decoder.state_dict()})
    with pytest.raises(CheckpointError, match="missing 1 tensor.*bn53.running_var"):
        ck.load_ae(unit)


def test_refuses_pickle_only_file_without_running_it(tmp_path: Path) -> None:
    marker = tmp_path / "code-ran"
    path = tmp_path / "evil.pth"
    torch.save({"model_state": {"w": torch.zeros(1)}, "extra": Marker(marker)}, path)
    with pytest.raises(CheckpointError, match="pickle"):
        read_state_dict(path)
    assert not marker.exists()


def test_load_state_dict_file_variants(tmp_path: Path) -> None:
    sd = {"a": torch.arange(3.0), "b": torch.ones(2, 2)}
    torch.save({"state_dict": sd, "epoch": 4}, tmp_path / "w.pth")
    got = read_state_dict(tmp_path / "w.pth")
    assert set(got) == {"a", "b"} and torch.equal(got["a"], sd["a"])
    (tmp_path / "broken.pth").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(CheckpointError, match="not a readable PyTorch checkpoint"):
        read_state_dict(tmp_path / "broken.pth")
    torch.save({"epoch": 4}, tmp_path / "nostate.pth")
    with pytest.raises(CheckpointError, match="holds no state dict"):
        read_state_dict(tmp_path / "nostate.pth")
    with pytest.raises(CheckpointError, match="no such file"):
        read_state_dict(tmp_path / "absent.pth")
    with pytest.raises(CheckpointError, match="unknown weights file type"):
        read_state_dict(_touch(tmp_path / "w.npz"))


def _touch(path: Path) -> Path:
    path.write_bytes(b"x")
    return path


def test_save_unit_validates_kind_and_meta(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown unit kind"):
        ck.save_unit(tmp_path / "u", "weights", "segnet", {}, {})
    with pytest.raises(ConfigError, match="may not set"):
        ck.save_unit(tmp_path / "u", "ae", "segnet", {}, {}, {"files": {}})
    assert leftovers(tmp_path) == []


# -------------------------------------------------------------------------------------- atomic writes
@pytest.mark.parametrize("exchange", [True, False])
def test_failed_write_leaves_old_unit_intact(tmp_path: Path, monkeypatch, exchange: bool) -> None:
    if not exchange:
        monkeypatch.setattr(ck, "_exchange", lambda a, b: False)  # the portable two-rename path
    old, new = tiny_ae(0), tiny_ae(1)
    target = ck.save_ae(tmp_path / "base", old)
    real_write = ck._write_safetensors
    calls = []

    def failing_write(path, state):
        calls.append(path)
        if len(calls) == 2:
            raise OSError("disk full (simulated)")
        real_write(path, state)

    monkeypatch.setattr(ck, "_write_safetensors", failing_write)
    with pytest.raises(OSError, match="disk full"):
        ck.save_ae(target, new)
    assert same_outputs(old, ck.load_ae(target), X)
    assert leftovers(tmp_path) == []
    monkeypatch.setattr(ck, "_write_safetensors", real_write)
    ck.save_ae(target, new, {"steps": 2})
    assert same_outputs(new, ck.load_ae(target), X) and ck.read_manifest(target)["steps"] == 2
    assert leftovers(tmp_path) == []


def test_refuses_to_overwrite_a_non_unit_directory(tmp_path: Path) -> None:
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "me.jpg").write_bytes(b"x")
    with pytest.raises(CheckpointError, match="refusing to replace"):
        ck.save_ae(tmp_path / "photos", tiny_ae())
    assert (tmp_path / "photos" / "me.jpg").exists() and leftovers(tmp_path) == []


def test_write_json_atomic(tmp_path: Path) -> None:
    path = ck.write_json_atomic(tmp_path / "a" / "zoo.json", {"x": 1})
    ck.write_json_atomic(path, {"x": 2})
    assert json.loads(path.read_text()) == {"x": 2} and leftovers(path.parent) == []


def test_weights_origin_and_native_protocol_of_units_old_and_new() -> None:
    """A unit's weights are what it records: published (only then a weights tag), trained here, or random;
    units written before the record follow their old markers, and never take the registry's default weights."""
    assert ck.weights_origin({"weights_origin": "random", "weights": "IMAGENET1K_V1"}) == "random"
    assert ck.weights_origin({"random_init": True, "weights": "none"}) == "random"
    assert ck.weights_origin({"weights": "IMAGENET1K_V1"}) == "published"
    assert ck.weights_origin({}) == "trained"
    assert ck.native_protocol({"resize_size": 256, "interpolation": "bilinear"}) == {
        "resize_size": 256, "interpolation": "bilinear"}
    old = {"input_size": 32, "recipe": {"val_crop": "resize 37, centre crop 32"}}  # train-classifier, before
    assert ck.native_protocol(old) == {"resize_size": 37, "interpolation": "bicubic"}
    assert ck.native_protocol({**old, "input_size": 64}) == {"resize_size": None}  # another crop: not this unit's
    assert ck.native_protocol({"input_size": 32}) == {"resize_size": None}


def test_a_trained_resnet_unit_loads_without_published_weights(tmp_path: Path) -> None:
    """Issue 23 item 11: a torchvision architecture trained here must not show IMAGENET1K_V1's accuracies."""
    from dataclasses import replace

    from s2s_core.models.classifiers import published_accuracy

    clf = Classifier.from_name("resnet18", num_classes=3)
    clf = Classifier(replace(clf.spec, input_size=32, resize_size=37, interpolation="bicubic"), clf.net)
    unit = ck.save_classifier(tmp_path / "r18", clf, classes=["a", "b", "c"])
    manifest = ck.read_manifest(unit)
    assert manifest["weights_origin"] == "trained" and "weights" not in manifest
    spec = ck.load_classifier(unit).spec
    assert (spec.weights, spec.origin, spec.resize_size, spec.input_size) == (None, "trained", 37, 32)
    assert published_accuracy(spec) is None
    legacy = dict(manifest)
    legacy.pop("weights_origin")
    (unit / "manifest.json").write_text(json.dumps(legacy))  # as train-classifier wrote it before: no weights
    assert ck.load_classifier(unit).spec.weights is None
    with pytest.raises(ConfigError, match="weights origin"):
        ck.save_classifier(tmp_path / "x", clf, classes=["a", "b", "c"], origin="borrowed")


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_written_json_and_units_follow_the_umask(tmp_path: Path, umask: int) -> None:
    """zoo.json, sidecars and unit directories get the mode any file the user writes gets (0644 / 0755
    under umask 022), not tempfile's private 0600 / 0700 (issue 23 item 10)."""
    import os

    old = os.umask(umask)
    try:
        path = ck.write_json_atomic(tmp_path / "zoo.json", {"x": 1})
        unit = ck.save_ae(tmp_path / "base", tiny_ae())
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask
    assert unit.stat().st_mode & 0o777 == 0o777 & ~umask
    assert (unit / "manifest.json").stat().st_mode & 0o777 == 0o666 & ~umask
    assert leftovers(tmp_path) == []
