"""RRC and formal concept analysis (Sec. 3.4) against the paper's Table 2 and brute force."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from s2s_core.analysis.crosstable import read_cross_table
from s2s_core.analysis.fca import (
    concept_lattice,
    context_interval,
    formal_context,
    lattice_at,
    threshold_intervals,
)
from s2s_core.analysis.paper import PAPER_NAMES, PAPER_TABLE2
from s2s_core.analysis.rrc import rrc_matrix, sorted_pairs
from s2s_core.errors import ConfigError, InputTableError

NAMES = list(PAPER_NAMES)
TABLE2 = PAPER_TABLE2


@pytest.fixture
def rrc() -> np.ndarray:
    return rrc_matrix(TABLE2)


def test_rrc_of_table2(rrc):
    assert rrc[4, 2] == pytest.approx(0.0710 / 0.7163, abs=1e-12)  # V∘A_R
    assert rrc[0, 4] == pytest.approx(0.4730 / 0.3484, abs=1e-12)  # R∘A_L: min is acc_L
    assert np.array_equal(np.diag(rrc), np.ones(5))
    pairs = sorted_pairs(rrc)
    assert len(pairs) == 25 and [p.value for p in pairs] == sorted(p.value for p in pairs)
    assert pairs[0].label(NAMES) == "V∘A_A"  # 0.0097 / 0.5613 is the smallest RRC


def test_rrc_refuses_zero_diagonal():
    with pytest.raises(InputTableError, match="diagonal"):
        rrc_matrix(np.array([[0.0, 0.1], [0.2, 0.3]]))


def test_table2_intervals_match_the_paper(rrc):
    intervals = threshold_intervals(rrc)
    rounded = [
        (None if lo is None else round(lo, 4), None if hi is None else round(hi, 4)) for lo, hi in intervals
    ]
    assert (0.1648, 0.5250) in rounded and (0.6359, 0.8407) in rounded
    assert intervals[0][0] is None and intervals[-1][1] is None
    assert len(intervals) == len(np.unique(rrc)) + 1
    lo, hi = context_interval(rrc, 0.2)
    assert (round(lo, 4), round(hi, 4)) == (0.1648, 0.5250)
    assert context_interval(rrc, 0.0)[0] is None and context_interval(rrc, 2.0)[1] is None
    # t equal to an RRC value lies in the interval it closes: lo < t <= hi
    assert context_interval(rrc, float(rrc[3, 0]))[1] == float(rrc[3, 0])


def test_context_constant_within_each_interval(rrc):
    for lo, hi in threshold_intervals(rrc):
        if lo is None or hi is None:
            continue
        inside = [np.nextafter(lo, np.inf), (lo + hi) / 2, hi]
        contexts = {formal_context(rrc, t).tobytes() for t in inside}
        assert len(contexts) == 1
        assert not np.array_equal(formal_context(rrc, lo), formal_context(rrc, hi))


def test_table2_lattices_chain_or_not(rrc):
    assert lattice_at(NAMES, rrc, 0.2).is_chain()
    assert lattice_at(NAMES, rrc, 0.8).is_chain()
    l9 = lattice_at(NAMES, rrc, 0.9)
    assert not l9.is_chain()
    # the context: R∘A_V has RRC 1.019 >= 0.9 but V∘A_R has 0.099 < 0.9
    ctx = formal_context(rrc, 0.9)
    assert ctx[NAMES.index("R"), NAMES.index("V")] and not ctx[NAMES.index("V"), NAMES.index("R")]
    assert l9.bottom.extent == ("I",) and l9.top.extent == tuple(NAMES)


def test_lattice_from_csv_uses_row_names(tmp_path):
    csv = (
        ",".join(["", *NAMES])
        + "\n"
        + "\n".join(",".join([f"A_{n}", *map(str, row)]) for n, row in zip(NAMES, TABLE2, strict=True))
    )
    table = read_cross_table(csv + "\n")
    lattice = lattice_at(table.names, rrc_matrix(table.acc), 0.5, ae_names=table.ae_names)
    assert lattice.attributes == tuple(f"A_{n}" for n in NAMES)
    assert lattice.top.intent == ("A_V", "A_I")


def test_lattice_at_every_threshold_matches_brute_force(rrc):
    """The slider's path: 50 thresholds over Table 2 (its speed is benchmarks/bench_dashboard.py's
    ``lattice_update_ms``, not a test)."""
    for t in np.linspace(0, 1.4, 50):
        lattice = lattice_at(NAMES, rrc, float(t))
        incidence = np.greater_equal(rrc.T, t)  # rows: classifiers j (objects), columns: AEs A_i (attributes)
        assert np.array_equal(lattice.incidence, incidence), t
        gi = {n: k for k, n in enumerate(NAMES)}
        mi = {n: k for k, n in enumerate(lattice.attributes)}
        found = {(frozenset(gi[g] for g in c.extent), frozenset(mi[m] for m in c.intent)) for c in lattice.concepts}
        assert found == _brute_force(incidence), t


def test_threshold_must_be_a_number(rrc):
    with pytest.raises(ConfigError):
        lattice_at(NAMES, rrc, float("nan"))


# --- FCA properties against brute force -------------------------------------------------------


def _brute_force(incidence: np.ndarray) -> set[tuple[frozenset, frozenset]]:
    n_g, n_m = incidence.shape

    def intent(objs):
        return frozenset(m for m in range(n_m) if all(incidence[g, m] for g in objs))

    def extent(attrs):
        return frozenset(g for g in range(n_g) if all(incidence[g, m] for m in attrs))

    found = set()
    for r in range(n_g + 1):
        for objs in itertools.combinations(range(n_g), r):
            b = intent(objs)
            found.add((extent(b), b))
    return found


def _check_lattice(incidence: np.ndarray, objects: list[str], attributes: list[str]) -> None:
    found, edges = concept_lattice(objects, attributes, incidence)
    gi, mi = {n: k for k, n in enumerate(objects)}, {n: k for k, n in enumerate(attributes)}
    as_sets = [(frozenset(gi[g] for g in c.extent), frozenset(mi[m] for m in c.intent)) for c in found]
    assert set(as_sets) == _brute_force(incidence) and len(as_sets) == len(set(as_sets))
    n_g, n_m = incidence.shape
    for ext, inn in as_sets:  # closed: extent' = intent and intent' = extent
        assert inn == frozenset(m for m in range(n_m) if all(incidence[g, m] for g in ext))
        assert ext == frozenset(g for g in range(n_g) if all(incidence[g, m] for m in inn))
    exts = [e for e, _ in as_sets]
    assert exts[-1] == frozenset(range(n_g))  # top last
    assert all(exts[0] <= e for e in exts)  # bottom first
    order = {(a, b) for a in range(len(exts)) for b in range(len(exts)) if a != b and exts[a] < exts[b]}
    covers = {
        (a, b) for a, b in order if not any((a, c) in order and (c, b) in order for c in range(len(exts)))
    }
    assert set(edges) == covers and len(edges) == len(set(edges))
    closure = set(edges)
    while True:
        more = closure | {(a, d) for a, b in closure for c, d in closure if b == c}
        if more == closure:
            break
        closure = more
    assert closure == order
    # reduced labelling: each object / attribute is introduced by exactly one concept, the right one
    for k, c in enumerate(found):
        for g in c.objects:
            obj_intent = frozenset(m for m in range(n_m) if incidence[gi[g], m])
            assert as_sets[k][1] == obj_intent
        for m in c.attributes:
            assert as_sets[k][0] == frozenset(g for g in range(n_g) if incidence[g, mi[m]])
    assert sorted(g for c in found for g in c.objects) == sorted(objects)
    assert sorted(m for c in found for m in c.attributes) == sorted(attributes)


def test_random_contexts_against_brute_force():
    rng = np.random.default_rng(7)
    for _ in range(80):
        n_g, n_m = rng.integers(1, 6, size=2)
        incidence = rng.random((n_g, n_m)) < rng.uniform(0.1, 0.9)
        _check_lattice(incidence, [f"o{k}" for k in range(n_g)], [f"a{k}" for k in range(n_m)])


@pytest.mark.parametrize("fill", [True, False])
def test_full_and_empty_contexts(fill):
    incidence = np.full((3, 4), fill)
    _check_lattice(incidence, ["x", "y", "z"], ["p", "q", "r", "s"])


def test_object_and_attribute_names_may_coincide(rrc):
    lattice = lattice_at(NAMES, rrc, 0.5, ae_names=NAMES)  # rows named L, A, ... (no A_ prefix)
    _check_lattice(lattice.incidence, NAMES, NAMES)
    assert lattice.top.intent == ("V", "I")
