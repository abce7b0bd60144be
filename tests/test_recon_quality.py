"""Reconstruction-quality measures (issue 11): known answers for PSNR/SSIM, spectra and the checkerboard."""

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from s2s_core.analysis.recon_quality import COLUMNS, ReconQualityAccumulator, spectral_measures


def _checkerboard(h: int, w: int) -> torch.Tensor:
    i = torch.arange(h)[:, None]
    j = torch.arange(w)[None, :]
    return ((i + j) % 2 * 2 - 1).float()  # +-1


def test_pure_checkerboard_has_known_spectrum():
    a = 0.1
    img = 0.5 + a * _checkerboard(16, 16)[None, :, :, None].repeat(1, 1, 1, 3).numpy()
    share, period2 = spectral_measures(img.astype(np.float64))
    assert share[0] == pytest.approx(1.0)
    assert period2[0] == pytest.approx(3 * a * a)  # a^2 per channel, three channels


def test_constant_image_has_no_high_frequencies():
    share, period2 = spectral_measures(np.full((2, 8, 8, 3), 0.3))
    assert share.tolist() == [0.0, 0.0] and period2.tolist() == [0.0, 0.0]


def test_identity_and_checkerboard_rows():
    g = torch.Generator().manual_seed(0)
    # smooth images: upsampled noise, so the input itself has little period-2 power
    x = torch.nn.functional.interpolate(torch.rand(4, 3, 8, 8, generator=g), size=32, mode="bilinear",
                                        align_corners=False)
    x = ((x * 0.6 + 0.2) * 255).round() / 255
    board = _checkerboard(32, 32)[None, None] * (20 / 255)
    acc = ReconQualityAccumulator(base_key="A_S")
    acc.update(x[:2], {"A_S": x[:2], "A_X": x[:2] + board})
    acc.update(x[2:], {"A_S": x[2:], "A_X": x[2:] + board})
    frame = acc.frame().set_index("ae")
    assert list(acc.frame().columns) == COLUMNS
    assert list(frame.index) == ["original", "A_S", "A_X"]
    assert frame.loc["A_S", "psnr_input"] == 100.0 and frame.loc["A_S", "ssim_input"] == pytest.approx(1.0)
    assert frame.loc["A_S", "checkerboard"] == pytest.approx(1.0)
    assert frame.loc["original", "checkerboard"] == pytest.approx(1.0)
    assert frame.loc["A_X", "checkerboard"] > 100  # the added pattern dominates the period-2 bins
    assert frame.loc["A_X", "hf_energy"] > frame.loc["original", "hf_energy"]
    assert frame.loc["A_X", "mad_base"] == pytest.approx(20 / 255, abs=1e-6)
    # PSNR and SSIM are scikit-image's, averaged over images
    xs = x.permute(0, 2, 3, 1).double().numpy()
    ys = (x + board).clamp(0, 1).permute(0, 2, 3, 1).double().numpy()
    psnr = np.mean([peak_signal_noise_ratio(xs[i], ys[i], data_range=1.0) for i in range(4)])
    ssim = np.mean([structural_similarity(xs[i], ys[i], data_range=1.0, channel_axis=-1) for i in range(4)])
    assert frame.loc["A_X", "psnr_input"] == pytest.approx(psnr, abs=1e-6)
    assert frame.loc["A_X", "ssim_input"] == pytest.approx(ssim, abs=1e-6)
    assert frame.loc["A_X", "psnr_base"] == pytest.approx(psnr, abs=1e-6)
    assert int(frame.loc["A_X", "n"]) == 4
