"""Figure builders: plotly figures with the expected traces and the lattice DOT text (Fig. 7)."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from s2s_core.analysis.crosstable import CrossTable
from s2s_core.analysis.fca import lattice_at
from s2s_core.analysis.figures import (
    cross_accuracy_heatmap,
    lab_histograms_figure,
    lattice_dot,
    nmi_bars_figure,
    noise_curves_figure,
    rrc_sorted_bar,
)
from s2s_core.analysis.lab import LabHistogramAccumulator
from s2s_core.analysis.paper import PAPER_NAMES, PAPER_TABLE2
from s2s_core.analysis.rrc import rrc_matrix
from s2s_core.analysis.tables import nmi_summary, table1
from s2s_core.errors import InputTableError

NAMES = list(PAPER_NAMES)
TABLE2 = PAPER_TABLE2
AES = [f"A_{n}" for n in NAMES]


def _label_names(dot: str) -> list[str]:
    """Every name written in a node label (text between HTML tags, split at ', ')."""
    texts = re.findall(r"<FONT COLOR=\"#[0-9a-f]{6}\">([^<]*)</FONT>", dot)
    return [name for text in texts for name in text.split(", ") if name.strip()]


def test_lattice_dot_reduced_labelling_and_direction():
    rrc = rrc_matrix(TABLE2)
    dot2 = lattice_dot(lattice_at(NAMES, rrc, 0.2))
    dot9 = lattice_dot(lattice_at(NAMES, rrc, 0.9), title="t = 0.9")
    for dot in (dot2, dot9):
        assert "rankdir=BT" in dot and dot.startswith("digraph")
        assert sorted(_label_names(dot)) == sorted(NAMES + AES)  # each name exactly once
    assert dot2 != dot9
    lattice9 = lattice_at(NAMES, rrc, 0.9)
    assert dot9.count(" -> ") == len(lattice9.edges) == 7
    assert dot9.count("label=<<TABLE") == len(lattice9.concepts)
    assert 'label="t = 0.9"' in dot9


def test_lattice_dot_places_classifiers_above_and_aes_below():
    lattice = lattice_at(NAMES, rrc_matrix(TABLE2), 0.9)
    dot = lattice_dot(lattice)
    node = re.search(r"c0 \[label=<(.*)>\];", dot).group(1)  # bottom concept: introduces I and A_A..A_R
    rows = re.findall(r"<TR>(.*?)</TR>", node)
    assert "I" in rows[0] and "&#9679;" in rows[1] and "A_I" in rows[2]


def test_lattice_dot_escapes_names():
    rrc = rrc_matrix(np.array([[0.5, 0.4], [0.3, 0.6]]))
    dot = lattice_dot(lattice_at(["a<b", 'q"&'], rrc, 0.5), title='say "hi"')
    assert "a&lt;b" in dot and "q&quot;&amp;" in dot and 'label="say \\"hi\\""' in dot


def test_cross_accuracy_heatmap():
    fig = cross_accuracy_heatmap(CrossTable(names=NAMES, ae_names=AES, acc=TABLE2))
    assert isinstance(fig, go.Figure) and len(fig.data) == 1
    assert np.array_equal(np.asarray(fig.data[0].z), TABLE2) and list(fig.data[0].y) == AES


def test_rrc_sorted_bar():
    rrc = rrc_matrix(TABLE2)
    fig = rrc_sorted_bar(NAMES, rrc, threshold=0.5)
    assert len(fig.data) == 5 and [t.name for t in fig.data] == NAMES
    order = list(fig.layout.xaxis.categoryarray)
    assert len(order) == 25 and order[0] == "V∘A_A" and "V∘A_R" in order
    values = {x: y for t in fig.data for x, y in zip(t.x, t.y, strict=True)}
    assert [values[x] for x in order] == sorted(values.values())
    assert values["V∘A_R"] == pytest.approx(0.0710 / 0.7163)
    assert len({t.marker.color for t in fig.data}) == 5


def _noise_frame() -> pd.DataFrame:
    rows = []
    for clf, base in (("L", 0.3), ("A", 0.5), ("V", 0.7)):
        for s in (0.0, 0.5, 1.0):
            for inp, drop in (("original", 0.2), ("A_S", 0.3), (f"A_{clf}", 0.1), ("A_V", 0.15)):
                rows.append({"classifier": clf, "input": inp, "s": s, "top1": base - drop * s})
    return pd.DataFrame(rows)


def test_noise_curves_figure():
    fig = noise_curves_figure(_noise_frame())
    assert len(fig.data) == 3 * 4  # per classifier: dashed original in both panels, A_S left, A_i right
    dashed = [t for t in fig.data if t.line.dash == "dash"]
    assert len(dashed) == 6 and all(t.name.endswith("(original)") for t in dashed)
    right = [t.name for t in fig.data if t.xaxis == "x2" and t.line.dash == "solid"]
    assert right == ["L∘A_L", "A∘A_A", "V∘A_V"]
    with pytest.raises(InputTableError, match="top1"):
        noise_curves_figure(_noise_frame().drop(columns="top1"))


def test_nmi_bars_figure():
    df = pd.DataFrame(
        [
            {"ae": ae, "kind": kind, "mean": mean, "std": 0.05, "n": 10}
            for ae, intra in (("A_S", 0.6), ("A_V", 0.5), ("A_A", 0.2))
            for kind, mean in (("intra", intra), ("inter", intra / 3))
        ]
    )
    fig = nmi_bars_figure(df)
    assert len(fig.data) == 2 and [t.name for t in fig.data] == ["intra-class nMI", "inter-class nMI"]
    assert list(fig.data[0].x) == ["A_S", "A_V", "A_A"] and list(fig.data[0].error_y.array) == [0.05] * 3
    assert len(nmi_bars_figure(df[df["kind"] == "intra"]).data) == 1


def test_lab_histograms_figure_from_frame_and_arrays():
    import torch

    frames = []
    hists = {}
    for ae in ("original", "A_S", "A_V"):
        acc = LabHistogramAccumulator(bins=8)
        acc.update(torch.rand(1, 3, 8, 8))
        frames.append(acc.frame(ae))
        hists[ae] = acc.histograms()
    fig = lab_histograms_figure(pd.concat(frames))
    assert len(fig.data) == 9 and [t.name for t in fig.data[:3]] == ["original"] * 3
    assert len(lab_histograms_figure(hists).data) == 9


def test_table1_of_the_paper():
    acc = pd.DataFrame(
        [
            ("L", "original", 0.3230, 0.5463),
            ("L", "A_S", 0.3108, 0.5301),
            ("L", "A_L", 0.3485, 0.5779),
            ("L", "A_V", 0.1, 0.2),  # a cross pair: not part of Table 1
            ("V", "original", 0.7135, 0.9050),
            ("V", "A_S", 0.6759, 0.8795),
            ("V", "A_V", 0.7165, 0.9055),
        ],
        columns=["classifier", "input", "top1", "top5"],
    )
    t1 = table1(acc)
    assert list(t1["network"]) == ["L", "L∘A_S", "L∘A_L", "V", "V∘A_S", "V∘A_V"]
    row = t1.set_index("network")
    assert row.loc["L∘A_S", "diff top-1"] == pytest.approx(-1.22)
    assert row.loc["L∘A_L", "diff top-5"] == pytest.approx(3.16)
    assert row.loc["V∘A_V", "top-1"] == pytest.approx(71.65)
    assert np.isnan(row.loc["V", "diff top-1"])


def _nmi_frame() -> pd.DataFrame:
    rows = []
    for est, shift in (("mm-32", 0.0), ("raw-256", 0.2)):
        for ae, kind, mean in (("A_S", "intra", 0.8), ("A_S", "inter", 0.2), ("A_L", "intra", 0.5),
                               ("A_L", "inter", 0.3), ("original", "inter", 0.25)):
            rows.append({"ae": ae, "kind": kind, "estimator": est, "levels": 32, "mean": mean + shift,
                         "std": 0.1, "se": 0.01, "ci_low": mean - 0.02, "ci_high": mean + 0.02, "n": 10,
                         "chance_mean": 0.25 + shift, "chance_std": 0.05, "chance_se": 0.005, "chance_n": 5,
                         "above_chance": mean - 0.25, "above_chance_low": mean - 0.27,
                         "above_chance_high": mean - 0.23})
    return pd.DataFrame(rows)


def test_nmi_summary_one_row_per_ae_beside_chance():
    table = nmi_summary(_nmi_frame())
    assert list(table.index) == ["A_S", "A_L"] and table.index.name == "AE"  # the originals are the chance level
    assert table.loc["A_L", "intra mean"] == pytest.approx(0.5)  # the primary (first) estimator only
    assert table.loc["A_S", "inter n"] == 10 and table.loc["A_S", "intra std"] == pytest.approx(0.1)
    assert table.loc["A_L", "inter − chance"] == pytest.approx(0.05)
    assert table.loc["A_S", "chance mean"] == pytest.approx(0.25) and table.loc["A_S", "chance n"] == 5


def test_nmi_bars_figure_draws_the_chance_level():
    fig = nmi_bars_figure(_nmi_frame())
    assert [list(t.x) for t in fig.data] == [["A_S", "A_L"], ["A_S", "A_L"]]
    assert [s["y0"] for s in fig.layout.shapes if s["type"] == "line"] == [pytest.approx(0.25)]
    assert "chance 0.250" in fig.layout.annotations[0].text


def test_wilson_interval_known_answers() -> None:
    from s2s_core.analysis.stats import wilson_interval

    lo, hi = wilson_interval(5, 10)
    assert (round(lo, 4), round(hi, 4)) == (0.2366, 0.7634)  # the textbook example
    lo, hi = wilson_interval(10, 10)
    assert hi == pytest.approx(1.0) and round(lo, 4) == 0.7225  # not empty at p = 1
    assert all(v != v for v in wilson_interval(0, 0))


def test_plots_beside_the_tables_have_intervals_and_chance() -> None:
    from s2s_core.analysis.figures import table1_figure, zeroing_figure

    acc = pd.DataFrame({"classifier": ["L", "L", "L"], "input": ["original", "A_S", "A_L"], "top1": [0.5, 0.4, 0.5],
                        "top5": [1.0, 1.0, 1.0]})
    fig = table1_figure(acc, n=10, chance=0.1)
    assert [t.name for t in fig.data] == ["i (original)", "i∘A_S", "i∘A_i"]
    assert fig.data[0].y[0] == 50 and round(fig.data[0].error_y.array[0], 2) == round(100 * (0.7634 - 0.5), 2)
    assert fig.layout.shapes[0].y0 == 10  # chance line
    assert table1_figure(acc).data[0].error_y.visible is False  # no n: no made-up intervals
    high = acc.assign(top1=[0.97, 0.95, 0.98])  # a few points apart: the axis starts below the lowest interval
    fig = table1_figure(high, n=500, chance=0.1)
    assert fig.layout.yaxis.range[0] == 85 and not fig.layout.shapes  # 95 % of 500: Wilson low 92.7 %, -5
    assert "chance 10 % lies below it" in fig.layout.annotations[0].text
    z = pd.DataFrame({"classifier": ["L"], "k": [3], "drop_relevant": [0.3], "drop_random": [0.01],
                      "drop_diff": [0.29], "drop_ci_low": [0.2], "drop_ci_high": [0.35], "flip_diff": [0.1],
                      "flip_ci_low": [0.05], "flip_ci_high": [0.2], "verdict": ["hurts more than random"]})
    fig = zeroing_figure(z)
    assert [t.name for t in fig.data] == ["k random channels zeroed", "top-k relevant zeroed",
                                          "drop: relevant − random", "flip rate: relevant − random"]
    assert list(fig.data[1].y) == [0.3] and list(fig.data[2].y) == [0.29]
    assert list(fig.data[2].error_y.arrayminus) == pytest.approx([0.09])
    assert list(fig.data[3].error_y.array) == pytest.approx([0.1])
