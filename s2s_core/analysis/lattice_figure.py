"""Fig. 7 of the paper as a figure worth printing: the concept lattice as a plotly figure (Sec. 3.4).

* Layout: concepts in layers by the longest chain below them (the bottom concept at the bottom, the top at
  the top), ordered inside a layer by the barycentre of their neighbours (a few up/down sweeps, which keeps
  edges from crossing where it can), straight cover edges.
* Nodes: size and colour grow with the extent (how many classifiers share the concept's AEs).
* Reduced labelling as in the paper: each classifier is written once, above the concept that introduces it;
  each AE once, below the concept that introduces it.
* No label crosses an edge, a node or another label: each label tries a few places around its node (above
  or below it, centred or to a side; beside it; further out) and takes the first that is free, measured in
  pixels at the reference width :data:`WIDTH`. Label anchors are data coordinates, so a wider rendering
  (the dashboard stretches the figure to the page) only pulls things apart.

The same figure object is shown on screen and exported (kaleido renders it with the same plotly.js), so the
SVG/PNG files look like the screen. :func:`label_boxes` returns the geometry the placement checked, for tests.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

import plotly.graph_objects as go

from s2s_core.analysis.fca import Lattice

OBJECT_COLOUR = "#1f4e9c"  # classifiers, above the nodes
ATTRIBUTE_COLOUR = "#a4262c"  # AEs, below the nodes
EDGE_COLOUR = "#7a7a7a"
#: Node colours from few to all classifiers in the extent (light to dark blue).
NODE_SCALE = [[0.0, "#deebf7"], [0.5, "#6baed6"], [1.0, "#08306b"]]
#: Reference size in pixels at which labels are placed (the figure may be drawn wider, never needs to be).
WIDTH = 1000
LAYER_PX = 120
FONT_PX = 15
MARGIN = {"l": 30, "r": 110, "t": 60, "b": 30}


@dataclass(frozen=True)
class Box:
    """An axis-aligned box in pixels (x right, y up)."""

    x0: float
    y0: float
    x1: float
    y1: float

    def hits_box(self, o: Box) -> bool:
        return self.x0 < o.x1 and o.x0 < self.x1 and self.y0 < o.y1 and o.y0 < self.y1

    def hits_segment(self, p: tuple[float, float], q: tuple[float, float]) -> bool:
        """Whether the segment ``p``–``q`` passes through the box (Liang–Barsky clipping)."""
        (x0, y0), (x1, y1) = p, q
        dx, dy = x1 - x0, y1 - y0
        lo, hi = 0.0, 1.0
        for d, a, b in ((dx, x0 - self.x0, self.x1 - x0), (dy, y0 - self.y0, self.y1 - y0)):
            for num, den in ((a, -d), (b, d)):
                if den == 0:
                    if num < 0:
                        return False
                    continue
                r = num / den
                if den < 0:
                    lo = max(lo, r)
                else:
                    hi = min(hi, r)
                if lo > hi:
                    return False
        return True


def _layers(lattice: Lattice) -> list[list[int]]:
    """Concept indices per layer (bottom first), each layer ordered by neighbour barycentres."""
    n = len(lattice.concepts)
    down = {k: [lo for lo, hi in lattice.edges if hi == k] for k in range(n)}
    up = {k: [hi for lo, hi in lattice.edges if lo == k] for k in range(n)}
    rank: dict[int, int] = {}
    for k in sorted(range(n), key=lambda k: len(lattice.concepts[k].extent)):  # lower covers come first
        rank[k] = max((rank[d] + 1 for d in down[k]), default=0)
    layers = [[k for k in range(n) if rank[k] == r] for r in range(max(rank.values(), default=0) + 1)]

    def sweep(order: range, neighbours: dict[int, list[int]]) -> None:
        for r in order:
            pos = {k: i - (len(layer) - 1) / 2 for layer in layers for i, k in enumerate(layer)}
            layers[r].sort(key=lambda k: (sum(pos[m] for m in neighbours[k]) / len(neighbours[k])
                                          if neighbours[k] else pos[k]))

    for _ in range(4):
        sweep(range(1, len(layers)), down)
        sweep(range(len(layers) - 2, -1, -1), up)
    return layers


def _positions(layers: list[list[int]]) -> dict[int, tuple[float, float]]:
    return {k: (i - (len(layer) - 1) / 2, float(r)) for r, layer in enumerate(layers) for i, k in enumerate(layer)}


def _text_size(text: str, font_px: float = FONT_PX) -> tuple[float, float]:
    """A generous estimate of a one-line label's size in pixels (Helvetica-like, padding included)."""
    return 0.62 * font_px * len(text) + 10, 1.35 * font_px + 8


