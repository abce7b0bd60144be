"""The image-independent part of an AE (Sec. 3.3.1): known patterns come back exactly."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch
from torch import nn

from s2s_core import results
from s2s_core.analysis.accounts import noise_account, noise_claims, pattern_account
from s2s_core.analysis.ae_patterns import peak, period_bins, power_spectrum
from s2s_core.analysis.evaluate import evaluate_zoo
from s2s_core.analysis.tables import class_highlights, class_shifts

SIZE = 32
CAST = torch.tensor([0.05, -0.02, 0.0]).view(3, 1, 1)
BOARD = 0.03 * (-1.0) ** (torch.arange(SIZE).view(-1, 1) + torch.arange(SIZE).view(1, -1))  # period 2


class PatternZoo:
    """A_S returns x; A_B adds a checkerboard, A_C adds a colour cast plus zero-mean image-dependent noise."""

    def __init__(self) -> None:
        self.base = nn.Linear(1, 1)
        self.names = ["B", "C"]
        self.decoders = {"B": None, "C": None}
        self.classifiers = {n: _Zero() for n in self.names}

    def encode(self, x):
        return x

    def reconstruct_all(self, x, names=None, *, code=None):
        flip = torch.where(x.mean(dim=(1, 2, 3), keepdim=True) > 0.5, 1.0, -1.0)  # the sign depends on the image
        return {"A_S": x.clone(), "A_B": x + BOARD, "A_C": x + CAST + 0.04 * flip * torch.ones_like(x)}


class _Zero(nn.Module):
    def forward(self, x):
        return torch.zeros(x.shape[0], 4)


def _batches():
    g = torch.Generator().manual_seed(0)
    base = 0.2 + 0.6 * torch.rand(8, 3, SIZE, SIZE, generator=g)  # values in [0.2, 0.8]: nothing is clamped
    base[:4] = base[:4] * 0.5 + 0.1  # half the images dark (flip -1), half bright (flip +1)
    base[4:] = base[4:] * 0.5 + 0.45
    return [(base[:5], torch.tensor([0, 1, 2, 3, 0])), (base[5:], torch.tensor([1, 2, 3]))]


@pytest.fixture(scope="module")
def result():
    return evaluate_zoo(PatternZoo(), _batches(), options={"noise_grid": (0.0,)}, only=["ae_patterns"])


def test_the_mean_residual_is_the_added_pattern(result):
    arrays = result.tables["ae_pattern_images"]
    assert torch.allclose(arrays["A_B/mean"], BOARD.expand(3, SIZE, SIZE).float(), atol=1e-6)
    assert torch.allclose(arrays["A_B/std"], torch.zeros(3, SIZE, SIZE), atol=1e-4)  # the same for every image
    assert torch.allclose(arrays["A_C/mean"], CAST.expand(3, SIZE, SIZE), atol=1e-6)  # the ±0.04 averages out
    assert torch.allclose(arrays["A_C/std"], torch.full((3, SIZE, SIZE), 0.04), atol=1e-4)
    assert torch.allclose(arrays["A_S/mean"], torch.zeros(3, SIZE, SIZE))


def test_the_csv_states_cast_and_peak(result):
    p = result.ae_patterns.set_index("ae")
    assert list(p.index) == ["A_S", "A_B", "A_C"] and (p["n"] == 8).all()
    assert (p.loc["A_C", "cast_r"], p.loc["A_C", "cast_g"]) == (pytest.approx(0.05), pytest.approx(-0.02))
    assert p.loc["A_B", "peak_share"] == pytest.approx(1.0)  # all of the pattern's power is at (16, 16)
    assert p.loc["A_B", "peak_ratio"] > 1e12  # every other bin holds only rounding errors
    assert math.isnan(p.loc["A_C", "peak_ratio"])  # a constant cast has no variation at all
    assert p.loc["A_B", "mean_abs"] == pytest.approx(0.03) and p.loc["A_C", "std_mean"] == pytest.approx(0.04)
    assert "A_B puts 100 % of that part's power at the un-pooling period 2" in pattern_account(result.ae_patterns)


def test_arrays_round_trip_through_the_results_module(result, tmp_path):
    results.write(tmp_path, result.tables)
    back = results.read_arrays(tmp_path, "ae_pattern_images")
    assert set(back) == {f"{ae}/{k}" for ae in ("A_S", "A_B", "A_C") for k in ("mean", "std", "spectrum")}
    assert torch.equal(back["A_B/mean"], result.tables["ae_pattern_images"]["A_B/mean"])
    assert back["A_B/spectrum"].shape == (SIZE, SIZE)
    from s2s_core.errors import ConfigError, InputTableError

    with pytest.raises(ConfigError, match="read_arrays"):
        results.read(tmp_path, "ae_pattern_images")
    (tmp_path / "ae_patterns.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(InputTableError, match="safetensors"):
        results.read_arrays(tmp_path, "ae_pattern_images")


def test_spectrum_peak_of_known_images():
    board = BOARD.expand(3, SIZE, SIZE)
    power = power_spectrum(board)
    assert power[SIZE // 2, SIZE // 2] == pytest.approx(3 * 0.03**2)  # Parseval: mean square, three channels
    assert power.sum() == pytest.approx(3 * 0.03**2)
    assert period_bins(8, 8, 2) == [(0, 4), (4, 0), (4, 4)]
    assert len(period_bins(8, 8, 4)) == 16 - 4  # the period-4 grid without the period-2 grid (and DC)
    g = torch.Generator().manual_seed(1)
    noise = torch.rand(3, 64, 64, generator=g)
    ratio, share = peak(power_spectrum(noise))
    assert 0.2 < ratio < 5 and share < 0.01  # white noise: no peak


# -------------------------------------------------------------------------------- per-class and noise accounts
def test_class_shifts_and_highlights():
    per = pd.DataFrame([
        ("L", view, label, cls, 10, hits, hits, hits / 10, hits / 10)
        for label, cls, counts in ((0, "cat", (5, 4, 9)), (1, "dog", (8, 8, 2)), (2, "fox", (6, 6, 6)))
        for view, hits in zip(("original", "A_S", "A_L"), counts, strict=True)
    ], columns=results.PER_CLASS_COLUMNS)
    shifts = class_shifts(per).set_index("class")
    assert shifts.loc["cat", "A_i − original"] == pytest.approx(40.0)
    assert shifts.loc["dog", "A_i − A_S"] == pytest.approx(-60.0)
    top = class_highlights(per, top=1)
    assert top[["direction", "class"]].values.tolist() == [["loses", "dog"], ["gains", "cat"]]


def test_noise_claims_state_where_the_paper_holds_beside_chance():
    rows = []
    for s, orig, tuned in ((0.0, 0.9, 0.9), (0.2, 0.5, 0.7), (0.5, 0.3, 0.2), (1.0, 0.11, 0.12)):
        rows += [("L", "original", s, orig), ("L", "A_S", s, orig), ("L", "A_L", s, tuned)]
    noise = pd.DataFrame(rows, columns=["classifier", "input", "s", "top1"])
    claims = noise_claims(noise, chance=0.1).set_index("s")
    assert claims["holds"].tolist() == [True, False, True] and claims["at chance"].tolist() == [False, False, True]
    assert claims.loc[0.2, "gain"] == pytest.approx(20.0)
    text = noise_account(noise, chance=0.1)
    assert "L: at s = 0.2 (largest gain at s = 0.2: 70.0 % against 50.0 %), not at s = 0.5" in text
    assert "chance is 10 %" in text and "(1 of 3 cases)" in text
