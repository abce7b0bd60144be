"""Markdown tables of a zoo's results (Table 1, Table 2, nMI), as quoted in the README.

    python -m s2s_core.demo.report checkpoints/demo
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from s2s_core.analysis.evaluate import RESULT_FILES
from s2s_core.analysis.figures import accuracy_table_frame


def _markdown(frame: pd.DataFrame, index: bool = False) -> str:
    cols = ([frame.index.name or ""] if index else []) + [str(c) for c in frame.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for key, row in frame.iterrows():
        cells = [str(key)] if index else []
        cells += ["" if pd.isna(v) else (f"{v:+.2f}" if isinstance(v, float) and "diff" in str(c) else
                                         f"{v:.4f}" if isinstance(v, float) and v <= 1 and not str(c).startswith("top")
                                         else f"{v:.2f}" if isinstance(v, float) else str(v))
                  for c, v in row.items()]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def report(zoo_dir: str | Path) -> str:
    """Table 1 (top-1/top-5 in %, differences in points), Table 2 (fractions) and nMI (mean ± std) as markdown."""
    results = Path(zoo_dir) / "results"
    acc = pd.read_csv(results / RESULT_FILES["accuracy"])
    cross = pd.read_csv(results / RESULT_FILES["cross_accuracy"], index_col=0)
    nmi = pd.read_csv(results / RESULT_FILES["nmi"])
    table1 = accuracy_table_frame(acc)
    nmi_wide = nmi.pivot(index="ae", columns="kind", values=["mean", "std"])
    nmi_table = pd.DataFrame({
        "intra nMI": [f"{m:.3f} ± {s:.3f}" for m, s in zip(nmi_wide["mean"]["intra"], nmi_wide["std"]["intra"], strict=True)],
        "inter nMI": [f"{m:.3f} ± {s:.3f}" for m, s in zip(nmi_wide["mean"]["inter"], nmi_wide["std"]["inter"], strict=True)],
    }, index=nmi_wide.index)
    order = ["A_S"] + [f"A_{c}" for c in cross.columns]
    nmi_table = nmi_table.loc[[a for a in order if a in nmi_table.index]]
    return "\n\n".join([
        "**Table 1** (top-1 / top-5 in %, differences to the classifier alone in points):",
        _markdown(table1),
        "**Table 2** (top-1 of classifier j, columns, on reconstructions of A_i, rows):",
        _markdown(cross, index=True),
        "**nMI** (mean ± standard deviation over the test images; inter: consecutive pairs):",
        _markdown(nmi_table, index=True),
    ])


if __name__ == "__main__":  # pragma: no cover
    print(report(sys.argv[1] if len(sys.argv) > 1 else "checkpoints/demo"))
