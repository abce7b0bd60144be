"""Formal concept analysis of the RRC table, Sec. 3.4 (Fig. 7).

The formal context at threshold ``t`` has the classifiers ``j`` as objects, the fine-tuned AEs ``A_i`` as
attributes, and ``j I A_i  iff  RRC(j∘A_i) >= t``. Its formal concepts ``(extent, intent)`` (``extent' =
intent``, ``intent' = extent``) ordered by extent inclusion form the concept lattice. The concepts and
the cover relation come from the ``concepts`` package (xflr6); this module keeps the names, the order and
the threshold bookkeeping.

The context only changes when ``t`` crosses an RRC value: with ``r_1 < ... < r_k`` the distinct RRC
values, every ``t`` in one of ``(-inf, r_1], (r_1, r_2], ..., (r_k, +inf)`` gives the same context
(``RRC >= t`` iff ``RRC > lo`` for ``lo < t <= hi``). Unbounded ends are ``None``.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field

import concepts
import numpy as np

from s2s_core.errors import ConfigError
from s2s_core.views import ae_key

Interval = tuple[float | None, float | None]


@dataclass(frozen=True)
class Concept:
    """A formal concept.

    Attributes:
        extent: objects (classifier names) of the concept, in context order.
        intent: attributes (AE names) of the concept, in context order.
        objects: the objects this concept introduces (reduced labelling: ``g`` with ``(g'', g')`` = this).
        attributes: the attributes this concept introduces (``m`` with ``(m', m'')`` = this).
    """

    extent: tuple[str, ...]
    intent: tuple[str, ...]
    objects: tuple[str, ...]
    attributes: tuple[str, ...]


@dataclass(frozen=True, eq=False)  # holds arrays: compare fields explicitly
class Lattice:
    """The concept lattice of one formal context.

    Attributes:
        objects: classifier names ``G`` (context rows), length ``n_g``.
        attributes: AE names ``M`` (context columns), length ``n_m``.
        incidence: ``(n_g, n_m)`` bool, ``incidence[j, i]`` iff classifier ``j`` has attribute ``A_i``.
        concepts: sorted by extent size, then by the context positions of the extent's objects: the
            first is the bottom concept, the last the top concept.
        edges: cover pairs ``(lower, upper)`` indexing ``concepts``; ``upper`` covers ``lower`` (larger extent).
        threshold: the RRC threshold ``t`` the context was made at (``None`` for a context given directly).
        interval: the threshold interval ``(lo, hi]`` holding ``t`` over which the context is the same.
    """

    objects: tuple[str, ...]
    attributes: tuple[str, ...]
    incidence: np.ndarray
    concepts: tuple[Concept, ...]
    edges: tuple[tuple[int, int], ...]
    threshold: float | None = None
    interval: Interval | None = field(default=None)

    @property
    def top(self) -> Concept:
        return self.concepts[-1]

    @property
    def bottom(self) -> Concept:
        return self.concepts[0]

    def is_chain(self) -> bool:
        """Whether the concepts are totally ordered (the lattice is a chain)."""
        extents = [set(c.extent) for c in self.concepts]
        return all(a <= b for a, b in zip(extents, extents[1:], strict=False))

    def to_dict(self) -> dict:
        """JSON-ready ``{"concepts": [{"extent", "intent"}], "edges": [[lower, upper]]}``."""
        return {
            "concepts": [{"extent": list(c.extent), "intent": list(c.intent)} for c in self.concepts],
            "edges": [list(e) for e in self.edges],
        }


def formal_context(rrc: np.ndarray, t: float) -> np.ndarray:
    """The incidence at threshold ``t``.

    Args:
        rrc: ``(n_ae, n_classifier)`` RRC values, ``rrc[i, j] = RRC(j∘A_i)``.
        t: the threshold.

    Returns:
        ``(n_classifier, n_ae)`` bool, ``[j, i] = RRC(j∘A_i) >= t`` (objects are classifiers).
    """
    t = _check_threshold(t)
    values = np.asarray(rrc, dtype=np.float64).T
    return values >= t


def threshold_intervals(rrc: np.ndarray) -> list[Interval]:
    """The threshold intervals ``(lo, hi]`` over which the context does not change.

    Returns ``[(None, r_1), (r_1, r_2), ..., (r_k, None)]`` for the sorted distinct RRC values ``r``;
    interval ``(lo, hi)`` stands for ``lo < t <= hi``.
    """
    values = [float(v) for v in np.unique(np.asarray(rrc, dtype=np.float64))]
    bounds: list[float | None] = [None, *values, None]
    return list(zip(bounds[:-1], bounds[1:], strict=True))


def context_interval(rrc: np.ndarray, t: float) -> Interval:
    """The interval ``(lo, hi]`` of :func:`threshold_intervals` that contains ``t``."""
    t = _check_threshold(t)
    values = [float(v) for v in np.unique(np.asarray(rrc, dtype=np.float64))]
    k = bisect.bisect_left(values, t)  # values[:k] < t <= values[k:]
    lo = values[k - 1] if k > 0 else None
    hi = values[k] if k < len(values) else None
    return lo, hi


def concept_lattice(
    objects: list[str], attributes: list[str], incidence: np.ndarray
) -> tuple[tuple[Concept, ...], tuple[tuple[int, int], ...]]:
    """All formal concepts of a context and the cover relation of their lattice.

    Args:
        objects: ``n_g`` distinct object names; attributes: ``n_m`` distinct attribute names (an object
            may share its name with an attribute).
        incidence: ``(n_g, n_m)`` bool.

    Returns:
        ``(concepts, edges)`` as in :class:`Lattice`.
    """
    incidence = np.asarray(incidence, dtype=bool)
    if incidence.shape != (len(objects), len(attributes)) or not objects or not attributes:
        raise ConfigError(
            f"incidence of shape {incidence.shape} does not match {len(objects)} objects and {len(attributes)} attributes"
        )
    # Internal labels: the package requires object and attribute names to be disjoint, and ours may clash.
    g_labels = [f"g{k}" for k in range(len(objects))]
    m_labels = [f"m{k}" for k in range(len(attributes))]
    context = concepts.Context(g_labels, m_labels, [tuple(map(bool, row)) for row in incidence])
    g_index = {label: k for k, label in enumerate(g_labels)}
    m_index = {label: k for k, label in enumerate(m_labels)}

    def positions(labels, index) -> tuple[int, ...]:
        return tuple(sorted(index[label] for label in labels))

    raw = list(context.lattice)
    keys = [positions(c.extent, g_index) for c in raw]
    order = sorted(range(len(raw)), key=lambda k: (len(keys[k]), keys[k]))
    rank = {raw[k].index: r for r, k in enumerate(order)}
    result = []
    for k in order:
        c = raw[k]
        result.append(
            Concept(
                extent=tuple(objects[p] for p in keys[k]),
                intent=tuple(attributes[p] for p in positions(c.intent, m_index)),
                objects=tuple(objects[p] for p in positions(c.objects, g_index)),
                attributes=tuple(attributes[p] for p in positions(c.properties, m_index)),
            )
        )
    edges = sorted((rank[c.index], rank[u.index]) for c in raw for u in c.upper_neighbors)
    return tuple(result), tuple(edges)


def lattice_at(names: list[str], rrc: np.ndarray, t: float, ae_names: list[str] | None = None) -> Lattice:
    """The concept lattice of the RRC context at threshold ``t`` (Fig. 7).

    Args:
        names: ``n`` classifier names (objects), in table order.
        rrc: ``(n, n)`` RRC, ``rrc[i, j] = RRC(j∘A_i)`` (see :func:`s2s_core.analysis.rrc.rrc_matrix`).
        t: the threshold.
        ae_names: the ``n`` AE names (attributes); default ``"A_<name>"``.

    Returns:
        The :class:`Lattice`, with ``threshold = t`` and the interval holding ``t``. A 5x5 table takes
        well under a millisecond.
    """
    rrc = np.asarray(rrc, dtype=np.float64)
    ae_names = [ae_key(n) for n in names] if ae_names is None else list(ae_names)
    if rrc.shape != (len(ae_names), len(names)):
        raise ConfigError(
            f"RRC table of shape {rrc.shape} does not match {len(ae_names)} AEs x {len(names)} classifiers"
        )
    incidence = formal_context(rrc, t)
    found, edges = concept_lattice(list(names), ae_names, incidence)
    return Lattice(
        objects=tuple(names),
        attributes=tuple(ae_names),
        incidence=incidence,
        concepts=found,
        edges=edges,
        threshold=float(t),
        interval=context_interval(rrc, t),
    )


def _check_threshold(t: float) -> float:
    try:
        t = float(t)
    except (TypeError, ValueError):
        raise ConfigError(f"threshold {t!r} is not a number") from None
    if not math.isfinite(t):
        raise ConfigError(f"threshold is {t}: give a finite number such as 0.5")
    return t
