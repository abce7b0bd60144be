"""Figures and tables of Sec. 3.3-3.5 as pure functions (no streamlit): plotly figures and DOT text.

Input formats (the CSV files written by the evaluate pass into a zoo's ``results/``; values are fractions):

* ``accuracy.csv``: ``classifier,input,top1,top5`` with ``input`` in ``original``, ``A_S``, ``A_<name>``.
* ``noise.csv``: ``classifier,input,s,top1`` (same ``input`` values).
* ``nmi.csv``: ``ae,kind,mean,std,n`` with ``kind`` in ``intra``, ``inter`` (and, as ``s2s evaluate`` writes it,
  ``estimator`` and the chance level ``chance_mean``/``chance_std``).
* ``lab_histograms.csv``: ``ae,channel,bin_lo,bin_hi,density`` (``ae`` in ``original``, ``A_S``,
  ``A_<name>``; ``channel`` in ``L``, ``a``, ``b``).
* the cross-accuracy table: :class:`~s2s_core.analysis.crosstable.CrossTable`.

A frame that lacks a required column raises :class:`InputTableError`.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from s2s_core.analysis.crosstable import CrossTable
from s2s_core.analysis.fca import Lattice
from s2s_core.analysis.lab import CHANNELS
from s2s_core.analysis.lens_tables import metric_label
from s2s_core.analysis.rrc import sorted_pairs
from s2s_core.errors import InputTableError
from s2s_core.views import BASE_KEY, ORIGINAL, ae_key, ae_name

#: Fig. 6's colours in the paper's classifier order L, A, V, I, R (purple, blue, orange, red, green),
#: then plotly's palette for further classifiers.
PALETTE: tuple[str, ...] = (
    "#7b3294",
    "#1f77b4",
    "#ff7f0e",
    "#d62728",
    "#2ca02c",
    *qualitative.Plotly[5:],
    *qualitative.Dark24,
)
OBJECT_COLOUR = "#1f4e9c"  # classifiers, written above the lattice nodes
ATTRIBUTE_COLOUR = "#a4262c"  # AEs, written below the lattice nodes


ORIGINAL_COLOUR = "#3c3c3c"
BASE_COLOUR = "#8c8c8c"


def colour(k: int) -> str:
    """The colour of the ``k``-th classifier (or AE)."""
    return PALETTE[k % len(PALETTE)]


def view_colours(names: Sequence[str]) -> dict[str, str]:
    """One colour per view and per classifier, the same on every page: classifier ``names[k]`` and its AE
    ``A_<name>`` get :func:`colour` ``(k)`` (Fig. 6's palette), the original
    dark grey and A_S light grey."""
    out = {ORIGINAL: ORIGINAL_COLOUR, BASE_KEY: BASE_COLOUR}
    for k, name in enumerate(names):
        out[name] = out[ae_key(name)] = colour(k)
    return out


def recolour(fig: go.Figure, colours: Mapping[str, str]) -> go.Figure:
    """Give every trace whose name starts with a known view/classifier the colour of that name (in place).

    Trace names such as ``"L"``, ``"A_L"``, ``"L (original)"`` or ``"L∘A_S"`` take the colour of their
    first token, so plots built by :mod:`s2s_core.analysis.figures` match :func:`view_colours`.
    """
    for trace in fig.data:
        name = str(trace.name or "")
        key = name.split(" ")[0].split("∘")[0]
        if key in colours:
            if isinstance(trace, go.Bar):
                trace.marker.color = colours[key]
            elif hasattr(trace, "line"):
                trace.line.color = colours[key]
    return fig


def _require(df: pd.DataFrame, columns: Sequence[str], what: str) -> pd.DataFrame:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise InputTableError(
            f"{what} lacks column(s) {', '.join(missing)}; expected columns {','.join(columns)}"
        )
    if df.empty:
        raise InputTableError(f"{what} has no rows")
    return df


def _unique(values) -> list:
    return list(dict.fromkeys(values))


# --- Fig. 7: the concept lattice --------------------------------------------------------------


def _dot_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _cell(names: Sequence[str], colour_: str) -> str:
    """A label row beside the concept's dot (left cell empty, so edges that meet the dot miss the text)."""
    text = ", ".join(html.escape(n) for n in names) or " "
    return f'<TR><TD></TD><TD ALIGN="LEFT"><FONT COLOR="{colour_}">{text}</FONT></TD></TR>'


def lattice_dot(lattice: Lattice, title: str | None = None) -> str:
    """DOT text of a concept lattice drawn as in Fig. 7.

    Bottom-up (``rankdir=BT``): the bottom concept at the bottom, an edge for each cover pair. Reduced
    labelling: each classifier is written once, above the concept it introduces (``(g'', g')``), each AE
    once, below the concept it introduces (``(m', m'')``). Node ids are ``c<k>`` for ``lattice.concepts[k]``.
    Renders with ``st.graphviz_chart`` or Graphviz ``dot``.
    """
    lines = [
        "digraph lattice {",
        '  graph [rankdir=BT, splines=curved, nodesep=0.5, ranksep=0.45, fontname="Helvetica"'
        + (f", label={_dot_string(title)}, labelloc=t" if title else "")
        + "];",
        '  node [shape=plaintext, fontname="Helvetica", fontsize=12];',
        "  edge [arrowhead=none];",
    ]
    for k, concept in enumerate(lattice.concepts):
        table = (
            '<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="1">'
            + _cell(concept.objects, OBJECT_COLOUR)
            + '<TR><TD PORT="dot"><FONT POINT-SIZE="18">&#9679;</FONT></TD><TD></TD></TR>'
            + _cell(concept.attributes, ATTRIBUTE_COLOUR)
            + "</TABLE>"
        )
        lines.append(f"  c{k} [label=<{table}>];")
    # edges join the concepts' dots (the node's label rows sit above and below its dot)
    lines += [f"  c{lo}:dot -> c{hi}:dot;" for lo, hi in lattice.edges]
    lines.append("}")
    return "\n".join(lines) + "\n"


# --- Table 2 and Fig. 6 -------------------------------------------------------------------------


def cross_accuracy_heatmap(table: CrossTable) -> go.Figure:
    """Table 2 as a heatmap: rows AEs ``A_i`` (top to bottom in table order), columns classifiers ``j``.

    One ``Heatmap`` trace, each cell annotated with ``acc(j∘A_i)``. When every cell holds the same value (one
    classifier, or a tie), the colour scale spans [0, 1] rather than an invented range around that value.
    """
    acc = np.asarray(table.acc, dtype=float)
    flat = {"zmin": 0.0, "zmax": max(1.0, float(acc.max()))} if acc.size and np.ptp(acc) == 0 else {}
    fig = go.Figure(
        go.Heatmap(
            z=table.acc,
            x=list(table.names),
            y=list(table.ae_names),
            colorscale="Viridis",
            texttemplate="%{z:.4f}",
            hovertemplate="%{x}∘%{y}: %{z:.4f}<extra></extra>",
            colorbar={"title": "accuracy"},
            **flat,
        )
    )
    fig.update_layout(
        title={"text": "Cross accuracy acc(j∘A_i)", "y": 0.98, "yanchor": "top"},
        xaxis={"title": {"text": "classifier j", "standoff": 4}, "side": "top"},
        yaxis={"title": "AE A_i", "autorange": "reversed"},
        margin={"t": 110},
    )
    return fig


def rrc_sorted_bar(names: Sequence[str], rrc: np.ndarray, threshold: float | None = None,
                   interval: tuple[float | None, float | None] | None = None) -> go.Figure:
    """Fig. 6: every ``j∘A_i`` sorted by RRC, one bar trace per classifier ``j`` (its colour).

    Args:
        names: ``n`` classifier names; rrc: ``(n, n)``, ``rrc[i, j] = RRC(j∘A_i)``.
        threshold: if given, a dashed horizontal line at that RRC (a layout shape, not a trace).
        interval: if given, the threshold interval ``(lo, hi]`` over which the lattice stays the same, as a
            shaded band (a layout shape; an open end reaches 0 or the tallest bar).
    """
    names = list(names)
    pairs = sorted_pairs(rrc)
    order = [p.label(names) for p in pairs]
    fig = go.Figure()
    for j, name in enumerate(names):
        mine = [p for p in pairs if p.classifier == j]
        fig.add_trace(
            go.Bar(
                x=[p.label(names) for p in mine],
                y=[p.value for p in mine],
                name=name,
                marker_color=colour(j),
                hovertemplate="%{x}: RRC %{y:.4f}<extra></extra>",
            )
        )
    fig.update_layout(
        title="RRC(j∘A_i), sorted",
        xaxis={"categoryorder": "array", "categoryarray": order, "tickangle": -60},
        yaxis={"title": "RRC"},
        legend={"title": "classifier j"},
        bargap=0.15,
    )
    if interval is not None:
        lo, hi = interval
        top = max(float(np.max(rrc)), float(threshold or 0)) * 1.05
        y1 = top if hi is None else float(hi)
        fig.add_hrect(y0=0.0 if lo is None else float(lo), y1=y1, line_width=0, fillcolor="#f2b134", opacity=0.25,
                      layer="below")
        # the band sits below the bars; its label goes above them, at the band's top right, on a white ground
        fig.add_annotation(text="same lattice", x=1.0, xref="paper", xanchor="right", y=y1, yref="y",
                           yanchor="bottom", showarrow=False, font={"size": 11}, bgcolor="rgba(255,255,255,0.8)")
    if threshold is not None:
        fig.add_hline(y=float(threshold), line_dash="dash", line_color="black")
    return fig


# --- Fig. 4 ----------------------------------------------------------------------------------------

NOISE_COLUMNS = ("classifier", "input", "s", "top1")


def noise_curves_figure(noise_df: pd.DataFrame) -> go.Figure:
    """Fig. 4: top-1 accuracy against noise strength ``s``.

    Two panels; left: each classifier ``i`` on the noisy original (dashed) and on ``A_S`` of it (solid);
    right: original (dashed) and ``A_i`` (solid). Per classifier: two dashed traces (one per panel, one
    legend entry) plus one solid trace per panel whose rows exist.
    """
    df = _require(noise_df, NOISE_COLUMNS, "noise table").sort_values("s", kind="stable")
    fig = make_subplots(
        rows=1, cols=2, shared_yaxes=True, subplot_titles=("reconstructions of A_S", "reconstructions of A_i")
    )
    for k, clf in enumerate(_unique(df["classifier"])):
        mine = df[df["classifier"] == clf]
        for col, inp in ((1, BASE_KEY), (2, ae_key(clf))):
            for source, dash, name in (
                (ORIGINAL, "dash", f"{clf} ({ORIGINAL})"),
                (inp, "solid", f"{clf}∘{inp}"),
            ):
                rows = mine[mine["input"] == source]
                if rows.empty:
                    continue
                fig.add_trace(
                    go.Scatter(
                        x=rows["s"],
                        y=rows["top1"],
                        mode="lines+markers",
                        name=name,
                        legendgroup=name,
                        showlegend=not (source == ORIGINAL and col == 2),
                        line={"color": colour(k), "dash": dash},
                    ),
                    row=1,
                    col=col,
                )
    fig.update_xaxes(title_text="noise strength s")
    fig.update_yaxes(title_text="top-1 accuracy", row=1, col=1)
    fig.update_layout(title="Top-1 accuracy under additive uniform noise U(-s, s)")
    return fig


# --- Fig. 9 ----------------------------------------------------------------------------------------

NMI_COLUMNS = ("ae", "kind", "mean", "std", "n")


def nmi_bars_figure(nmi_df: pd.DataFrame) -> go.Figure:
    """Fig. 9: mean intra- and inter-class nMI per AE with one-standard-deviation error bars, beside the chance
    level (a dashed line at the mean nMI of random pairs of unrelated originals, shaded ± one standard deviation).

    One grouped ``Bar`` trace per kind present (``intra``, ``inter``), AEs in order of appearance; with an
    ``estimator`` column only the primary (first) estimator's rows are drawn, and the originals' row is the
    chance line rather than a bar.
    """
    df = _require(nmi_df, NMI_COLUMNS, "nMI table")
    if "estimator" in df.columns:
        df = df[df["estimator"] == df["estimator"].iloc[0]]
    aes = [a for a in _unique(df["ae"]) if a != "original"]
    fig = go.Figure()
    lows, highs = [0.0], [0.0]
    for kind, c in (("intra", "#1f77b4"), ("inter", "#ff7f0e")):
        rows = df[df["kind"] == kind].drop_duplicates("ae", keep="last").set_index("ae").reindex(aes)
        if rows["mean"].isna().all():
            continue
        std = rows["std"].fillna(0).to_numpy()
        lows.append(float(np.nanmin(rows["mean"] - std)))
        highs.append(float(np.nanmax(rows["mean"] + std)))
        fig.add_trace(
            go.Bar(
                x=aes,
                y=rows["mean"],
                name=f"{kind}-class nMI",
                marker_color=c,
                error_y={"type": "data", "array": std},
                customdata=rows["n"],
                hovertemplate="%{x}: %{y:.4f} (n=%{customdata})<extra></extra>",
            )
        )
    if "chance_mean" in df.columns and len(df):
        chance, spread = float(df["chance_mean"].iloc[0]), float(df["chance_std"].iloc[0])
        if np.isfinite(spread):
            fig.add_hrect(y0=chance - spread, y1=chance + spread, fillcolor="#888888", opacity=0.15, line_width=0)
        fig.add_hline(y=chance, line_dash="dash", line_color="#444444",
                      annotation_text=f"chance {chance:.3f} (unrelated originals)", annotation_position="top left")
        lows.append(chance - (spread if np.isfinite(spread) else 0))
        highs.append(chance + (spread if np.isfinite(spread) else 0))
    fig.update_layout(
        barmode="group", title="Normalised mutual information",
        yaxis={"title": "nMI", "range": [min(lows) - 0.02, min(1.0, max(highs) + 0.08)]},
    )
    return fig


# --- Fig. 3 ----------------------------------------------------------------------------------------

HIST_COLUMNS = ("ae", "channel", "bin_lo", "bin_hi", "density")
LAB_TITLES = {"L": "L*", "a": "a*", "b": "b*"}

Histograms = Mapping[str, tuple[np.ndarray, np.ndarray]]


def _histogram_frame(hists: pd.DataFrame | Mapping[str, Histograms]) -> pd.DataFrame:
    if isinstance(hists, pd.DataFrame):
        return _require(hists, HIST_COLUMNS, "L*a*b* histogram table")
    parts = [
        pd.DataFrame({"ae": ae, "channel": ch, "bin_lo": e[:-1], "bin_hi": e[1:], "density": d})
        for ae, by_channel in hists.items()
        for ch, (e, d) in by_channel.items()
    ]
    if not parts:
        raise InputTableError("no L*a*b* histograms to draw")
    return pd.concat(parts, ignore_index=True)


def _histogram_trace(centres, density, name: str, line: dict, **kwargs) -> go.Scatter:
    """One histogram as a step line over its bin centres (the trace both L*a*b* figures draw)."""
    return go.Scatter(x=centres, y=density, mode="lines", line_shape="hvh", name=name, line=line, **kwargs)


def lab_histograms_figure(
    hists: pd.DataFrame | Mapping[str, Histograms], title: str | None = None
) -> go.Figure:
    """Fig. 3: global L*, a*, b* histograms, one panel per channel and one line per image/AE.

    Args:
        hists: a ``lab_histograms.csv`` frame, or ``{ae: {channel: (edges, density)}}`` (as returned
            per AE by :func:`s2s_core.analysis.lab.lab_histograms`).
        title: figure title.

    Returns:
        A figure with ``3 x n_ae`` line traces (channels present in the data).
    """
    df = _histogram_frame(hists)
    fig = make_subplots(rows=1, cols=3, subplot_titles=[LAB_TITLES[c] for c in ("L", "a", "b")])
    for k, ae in enumerate(_unique(df["ae"])):
        for col, ch in enumerate(("L", "a", "b"), start=1):
            rows = df[(df["ae"] == ae) & (df["channel"] == ch)].sort_values("bin_lo")
            if rows.empty:
                continue
            fig.add_trace(
                _histogram_trace((rows["bin_lo"] + rows["bin_hi"]) / 2, rows["density"], str(ae),
                                 {"color": colour(k)}, legendgroup=str(ae), showlegend=col == 1),
                row=1,
                col=col,
            )
    fig.update_yaxes(title_text="density", row=1, col=1)
    fig.update_layout(title=title or "L*a*b* histograms")
    return fig


def lab_grid_figure(histograms: Mapping[str, Histograms], colours: Mapping[str, str] | None = None,
                    height: int = 420) -> go.Figure:
    """Fig. 3's histograms of one image: one column per view and one row per channel (L*, a*, b*); each view in
    its colour, with the original's histogram as a dotted grey reference in every other column.

    Args:
        histograms: view -> ``{channel: (edges, density)}`` in column order (e.g.
            :attr:`s2s_core.inspection.Inspection.histograms`), the original first.
        colours: view -> colour (default :func:`view_colours` of the views' classifiers).
    """
    views = list(histograms)
    colours = dict(colours or view_colours([ae_name(v) for v in views if v not in (ORIGINAL, BASE_KEY)]))
    fig = make_subplots(rows=len(CHANNELS), cols=len(views), shared_xaxes="rows", shared_yaxes="rows",
                        horizontal_spacing=0.012, vertical_spacing=0.09, column_titles=views)
    for col, view in enumerate(views, start=1):
        for row, channel in enumerate(CHANNELS, start=1):
            if view != ORIGINAL:
                edges, dens = histograms[ORIGINAL][channel]
                fig.add_trace(_histogram_trace((edges[:-1] + edges[1:]) / 2, dens, ORIGINAL,
                                               {"color": "#b0b0b0", "width": 1, "dash": "dot"},
                                               legendgroup=ORIGINAL, showlegend=False, hoverinfo="skip"),
                              row=row, col=col)
            edges, dens = histograms[view][channel]
            fig.add_trace(_histogram_trace(
                (edges[:-1] + edges[1:]) / 2, dens, view, {"color": colours.get(view, "#333333"), "width": 1.5},
                fill="tozeroy", showlegend=False,
                hovertemplate=f"{view} {LAB_TITLES[channel]} %{{x:.0f}}: %{{y:.3g}}<extra></extra>"), row=row, col=col)
    fig.update_yaxes(showticklabels=False)
    for row, channel in enumerate(CHANNELS, start=1):
        fig.update_yaxes(title_text=LAB_TITLES[channel], title_standoff=2, row=row, col=1)
    fig.update_xaxes(tickfont={"size": 9})
    fig.update_layout(height=height, margin={"l": 40, "r": 10, "t": 70, "b": 20},
                      title={"text": "L*a*b* histograms of every view (dotted grey: the original's)",
                             "font": {"size": 13}, "y": 0.98, "yanchor": "top"})
    return fig


def lab_lines_figure(hists: Mapping[str, Histograms], colours: Mapping[str, str], title: str | None = None,
                     height: int = 320) -> go.Figure:
    """Fig. 3 for one image, light enough to redraw on every upload: three panels (L*, a*, b*) side by side,
    one step line per view in its colour (the original dashed), one legend entry per view.

    Built from plain dicts (no ``make_subplots``, no data frames): this runs on every new image, and plotly's
    per-call validation would cost more than the models.

    Args:
        hists: ``{view: {channel: (edges (B+1,), density (B,))}}`` (:class:`~s2s_core.inspection.Inspection`'s
            ``histograms``); colours: ``{view: colour}``.
    """
    gap = 0.04
    width = (1 - 2 * gap) / 3
    data, layout = [], {}
    for col, ch in enumerate(("L", "a", "b")):
        suffix = "" if col == 0 else str(col + 1)
        layout[f"xaxis{suffix}"] = {"domain": [col * (width + gap), col * (width + gap) + width],
                                    "title": {"text": LAB_TITLES[ch]}, "anchor": f"y{suffix}"}
        layout[f"yaxis{suffix}"] = {"anchor": f"x{suffix}", "showticklabels": col == 0,
                                    **({"title": {"text": "density"}} if col == 0 else {})}
        for view, by_channel in hists.items():
            edges, dens = by_channel[ch]
            centres = (np.asarray(edges[:-1]) + np.asarray(edges[1:])) / 2
            data.append({"type": "scatter", "x": np.round(centres, 3).tolist(), "y": np.round(dens, 6).tolist(),
                         "mode": "lines", "line": {"shape": "hvh", "width": 1.5, "color": colours.get(view, "#333"),
                                                   **({"dash": "dot"} if view == ORIGINAL else {})},
                         "name": view, "legendgroup": view, "showlegend": col == 0, "xaxis": f"x{suffix}",
                         "yaxis": f"y{suffix}", "hovertemplate": f"{view} {LAB_TITLES[ch]} %{{x:.0f}}: %{{y:.3g}}<extra></extra>"})
    layout.update(height=height, margin={"l": 50, "r": 10, "t": 40, "b": 40},
                  title={"text": title or "L*a*b* histograms of every view (Fig. 3)", "font": {"size": 13}},
                  legend={"orientation": "h", "y": -0.25})
    return go.Figure(data=data, layout=layout)
# --- feature inversion (seed 003) ------------------------------------------------------------------

INVERSION_COLUMNS = ("classifier", "layer", "depth", "n", "error_norm", "error_norm_ci_low", "error_norm_ci_high",
                     "ae_error_norm", "ae_error_norm_ci_low", "ae_error_norm_ci_high", "top1_inversion", "top1_ae",
                     "top1_original", "fitted_to_logits", "chance")


def _bars(rows: pd.DataFrame, column: str) -> dict:
    """Error bars of ``column`` from its ``_ci_low`` / ``_ci_high`` columns."""
    return {"type": "data", "array": rows[f"{column}_ci_high"] - rows[column],
            "arrayminus": rows[column] - rows[f"{column}_ci_low"]}


def inversion_depth_figure(df: pd.DataFrame) -> go.Figure:
    """Feature inversion against S2S by depth (``inversion.csv``), one colour per classifier (:func:`colour`).

    Left: the feature error at each inverted layer ℓ on the paper's scale (``error_norm``: divided by the mean
    distance between two different test images there; the grey line at 1 is "as far as another image"), of the
    inversion (solid) and of A_i(x) (dashed), with 95 % intervals. Right: classifier i's top-1 on its inversions
    from each layer (solid; an open marker where x* was fitted to the logits, so top-1 there proves nothing), on
    A_i(x) (dashed) and on x (dotted), with chance (grey).
    """
    df = _require(df, INVERSION_COLUMNS, "inversion table")
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.1, subplot_titles=(
        "feature error at layer ℓ (1: as far as another image)", "top-1 of i"))
    for k, name in enumerate(_unique(df["classifier"])):
        rows = df[df["classifier"] == name].sort_values("depth")
        c = colour(k)
        hover = rows["layer"] + " (n=" + rows["n"].astype(int).astype(str) + ")"
        common = {"x": rows["depth"], "customdata": hover, "legendgroup": name}
        fig.add_trace(go.Scatter(y=rows["error_norm"], name=f"{name} inversion", mode="lines+markers",
                                 line={"color": c}, error_y=_bars(rows, "error_norm"),
                                 hovertemplate="%{customdata}: %{y:.3f}<extra></extra>", **common), row=1, col=1)
        fig.add_trace(go.Scatter(y=rows["ae_error_norm"], name=f"{name} A_{name}(x)", mode="lines+markers",
                                 line={"color": c, "dash": "dash"}, showlegend=False, error_y=_bars(rows, "ae_error_norm"),
                                 hovertemplate="A(x) at %{customdata}: %{y:.3f}<extra></extra>", **common), row=1, col=1)
        symbols = ["circle-open" if f else "circle" for f in rows["fitted_to_logits"].astype(bool)]
        fig.add_trace(go.Scatter(y=rows["top1_inversion"], name=f"{name} on inversions", mode="lines+markers",
                                 line={"color": c}, marker={"symbol": symbols, "size": 8}, showlegend=False,
                                 hovertemplate="on inversions from %{customdata}: %{y:.2f}<extra></extra>", **common),
                      row=1, col=2)
        for column, dash, what in (("top1_ae", "dash", f"{name}∘A_{name}"), ("top1_original", "dot", f"{name} on x")):
            level = float(rows[column].iloc[0])
            fig.add_trace(go.Scatter(x=[0, 1], y=[level, level], mode="lines", line={"color": c, "dash": dash},
                                     name=what, legendgroup=name, showlegend=False,
                                     hovertemplate=f"{what}: {level:.2f}<extra></extra>"), row=1, col=2)
    chance = float(df["chance"].iloc[0])
    fig.add_trace(go.Scatter(x=[0, 1], y=[chance, chance], mode="lines", line={"color": "#b0b0b0"}, name="chance",
                             hovertemplate=f"chance: {chance:.2f}<extra></extra>"), row=1, col=2)
    fig.add_hline(y=1.0, line={"color": "#b0b0b0", "width": 1}, row=1, col=1)
    fig.update_xaxes(title_text="depth of layer ℓ (0: input, 1: logits)", range=[0, 1.02])
    fig.update_yaxes(rangemode="tozero", row=1, col=1)
    fig.update_yaxes(range=[0, 1.02], row=1, col=2)
    fig.update_layout(height=400, margin={"l": 40, "r": 10, "t": 85, "b": 40},
                      title={"text": "Feature inversion vs. S2S by depth (solid: inversion, dashed: A_i(x), "
                                     "dotted: x; open: fitted to the logits)", "font": {"size": 13}})
    return fig


