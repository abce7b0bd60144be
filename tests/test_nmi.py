"""nMI (Sec. 3.5): known answers and equality with scikit-learn."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from sklearn.metrics import normalized_mutual_info_score

from s2s_core.analysis import nmi
from s2s_core.analysis.nmi import nmi_batch, quantize
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
