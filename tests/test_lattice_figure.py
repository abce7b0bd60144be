"""Fig. 7 as a figure (s2s_core.analysis.lattice_figure) on the paper's Table 2: reduced labelling (every
classifier once above its node, every AE once below its node), node size and colour by extent, edges upward,
and no label box crossing an edge, a node or another label, checked from the figure's own JSON."""

from __future__ import annotations

import numpy as np
import pytest

from s2s_core.analysis.crosstable import read_cross_table
from s2s_core.analysis.fca import lattice_at, threshold_intervals
from s2s_core.analysis.lattice_figure import (
    ATTRIBUTE_COLOUR,
    MARGIN,
    OBJECT_COLOUR,
    WIDTH,
    Box,
    label_boxes,
    lattice_figure,
)
from s2s_core.analysis.paper import paper_table2_csv
from s2s_core.analysis.rrc import rrc_matrix

TABLE = read_cross_table(paper_table2_csv())
RRC = rrc_matrix(TABLE.acc)
#: One threshold inside every interval over which the context stays the same: every lattice Table 2 has.
THRESHOLDS = [0.0] + [hi for _, hi in threshold_intervals(RRC) if hi is not None] + [1.3]


def lattice(t: float):
    return lattice_at(TABLE.names, RRC, t, ae_names=TABLE.ae_names)


def test_box_segment_known_answers() -> None:
    b = Box(0, 0, 10, 10)
    assert b.hits_segment((-5, 5), (15, 5)) and b.hits_segment((5, 5), (5, 50))  # through, from inside
    assert not b.hits_segment((-5, -5), (-1, 20)) and not b.hits_segment((11, 0), (20, 10))
    assert b.hits_segment((-5, 0), (5, 20)) and not b.hits_segment((-10, 0), (0, 20.5))  # diagonal near a corner
    assert b.hits_box(Box(9, 9, 20, 20)) and not b.hits_box(Box(10, 0, 20, 10))  # touching edges do not count


@pytest.mark.parametrize("t", [0.2, 0.53, 0.54, 0.61, 0.8, 0.97])
def test_reduced_labelling_sizes_and_colours(t: float) -> None:
    lat = lattice(t)
    fig = lattice_figure(lat, title=f"t = {t}")
    above = [a for a in fig.layout.annotations if a.font.color == OBJECT_COLOUR]
    below = [a for a in fig.layout.annotations if a.font.color == ATTRIBUTE_COLOUR]
    strip = lambda a: a.text.removeprefix("<b>").removesuffix("</b>").split(", ")  # noqa: E731
    assert sorted(n for a in above for n in strip(a)) == sorted(TABLE.names)  # each classifier once
    assert sorted(n for a in below for n in strip(a)) == sorted(TABLE.ae_names)  # each AE once
    assert all(a.yanchor == "bottom" and a.yshift > 0 for a in above)
    assert all(a.yanchor == "top" and a.yshift < 0 for a in below)
    edges, nodes = fig.data
    extents = [len(c.extent) for c in lat.concepts]
    assert list(nodes.marker.color) == extents
    order = np.argsort(extents, kind="stable")
    assert np.all(np.diff(np.asarray(nodes.marker.size)[order]) >= 0)  # bigger extent, bigger node
    ys = dict(enumerate(nodes.y))
    assert all(ys[hi] > ys[lo] for lo, hi in lat.edges)  # every cover edge goes up
    assert len([v for v in edges.x if v is None]) == len(lat.edges)
    for a in above:  # the label names the classifiers its node introduces
        k = min(range(len(nodes.x)), key=lambda k: abs(nodes.y[k] - a.y) + (0 if strip(a) == list(
            lat.concepts[k].objects) else 100))
        assert strip(a) == list(lat.concepts[k].objects)


def _figure_geometry(fig):
    """Label boxes, node boxes and edge segments in pixels at the reference size, from the figure's JSON."""
    layout = fig.layout
    (x_lo, x_hi), (y_lo, y_hi) = layout.xaxis.range, layout.yaxis.range
    w, h = WIDTH - MARGIN["l"] - MARGIN["r"], layout.height - MARGIN["t"] - MARGIN["b"]

    def px(x, y):
        return (x - x_lo) / (x_hi - x_lo) * w, (y - y_lo) / (y_hi - y_lo) * h

    edges, nodes = fig.data
    pts = list(zip(edges.x, edges.y, strict=True))
    segments = [(px(*pts[i]), px(*pts[i + 1])) for i in range(0, len(pts), 3)]
    node_boxes = []
    for x, y, size in zip(nodes.x, nodes.y, nodes.marker.size, strict=True):
        cx, cy = px(x, y)
        node_boxes.append(Box(cx - size / 2, cy - size / 2, cx + size / 2, cy + size / 2))
    labels = []
    for a in fig.layout.annotations:
        text = a.text.removeprefix("<b>").removesuffix("</b>")
        tw, th = 0.6 * a.font.size * len(text), 1.2 * a.font.size  # a little tighter than the placement's
        ax, ay = px(a.x, a.y)
        x0 = {"left": ax, "right": ax - tw, "center": ax - tw / 2}[a.xanchor]
        y0 = ay + a.yshift if a.yanchor == "bottom" else ay + a.yshift - th
        labels.append(Box(x0, y0, x0 + tw, y0 + th))
    return labels, node_boxes, segments


def test_no_label_crosses_an_edge_a_node_or_a_label_at_any_threshold() -> None:
    for t in THRESHOLDS:
        fig = lattice_figure(lattice(t))
        labels, nodes, segments = _figure_geometry(fig)
        for i, box in enumerate(labels):
            assert not any(box.hits_segment(p, q) for p, q in segments), (t, fig.layout.annotations[i].text)
            assert not any(box.hits_box(n) for n in nodes), (t, fig.layout.annotations[i].text)
            assert not any(box.hits_box(o) for o in labels[i + 1:]), (t, fig.layout.annotations[i].text)
        assert all(lab.clear for lab in label_boxes(lattice(t))[0]), t