# --- plots beside tables: points with 95 % intervals ----------------------------------------------------------


def table1_figure(acc_df: pd.DataFrame, n: int | None = None, chance: float | None = None) -> go.Figure:
    """Table 1 as points: per classifier i (x axis), top-1 in % of i, i∘A_S and i∘A_i (one trace each), with the
    Wilson 95 % interval over ``n`` images when ``n`` is known, and ``chance`` (a fraction) as a dashed line.

    The y axis starts 5 points below the lowest interval (at 0 at the lowest), so that differences of a few
    points stay visible; a chance level below that start is written at the axis's foot instead of drawn."""
    from s2s_core.analysis.stats import wilson_interval

    df = _require(acc_df, ("classifier", "input", "top1"), "accuracy table")
    names = _unique(df["classifier"])
    fig = go.Figure()
    lowest = 100.0
    for k, (what, label) in enumerate(((ORIGINAL, "i (original)"), (BASE_KEY, "i∘A_S"), (None, "i∘A_i"))):
        xs, ys, lo, hi = [], [], [], []
        for name in names:
            rows = df[(df["classifier"] == name) & (df["input"] == (what or ae_key(name)))]
            if rows.empty:
                continue
            top1 = float(rows["top1"].iloc[-1])
            xs.append(name)
            ys.append(100 * top1)
            a, b = wilson_interval(round(top1 * n), n) if n else (np.nan, np.nan)
            lo.append(100 * (top1 - a))
            hi.append(100 * (b - top1))
            lowest = min(lowest, 100 * (a if n else top1))
        error = {"type": "data", "array": hi, "arrayminus": lo, "visible": bool(n)}
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="markers", name=label, error_y=error, offsetgroup=str(k),
                                 marker={"size": 10, "symbol": ("circle", "square", "diamond")[k],
                                         "color": ("#444444", "#999999", colour(2))[k]},
                                 hovertemplate=f"{label}, %{{x}}: %{{y:.1f}} %<extra></extra>"))
    start = max(0.0, 5 * np.floor((lowest - 5) / 5))
    if chance is not None and 100 * chance >= start:
        fig.add_hline(y=100 * chance, line_dash="dash", line_color="#b0b0b0",
                      annotation_text=f"chance {100 * chance:.0f} %", annotation_position="bottom right")
    elif chance is not None:
        fig.add_annotation(text=f"axis from {start:.0f} %; chance {100 * chance:.0f} % lies below it", xref="paper",
                           yref="paper", x=1, y=0, xanchor="right", yanchor="bottom", showarrow=False,
                           font={"size": 11, "color": "#888888"})
    fig.update_layout(scattermode="group", height=330, margin={"l": 40, "r": 10, "t": 40, "b": 40},
                      yaxis={"title": "top-1 (%)", "range": [start, 101]}, xaxis={"title": "classifier i"},
                      title={"text": "Table 1: top-1 with 95 % intervals" + ("" if n else " (n unknown: no intervals)"),
                             "font": {"size": 13}}, legend={"orientation": "h", "y": -0.25})
    return fig


