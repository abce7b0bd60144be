"""The reconstruction panel shared by the Reconstructions, Upload and Noise pages (Fig. 3 of the paper).

For one :class:`~s2s_core.inspection.Inspection`: the original and every reconstruction side by side, each with
the zoom region outlined, the zoomed region (same crop for every view, nearest neighbour), the difference
map ``|A(x) - x|`` on one shared colour scale, and under each A_i the top-5 of classifier i on x and on
A_i(x); then the L*a*b* histograms of every view and a table of every classifier on every input.
"""

from __future__ import annotations

import html

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from dashboard import downloads, url_state
from s2s_core.analysis.figures import view_colours
from s2s_core.imaging import colour_bar, montage, panel_images
from s2s_core.inspection import Inspection
from s2s_core.views import BASE_KEY, ORIGINAL, ae_key, ae_name

ZOOM_FACTORS = (1, 2, 3, 4, 6, 8)
SCALES = ("auto", 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)
MAX_COLUMNS = 7


def _header(view: str, colour: str, note: str) -> None:
    st.markdown(
        f'<div style="border-top:5px solid {colour};padding-top:3px;line-height:1.2">'
        f'<b>{html.escape(view)}</b><br><span style="font-size:0.78em;color:#666">{html.escape(note)}</span></div>',
        unsafe_allow_html=True)


def _note(view: str, original_label: str) -> str:
    if view == ORIGINAL:
        return original_label
    if view == BASE_KEY:
        return "pre-trained AE A_S"
    return f"fine-tuned through {ae_name(view)}"


def _topk_html(inspection: Inspection, name: str) -> str:
    """Classifier ``name``'s top-5 on x and on A_name(x), as a compact two-column HTML table."""
    frame = inspection.topk_frame(name)
    head = "".join(f"<th style='padding:0 3px;font-weight:600'>{html.escape(str(c))}</th>" for c in frame.columns)
    body = "".join("<tr>" + "".join(f"<td style='padding:0 3px;white-space:nowrap'>{html.escape(str(v))}</td>"
                                    for v in row) + "</tr>" for row in frame.itertuples(index=False))
    return (f"<div style='font-size:0.7em;overflow-x:auto'><div style='color:#666'>top-5 of {html.escape(name)}</div>"
            f"<table style='border-collapse:collapse;width:100%'><tr>{head}</tr>{body}</table></div>")


