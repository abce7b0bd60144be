"""The whole evaluation against a known answer (Tables 1-2, noise curves, nMI, L*a*b* mass).

The zoo here is a stub whose behaviour is written down in this file, so every number the evaluation writes
can be counted by hand, independently of the code under test:

* Each 64 px image is 4x4 blocks of 16x16 pixels, every pixel exactly 0 or 1. Blocks 0-3 hold the image
  number k in binary, blocks 4-7 the code of the view (original 0, A_S 1, A_L 2, A_A 3, A_V 4), blocks 8-15
  a pattern of the image's own.
* A_S copies its input and writes its view code: noise in the other blocks passes through.
  A_i reads every block by its mean (threshold 0.5, which survives U(-1, 1) noise on 768 pixels), so it
  returns a clean image: its view code, and blocks 8-15 transformed (A_L inverts them, A_A blanks them,
  A_V keeps them).
* Classifier j reads k and the view code the same way and answers with logits fixed by the table
  ``PRED[(j, view, noisy)][k]``: class p ranks first, p+1 second, ... (mod 10). An image counts as noisy when
  more than a quarter of its id pixels are neither 0 nor 1.

So ``top1 = #{k : PRED[k] == label[k]} / N`` and ``top5 = #{k : (label[k] - PRED[k]) mod 10 < 5} / N``, and
nMI is scikit-learn's on the images this file builds itself.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import normalized_mutual_info_score
from torch import nn

from s2s_core.analysis.evaluate import evaluate_zoo

SIZE, BLOCK, CLASSES = 64, 16, 10
NAMES = ("L", "A", "V")
VIEWS = ("original", "A_S", "A_L", "A_A", "A_V")
CODE = {v: c for c, v in enumerate(VIEWS)}
LABELS = [3, 1, 4, 1, 5, 9, 2]  # seven images: an odd count leaves one image without an inter-nMI partner
N = len(LABELS)
GRID = (0.0, 0.5, 1.0)


def _pred(a: int, b: int) -> list[int]:
    return [(a * k + b) % CLASSES for k in range(N)]


# PRED[(classifier, view, noisy)] = the top-1 class of each image k; chosen so that every (j, view) differs.
PRED = {
    ("L", "original", False): LABELS[:5] + [0, 0],  # 5/7 right
    ("A", "original", False): LABELS[:3] + [7, 7, 7, 7],  # 3/7
    ("V", "original", False): list(LABELS),  # 7/7
    ("L", "original", True): [1] * N,  # label 1 twice: 2/7
    ("A", "original", True): [9] * N,  # 1/7
    ("V", "original", True): LABELS[:4] + [8, 8, 8],  # 4/7
}
for j, (a, b) in zip(NAMES, ((1, 3), (3, 1), (2, 4)), strict=True):
    PRED[(j, "A_S", False)] = _pred(a, b)
    PRED[(j, "A_S", True)] = _pred(a + 1, b)
    for i, (c, d) in zip(NAMES, ((1, 0), (2, 2), (5, 1)), strict=True):
        PRED[(j, f"A_{i}", False)] = _pred(a * c + d, b + c)
# the diagonal i∘A_i gets a hand-picked, distinct number of hits (so Table 2 is not symmetric)
PRED[("L", "A_L", False)] = LABELS[:6] + [0]  # 6/7
PRED[("A", "A_A", False)] = LABELS[:2] + [0] * 5  # 2/7
PRED[("V", "A_V", False)] = LABELS[:4] + [6, 6, 6]  # 4/7


def _blocks(img: torch.Tensor) -> torch.Tensor:
    """Mean of each of the 16 blocks of a (3, 64, 64) image, row-major."""
    return img.reshape(3, 4, BLOCK, 4, BLOCK).mean(dim=(0, 2, 4)).reshape(16)


def _paint(bits: list[int]) -> torch.Tensor:
    """A clean (3, 64, 64) image with block b set to bits[b]."""
    grid = torch.tensor(bits, dtype=torch.float32).reshape(4, 4)
    return grid.repeat_interleave(BLOCK, 0).repeat_interleave(BLOCK, 1).expand(3, SIZE, SIZE).clone()


def _bits(value: int) -> list[int]:
    return [(value >> b) & 1 for b in range(4)]


def _own_pattern(k: int) -> list[int]:
    return [((k * 37 + 11) >> b) & 1 for b in range(8)]


def clean_image(k: int, view: str) -> torch.Tensor:
    """Image k as view ``view`` would show it without noise."""
    tail = _own_pattern(k)
    if view == "A_L":
        tail = [1 - t for t in tail]
    elif view == "A_A":
        tail = [0] * 8
    return _paint(_bits(k) + _bits(CODE[view]) + tail)


class StubAE:
    def __init__(self, view: str) -> None:
        self.view = view

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.view == "A_S":  # copy, overwrite the view code blocks
            out = x.clone()
            code = _paint([0] * 4 + _bits(CODE["A_S"]) + [0] * 8)
            mask = _paint([0] * 4 + [1] * 4 + [0] * 8).bool()
            out[:, mask] = code[mask]
            return out
        ks = [_read(img)[0] for img in x]
        return torch.stack([clean_image(k, self.view) for k in ks])


def _read(img: torch.Tensor) -> tuple[int, str, bool]:
    bits = (_blocks(img) > 0.5).int().tolist()
    k = sum(b << n for n, b in enumerate(bits[:4]))
    code = sum(b << n for n, b in enumerate(bits[4:8]))
    id_pixels = img[:, :BLOCK, :]  # blocks 0-3 (the first row of blocks)
    noisy = float(((id_pixels != 0) & (id_pixels != 1)).float().mean()) > 0.25
    return k, VIEWS[code], noisy


class StubClassifier(nn.Module):
    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = []
        for img in x:
            k, view, noisy = _read(img)
            p = PRED[(self.name, view, noisy and view in ("original", "A_S"))][k]
            rows.append(torch.tensor([-float((c - p) % CLASSES) for c in range(CLASSES)]))
        return torch.stack(rows)


class StubZoo:
    """What the evaluation needs of a zoo: names, classifiers, decoders, encode and reconstruct_all (from the code
    of one encoder pass: here the images themselves)."""

    def __init__(self) -> None:
        self.base = nn.Linear(1, 1)  # only tells the device
        self.names = list(NAMES)
        self.decoders = {n: None for n in NAMES}
        self.classifiers = {n: StubClassifier(n) for n in NAMES}
        self._aes = {v: StubAE(v) for v in VIEWS[1:]}

    def encode(self, x01: torch.Tensor) -> torch.Tensor:
        return x01

    def reconstruct_all(self, x01: torch.Tensor, names=None, *, code=None) -> dict[str, torch.Tensor]:
        return {v: ae(x01 if code is None else code) for v, ae in self._aes.items()}


def _batches(batch_size: int):
    x = torch.stack([clean_image(k, "original") for k in range(N)])
    y = torch.tensor(LABELS)
    return [(x[s : s + batch_size], y[s : s + batch_size]) for s in range(0, N, batch_size)]


def _top1(pred: list[int]) -> float:
    return sum(p == t for p, t in zip(pred, LABELS, strict=True)) / N


def _top5(pred: list[int]) -> float:
    return sum((t - p) % CLASSES < 5 for p, t in zip(pred, LABELS, strict=True)) / N


@pytest.fixture(scope="module", params=[1, 3, N], ids=["batch1", "batch3", "batchall"])
def result(request):
    return evaluate_zoo(StubZoo(), _batches(request.param), options={"noise_grid": GRID, "seed": 7})


def test_stub_reads_back_what_it_wrote() -> None:
    """The oracle's own machinery: every view of every image decodes to (k, view), also under s = 1 noise."""
    from s2s_core.analysis.noise import add_uniform_noise, noise_generator

    g = noise_generator(3)
    for k in range(N):
        for view in VIEWS:
            assert _read(clean_image(k, view)) == (k, view, False)
        assert _read(add_uniform_noise(clean_image(k, "original"), 1.0, g)) == (k, "original", True)


