"""L*a*b* histograms (Sec. 3.3.1) and additive noise / top-k (Sec. 3.3.2)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage.color import rgb2lab

from s2s_core.analysis.lab import (
    HIST_COLUMNS,
    LabHistogramAccumulator,
    bin_edges,
    lab_histograms,
    rgb_to_lab,
)
from s2s_core.analysis.noise import add_uniform_noise, noise_generator
from s2s_core.errors import ConfigError
from s2s_core.metrics import topk_correct

PURE = {
    "red": (1.0, 0.0, 0.0),
    "green": (0.0, 1.0, 0.0),
    "blue": (0.0, 0.0, 1.0),
    "white": (1.0, 1.0, 1.0),
    "black": (0.0, 0.0, 0.0),
}


@pytest.mark.parametrize("name", list(PURE))
def test_pure_colours_match_skimage(name):
    rgb = np.array(PURE[name], dtype=np.float64)
    expected = rgb2lab(rgb.reshape(1, 1, 3))[0, 0]
    ours = rgb_to_lab(torch.tensor(rgb).view(1, 3, 1, 1))[0, :, 0, 0].numpy()
    assert np.allclose(ours, expected, atol=1e-8)
    if name == "white":
        assert ours[0] == pytest.approx(100.0, abs=1e-3) and abs(ours[1]) < 0.01 and abs(ours[2]) < 0.01
    if name == "red":  # well-known CIELAB of sRGB red
        assert np.allclose(ours, [53.24, 80.09, 67.20], atol=0.05)


def test_random_images_match_skimage():
    x = torch.rand(2, 3, 9, 7, dtype=torch.float64)
    expected = np.stack([rgb2lab(img.permute(1, 2, 0).numpy()) for img in x]).transpose(0, 3, 1, 2)
    assert np.allclose(rgb_to_lab(x).numpy(), expected, atol=1e-8)
    x8 = (x * 255).round().to(torch.uint8)
    expected8 = np.stack([rgb2lab(img.permute(1, 2, 0).numpy()) for img in x8]).transpose(0, 3, 1, 2)
    assert np.allclose(rgb_to_lab(x8).numpy(), expected8, atol=1e-3)  # float32 path


def test_histograms_are_densities_on_fixed_ranges():
    x = torch.rand(3, 3, 16, 16)
    hists = lab_histograms(x, bins=32)
    assert set(hists) == {"L", "a", "b"}
    for channel, (edges, density) in hists.items():
        assert edges.shape == (33,) and density.shape == (32,)
        assert np.allclose(edges, bin_edges(channel, 32))
        assert float((density * np.diff(edges)).sum()) == pytest.approx(1.0)
    assert hists["L"][0][0] == 0 and hists["L"][0][-1] == 100 and hists["a"][0][0] == -128


def test_histogram_of_a_flat_colour_is_one_bin():
    white = torch.ones(1, 3, 4, 4)
    edges, density = lab_histograms(white, bins=10)["L"]
    assert np.count_nonzero(density) == 1 and density[-1] > 0  # L* = 100 falls into the last bin


def test_accumulator_does_not_depend_on_batching():
    x = torch.rand(6, 3, 8, 8)
    one = LabHistogramAccumulator(bins=16)
    one.update(x)
    many = LabHistogramAccumulator(bins=16)
    for part in x.split(2):
        many.update(part)
    for c in ("L", "a", "b"):
        assert np.array_equal(one.histograms()[c][1], many.histograms()[c][1])
    frame = many.frame("A_V")
    assert list(frame.columns) == list(HIST_COLUMNS) and len(frame) == 3 * 16
    assert set(frame["ae"]) == {"A_V"} and list(frame["channel"].unique()) == ["L", "a", "b"]


def test_lab_refuses_bad_shapes():
    with pytest.raises(ConfigError, match=r"\(N, 3, H, W\)"):
        rgb_to_lab(torch.rand(3, 8, 8))
    with pytest.raises(ConfigError):
        LabHistogramAccumulator().histograms()


# --- noise ----------------------------------------------------------------------------------------


def test_evaluate_uses_the_noise_grid_by_default():
    """``s2s evaluate`` without --noise-grid evaluates s = 0, 0.1, ..., 1 (Fig. 4's x axis)."""
    from s2s_core.cli import build_parser

    args = build_parser().parse_args(["evaluate", "ZOO", "--data", "DATA"])
    assert args.noise_grid == pytest.approx([k / 10 for k in range(11)])


@pytest.mark.parametrize("s", [0.1, 0.4])
def test_noise_is_uniform_in_minus_s_to_s(s):
    """Mid-grey pixels are never clamped at s <= 0.5: the noise is U(-s, s), mean 0 and variance s^2 / 3."""
    x = torch.full((1, 3, 128, 128), 0.5)
    noise = add_uniform_noise(x, s, noise_generator(5)) - x
    assert float(noise.abs().max()) <= s + 1e-6
    assert float(noise.mean()) == pytest.approx(0.0, abs=0.01 * s)
    assert float(noise.var()) == pytest.approx(s * s / 3, rel=0.05)


def test_zero_noise_returns_the_input():
    x = torch.rand(2, 3, 8, 8)
    out = add_uniform_noise(x, 0.0, noise_generator())
    assert torch.equal(out, x)


def test_noise_is_bounded_clamped_and_seeded():
    x = torch.full((4, 3, 16, 16), 0.5)
    out = add_uniform_noise(x, 0.3, noise_generator(5))
    delta = out - x
    assert delta.abs().max() <= 0.3 + 1e-6 and delta.abs().max() > 0.25
    assert abs(delta.mean().item()) < 0.01  # U(-s, s) is centred
    assert torch.equal(out, add_uniform_noise(x, 0.3, noise_generator(5)))
    assert not torch.equal(out, add_uniform_noise(x, 0.3, noise_generator(6)))
    strong = add_uniform_noise(x, 1.0, noise_generator())
    assert strong.min() >= 0 and strong.max() <= 1 and (strong == 0).any() and (strong == 1).any()
    assert torch.equal(x, torch.full((4, 3, 16, 16), 0.5))  # input untouched


def test_noise_refuses_bad_strength():
    with pytest.raises(ConfigError):
        add_uniform_noise(torch.rand(1, 3, 2, 2), -0.1)
    with pytest.raises(ConfigError):
        add_uniform_noise(torch.rand(1, 3, 2, 2), float("nan"))


def test_topk_correct_known_answers():
    logits = torch.tensor(
        [
            [0.9, 0.05, 0.03, 0.02, 0.0, 0.0],  # label 0: top-1
            [0.1, 0.5, 0.2, 0.15, 0.04, 0.01],  # label 3: rank 3 -> top-5 only
            [0.3, 0.25, 0.2, 0.15, 0.1, 0.0],  # label 5: rank 6 -> neither
        ]
    )
    labels = torch.tensor([0, 3, 5])
    assert topk_correct(logits, labels) == {1: 1, 5: 2}
    assert topk_correct(logits, labels, ks=(1, 2, 3, 10)) == {1: 1, 2: 1, 3: 2, 10: 3}
    with pytest.raises(ConfigError):
        topk_correct(logits, labels[:2])
