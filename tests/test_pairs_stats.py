"""Random inter-class pairs (Sec. 3.5) and the summaries reported with every nMI: known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from s2s_core.analysis.pairs import draw_pairs, pair_order
from s2s_core.analysis.stats import difference_of_means, paired_difference, summarize

# --------------------------------------------------------------------------------------------- pairs


def _imagenet_like(classes: int = 10, per_class: int = 50) -> list[int]:
    """Labels in ImageFolder order: every consecutive pair of the old evaluation was a same-class pair."""
    return [c for c in range(classes) for _ in range(per_class)]


def test_pairs_are_distinct_images_of_different_classes_each_used_once():
    labels = _imagenet_like()
    pairs = draw_pairs(labels, seed=3)
    assert len(pairs) == len(labels) // 2
    flat = [i for p in pairs for i in p]
    assert len(set(flat)) == len(flat)  # every image at most once, no pair of an image with itself
    assert all(labels[a] != labels[b] for a, b in pairs)


def test_pairs_are_seeded_and_random():
    labels = _imagenet_like()
    assert draw_pairs(labels, seed=3) == draw_pairs(labels, seed=3)
    assert draw_pairs(labels, seed=3) != draw_pairs(labels, seed=4)
    # random, not consecutive: partners are spread over the whole set
    gaps = [abs(a - b) for a, b in draw_pairs(labels, seed=3)]
    assert np.mean(gaps) > 100  # uniform partners of 500 images: about 500 / 3 apart on average


def test_a_class_with_more_than_half_the_images_leaves_some_unpaired():
    labels = [0] * 8 + [1, 2]  # at most two pairs can hold a class-0 image with another class
    pairs = draw_pairs(labels, seed=0)
    assert len(pairs) == 2 and all(labels[a] != labels[b] for a, b in pairs)
    assert draw_pairs([5] * 6) == []


def test_pair_order_lists_every_index_once_with_pairs_first():
    labels = _imagenet_like(3, 5)  # 15 images: 7 pairs, one left over
    order = pair_order(labels, seed=1)
    assert sorted(order) == list(range(15))
    pairs = draw_pairs(labels, seed=1)
    assert [tuple(order[k : k + 2]) for k in range(0, 2 * len(pairs), 2)] == pairs


# --------------------------------------------------------------------------------------------- stats


def test_summary_of_known_values():
    s = summarize([1.0, 2.0, 3.0, 4.0])
    assert (s.mean, s.n) == (2.5, 4)
    assert s.std == pytest.approx(math.sqrt(5 / 3))
    assert s.se == pytest.approx(math.sqrt(5 / 3) / 2)
    t = 3.182446305284263  # Student's t, 0.975 quantile, 3 degrees of freedom
    assert (s.ci_low, s.ci_high) == (pytest.approx(2.5 - t * s.se), pytest.approx(2.5 + t * s.se))


def test_summary_edge_cases():
    one = summarize([0.7])
    assert one.mean == 0.7 and one.n == 1 and math.isnan(one.std) and math.isnan(one.ci_low)
    none = summarize([])
    assert none.n == 0 and math.isnan(none.mean)
    assert summarize([1.0, float("nan"), 3.0]).n == 2


def test_paired_difference_removes_what_the_items_share():
    rng = np.random.default_rng(0)
    item = rng.normal(0, 1.0, 200)  # a large per-item effect shared by both AEs
    a, b = item + 0.05, item + rng.normal(0, 0.01, 200)
    d = paired_difference(a, b)
    assert d.ci_low < 0.05 < d.ci_high and d.ci_low > 0.04  # tight: the shared effect cancels
    unpaired = difference_of_means(summarize(a), summarize(b))
    assert unpaired[2] < 0 < unpaired[3]  # without pairing the same difference is lost in the spread
    with pytest.raises(ValueError, match="same length"):
        paired_difference([1.0], [1.0, 2.0])


def test_difference_of_means_matches_welch():
    from scipy import stats

    a, b = [0.3, 0.35, 0.28, 0.31, 0.33], [0.2, 0.22, 0.19, 0.25]
    diff, se, low, high = difference_of_means(summarize(a), summarize(b))
    ref = stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    assert diff == pytest.approx(np.mean(a) - np.mean(b))
    assert (low, high) == (pytest.approx(ref.low), pytest.approx(ref.high))


def test_paired_bootstrap_known_answers():
    from s2s_core.analysis.stats import paired_bootstrap

    same = paired_bootstrap([0.5] * 20, [0.5] * 20)
    assert (same.diff, same.ci_low, same.ci_high, same.n, same.verdict) == (0.0, 0.0, 0.0, 20, "tie")
    shifted = paired_bootstrap(np.arange(50) + 0.1, np.arange(50))  # every difference 0.1: interval collapses
    assert shifted.ci_low == pytest.approx(0.1) and shifted.ci_high == pytest.approx(0.1) and shifted.verdict == "higher"
    rng = np.random.default_rng(0)
    noise = rng.normal(size=400)
    near = paired_bootstrap(noise, np.zeros(400))  # mean ~ 0, sd 1: the interval is about ± 1.96 / 20
    assert near.ci_low < near.diff < near.ci_high
    assert near.ci_high - near.ci_low == pytest.approx(2 * 1.96 / 20, rel=0.2)
    assert paired_bootstrap(noise - 1, np.zeros(400)).verdict == "lower"
    nan = paired_bootstrap([1.0, np.nan, 3.0], [0.0, 0.0, np.nan])  # only pair 0 is complete
    assert nan.n == 1 and nan.diff == 1.0
    assert paired_bootstrap([], []).n == 0
    with pytest.raises(ValueError):
        paired_bootstrap([1.0, 2.0], [1.0])