@dataclass(frozen=True)
class _Frame:
    """Data -> pixel mapping at the reference size."""

    x_lo: float
    x_hi: float
    y_lo: float
    y_hi: float
    height: int

    def px(self, x: float, y: float) -> tuple[float, float]:
        w = WIDTH - MARGIN["l"] - MARGIN["r"]
        h = self.height - MARGIN["t"] - MARGIN["b"]
        return ((x - self.x_lo) / (self.x_hi - self.x_lo) * w, (y - self.y_lo) / (self.y_hi - self.y_lo) * h)

    def dx(self, px: float) -> float:
        return px / (WIDTH - MARGIN["l"] - MARGIN["r"]) * (self.x_hi - self.x_lo)


def node_size(extent: int, n_objects: int) -> float:
    """Marker diameter in pixels: 14 for an empty extent up to 40 for all classifiers."""
    return 14 + 26 * extent / max(1, n_objects)


@dataclass(frozen=True)
class Label:
    concept: int
    text: str
    above: bool
    x: float  # anchor, data coordinates
    y: float
    xanchor: str
    yshift: float  # pixels
    box: Box  # pixels at the reference size
    clear: bool  # no collision found at this place


def _place_labels(lattice: Lattice, pos: dict[int, tuple[float, float]], frame: _Frame) -> list[Label]:
    centres = {k: frame.px(*xy) for k, xy in pos.items()}
    radii = {k: node_size(len(c.extent), len(lattice.objects)) / 2 for k, c in enumerate(lattice.concepts)}
    segments = [(centres[lo], centres[hi]) for lo, hi in lattice.edges]
    nodes = [Box(cx - radii[k] - 2, cy - radii[k] - 2, cx + radii[k] + 2, cy + radii[k] + 2)
             for k, (cx, cy) in centres.items()]
    plot_width = WIDTH - MARGIN["l"] - MARGIN["r"]
    placed: list[Label] = []
    wanted = [(k, ", ".join(c.objects), True) for k, c in enumerate(lattice.concepts) if c.objects]
    wanted += [(k, ", ".join(c.attributes), False) for k, c in enumerate(lattice.concepts) if c.attributes]
    for k, text, above in wanted:
        (x, y), (cx, cy), r = pos[k], centres[k], radii[k]
        w, h = _text_size(text)
        sign = 1 if above else -1
        gap = r + 4
        # (left edge of the box relative to the node centre, lift): centred, then sliding sideways, then
        # beside the node, then further out; the nearest free place wins.
        slides = [-w / 2, gap, -gap - w, -w / 4, -3 * w / 4, w / 4 + gap / 2, -5 * w / 4 - gap / 2]
        options = [(dx, r + 3) for dx in slides] + [(gap, 2), (-gap - w, 2)]
        options += [(dx, r + 3 + m * h / 2) for m in (1, 2, 3, 4, 5, 6) for dx in slides[:3]]
        best, best_hits = None, None
        for left, lift in options:
            shift = sign * lift
            by0 = cy + shift if above else cy + shift - h
            box = Box(cx + left, by0, cx + left + w, by0 + h)
            hits = (sum(box.hits_segment(p, q) for p, q in segments) + sum(box.hits_box(o) for o in nodes)
                    + sum(box.hits_box(lab.box) for lab in placed) + (not 0 <= box.x0 <= box.x1 <= plot_width))
            # anchor in data coordinates at the box edge nearest the node, so wider drawings keep it clear
            if left >= 0:
                side, ax = "left", x + frame.dx(left)
            elif left + w <= 0:
                side, ax = "right", x + frame.dx(left + w)
            else:
                side, ax = "center", x + frame.dx(left + w / 2)
            label = Label(k, text, above, ax, y, side, shift, box, hits == 0)
            if best_hits is None or hits < best_hits:
                best, best_hits = label, hits
            if hits == 0:
                break
        placed.append(best)
    return placed


