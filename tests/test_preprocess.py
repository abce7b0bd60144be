"""Native preprocessing per classifier (Table 1, "center-crop, single-scale"): torchvision's own transforms,
read from the weights enum's metadata (nothing is downloaded; the networks have weights=None)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
import torch
import torchvision
from PIL import Image
from tiny_zoo import build_tiny_zoo

from s2s_core import checkpoints as ck
from s2s_core import results
from s2s_core.analysis.evaluate import run_evaluation
from s2s_core.data.evaluation import EvaluationImages, native_protocols, protocol_key
from s2s_core.data.preprocess import Preprocessing, zoo_preprocessing
from s2s_core.errors import CheckpointError, ConfigError
from s2s_core.models import classifiers as C
from s2s_core.zoo import ZooInfo

PAPER_TORCHVISION = ("alexnet", "vgg16_bn", "resnet50", "inception_v3")


def _photo() -> Image.Image:
    from skimage import data

    return Image.fromarray(data.chelsea())  # 451 x 300: not square, so resize and crop both matter


@pytest.mark.parametrize("name", PAPER_TORCHVISION)
def test_preprocessing_equals_the_weights_transforms(name: str) -> None:
    image = _photo()
    for weights in torchvision.models.get_model_weights(name):
        spec = C.spec_for_weights(name, weights.name)
        expected = weights.transforms()(image)  # (3, crop, crop), normalised
        clf = C.Classifier(spec, torch.nn.Identity())  # the wrapper's normalisation, no network needed
        got = clf.preprocess(C.native_preprocessing(spec)(image).unsqueeze(0))[0]
        assert got.shape == expected.shape
        assert torch.equal(got, expected), (name, weights.name)
    default = C.get_spec(name)
    assert C.native_preprocessing(default) == C.native_preprocessing(C.spec_for_weights(name, "DEFAULT"))


def test_inception_reads_342_then_299_and_the_others_256_then_224() -> None:
    inception = C.native_preprocessing(C.get_spec("inception_v3"))
    assert (inception.resize, inception.crop_size, inception.interpolation) == (342, 299, "bilinear")
    for name in ("alexnet", "vgg16_bn"):
        p = C.native_preprocessing(C.get_spec(name))
        assert (p.resize, p.crop_size) == (256, 224)
    assert C.native_preprocessing(C.spec_for_weights("resnet50", "IMAGENET1K_V1")).resize == 256
    assert C.native_preprocessing(C.spec_for_weights("resnet50", "IMAGENET1K_V2")).resize == 232
    # own networks have no protocol of their own: they read the zoo's AE input
    assert C.native_preprocessing(C.get_spec("lenet5")) is None
    assert C.native_preprocessing(C.get_spec("alexnet_demo")) is None


def test_published_accuracy_only_for_loaded_torchvision_weights() -> None:
    assert C.published_accuracy(C.spec_for_weights("resnet50", "IMAGENET1K_V1")) == (76.13, 92.862)
    assert C.published_accuracy(C.get_spec("inception_v3")) == (77.294, 93.45)
    assert C.published_accuracy(C.get_spec("lenet5")) is None
    random_init = C.Classifier.from_name("alexnet")  # weights=None: the family's protocol, no published numbers
    assert random_init.spec.resize_size == 256 and C.published_accuracy(random_init.spec) is None


def test_classifier_units_keep_their_protocol(tmp_path: Path) -> None:
    spec = replace(C.get_spec("alexnet_demo"), resize_size=80, interpolation="bicubic")
    clf = C.Classifier(spec, C.build("alexnet_demo"))
    classes = [f"c{k}" for k in range(spec.num_classes)]
    loaded = ck.load_classifier(ck.save_classifier(tmp_path / "unit", clf, classes=classes))
    assert (loaded.spec.resize_size, loaded.spec.interpolation) == (80, "bicubic")
    plain = ck.load_classifier(ck.save_classifier(tmp_path / "plain", C.Classifier.from_name("alexnet_demo"),
                                                  classes=classes))
    assert plain.spec.resize_size is None


def test_preprocessing_records_are_checked() -> None:
    with pytest.raises(ConfigError, match="resize_size >= crop_size"):
        Preprocessing(crop_size=224, resize_size=200)
    with pytest.raises(ConfigError, match="interpolation"):
        Preprocessing(crop_size=64, interpolation="lanczos")
    with pytest.raises(ConfigError, match="unknown preprocessing key"):
        zoo_preprocessing(64, {"resize": 80})
    assert zoo_preprocessing(224, {"resize_size": 256, "interpolation": "bilinear"}).describe() == \
        "resize 256, centre crop 224, bilinear"


def test_default_ae_protocol_is_the_old_evaluation_crop() -> None:
    from s2s_core.data.images import image_to_tensor, resize_center_crop

    square = _photo().crop((0, 0, 300, 300))
    assert torch.allclose(zoo_preprocessing(64)(square), image_to_tensor(resize_center_crop(square, 64)), atol=2 / 255)


# ------------------------------------------------------------------------- in the evaluation of a zoo


@pytest.fixture(scope="module")
def native_zoo(tmp_path_factory) -> Path:
    """The tiny zoo with classifier A given its own protocol (resize 80, centre crop 64), as torchvision
    weights give theirs."""
    path = build_tiny_zoo(tmp_path_factory.mktemp("native") / "tiny", evaluate=False)
    unit = path / "classifiers" / "A"
    clf = ck.load_classifier(unit)
    ck.save_classifier(unit, C.Classifier(replace(clf.spec, resize_size=80), clf.net), {"seed": 1}, origin="trained")
    return path


def test_one_loaded_image_gives_the_ae_input_and_each_native_crop(native_zoo: Path) -> None:
    ae = zoo_preprocessing(64)
    own = Preprocessing(crop_size=64, resize_size=80)
    assert native_protocols(ae, {"A": own, "L": None, "V": ae}) == {"A": protocol_key(own)}
    data = EvaluationImages(native_zoo / "data" / "test", ae, {"A": own})
    item = data[0]
    image = Image.open(data.samples[0][0]).convert("RGB")
    assert torch.equal(item["x"], ae(image)) and item["id"] == 0 and item["y"] == data.targets[0]
    assert list(item["natives"]) == [protocol_key(own)] and torch.equal(item["natives"][protocol_key(own)], own(image))


def test_evaluation_feeds_each_classifier_its_own_crop_and_records_the_protocol(native_zoo: Path) -> None:
    result, _ = run_evaluation(native_zoo, native_zoo / "data" / "test", show_progress=False, options={"noise_grid": (0.0,)},
                               only=["accuracy", "nmi"])
    protocol = results.read(native_zoo / "results", "preprocessing").set_index("model")
    assert (protocol.loc["A", "resize_size"], protocol.loc["A", "crop_size"]) == (80, 64)
    assert protocol.loc["A", "source"] == "its unit's validation crop"
    assert protocol.loc["L", "source"] == "the AE input" and protocol.loc["A_S", "resize_size"] == 64
    assert pd.isna(protocol.loc["A", "published_top1"])
    # Table 1's original row of A is A on its own crops, counted here independently
    data = EvaluationImages(native_zoo / "data" / "test", zoo_preprocessing(64))
    own = Preprocessing(crop_size=64, resize_size=80)
    clf = ck.load_classifier(native_zoo / "classifiers" / "A")
    crops, labels = [], []
    for path, label in data.samples:
        crops.append(own(Image.open(path).convert("RGB")))
        labels.append(label)
    with torch.no_grad():
        top5 = clf(torch.stack(crops)).topk(5, dim=1).indices
    hits = top5 == torch.tensor(labels).unsqueeze(1)
    acc = result.accuracy.set_index(["classifier", "input"])
    assert acc.loc[("A", "original"), "top1"] == pytest.approx(int(hits[:, 0].sum()) / len(labels), abs=1e-12)
    assert acc.loc[("A", "original"), "top5"] == pytest.approx(int(hits.any(1).sum()) / len(labels), abs=1e-12)
    # every inter pair is of two classes, listed with its files
    pairs = results.read(native_zoo / "results", "nmi_pairs")
    assert len(pairs) == len(data) // 2 and (pairs["first_label"] != pairs["second_label"]).all()
    assert pairs["first_file"].str.contains("/").all()


def test_a_bad_zoo_preprocessing_is_refused(native_zoo: Path, tmp_path: Path) -> None:
    raw = json.loads((native_zoo / "zoo.json").read_text())
    raw["preprocessing"] = {"resize_size": 32}
    (tmp_path / "zoo.json").write_text(json.dumps(raw))
    with pytest.raises(CheckpointError, match="bad preprocessing"):
        ZooInfo.read(tmp_path)


def test_the_per_image_view_gives_each_classifier_its_own_crop(native_zoo: Path) -> None:
    from s2s_core.imaging import prepare_image
    from s2s_core.inspection import inspect_image, native_inputs
    from s2s_core.zoo import Zoo

    zoo = Zoo.load(native_zoo)
    path = next((native_zoo / "data" / "test").rglob("*.png"))
    natives = native_inputs(zoo, path)
    own = Preprocessing(crop_size=64, resize_size=80)
    assert list(natives) == ["A"] and torch.equal(natives["A"][0], own(Image.open(path).convert("RGB")))
    result = inspect_image(zoo, prepare_image(path, 64), natives=natives, k=3)
    with torch.no_grad():
        expected = zoo.classifiers["A"](natives["A"]).topk(3).indices[0].tolist()
    assert list(result.predictions["A"]["original"].indices) == expected
    noisy = native_inputs(zoo, path, noise=0.5)
    assert not torch.equal(noisy["A"], natives["A"])