GROUND_TRUTH_COLUMNS = ("label", "classifier", "model_free", "mask", "metric", "mean", "ci_low", "ci_high", "n")


def ground_truth_figure(gt: pd.DataFrame, metric: str = "auc", mask: str = "filled",
                        classifiers: Sequence[str] | None = None) -> go.Figure:
    """``ground_truth.csv`` as points: each lens's heatmap (rows) per classifier (one colour each), the mean of
    ``metric`` on ``mask`` with its 95 % interval; below them the maps that read no classifier (grey), and a
    dashed line at the best of those: a lens left of the line does no better than a map that ignores i."""
    df = _require(gt, GROUND_TRUTH_COLUMNS, "ground-truth table")
    df = df[(df["metric"] == metric) & (df["mask"] == mask)]
    free = df[df["model_free"].astype(bool)]
    lenses = df[~df["model_free"].astype(bool)]
    order = [c for c in (classifiers or []) if c in set(lenses["classifier"])] or _unique(lenses["classifier"])
    fig = go.Figure()
    for k, name in enumerate(order):
        rows = lenses[lenses["classifier"] == name]
        fig.add_trace(go.Scatter(x=rows["mean"], y=rows["label"], mode="markers", name=name,
                                 marker={"color": colour(k), "size": 9}, offsetgroup=str(k),
                                 error_x={"type": "data", "array": rows["ci_high"] - rows["mean"],
                                          "arrayminus": rows["mean"] - rows["ci_low"], "visible": True},
                                 customdata=rows["n"], hovertemplate=f"{name}, %{{y}}: %{{x:.3f}} (n = %{{customdata}})"
                                                                     "<extra></extra>"))
    labels = [f"model-free: {v}" for v in free["label"]]
    fig.add_trace(go.Scatter(x=free["mean"], y=labels, mode="markers", name="reads no classifier",
                             marker={"symbol": "x", "color": "#777777", "size": 9},
                             error_x={"type": "data", "array": free["ci_high"] - free["mean"],
                                      "arrayminus": free["mean"] - free["ci_low"], "visible": True},
                             hovertemplate="%{y}: %{x:.3f}<extra></extra>"))
    if not free.empty:
        best = free.loc[free["mean"].idxmax()]
        fig.add_vline(x=float(best["mean"]), line={"dash": "dash", "color": "#777777"},
                      annotation_text=f"best model-free: {best['label']}", annotation_position="top")
    lo = float(min(df["ci_low"].min(), df["mean"].min(), 0.0)) if not df.empty else 0.0
    rows = len(_unique(lenses["label"])) + len(labels)
    fig.update_layout(scattermode="group", height=160 + 40 * rows, margin={"l": 10, "r": 10, "t": 60, "b": 40},
                      xaxis={"title": f"{metric_label(metric)} on the {mask} mask (mean, 95 % interval)",
                             "range": [min(lo, 0.0) - 0.02, 1.02]},
                      yaxis={"autorange": "reversed", "automargin": True}, legend={"orientation": "h", "y": -0.15},
                      title={"text": f"Every lens against the masks and the maps that read no classifier: "
                                     f"{metric_label(metric)}, {mask} mask", "font": {"size": 13}})
    return fig


