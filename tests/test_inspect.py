"""s2s_core.inspection and s2s_core.imaging: one encoder pass per image, predictions of every classifier on every view, zoom, colours."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from tiny_zoo import CLASSES, build_tiny_zoo

from s2s_core import imaging, inspection
from s2s_core.analysis import figures, tables
from s2s_core.analysis.crosstable import read_cross_table
from s2s_core.analysis.figures import PALETTE
from s2s_core.analysis.paper import paper_table2_csv
from s2s_core.data import gallery
from s2s_core.errors import ConfigError, ImageLoadError
from s2s_core.zoo import Zoo


@pytest.fixture(scope="module")
def zoo(tmp_path_factory) -> Zoo:
    return Zoo.load(build_tiny_zoo(tmp_path_factory.mktemp("zoo") / "tiny", evaluate=False))


def test_one_encoder_pass_for_every_view(zoo: Zoo) -> None:
    calls = {"encoder": 0, **{n: 0 for n in zoo.names}}
    hooks = [zoo.base.encoder.register_forward_hook(lambda *a: calls.__setitem__("encoder", calls["encoder"] + 1))]
    for n in zoo.names:
        hooks.append(zoo.decoders[n].register_forward_hook(lambda *a, n=n: calls.__setitem__(n, calls[n] + 1)))
    clf_calls = {n: 0 for n in zoo.classifiers}
    for n, clf in zoo.classifiers.items():
        hooks.append(clf.register_forward_hook(lambda *a, n=n: clf_calls.__setitem__(n, clf_calls[n] + 1)))
    try:
        result = inspection.inspect_image(zoo, torch.rand(1, 3, 64, 64))
    finally:
        for h in hooks:
            h.remove()
    assert calls == {"encoder": 1, "L": 1, "A": 1, "V": 1}
    assert clf_calls == {"L": 1, "A": 1, "V": 1}  # one batched pass over all five views per classifier
    assert result.views == ["original", "A_S", "A_L", "A_A", "A_V"]
    assert set(result.diffs) == set(result.views[1:])


def test_inspection_contents_match_the_models(zoo: Zoo) -> None:
    x = torch.rand(1, 3, 64, 64)
    result = inspection.inspect_image(zoo, x, k=5)
    with torch.inference_mode():
        recon = zoo.reconstruct_all(x)
        logits = zoo.classifiers["A"](recon["A_A"])
    expected = recon["A_L"].clamp(0, 1)
    np.testing.assert_array_equal(result.images["A_L"], imaging.to_uint8(expected[0]))
    diff = (expected - x).abs().mean(dim=1)[0].numpy()
    np.testing.assert_allclose(result.diffs["A_L"], diff, atol=1e-6)
    own = result.own("A")
    assert list(own.indices) == logits.topk(5).indices[0].tolist()
    assert abs(sum(torch.softmax(logits, 1)[0].topk(5).values.tolist()) - sum(own.probs)) < 1e-5
    assert own.labels == tuple(CLASSES[i] for i in own.indices)
    for view in result.views:
        for channel in ("L", "a", "b"):
            edges, dens = result.histograms[view][channel]
            assert abs(float((dens * np.diff(edges)).sum()) - 1) < 1e-9
    frame = result.prediction_frame()
    assert frame.shape == (3, 5) and frame.loc["A", "A_A"] == own.text(1)
    long = result.prediction_long_frame()
    assert len(long) == 3 * 5 * 5 and set(long["rank"]) == {1, 2, 3, 4, 5}
    top = result.topk_frame("L")
    assert list(top.columns) == ["L(x)", "L∘A_L(x)"] and len(top) == 5
    with pytest.raises(ConfigError):
        inspection.inspect_image(zoo, torch.rand(2, 3, 64, 64))


def test_prepare_image_resizes_and_rejects_bad_files(tmp_path: Path) -> None:
    buf = io.BytesIO()
    noise = np.random.default_rng(0).integers(0, 255, (120, 200, 3), dtype=np.uint8)
    Image.fromarray(noise).save(buf, format="PNG")
    x = imaging.prepare_image(buf.getvalue(), 64)
    assert x.shape == (1, 3, 64, 64) and 0 <= float(x.min()) <= float(x.max()) <= 1
    with pytest.raises(ImageLoadError, match="not an image"):
        imaging.prepare_image(b"hello", 64)
    with pytest.raises(ImageLoadError, match="truncated"):
        imaging.prepare_image(buf.getvalue()[: len(buf.getvalue()) // 2], 64)


def test_zoom_crops_the_same_region_and_stays_inside() -> None:
    img = np.arange(64 * 64 * 3, dtype=np.int64).reshape(64, 64, 3) % 251
    assert imaging.zoom_box(64, 64, 0.5, 0.5, 4) == (24, 24, 16, 16)
    assert imaging.zoom_box(64, 64, 0.0, 1.0, 4) == (48, 0, 16, 16)  # clamped into the image
    z = imaging.zoom(img, 0.5, 0.5, 4)
    assert z.shape == img.shape
    np.testing.assert_array_equal(z[::4, ::4], img[24:40, 24:40])  # nearest neighbour: 4x4 blocks
    np.testing.assert_array_equal(imaging.zoom(img, 0.3, 0.7, 1), img)
    with pytest.raises(ConfigError):
        imaging.zoom(img, 0.5, 0.5, 0.5)
    boxed = imaging.draw_box(img.astype(np.uint8), (24, 24, 16, 16))
    assert tuple(boxed[24, 30]) == (0, 255, 255) and tuple(boxed[30, 30]) == tuple(img[30, 30].astype(np.uint8))


def test_colour_scale_and_panel_images(zoo: Zoo) -> None:
    lut = imaging.colour_lut()
    assert lut.shape == (256, 3) and lut.dtype == np.uint8
    out = imaging.colourise(np.array([[0.0, 0.05, 0.2]]), vmax=0.1, lut=lut)
    np.testing.assert_array_equal(out[0, 0], lut[0])
    np.testing.assert_array_equal(out[0, 2], lut[255])  # clipped at vmax
    result = inspection.inspect_image(zoo, torch.rand(1, 3, 64, 64))
    parts = imaging.panel_images(result, 0.5, 0.5, 2, result.diff_scale())
    assert parts["original"]["image"].shape == (256, 256, 3) and "diff" not in parts["original"]
    assert parts["A_V"]["diff"].shape == (256, 256, 3)
    m = imaging.montage(parts)
    assert m.shape == (3 * 256 + 8, 5 * 256 + 16, 3)
    fig = figures.lab_grid_figure(result.histograms)
    assert len(fig.data) == 5 * 3 + 4 * 3  # every view, plus the original's dotted reference under each AE


def test_colours_are_the_same_everywhere() -> None:
    colours = figures.view_colours(["L", "A", "V"])
    assert colours["L"] == colours["A_L"] == PALETTE[0] and colours["V"] == PALETTE[2]
    assert colours["original"] != colours["A_S"]
    import plotly.graph_objects as go

    fig = figures.recolour(go.Figure([go.Scatter(name="A (original)"), go.Bar(name="V"), go.Scatter(name="x")]), colours)
    assert fig.data[0].line.color == PALETTE[1] and fig.data[1].marker.color == PALETTE[2]
    assert fig.data[2].line.color is None


def test_gallery_and_class_names(zoo: Zoo, tmp_path: Path) -> None:
    root = gallery.find_test_split(zoo.data_dir)
    assert root == zoo.data_dir / "test"
    items = gallery.gallery(root, per_class=2)
    assert [i.label for i in items] == ["circle", "square", "stripes"] * 2
    assert gallery.gallery(root, per_class=5, limit=4)[3].label == "circle"
    assert gallery.gallery(None) == [] and gallery.find_test_split(tmp_path / "none") is None
    assert gallery.class_names(zoo) == CLASSES
    assert list(tables.classifier_frame(zoo)["network"]) == ["lenet5_demo", "alexnet_demo", "vgg_demo"]


def test_paper_table2_reads() -> None:
    table = read_cross_table(paper_table2_csv())
    assert table.names == ["L", "A", "V", "I", "R"] and table.acc[2, 3] == 0.74


def test_noise_is_fixed_by_seed() -> None:
    x = torch.rand(1, 3, 8, 8)
    a, b = inspection.noisy_input(x, 0.3), inspection.noisy_input(x, 0.3)
    torch.testing.assert_close(a, b)
    assert inspection.noisy_input(x, 0.0) is x and float((a - x).abs().max()) <= 0.3 + 1e-6
