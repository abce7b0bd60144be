"""``s2s layers`` and ``s2s invert`` on a tiny zoo: the listing, the image and its JSON sidecar, one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from tiny_zoo import build_tiny_zoo

from s2s_core.cli import main


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    return build_tiny_zoo(tmp_path_factory.mktemp("inv") / "tiny", images_per_class=1, evaluate=False)


@pytest.fixture(scope="module")
def image(zoo):
    return next((zoo / "data" / "test" / "circle").iterdir())


def test_layers_lists_module_paths_shapes_and_depths(zoo, capsys):
    assert main(["layers", "--zoo", str(zoo), "--classifier", "A", "--json"]) == 0
    layers = json.loads(capsys.readouterr().out)
    first, last = layers[0], layers[-1]
    assert first["name"] == "features.0" and first["kind"] == "Conv2d" and first["shape"] == [24, 32, 32]
    assert last["shape"] == [10] and last["depth"] == 1.0 and last["lambda_tv"] == 50.0
    assert main(["layers", "--zoo", str(zoo), "--classifier", "A"]) == 0
    text = capsys.readouterr().out
    assert "features.0" in text and "24×32×32" in text


def test_layers_of_a_registered_network_without_a_zoo(capsys):
    assert main(["layers", "--classifier", "resnet18", "--size", "64"]) == 0
    text = capsys.readouterr().out
    assert "layer1.0.relu" in text and "runs 2x" in text


def test_invert_writes_the_image_and_its_sidecar(zoo, image, tmp_path, capsys):
    out = tmp_path / "out" / "inv.png"
    code = main(["invert", "--zoo", str(zoo), "--classifier", "L", "--layer", "features.3", "--image", str(image),
                 "--out", str(out), "--steps", "12", "--seed", "3"])
    assert code == 0
    captured = capsys.readouterr()
    assert "normalised error features.3" in captured.out
    assert "invert: 100%" in captured.err  # the progress bar reached its end
    assert np.asarray(Image.open(out)).shape == (64, 64, 3)
    side = json.loads(out.with_suffix(".json").read_text())
    assert side["format"] == "s2s-inversion/1" and side["classifier"] == "L" and side["network"] == "lenet5_demo"
    assert side["settings"]["steps"] == 12 and side["settings"]["seed"] == 3
    assert side["settings"]["lambda_tv"] == 5.0 and side["settings"]["sigma"] > 0  # depth 4/12 > 0.3
    assert 0 < side["error"]["features.3"] == side["error_mean"]
    assert len(side["top5_original"]) == 5 and side["layers"][0]["shape"] == [16, 26, 26]
    # the same seed gives the same image
    again = tmp_path / "again.png"
    assert main(["invert", "--zoo", str(zoo), "--classifier", "L", "--layer", "features.3", "--image", str(image),
                 "--out", str(again), "--steps", "12", "--seed", "3", "--quiet"]) == 0
    assert np.array_equal(np.asarray(Image.open(out)), np.asarray(Image.open(again)))


def test_invert_several_layers_jointly(zoo, image, tmp_path):
    out = tmp_path / "joint.png"
    assert main(["invert", "--zoo", str(zoo), "--classifier", "V", "--layer", "features.0.0,features.2",
                 "--layer", "classifier.3", "--image", str(image), "--out", str(out), "--steps", "3", "--quiet"]) == 0
    side = json.loads(out.with_suffix(".json").read_text())
    assert [layer["name"] for layer in side["layers"]] == ["features.0.0", "features.2", "classifier.3"]
    assert side["settings"]["lambda_tv"] == 50.0


@pytest.mark.parametrize("change, message", [
    ({"--layer": "features.33"}, "'features.33' is not a layer of classifier L (lenet5_demo): did you mean"),
    ({"--classifier": "Q"}, "has no classifier 'Q'; known: L, A, V"),
    ({"--zoo": "/nonexistent"}, "has no zoo.json"),
    ({"--image": "NOTANIMAGE"}, ""),
    ({"--out": "inv.txt"}, "--out must name an image file"),
    ({"--steps": "0"}, "steps must be at least 1"),
])
def test_bad_input_is_one_line(zoo, image, tmp_path, capsys, change, message):
    args = {"--zoo": str(zoo), "--classifier": "L", "--layer": "features.3", "--image": str(image),
            "--out": str(tmp_path / "x.png"), "--steps": "2"}
    if change.get("--image") == "NOTANIMAGE":
        bad = tmp_path / "notes.png"
        bad.write_text("not an image")
        change = {"--image": str(bad)}
    if "--out" in change:
        change = {"--out": str(tmp_path / change["--out"])}
    args.update(change)
    code = main(["invert", "--quiet", *[v for kv in args.items() for v in kv]])
    assert code == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("s2s invert: error: ") and message in err