ZEROING_COLUMNS = ("classifier", "k", "drop_relevant", "drop_random", "drop_diff", "drop_ci_low", "drop_ci_high",
                   "flip_diff", "flip_ci_low", "flip_ci_high", "verdict")


def _diff_trace(x: list[str], df: pd.DataFrame, what: str, name: str, colour_: str, symbol: str) -> go.Scatter:
    """The paired difference ``<what>_diff`` with its 95 % interval as error bars."""
    return go.Scatter(x=x, y=df[f"{what}_diff"], mode="markers", name=name, marker={"color": colour_, "size": 8,
                      "symbol": symbol}, customdata=df["verdict"],
                      error_y={"type": "data", "array": df[f"{what}_ci_high"] - df[f"{what}_diff"],
                               "arrayminus": df[f"{what}_diff"] - df[f"{what}_ci_low"]},
                      hovertemplate=f"{name}: %{{y:.4f}} (drop test: %{{customdata}})<extra></extra>")


def zeroing_figure(z: pd.DataFrame) -> go.Figure:
    """``channel_zeroing.csv`` per classifier and k. Left: the mean drop of the predicted class's probability with
    the top-k relevant channels zeroed (red) and with k random channels zeroed (blue, mean over the draws). Right:
    relevant − random per image, averaged, with its paired bootstrap 95 % interval, for the drop and for the flip
    rate; an interval above 0 means zeroing the relevant channels hurts more than random ones (the verdict)."""
    df = _require(z, ZEROING_COLUMNS, "zeroing table")
    x = [f"{c} k={int(k)}" for c, k in zip(df["classifier"], df["k"], strict=True)]
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.1, subplot_titles=(
        "drop of the predicted class's probability", "relevant − random (95 % interval)"))
    fig.add_trace(go.Scatter(x=x, y=df["drop_random"], mode="markers", name="k random channels zeroed",
                             marker={"color": "#1f77b4", "size": 8}), row=1, col=1)
    fig.add_trace(go.Scatter(x=x, y=df["drop_relevant"], mode="markers", name="top-k relevant zeroed",
                             marker={"color": "#d62728", "size": 9, "symbol": "diamond"}), row=1, col=1)
    fig.add_trace(_diff_trace(x, df, "drop", "drop: relevant − random", "#3c3c3c", "circle"), row=1, col=2)
    fig.add_trace(_diff_trace(x, df, "flip", "flip rate: relevant − random", "#9467bd", "square"), row=1, col=2)
    fig.add_hline(y=0, line={"color": "#b0b0b0", "width": 1}, row=1, col=2)
    fig.update_layout(height=360, margin={"l": 40, "r": 10, "t": 60, "b": 60}, scattermode="group",
                      title={"text": "Zeroing the relevant channels vs random ones (paired over images)",
                             "font": {"size": 13}}, legend={"orientation": "h", "y": -0.3})
    return fig