def _layout(lattice: Lattice) -> tuple[dict[int, tuple[float, float]], _Frame]:
    layers = _layers(lattice)
    pos = _positions(layers)
    widest = max(len(layer) for layer in layers)
    half = max(1.0, widest / 2 + 0.6)
    height = MARGIN["t"] + MARGIN["b"] + LAYER_PX * len(layers) + 40
    return pos, _Frame(-half, half, -0.75, len(layers) - 0.25, height)


def label_boxes(lattice: Lattice) -> tuple[list[Label], list[Box], list[tuple[tuple[float, float], tuple[float, float]]]]:
    """What the placement saw, in pixels at the reference size: the labels (with ``clear``), the node boxes
    and the edge segments."""
    pos, frame = _layout(lattice)
    labels = _place_labels(lattice, pos, frame)
    centres = {k: frame.px(*xy) for k, xy in pos.items()}
    radii = {k: node_size(len(c.extent), len(lattice.objects)) / 2 for k, c in enumerate(lattice.concepts)}
    nodes = [Box(cx - radii[k], cy - radii[k], cx + radii[k], cy + radii[k]) for k, (cx, cy) in centres.items()]
    return labels, nodes, [(centres[lo], centres[hi]) for lo, hi in lattice.edges]


def lattice_figure(lattice: Lattice, title: str | None = None) -> go.Figure:
    """Fig. 7: the concept lattice with reduced labelling, node size and colour by extent size.

    One line trace for the cover edges, one marker trace for the concepts (hover: extent and intent; a
    colour bar for the extent size), one annotation per label. Height grows with the number of layers;
    the width is :data:`WIDTH` unless the page stretches it."""
    pos, frame = _layout(lattice)
    labels = _place_labels(lattice, pos, frame)
    n_obj = len(lattice.objects)
    fig = go.Figure()
    ex, ey = [], []
    for lo, hi in lattice.edges:
        ex += [pos[lo][0], pos[hi][0], None]
        ey += [pos[lo][1], pos[hi][1], None]
    fig.add_trace(go.Scatter(x=ex, y=ey, mode="lines", line={"color": EDGE_COLOUR, "width": 2},
                             hoverinfo="skip", showlegend=False))
    ks = list(range(len(lattice.concepts)))
    sizes = [len(lattice.concepts[k].extent) for k in ks]
    fig.add_trace(go.Scatter(
        x=[pos[k][0] for k in ks], y=[pos[k][1] for k in ks], mode="markers", showlegend=False,
        marker={"size": [node_size(s, n_obj) for s in sizes], "color": sizes, "colorscale": NODE_SCALE,
                "cmin": 0, "cmax": max(1, n_obj), "opacity": 1.0, "line": {"color": "#1d2b3a", "width": 1.5},
                "colorbar": {"title": {"text": "classifiers<br>in extent", "side": "top"}, "thickness": 12,
                             "len": 0.6, "tickvals": list(range(n_obj + 1)), "x": 1.02, "xanchor": "left"}},
        customdata=[[", ".join(c.extent) or "∅", ", ".join(c.intent) or "∅"] for c in lattice.concepts],
        hovertemplate="classifiers: %{customdata[0]}<br>AEs: %{customdata[1]}<extra></extra>"))
    annotations = [  # one update below: plotly validates each add_annotation call on its own (slow)
        {"x": lab.x, "y": lab.y, "text": f"<b>{html.escape(lab.text)}</b>", "showarrow": False,
         "xanchor": lab.xanchor, "yanchor": "bottom" if lab.above else "top", "yshift": lab.yshift,
         "font": {"size": FONT_PX, "color": OBJECT_COLOUR if lab.above else ATTRIBUTE_COLOUR},
         "bgcolor": "rgba(255,255,255,0.85)", "borderpad": 2} for lab in labels]
    fig.update_layout(
        annotations=annotations, width=WIDTH, height=frame.height, margin=MARGIN, plot_bgcolor="white", paper_bgcolor="white",
        font={"family": "Helvetica, Arial, sans-serif"},
        title={"text": title or "", "x": 0.5, "font": {"size": 16}},
        xaxis={"visible": False, "range": [frame.x_lo, frame.x_hi], "fixedrange": True},
        yaxis={"visible": False, "range": [frame.y_lo, frame.y_hi], "fixedrange": True})
    return fig
