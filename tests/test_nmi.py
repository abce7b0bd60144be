"""nMI (Sec. 3.5): known answers and equality with scikit-learn."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from sklearn.metrics import normalized_mutual_info_score

from s2s_core.analysis import nmi
from s2s_core.analysis.nmi import RAW, Estimator, estimator_for, levels_for, nmi_batch, quantize
from s2s_core.errors import ConfigError


def _sk(a: np.ndarray, b: np.ndarray) -> float:
    return normalized_mutual_info_score(a.ravel(), b.ravel(), average_method="geometric")


def _photo() -> np.ndarray:
    from skimage import data

    return data.astronaut()[::8, ::8]  # (64, 64, 3) uint8


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


def test_identical_images_give_one(rng):
    a = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    assert nmi(a, a) == pytest.approx(1.0, abs=1e-12)
    assert nmi(_photo(), _photo()) == pytest.approx(1.0, abs=1e-12)


def test_independent_noise_is_near_zero(rng):
    # the plug-in estimate is biased upwards by about (levels - 1)² / (2 · pixels) nats
    a = rng.integers(0, 16, (128, 128, 3), dtype=np.uint8)
    b = rng.integers(0, 16, (128, 128, 3), dtype=np.uint8)
    assert 0.0 <= nmi(a, b) < 0.005
    a = rng.integers(0, 256, (512, 512, 3), dtype=np.uint8)
    b = rng.integers(0, 256, (512, 512, 3), dtype=np.uint8)
    assert 0.0 <= nmi(a, b) < 0.02


def test_symmetric_and_invariant_to_relabelling(rng):
    a, b = _photo(), rng.integers(0, 256, (64, 64, 3), dtype=np.uint8) // 2 + _photo() // 2
    perm = rng.permutation(256).astype(np.uint8)
    value = nmi(a, b)
    assert 0.1 < value < 1.0
    assert nmi(b, a) == pytest.approx(value, abs=1e-12)
    assert nmi(perm[a], b) == pytest.approx(value, abs=1e-12)
    assert nmi(a, perm[b]) == pytest.approx(value, abs=1e-12)


def test_equals_sklearn_on_random_and_structured_pairs(rng):
    photo = _photo()
    pairs = [
        (
            rng.integers(0, 256, (40, 30, 3), dtype=np.uint8),
            rng.integers(0, 256, (40, 30, 3), dtype=np.uint8),
        ),
        (photo, np.clip(photo.astype(int) + rng.integers(-30, 31, photo.shape), 0, 255).astype(np.uint8)),
        (photo, photo // 16 * 16),  # posterised: information kept, entropy lost
        (photo, 255 - photo),
        (photo, np.roll(photo, 5, axis=1)),
        (rng.integers(0, 4, (16, 16, 3), dtype=np.uint8), rng.integers(0, 2, (16, 16, 3), dtype=np.uint8)),
    ]
    for a, b in pairs:
        assert abs(nmi(a, b) - _sk(a, b)) < 1e-9


def test_constant_images_follow_sklearn(rng):
    zero = np.zeros((8, 8, 3), np.uint8)
    other = np.full((8, 8, 3), 7, np.uint8)
    noise = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
    assert nmi(zero, other) == _sk(zero, other) == 1.0  # both entropies 0
    assert nmi(zero, noise) == _sk(zero, noise) == 0.0  # one entropy 0


def test_float_inputs_are_quantised_like_uint8(rng):
    a8 = rng.integers(0, 256, (3, 24, 24), dtype=np.uint8)
    b8 = rng.integers(0, 256, (3, 24, 24), dtype=np.uint8) // 3 + a8 // 2
    a = torch.from_numpy(a8).double() / 255.0
    b = torch.from_numpy(b8).float() / 255.0
    assert torch.equal(quantize(a), torch.from_numpy(a8).int())
    assert nmi(a, b) == pytest.approx(nmi(a8, b8), abs=1e-12)
    # out-of-range values are clamped to 0 and 255
    assert quantize(torch.tensor([-0.5, 1.7, 0.5])).tolist() == [0, 255, 128]


def test_batched_equals_single(rng):
    photo = torch.from_numpy(_photo()).permute(2, 0, 1).float() / 255.0
    a = torch.stack([photo, photo, torch.rand(3, 64, 64), photo.flip(-1), torch.zeros(3, 64, 64)])
    b = torch.stack([photo, photo.roll(3, -1), torch.rand(3, 64, 64), photo, torch.rand(3, 64, 64)])
    out = nmi_batch(a, b)
    assert out.shape == (5,) and out.dtype == torch.float64
    for k in range(5):
        assert out[k].item() == pytest.approx(nmi(a[k], b[k]), abs=1e-12)
        qa, qb = quantize(a[k]).numpy(), quantize(b[k]).numpy()
        assert abs(out[k].item() - _sk(qa, qb)) < 1e-9


def test_batches_larger_than_a_chunk(monkeypatch, rng):
    # ``s2s_core.analysis.nmi`` is the re-exported function; the module is in sys.modules
    module = sys.modules["s2s_core.analysis.nmi"]
    monkeypatch.setattr(module, "CPU_CHUNK", 2)
    a = torch.from_numpy(rng.integers(0, 256, (5, 3, 8, 8), dtype=np.uint8))
    b = torch.from_numpy(rng.integers(0, 256, (5, 3, 8, 8), dtype=np.uint8)) // 2 + a // 2
    expected = [_sk(a[k].numpy(), b[k].numpy()) for k in range(5)]
    assert np.allclose(nmi_batch(a, b).numpy(), expected, atol=1e-9, rtol=0)


def test_mismatched_shapes_are_refused():
    with pytest.raises(ConfigError, match="same shape"):
        nmi(np.zeros((4, 4, 3), np.uint8), np.zeros((3, 4, 4), np.uint8))
    with pytest.raises(ConfigError, match="uint8 or floating"):
        nmi(np.zeros((4, 4, 3), np.int32), np.zeros((4, 4, 3), np.int32))


# ------------------------------------------------------------------ the estimator of the analyses (issue 14)
def test_binning_rule_gives_at_least_eight_samples_per_joint_cell():
    assert levels_for(64 * 64 * 3) == 32  # 12,288 samples: 32² = 1024 cells (12 per cell), 64² would give 3
    assert levels_for(224 * 224 * 3) == 128
    assert levels_for(299 * 299 * 3) == 128
    assert levels_for(419 * 419 * 3) == 256 and levels_for(418 * 418 * 3) == 128
    assert levels_for(10) == 2
    for n in (100, 5000, 12288, 150528, 10**7):
        L = levels_for(n)
        assert n >= L * L * 8 or L == 2
        assert L == 256 or n < (2 * L) ** 2 * 8
    est = estimator_for(64 * 64 * 3)
    assert (est.levels, est.corrected, est.name) == (32, True, "mm-32")
    assert Estimator.parse("mm-32") == est and Estimator.parse("raw-256") == RAW
    with pytest.raises(ConfigError, match="unknown nMI estimator"):
        Estimator.parse("ksg-3")
    with pytest.raises(ConfigError, match="power of two"):
        Estimator(levels=100)


def test_independent_noise_is_near_zero_after_the_correction():
    g = torch.Generator().manual_seed(0)
    a, b = torch.rand(40, 3, 64, 64, generator=g), torch.rand(40, 3, 64, 64, generator=g)
    raw = nmi_batch(a, b)
    corrected = nmi_batch(a, b, estimator_for(3 * 64 * 64))
    assert raw.mean() > 0.3  # the raw estimate on 12,288 samples for 65,536 cells: the 0.32
    assert abs(float(corrected.mean())) < 0.002 and float(corrected.abs().max()) < 0.01
    binned_only = nmi_batch(a, b, Estimator(levels=32))
    assert 0.005 < float(binned_only.mean()) < 0.02  # binning alone leaves the (L-1)²/2N bias


def test_identical_images_give_one_with_every_estimator():
    photo = torch.from_numpy(_photo()).permute(2, 0, 1).float() / 255.0
    for est in (RAW, Estimator(32), Estimator(32, True), Estimator(2, True), estimator_for(photo.numel())):
        assert nmi(photo, photo, est) == pytest.approx(1.0, abs=1e-12)


def _binary_channel(n: int, flips: int) -> tuple[np.ndarray, np.ndarray]:
    """X uniform on {0, 255} (n/2 each), Y = X except ``flips`` pixels of each value: a known joint distribution."""
    x = np.repeat(np.array([0, 255], np.uint8), n // 2)
    y = x.copy()
    y[:flips], y[n // 2 : n // 2 + flips] = 255, 0
    return x.reshape(1, -1, 1), y.reshape(1, -1, 1)


def test_a_known_joint_distribution_gives_its_analytic_nmi():
    n, flips = 20_000, 1_000  # P(Y != X) = 0.1 exactly
    eps = 2 * flips / n
    h_eps = -(eps * np.log(eps) + (1 - eps) * np.log(1 - eps))
    analytic = 1 - h_eps / np.log(2)  # I = ln 2 - H(eps), H(X) = H(Y) = ln 2
    x, y = _binary_channel(n, flips)
    assert nmi(x, y) == pytest.approx(analytic, abs=1e-12)  # exact counts: the plug-in estimate is exact
    assert nmi(x, y, Estimator(32, True)) == pytest.approx(analytic, abs=1e-4)  # 2 x 2 occupied cells: tiny term


def test_the_correction_removes_the_bias_on_samples_of_a_known_distribution():
    """Pairs drawn from a known 16 x 16 joint distribution: the corrected mean lies near the analytic nMI, the raw
    one far above it."""
    rng = np.random.default_rng(1)
    joint = rng.random((16, 16)) ** 3 + np.eye(16)
    joint /= joint.sum()
    px, py = joint.sum(1), joint.sum(0)
    mi = float((joint * np.log(joint / np.outer(px, py))).sum())
    analytic = mi / np.sqrt(-(px * np.log(px)).sum() * -(py * np.log(py)).sum())
    raw, corrected = [], []
    for _ in range(30):
        cells = rng.choice(256, size=3000, p=joint.ravel())
        a, b = (cells // 16 * 16).astype(np.uint8), (cells % 16 * 16).astype(np.uint8)  # 16 levels as 8-bit values
        raw.append(nmi(a, b, Estimator(16)))
        corrected.append(nmi(a, b, Estimator(16, True)))
    assert abs(np.mean(corrected) - analytic) < 0.005
    assert np.mean(raw) - analytic > 3 * abs(np.mean(corrected) - analytic)


def test_batched_corrected_equals_single(rng):
    a = torch.from_numpy(rng.integers(0, 256, (4, 3, 16, 16), dtype=np.uint8))
    b = torch.from_numpy(rng.integers(0, 256, (4, 3, 16, 16), dtype=np.uint8)) // 2 + a // 2
    est = Estimator(8, True)
    out = nmi_batch(a, b, est)
    assert [pytest.approx(v, abs=1e-12) for v in out.tolist()] == [nmi(a[k], b[k], est) for k in range(4)]
    assert quantize(torch.tensor([0, 31, 32, 255], dtype=torch.uint8), 8).tolist() == [0, 0, 1, 7]