RANDOMISATION_COLUMNS = ("heatmap", "label", "classifier", "step", "layer", "fraction", "metric", "mean", "ci_low",
                         "ci_high", "n")


def randomisation_figure(table: pd.DataFrame, metric: str = "spearman", classifiers: Sequence[str] | None = None,
                         threshold: float | None = None) -> go.Figure:
    """``randomisation.csv`` (Adebayo et al.'s cascading randomisation) as curves: one panel per heatmap, x the
    share of the classifier's layers re-initialised from the top (0: the trained weights), y the mean of
    ``metric`` between each map and its original with its 95 % interval, one line per classifier (one colour
    across panels); a dashed line at ``threshold``. A lens whose curve stays near 1 ignores the weights."""
    df = _require(table, RANDOMISATION_COLUMNS, "randomisation table")
    df = df[df["metric"] == metric]
    heatmaps = _unique(df["heatmap"])
    order = [c for c in (classifiers or []) if c in set(df["classifier"])] or _unique(df["classifier"])
    labels = dict(zip(df["heatmap"], df["label"], strict=False))
    fig = make_subplots(rows=1, cols=max(1, len(heatmaps)), shared_yaxes=True, horizontal_spacing=0.03,
                        subplot_titles=[labels[h] for h in heatmaps])
    for col, heatmap in enumerate(heatmaps, start=1):
        for k, name in enumerate(order):
            rows = df[(df["heatmap"] == heatmap) & (df["classifier"] == name)].sort_values("step")
            if rows.empty:
                continue
            fig.add_trace(go.Scatter(
                x=rows["fraction"], y=rows["mean"], mode="lines+markers", name=name, legendgroup=name,
                showlegend=col == 1, line={"color": colour(k)},
                error_y={"type": "data", "array": rows["ci_high"] - rows["mean"],
                         "arrayminus": rows["mean"] - rows["ci_low"], "visible": True},
                customdata=np.stack([rows["step"], rows["layer"].fillna("").astype(str), rows["n"]], axis=1),
                hovertemplate=f"{name}, step %{{customdata[0]}} (down to %{{customdata[1]}}): %{{y:.3f}} "
                              "(n = %{customdata[2]})<extra></extra>"), row=1, col=col)
        if threshold is not None:
            fig.add_hline(y=threshold, line={"dash": "dash", "color": "#777777"}, row=1, col=col)
    fig.update_xaxes(title_text="share of layers re-initialised", range=[-0.03, 1.03])
    fig.update_yaxes(title_text=f"{metric} with the original map", row=1, col=1)
    fig.update_layout(height=360, margin={"l": 40, "r": 10, "t": 70, "b": 40}, legend={"orientation": "h", "y": -0.25},
                      title={"text": f"Model randomisation (top layer first): {metric} of each map with its original "
                                     "(mean, 95 % interval)", "font": {"size": 13}})
    return fig