def test_table1_is_the_counted_top1_and_top5(result) -> None:
    acc = result.accuracy.set_index(["classifier", "input"])
    assert len(acc) == len(NAMES) * len(VIEWS)
    for j in NAMES:
        for view in VIEWS:
            pred = PRED[(j, view, False)]
            assert acc.loc[(j, view), "top1"] == pytest.approx(_top1(pred), abs=1e-12), (j, view)
            assert acc.loc[(j, view), "top5"] == pytest.approx(_top5(pred), abs=1e-12), (j, view)
    # spot checks written out by hand
    assert acc.loc[("L", "original"), "top1"] == pytest.approx(5 / 7)
    assert acc.loc[("A", "original"), "top1"] == pytest.approx(3 / 7)
    assert acc.loc[("L", "A_L"), "top1"] == pytest.approx(6 / 7)


def test_table2_rows_are_aes_and_columns_are_classifiers(result) -> None:
    cross = result.cross_accuracy
    assert list(cross.index) == [f"A_{i}" for i in NAMES] and list(cross.columns) == list(NAMES)
    for i in NAMES:
        for j in NAMES:
            assert cross.loc[f"A_{i}", j] == pytest.approx(_top1(PRED[(j, f"A_{i}", False)]), abs=1e-12), (i, j)
    assert np.diag(cross.to_numpy()) == pytest.approx([6 / 7, 2 / 7, 4 / 7])


