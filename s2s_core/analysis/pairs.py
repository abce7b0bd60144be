"""Random inter-class pairs for nMI (Sec. 3.5): "two samples are drawn at random" from different classes.

:func:`draw_pairs` draws a seeded random matching of the images of a labelled data set in which the two images
of every pair are distinct and of different classes, each image in at most one pair. :func:`pair_order` turns
it into the order in which ``s2s evaluate`` streams the data, pair after pair, so that the nMI analysis
(:mod:`s2s_core.analysis.dataset.nmi`) finds every pair as stream items ``2k, 2k + 1`` and scores the originals
and every AE on the same pairs. Other analyses do not depend on the order (they sum over images).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from s2s_core.errors import ConfigError

#: Seed of the pair draw (its own, so that the pairs stay the same when the noise seed changes).
PAIR_SEED = 2018


def draw_pairs(labels: Sequence[int], seed: int = PAIR_SEED) -> list[tuple[int, int]]:
    """A seeded random matching of data indices into pairs of different labels.

    Shuffles the indices, cuts them into consecutive pairs and repairs every same-label pair by swapping its
    second image with that of a randomly chosen other pair when both pairs then hold different labels. Pairs
    that cannot be repaired (one class holds more than half of the images) are dropped, so ``len(result)`` is
    ``len(labels) // 2`` whenever no class holds more than half of the data.

    Returns:
        ``[(i, j), ...]`` with ``labels[i] != labels[j]``, every index at most once, in random order.
    """
    y = np.asarray(labels)
    if y.ndim != 1:
        raise ConfigError(f"labels must be one label per image, got shape {y.shape}")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(y))
    pairs = order[: len(y) // 2 * 2].reshape(-1, 2)
    bad = [k for k in range(len(pairs)) if y[pairs[k, 0]] == y[pairs[k, 1]]]
    for k in bad:
        if y[pairs[k, 0]] != y[pairs[k, 1]]:  # repaired by an earlier swap
            continue
        for j in rng.permutation(len(pairs)):
            if j == k:
                continue
            a, b = pairs[k, 0], pairs[j, 1]
            c, d = pairs[j, 0], pairs[k, 1]
            if y[a] != y[b] and y[c] != y[d]:
                pairs[k, 1], pairs[j, 1] = b, d
                break
    return [(int(a), int(b)) for a, b in pairs if y[a] != y[b]]


def pair_order(labels: Sequence[int], seed: int = PAIR_SEED) -> list[int]:
    """Every data index once: the pairs of :func:`draw_pairs` first (``order[2k], order[2k + 1]`` is pair k),
    then the images left without a partner, in random order."""
    pairs = draw_pairs(labels, seed)
    used = {i for pair in pairs for i in pair}
    rest = [int(i) for i in np.random.default_rng(seed + 1).permutation(len(labels)) if int(i) not in used]
    return [i for pair in pairs for i in pair] + rest
