"""Download buttons: tables as CSV, plotly figures as SVG/PNG (the lattice too, plus its DOT text), images as PNG.

Figure files are built only when the user clicks (Streamlit's deferred ``data=callable``), because one
kaleido export starts a headless Chromium and takes seconds; the bytes are cached on the figure's JSON.
Without kaleido or a Chromium (or after an export failed), figures are offered as interactive HTML with a
note saying so.
"""

from __future__ import annotations

import importlib.util
import io
import shutil
import threading

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
import streamlit as st
from PIL import Image

_BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")


@st.cache_resource
def _export_failures() -> dict[str, str]:
    """Process-wide record of a failed kaleido export (shared by all sessions), so that later page runs
    offer HTML instead of a button that fails again. Guarded by :func:`_lock`."""
    return {}


@st.cache_resource
def _lock() -> threading.Lock:
    return threading.Lock()


@st.cache_data(show_spinner=False)
def export_status() -> tuple[bool, str]:
    """Whether plotly figures can be exported to SVG/PNG here (kaleido importable and a Chromium found),
    checked without starting a browser."""
    if importlib.util.find_spec("kaleido") is None:
        return False, "kaleido is not installed"
    if not any(shutil.which(b) for b in _BROWSERS):
        return False, "no Chromium/Chrome found for kaleido"
    return True, "kaleido"


@st.cache_data(show_spinner=False, max_entries=128)
def _figure_bytes(fig_json: str, fmt: str) -> bytes:
    return pio.from_json(fig_json).to_image(format=fmt, width=1100, height=None, scale=2 if fmt == "png" else 1)


def _exporter(fig: go.Figure, fmt: str):
    def build() -> bytes:  # serialised on click only: to_json of a big figure costs tens of ms per page run
        try:
            return _figure_bytes(fig.to_json(), fmt)
        except Exception as exc:  # kaleido/Chromium failures of any kind: remember and fall back next run
            with _lock():
                _export_failures()["reason"] = f"{type(exc).__name__}: {exc}"[:300]
            raise
    return build


def button_row():
    """A horizontal container for a few buttons side by side (pass it as ``where`` to group buttons)."""
    return st.container(horizontal=True, vertical_alignment="center", gap="small")


def csv_button(df: pd.DataFrame, file_name: str, key: str, *, index: bool = True, label: str = "CSV",
               where=None) -> None:
    """Download ``df`` as CSV (into ``where``, e.g. a :func:`button_row`, or the current container)."""
    (where or st).download_button(f":material/download: {label}", df.to_csv(index=index).encode("utf-8"), file_name=file_name,
                       mime="text/csv", key=key, on_click="ignore")


def figure_buttons(fig: go.Figure, stem: str, key: str, where=None) -> None:
    """SVG and PNG buttons for a plotly figure (built on click), or an HTML download when export is impossible;
    into ``where`` (a :func:`button_row`) or a new row."""
    ok, reason = export_status()
    failed = _export_failures().get("reason")
    row = where or button_row()
    if ok and not failed:
        row.download_button(":material/download: SVG", _exporter(fig, "svg"), file_name=f"{stem}.svg",
                            mime="image/svg+xml", key=f"{key}_svg", on_click="ignore",
                            help="Built on click with kaleido (a few seconds the first time).")
        row.download_button(":material/download: PNG", _exporter(fig, "png"), file_name=f"{stem}.png",
                            mime="image/png", key=f"{key}_png", on_click="ignore",
                            help="Built on click with kaleido (a few seconds the first time).")
        return
    row.download_button(":material/download: HTML", fig.to_html(include_plotlyjs="cdn").encode("utf-8"),
                        file_name=f"{stem}.html", mime="text/html", key=f"{key}_html", on_click="ignore")
    row.caption(f"PNG/SVG export is unavailable ({failed or reason}); the figure is offered as interactive HTML.")


def dot_button(dot: str, stem: str, key: str, where=None) -> None:
    """The lattice as DOT text (Graphviz), beside its SVG/PNG buttons (``where``: a :func:`button_row`)."""
    (where or st).download_button(":material/download: DOT", dot.encode("utf-8"), file_name=f"{stem}.dot",
                                  mime="text/vnd.graphviz", key=f"{key}_dot", on_click="ignore",
                                  help="Graphviz source of the same lattice (render with `dot -Tsvg`).")


def _png(image: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    return buf.getvalue()


def png_button(image: np.ndarray, file_name: str, key: str, label: str = "PNG", where=None) -> None:
    """Download an ``(H, W, 3)`` uint8 image as PNG (encoded on click)."""
    (where or st).download_button(f":material/download: {label}", lambda: _png(image), file_name=file_name, mime="image/png",
                       key=key, on_click="ignore")
