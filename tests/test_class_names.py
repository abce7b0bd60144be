"""Class names travel with classifier weights; data folders map to labels by name (issue 12, item 1)."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from s2s_core.data.class_names import ClassNames, from_categories, imagenet_wnids
from s2s_core.data.datasets import LabelledImageFolder
from s2s_core.errors import ConfigError


def test_label_map_is_by_name_not_alphabetical() -> None:
    names = ClassNames(("circle", "square", "bar"))
    assert names.label_map(["bar", "circle", "square"], "V") == {"bar": 2, "circle": 0, "square": 1}
    assert names.label_map(["square"], "V") == {"square": 1}  # a subset of the classes is fine
    with pytest.raises(ConfigError, match="data class 'blob' is not a class of V"):
        names.label_map(["circle", "blob", "zebra"], "V")


def test_ids_match_before_names() -> None:
    names = ClassNames(("tench", "goldfish"), ("n01440764", "n01443537"))
    assert names.label_map(["n01443537", "tench"], "resnet50") == {"n01443537": 1, "tench": 0}
    assert ClassNames.from_meta(names.to_meta()) == names


def test_first_difference_names_the_first_offending_label() -> None:
    a, b = ClassNames(("a", "b", "c")), ClassNames(("a", "c", "b"))
    assert a.first_difference(a) is None
    assert a.first_difference(b) == "label 1 is 'b' in one and 'c' in the other"
    assert "3 classes, the other 2" in a.first_difference(ClassNames(("a", "b")))


def test_imagenet_wnids_are_the_sorted_ilsvrc2012_folders() -> None:
    """1000 distinct WordNet ids in sorted order (ImageFolder's order over the ILSVRC2012 train folders, which
    torchvision's ImageNet weights use), with known first, last and spot entries."""
    w = imagenet_wnids()
    assert len(w) == len(set(w)) == 1000 and list(w) == sorted(w)
    assert (w[0], w[1], w[281], w[999]) == ("n01440764", "n01443537", "n02123045", "n15075141")


def test_torchvision_weights_carry_names_and_wnids() -> None:
    """The class names of pre-trained weights come from their meta (no file is loaded for the spec)."""
    import torchvision

    from s2s_core.models.classifiers import spec_for_weights

    cats = torchvision.models.ResNet50_Weights.IMAGENET1K_V2.meta["categories"]
    spec = spec_for_weights("resnet50", "IMAGENET1K_V2")
    assert spec.classes == from_categories(cats) and spec.classes.names[281] == "tabby"
    assert spec.classes.index("n02123045") == 281 and spec.classes.index("tabby") == 281


def _folder(root, names):
    for n in names:
        (root / n).mkdir(parents=True)
        Image.new("RGB", (8, 8), (10, 20, 30)).save(root / n / "x.png")
    return root


def test_dataset_maps_folders_by_the_classifiers_names(tmp_path) -> None:
    root = _folder(tmp_path / "d", ["bar", "circle"])
    ds = LabelledImageFolder(root, 32, classes=["circle", "square", "bar"])
    assert ds.class_to_idx == {"bar": 2, "circle": 0} and sorted(ds.targets) == [0, 2]
    assert isinstance(ds[0][0], torch.Tensor)
    _folder(root, ["blob"])
    with pytest.raises(ConfigError, match="data class 'blob' is not a class of classifier V"):
        LabelledImageFolder(root, 32, classes=["circle", "square", "bar"], where="classifier V")
