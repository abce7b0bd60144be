"""Figures of the attack tables (issue 28): accuracy-vs-ε curves with Wilson intervals, and the transfer matrix
(Folz, Palacio et al., WACV 2020)."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from s2s_core.attacks.summary import curves, transfer_matrix

COLOURS = {"i": "#444444", "i∘A_S (gray)": "#1f77b4", "i∘A_i (gray)": "#2ca02c", "i∘A_i (white)": "#d62728",
           "i∘A_S (white)": "#9467bd"}


def _named(curve: str, classifier: str) -> str:
    """``"i∘A_i (gray)"`` -> ``"V∘A_V (gray)"``."""
    return classifier if curve == "i" else curve.replace("A_i", f"A_{classifier}").replace("i∘", f"{classifier}∘", 1)


def curves_figure(table: pd.DataFrame, classifier: str, attack: str) -> go.Figure:
    """Top-1 (%) of i, i∘A_S and i∘A_i against ε (1/255) under ``attack``, gray and white, 95 % bands."""
    fig = go.Figure()
    for name, c in curves(table, classifier, attack).groupby("curve", sort=False):
        colour = COLOURS.get(name, "#888888")
        fig.add_trace(go.Scatter(x=c["eps"], y=c["top1"] * 100, mode="lines+markers", name=_named(name, classifier),
                                 line={"color": colour, "dash": "dash" if "white" in name else "solid"},
                                 error_y={"type": "data", "symmetric": False, "array": (c["ci_high"] - c["top1"]) * 100,
                                          "arrayminus": (c["top1"] - c["ci_low"]) * 100, "thickness": 1}))
    fig.update_layout(xaxis_title="ε (1/255)", yaxis_title="top-1 (%)", yaxis_range=[0, 100], height=360,
                      margin={"l": 40, "r": 10, "t": 30, "b": 40}, title=f"{attack.upper()} against {classifier}")
    return fig


def transfer_figure(transfer: pd.DataFrame, attack: str, eps: float, view: str = "original") -> go.Figure:
    """Heatmap of top-1 (%) of target j (columns) on examples crafted on source i (rows)."""
    m = transfer_matrix(transfer, attack, eps, view) * 100
    fig = go.Figure(go.Heatmap(z=m.values, x=[str(c) for c in m.columns], y=[str(r) for r in m.index],
                               zmin=0, zmax=100, colorscale="Viridis", text=m.round(0).values,
                               texttemplate="%{text:.0f}", colorbar={"title": "top-1 %"}))
    reader = "j" if view == "original" else "j∘A_j"
    fig.update_layout(xaxis_title=f"read by {reader}", yaxis_title="crafted on i", yaxis_autorange="reversed",
                      height=360, margin={"l": 40, "r": 10, "t": 30, "b": 40},
                      title=f"{attack.upper()} at ε = {eps:g}/255, transferred")
    return fig
