"""Zoo: loading A_S, the fine-tuned decoders and the classifiers; one encoder pass for all reconstructions."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from s2s_core import checkpoints as ck
from s2s_core.cli import main
from s2s_core.errors import CheckpointError, ConfigError
from s2s_core.models.classifiers import Classifier
from s2s_core.models.segnet import SegNet
from s2s_core.zoo import Zoo, ZooInfo, list_zoos, write_zoo_manifest

TINY = {"widths": (4, 8, 8, 16, 16), "depths": (2, 2, 3, 3, 3)}
NAMES = ("L", "A")


def tuned_copy(base: SegNet, shift: float) -> SegNet:
    ae = copy.deepcopy(base)
    with torch.no_grad():
        for p in ae.decoder.parameters():
            p.add_(shift)
    return ae


@pytest.fixture
def zoo_dir(tmp_path: Path) -> tuple[Path, dict[str, SegNet]]:
    torch.manual_seed(0)
    base = SegNet(**TINY).eval()
    root = tmp_path / "zoos" / "demo"
    ck.save_ae(root / "base", base)
    models = {"S": base}
    classifiers: dict[str, str | dict] = {}
    for i, name in enumerate(NAMES):
        models[name] = tuned_copy(base, 0.05 * (i + 1))
        ck.save_finetuned(root / "aes" / name, models[name], root / "base", name)
        ck.save_classifier(root / "classifiers" / name, Classifier.from_name("lenet5_demo"),
                           classes=[f"c{i}" for i in range(10)])
        classifiers[name] = f"classifiers/{name}"
    write_zoo_manifest(root, name="demo", input_size=64, num_classes=10, seed=0, base="base",
                       classifiers=classifiers, aes={n: f"aes/{n}" for n in NAMES},
                       data={"dir": "data"}, recipe={"steps": 1}, classes=[f"c{i}" for i in range(10)])
    return root, models


def test_reconstruct_all_one_encoder_pass(zoo_dir) -> None:
    root, models = zoo_dir
    zoo = Zoo.load(root, load_classifiers=False)
    assert zoo.names == list(NAMES) and not zoo.base.training
    assert all(not d.training for d in zoo.decoders.values())
    calls = {"enc": 0, **{n: 0 for n in NAMES}}
    zoo.base.encoder.register_forward_hook(lambda *a: calls.__setitem__("enc", calls["enc"] + 1))
    for n in NAMES:
        zoo.decoders[n].register_forward_hook(lambda *a, n=n: calls.__setitem__(n, calls[n] + 1))
    x = torch.rand(2, 3, 32, 64)
    out = zoo.reconstruct_all(x)
    assert list(out) == ["A_S", "A_L", "A_A"]
    assert calls == {"enc": 1, "L": 1, "A": 1}
    with torch.no_grad():
        for key, model in models.items():
            torch.testing.assert_close(out[f"A_{key}"], model(x))
    assert out["A_L"].is_inference()
    assert list(zoo.reconstruct_all(x, names=["A_A"])) == ["A_S", "A_A"]
    with pytest.raises(ConfigError, match="no fine-tuned AE"):
        zoo.reconstruct_all(x, names=["V"])


def test_encode_decode_with_and_gradients(zoo_dir) -> None:
    root, models = zoo_dir
    zoo = Zoo.load(root, load_classifiers=False)
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        code = zoo.encode(x)
        torch.testing.assert_close(zoo.decode_with("L", code), models["L"](x))
        torch.testing.assert_close(zoo.decode_with("A_S", code), models["S"](x))
    with pytest.raises(ConfigError, match="no fine-tuned AE 'V'"):
        zoo.decode_with("V", code)
    x.requires_grad_(True)
    zoo.reconstruct_all(x, inference=False)["A_L"].sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_classifiers_loaded(zoo_dir) -> None:
    root, _ = zoo_dir
    zoo = Zoo.load(root)
    assert set(zoo.classifiers) == set(NAMES)
    logits = zoo.classifiers["L"](zoo.reconstruct_all(torch.rand(2, 3, 64, 64))["A_L"])
    assert logits.shape == (2, 10) and not zoo.classifiers["L"].training


def test_info_dirs_and_listing(zoo_dir, tmp_path: Path) -> None:
    root, _ = zoo_dir
    info = ZooInfo.read(root)
    assert (info.name, info.input_size, info.num_classes, info.aes) == ("demo", 64, 10, {"L": "aes/L", "A": "aes/A"})
    assert info.results_dir == root / "results" and info.data_dir == root / "data"
    assert info.classes == [f"c{i}" for i in range(10)]
    zoo = Zoo.load(root, load_classifiers=False)
    assert (zoo.name, zoo.input_size, zoo.num_classes, zoo.classes) == ("demo", 64, 10, info.classes)
    (tmp_path / "zoos" / ".trash" / "old").mkdir(parents=True)
    (tmp_path / "zoos" / ".trash" / "old" / "zoo.json").write_text("{}")
    assert list_zoos(tmp_path) == [root]
    assert list_zoos(tmp_path / "missing") == []


def test_decoder_with_foreign_base_is_refused(zoo_dir) -> None:
    root, models = zoo_dir
    ck.save_ae(root / "other_base", models["S"])
    ck.save_finetuned(root / "aes" / "L", models["L"], root / "other_base", "L")
    with pytest.raises(CheckpointError, match="refers to base '../../other_base'"):
        Zoo.load(root, load_classifiers=False)


@pytest.mark.parametrize(("content", "message"), [
    (None, "no zoo.json"), ("{oops", "not valid JSON"), ('{"format": "x"}', "unknown format"),
    ('{"format": "s2s-zoo/1", "base": "base"}', "missing or invalid field"),
])
def test_bad_zoo_json(tmp_path: Path, content: str | None, message: str) -> None:
    if content is not None:
        (tmp_path / "zoo.json").write_text(content)
    with pytest.raises(CheckpointError, match=message):
        ZooInfo.read(tmp_path)


def test_write_zoo_manifest_checks_names(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"\['V'\] have no classifier"):
        write_zoo_manifest(tmp_path, name="z", input_size=64, num_classes=10, base="base",
                           classifiers={"L": "classifiers/L"}, aes={"V": "aes/V"})
    write_zoo_manifest(tmp_path, name="z", input_size=64, num_classes=10, base="base",
                       classifiers={"A": {"torchvision": "alexnet", "weights": None}}, aes={})
    assert json.loads((tmp_path / "zoo.json").read_text())["format"] == "s2s-zoo/1"


def test_cli_reconstruct_from_zoo(zoo_dir, tmp_path: Path, capsys) -> None:
    root, models = zoo_dir
    img = tmp_path / "in.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(img)
    for name in ("S", "L"):
        out = tmp_path / f"{name}.png"
        assert main(["reconstruct", "--ae", f"{root}:{name}", "--image", str(img), "--out", str(out)]) == 0
        x = torch.from_numpy(np.asarray(Image.open(img)).copy()).permute(2, 0, 1)[None].float() / 255
        with torch.no_grad():
            expected = (models[name](x)[0].clamp(0, 1) * 255).round().permute(1, 2, 0).numpy().astype(int)
        assert np.abs(np.asarray(Image.open(out)).astype(int) - expected).max() <= 1
    assert main(["reconstruct", "--ae", str(root / "aes" / "L"), "--image", str(img), "--out",
                 str(tmp_path / "u.png")]) == 0
    assert np.array_equal(np.asarray(Image.open(tmp_path / "u.png")), np.asarray(Image.open(tmp_path / "L.png")))
    capsys.readouterr()
    assert main(["reconstruct", "--ae", f"{root}:V", "--image", str(img), "--out", str(tmp_path / "v.png")]) == 1
    assert "has no AE 'V'" in capsys.readouterr().err
    assert main(["reconstruct", "--ae", str(root), "--image", str(img), "--out", str(tmp_path / "v.png")]) == 1
    assert f"{root}:S" in capsys.readouterr().err


def test_finetuned_encoder_runs_separately(zoo_dir) -> None:
    root, models = zoo_dir
    both = copy.deepcopy(models["A"])
    with torch.no_grad():
        both.encoder.conv11.bias.add_(0.2)
    ck.save_finetuned(root / "aes" / "A", both, root / "base", "A", trained="both")
    zoo = Zoo.load(root, load_classifiers=False)
    assert zoo.names == list(NAMES) and set(zoo.own_encoders) == {"A"} and set(zoo.decoders) == set(NAMES)
    x = torch.rand(1, 3, 32, 32)
    out = zoo.reconstruct_all(x)
    with torch.no_grad():
        torch.testing.assert_close(out["A_A"], both(x))
        torch.testing.assert_close(out["A_L"], models["L"](x))
    with pytest.raises(ConfigError, match="own encoder"):
        zoo.decode_with("A", zoo.encode(x))