def test_noise_curves_use_the_noisy_answers_above_zero(result) -> None:
    noise = result.noise.set_index(["classifier", "input", "s"])["top1"]
    assert len(noise) == len(NAMES) * 3 * len(GRID)
    for j in NAMES:
        for view in ("original", "A_S", f"A_{j}"):
            for s in GRID:
                noisy = s > 0 and view in ("original", "A_S")
                assert noise[(j, view, s)] == pytest.approx(_top1(PRED[(j, view, noisy)]), abs=1e-12), (j, view, s)
    assert noise[("L", "original", 0.5)] == pytest.approx(2 / 7)


def test_nmi_matches_scikit_learn_on_the_same_images(result) -> None:
    """The raw rows are scikit-learn's nMI; the primary rows an independent Miller-Madow count at the binning
    rule's 32 levels (64 px RGB: 12,288 samples); both beside the same pairs of originals as chance level."""
    nmi = result.nmi.set_index(["estimator", "ae", "kind"])
    assert list(dict.fromkeys(result.nmi["estimator"])) == ["mm-32", "raw-256"]  # the primary estimator first
    originals = [clean_image(k, "original") for k in range(N)]
    for estimator, score in (("raw-256", _sk_nmi), ("mm-32", _mm_nmi)):
        chance = [score(originals[p], originals[p + 1]) for p in range(0, N - 1, 2)]
        for ae in VIEWS:
            views = [clean_image(k, ae) for k in range(N)]
            intra = [score(a, b) for a, b in zip(originals, views, strict=True)]
            inter = [score(views[p], views[p + 1]) for p in range(0, N - 1, 2)]  # pairs (0,1), (2,3), (4,5)
            for kind, values in (("intra", intra), ("inter", inter)):
                if ae == "original" and kind == "intra":
                    continue
                row = nmi.loc[(estimator, ae, kind)]
                assert row["n"] == len(values) and row["chance_n"] == 3
                assert row["mean"] == pytest.approx(np.mean(values), abs=1e-9), (ae, kind)
                assert row["std"] == pytest.approx(np.std(values, ddof=1), abs=1e-7), (ae, kind)
                assert row["se"] == pytest.approx(np.std(values, ddof=1) / np.sqrt(len(values)), abs=1e-7)
                assert row["chance_mean"] == pytest.approx(np.mean(chance), abs=1e-9)
                assert row["above_chance"] == pytest.approx(np.mean(values) - np.mean(chance), abs=1e-9)


