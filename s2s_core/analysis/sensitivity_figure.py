"""The class-sensitivity table as a figure (issue 26): each class-conditional lens's target sensitivity
½[(m_a(A) − m_a(B)) + (m_b(B) − m_b(A))] per classifier with its 95 % interval, and the line at 0 where every
map that ignores the target lies (the model-free anchors, computed). Reads ``class_sensitivity.csv``."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import plotly.graph_objects as go

from s2s_core.analysis.figures import colour


def class_sensitivity_figure(table: pd.DataFrame, classifiers: Sequence[str] | None = None,
                             subset: str = "all") -> go.Figure:
    """Points per lens heatmap (rows) and classifier (colours): the mean sensitivity on ``subset`` (``all``
    composites or ``top2``) with its interval; a dashed line at the anchors' value (0 by symmetry)."""
    t = table[(table["measure"] == "sensitivity")]
    lenses = t[~t["model_free"].astype(bool) & (t["subset"] == subset)]
    anchors = t[t["model_free"].astype(bool)]
    order = [c for c in (classifiers or []) if c in set(lenses["classifier"])] or list(dict.fromkeys(
        lenses["classifier"]))
    fig = go.Figure()
    for k, name in enumerate(order):
        rows = lenses[lenses["classifier"] == name]
        fig.add_trace(go.Scatter(x=rows["mean"], y=rows["label"], mode="markers", name=name, offsetgroup=str(k),
                                 marker={"color": colour(k), "size": 9}, customdata=rows[["n", "verdict"]],
                                 error_x={"type": "data", "array": rows["ci_high"] - rows["mean"],
                                          "arrayminus": rows["mean"] - rows["ci_low"], "visible": True},
                                 hovertemplate=f"{name}, %{{y}}: %{{x:.3f}} (n = %{{customdata[0]}}, "
                                               "%{customdata[1]})<extra></extra>"))
    anchor = float(anchors["mean"].abs().max()) if len(anchors) else 0.0
    fig.add_vline(x=anchor, line={"dash": "dash", "color": "#777777"},
                  annotation_text=f"maps that ignore the target ({len(anchors)} model-free, computed)",
                  annotation_position="top")
    fig.update_layout(scattermode="group", height=200 + 40 * lenses["label"].nunique(),
                      margin={"l": 10, "r": 10, "t": 60, "b": 40},
                      xaxis={"title": "target sensitivity (mean, paired bootstrap 95 % interval; 1 = the target's mask)"},
                      yaxis={"autorange": "reversed", "automargin": True}, legend={"orientation": "h", "y": -0.2},
                      title={"text": "Does the map follow the class it is asked about? Two-shape images"
                                     + (", both classes in i's top-2" if subset == "top2" else ""),
                             "font": {"size": 13}})
    return fig