def column_image(part: dict[str, np.ndarray], vmax: float, gap: int = 4) -> np.ndarray:
    """One view's image, zoom and difference map (or, for the original, the difference colour bar) stacked
    into one ``(rows, D, 3)`` uint8 picture: one element and one download per view instead of three."""
    d = part["image"].shape[1]
    last = part["diff"] if "diff" in part else colour_bar(vmax, width=d, height=max(8, d // 16))
    white = np.full((gap, d, 3), 255, dtype=np.uint8)
    return np.concatenate([part["image"], white, part["zoom"], white, last], axis=0)


def zoom_controls(key: str) -> None:
    """Before the zoom widgets ``{key}_zx/_zy/_zf/_scale`` are made: their values from the URL or defaults."""
    url_state.restore("zx", f"{key}_zx", url_state.integer(0, 100), 50, what="a zoom centre in 0…100")
    url_state.restore("zy", f"{key}_zy", url_state.integer(0, 100), 50, what="a zoom centre in 0…100")
    url_state.restore("zf", f"{key}_zf", url_state.choice(ZOOM_FACTORS), 4,
                      what=f"a zoom factor ({', '.join(map(str, ZOOM_FACTORS))})")
    url_state.restore("ds", f"{key}_scale", url_state.choice(SCALES), "auto",
                      what=f"a difference scale ({', '.join(map(str, SCALES))})")


def publish_zoom(key: str) -> None:
    """After the zoom widgets: their values into the URL."""
    for param, suffix in (("zx", "zx"), ("zy", "zy"), ("zf", "zf"), ("ds", "scale")):
        url_state.publish(param, st.session_state[f"{key}_{suffix}"])


def zoom_widgets(key: str) -> tuple[float, float, int, str | float]:
    """The four zoom widgets in one row (values from the URL on a session's first run, written back after):
    centre ``(cx, cy)`` as fractions, the zoom factor and the difference scale (``"auto"`` or a number)."""
    zoom_controls(key)
    c = st.columns(4)
    cx = c[0].slider("zoom centre x (%)", 0, 100, key=f"{key}_zx") / 100
    cy = c[1].slider("zoom centre y (%)", 0, 100, key=f"{key}_zy") / 100
    factor = c[2].select_slider("zoom factor", ZOOM_FACTORS, key=f"{key}_zf",
                                help="Crops the same region of every image and enlarges it (nearest neighbour).")
    scale = c[3].select_slider("difference scale (full colour at)", SCALES, key=f"{key}_scale",
                               help="|A(x) − x| averaged over R, G, B (values in [0, 1]); 'auto' uses the 99th "
                                    "percentile over all AEs, so every map shares one scale.")
    publish_zoom(key)
    return cx, cy, factor, scale


def reconstruction_panel(inspection: Inspection, lab_fig: go.Figure, *, key: str,
                         original_label: str = "input x", file_stem: str = "reconstructions") -> None:
    """Draw the whole panel; widget keys start with ``key`` (one panel per page)."""
    colours = view_colours(inspection.names)
    cx, cy, factor, scale = zoom_widgets(key)
    vmax = inspection.diff_scale() if scale == "auto" else float(scale)
    parts = panel_images(inspection, cx, cy, factor, vmax)

    views = inspection.views
    for start in range(0, len(views), MAX_COLUMNS):
        chunk = views[start: start + MAX_COLUMNS]
        cols = st.columns(MAX_COLUMNS if len(views) > MAX_COLUMNS else len(chunk))
        for col, view in zip(cols, chunk, strict=False):
            with col:
                _header(view, colours[view], _note(view, original_label))
                if view in inspection.diffs:
                    caption = f"zoom ×{factor} · |{view}(x) − x|, mean {inspection.diffs[view].mean():.3f}"
                else:
                    caption = f"zoom ×{factor} · difference scale 0 … {vmax:.3f} (brighter = larger change)"
                st.image(column_image(parts[view], vmax), caption=caption, width="stretch")
                name = ae_name(view)
                if name in inspection.names:
                    st.markdown(_topk_html(inspection, name), unsafe_allow_html=True)
                elif view == ORIGINAL:
                    tops = "<br>".join(
                        f"<span style='color:{colours[n]}'>■</span> {html.escape(n)}: "
                        f"{html.escape(inspection.predictions[n][view].text(1))}" for n in inspection.names)
                    st.markdown(f"<div style='font-size:0.78em'>top-1 on x<br>{tops}</div>", unsafe_allow_html=True)
    st.plotly_chart(lab_fig, key=f"{key}_lab", config={"displayModeBar": False})
    row = downloads.button_row()
    downloads.png_button(montage(parts), f"{file_stem}.png", key=f"{key}_montage",
                         label="PNG of all images (image / zoom / difference)", where=row)
    downloads.figure_buttons(lab_fig, f"{file_stem}_lab_histograms", key=f"{key}_lab_dl", where=row)

    st.markdown("**Every classifier on every input** (top-1 with its softmax probability; "
                "the highlighted cell is each classifier on its own AE, i∘A_i)")
    frame = inspection.prediction_frame()
    own = {(n, ae_key(n)) for n in inspection.names}
    styled = frame.style.apply(
        lambda col: [f"background-color: {colours[r]}33; font-weight: 600" if (r, col.name) in own else ""
                     for r in col.index], axis=0)
    st.dataframe(styled, width="stretch")
    downloads.csv_button(inspection.prediction_long_frame(), f"{file_stem}_predictions.csv", key=f"{key}_pred_csv",
                         index=False, label="CSV (top-5 of every classifier on every input)")