def test_nmi_pairs_file_lists_the_pairs_and_their_scores(result) -> None:
    pairs = result.nmi_pairs
    assert pairs[["first", "second"]].values.tolist() == [[0, 1], [2, 3], [4, 5]]
    assert (pairs["first_label"] != pairs["second_label"]).all()
    for _, row in pairs.iterrows():
        a, b = int(row["first"]), int(row["second"])
        assert row["A_V"] == pytest.approx(_mm_nmi(clean_image(a, "A_V"), clean_image(b, "A_V")), abs=1e-9)
    diffs = result.nmi_differences.set_index(["kind", "first", "second"])
    d = diffs.loc[("inter", "A_S", "original")]
    assert d["mean"] == pytest.approx((pairs["A_S"] - pairs["original"]).mean(), abs=1e-9) and d["n"] == 3


def _sk_nmi(a: torch.Tensor, b: torch.Tensor) -> float:
    qa = (a.numpy() * 255).round().astype(int).ravel()
    qb = (b.numpy() * 255).round().astype(int).ravel()
    return normalized_mutual_info_score(qa, qb, average_method="geometric")


def _mm_nmi(a: torch.Tensor, b: torch.Tensor, levels: int = 32) -> float:
    """Miller-Madow corrected nMI written out with numpy (the oracle of the primary estimator)."""
    qa = (a.numpy() * 255).round().astype(int).ravel() // (256 // levels)
    qb = (b.numpy() * 255).round().astype(int).ravel() // (256 // levels)
    n = qa.size

    def h(values: np.ndarray) -> float:
        _, counts = np.unique(values, return_counts=True)
        p = counts / n
        return float(-(p * np.log(p)).sum() + (len(counts) - 1) / (2 * n))

    ha, hb, hab = h(qa), h(qb), h(qa * levels + qb)
    if ha == 0 and hb == 0:
        return 1.0
    return (ha + hb - hab) / np.sqrt(ha * hb) if ha * hb > 0 else 0.0


def test_lab_histograms_put_black_and_white_in_the_end_bins(result) -> None:
    lab = result.lab_histograms
    for view in VIEWS:
        white = float(torch.stack([clean_image(k, view) for k in range(N)]).double().mean())
        rows = lab[(lab.ae == view) & (lab.channel == "L")].sort_values("bin_lo")
        mass = (rows.density * (rows.bin_hi - rows.bin_lo)).to_numpy()
        assert mass[0] == pytest.approx(1 - white, abs=1e-9) and mass[-1] == pytest.approx(white, abs=1e-9)
        assert mass[1:-1].sum() == pytest.approx(0.0, abs=1e-12)


def test_images_counted_once(result) -> None:
    assert result.images == N
    assert isinstance(result.accuracy, pd.DataFrame)


def test_per_class_counts_are_the_counted_hits(result) -> None:
    """per_class.csv: each (j, view, class) row counts the images of that class that j got right; pooled over
    all classes it is Table 1, pooled over A_i it is Table 2."""
    from s2s_core.analysis.tables import cross_accuracy_of_classes

    per = result.per_class.set_index(["classifier", "input", "label"])
    for j in NAMES:
        for view in VIEWS:
            pred = PRED[(j, view, False)]
            for label in set(LABELS):
                ks = [k for k in range(N) if LABELS[k] == label]
                row = per.loc[(j, view, label)]
                assert row["n"] == len(ks)
                assert row["top1_correct"] == sum(pred[k] == label for k in ks), (j, view, label)
                assert row["top5_correct"] == sum((label - pred[k]) % CLASSES < 5 for k in ks)
    assert per.loc[("L", "original", 1), "class"] == "1"  # no class names given: the label
    pooled = cross_accuracy_of_classes(result.per_class)
    pd.testing.assert_frame_equal(pooled, result.cross_accuracy, check_names=False, atol=1e-12)
    only_1 = cross_accuracy_of_classes(result.per_class, ["1"])  # images 1 and 3
    assert only_1.loc["A_L", "V"] == pytest.approx(sum(PRED[("V", "A_L", False)][k] == 1 for k in (1, 3)) / 2)
