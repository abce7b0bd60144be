"""Analyses of Sec. 3.3-3.5: cross accuracy and RRC, formal concept lattices, nMI, L*a*b* histograms,
noise curves, and the figures that show them.

Modules: :mod:`.crosstable` (reading the cross-accuracy CSV), :mod:`.rrc` (RRC), :mod:`.fca` (contexts,
concepts, cover edges, threshold intervals), :mod:`.nmi`, :mod:`.lab`, :mod:`.noise`, :mod:`.figures`
(plotly and DOT builders; not imported here because plotly is slow to import), :mod:`.commands` (CLI).

Note: ``s2s_core.analysis.nmi`` is the *function* :func:`~s2s_core.analysis.nmi.nmi` once this package
is imported (it shadows the submodule attribute); import other names of the module with
``from s2s_core.analysis.nmi import nmi_batch``.
"""

from s2s_core.analysis.crosstable import CrossTable, read_cross_table
from s2s_core.analysis.fca import (
    Concept,
    Lattice,
    concept_lattice,
    context_interval,
    formal_context,
    lattice_at,
    threshold_intervals,
)
from s2s_core.analysis.lab import LabHistogramAccumulator, lab_histograms, rgb_to_lab
from s2s_core.analysis.nmi import nmi, nmi_batch
from s2s_core.analysis.noise import NOISE_GRID, add_uniform_noise
from s2s_core.analysis.rrc import rrc_matrix, sorted_pairs

__all__ = [
    "NOISE_GRID",
    "Concept",
    "CrossTable",
    "LabHistogramAccumulator",
    "Lattice",
    "add_uniform_noise",
    "concept_lattice",
    "context_interval",
    "formal_context",
    "lab_histograms",
    "lattice_at",
    "nmi",
    "nmi_batch",
    "read_cross_table",
    "rgb_to_lab",
    "rrc_matrix",
    "sorted_pairs",
    "threshold_intervals",
]
