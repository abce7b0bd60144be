"""``s2s signal-order`` (Sec. 3.4).

``s2s signal-order CROSS.csv [--threshold T] [--json] [--figure FILE]`` reads a cross-accuracy table (see
:mod:`s2s_core.analysis.crosstable`), computes RRC, the formal context at ``T`` (default 0.5), its
concepts and cover edges, and the threshold intervals over which the context does not change.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from s2s_core.analysis.crosstable import CrossTable, read_cross_table
from s2s_core.analysis.fca import Interval, Lattice, lattice_at, threshold_intervals
from s2s_core.analysis.lattice_figure import lattice_figure
from s2s_core.analysis.rrc import rrc_matrix
from s2s_core.errors import ConfigError

DEFAULT_THRESHOLD = 0.5


def register(sub) -> None:
    p = sub.add_parser(
        "signal-order",
        help="RRC, formal concepts and lattice of a cross-accuracy table (Sec. 3.4)",
        description="Read a square cross-accuracy CSV (header: classifiers j; first column: AEs A_i in the same "
        "order; cell: acc(j∘A_i)) and print RRC(j∘A_i) = acc(j∘A_i) / min(acc_i, acc_j), the formal context "
        "at the threshold (classifier j has A_i iff RRC >= T), its concepts, the cover edges of the concept "
        "lattice and the threshold intervals lo < t <= hi that give the same context.",
    )
    p.add_argument(
        "table", type=Path, metavar="CROSS.csv", help="cross-accuracy table (row names A_<name> or <name>)"
    )
    p.add_argument(
        "--threshold", "-t", type=float, default=DEFAULT_THRESHOLD, help="RRC threshold T (default 0.5)"
    )
    p.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    p.add_argument("--figure", type=Path, metavar="FILE",
                   help="also write the lattice at T as a figure (Fig. 7): .svg, .png or .pdf (needs kaleido and "
                        "a Chromium, as the dashboard's downloads; the same drawing as on its Signal order page)")
    p.set_defaults(func=_signal_order)


def signal_order(
    table: CrossTable, threshold: float = DEFAULT_THRESHOLD
) -> tuple[np.ndarray, Lattice, list[Interval]]:
    """RRC matrix ``(n, n)``, lattice at ``threshold`` and all threshold intervals of a cross table."""
    rrc = rrc_matrix(table.acc)
    lattice = lattice_at(table.names, rrc, threshold, ae_names=table.ae_names)
    return rrc, lattice, threshold_intervals(rrc)


def signal_order_dict(table: CrossTable, threshold: float = DEFAULT_THRESHOLD) -> dict:
    """The ``--json`` object: ``rrc``, ``concepts``, ``edges``, ``intervals`` (plus ``threshold`` and the
    ``interval`` containing it)."""
    rrc, lattice, intervals = signal_order(table, threshold)
    return {
        "rrc": {
            ae: {clf: float(rrc[i, j]) for j, clf in enumerate(table.names)}
            for i, ae in enumerate(table.ae_names)
        },
        **lattice.to_dict(),
        "intervals": [list(iv) for iv in intervals],
        "threshold": float(threshold),
        "interval": list(lattice.interval),
    }


def _fmt_interval(iv: Interval) -> str:
    lo, hi = iv
    return f"({'-inf' if lo is None else f'{lo:.4f}'}, {'+inf)' if hi is None else f'{hi:.4f}]'}"


def format_report(table: CrossTable, threshold: float = DEFAULT_THRESHOLD) -> str:
    """The readable report: RRC matrix, context cross table, concepts, edges and the interval holding T."""
    rrc, lattice, intervals = signal_order(table, threshold)
    rrc_df = pd.DataFrame(rrc, index=table.ae_names, columns=table.names)
    ctx = pd.DataFrame(np.where(lattice.incidence, "X", "."), index=table.names, columns=table.ae_names)
    lines = ["RRC(j∘A_i) = acc(j∘A_i) / min(acc_i, acc_j)   (rows: AEs A_i, columns: classifiers j)"]
    lines += [rrc_df.to_string(float_format=lambda v: f"{v:.4f}"), ""]
    lines += [f"Formal context at T = {threshold:g} (rows: classifiers, columns: AEs; X iff RRC >= T)"]
    lines += [ctx.to_string(), ""]
    lines += [f"Formal concepts ({len(lattice.concepts)}, bottom first):"]
    for k, c in enumerate(lattice.concepts):
        lines.append(f"  [{k}] extent {{{', '.join(c.extent)}}}  intent {{{', '.join(c.intent)}}}")
    lines.append(
        "Cover edges (lower -> upper): " + (", ".join(f"{lo}->{hi}" for lo, hi in lattice.edges) or "none")
    )
    shape = "a chain (total order)" if lattice.is_chain() else "not a chain"
    lines += [f"The lattice is {shape}.", ""]
    lines.append(
        f"Every T in {_fmt_interval(lattice.interval)} gives this context "
        f"({len(intervals)} distinct threshold intervals in all)."
    )
    return "\n".join(lines)


FIGURE_FORMATS = (".svg", ".png", ".pdf")


def write_lattice_figure(table: CrossTable, threshold: float, path: Path) -> Path:
    """Write Fig. 7 at ``threshold`` (:func:`~s2s_core.analysis.lattice_figure.lattice_figure`) to ``path``
    (.svg/.png/.pdf) through a temporary file, so a failed export leaves nothing half-written."""
    path = Path(path)
    if path.suffix.lower() not in FIGURE_FORMATS:
        raise ConfigError(f"--figure {path}: the file name must end in {', '.join(FIGURE_FORMATS)}")
    _, lattice, _ = signal_order(table, threshold)
    fig = lattice_figure(lattice, title=f"concept lattice at t = {threshold:g}")
    tmp = path.with_name(f".{path.name}.tmp{path.suffix}")
    try:
        fig.write_image(str(tmp), format=path.suffix.lower().lstrip("."), scale=2 if path.suffix.lower() == ".png" else 1)
        os.replace(tmp, path)
    except (OSError, ValueError, RuntimeError) as exc:
        tmp.unlink(missing_ok=True)
        raise ConfigError(f"--figure {path}: could not write the figure ({type(exc).__name__}: {exc})"[:400]) from None
    return path


def _signal_order(args) -> int:
    table = read_cross_table(args.table)
    if args.figure is not None:
        write_lattice_figure(table, args.threshold, args.figure)
    if args.json:
        print(json.dumps(signal_order_dict(table, args.threshold), ensure_ascii=False))
    else:
        print(format_report(table, args.threshold))
    sys.stdout.flush()
    return 0
