"""Signal order (Sec. 3.4): Table 2 as a heatmap, RRC of all pairs (Fig. 6) and the concept lattice (Fig. 7)
under a live threshold; for the zoo's own cross accuracy, an uploaded CSV or the paper's Table 2."""

import math

import numpy as np
import pandas as pd
import streamlit as st

from dashboard import downloads, state, url_state
from s2s_core.analysis.crosstable import read_cross_table
from s2s_core.analysis.fca import lattice_at
from s2s_core.analysis.figures import (
    cross_accuracy_heatmap,
    lattice_dot,
    recolour,
    rrc_sorted_bar,
    view_colours,
)
from s2s_core.analysis.paper import paper_table2_csv
from s2s_core.analysis.rrc import rrc_matrix
from s2s_core.analysis.tables import cross_accuracy_of_classes
from s2s_core.errors import S2SError

state.require_app(__file__)

SOURCES = {"zoo": "this zoo's results", "upload": "an uploaded CSV", "paper": "the paper's Table 2 (ImageNet)"}
SOURCE = "so_source"

st.title("Signal order")
st.markdown(
    "**RRC**(j∘A_i) = acc(j∘A_i) / min(acc_i, acc_j), with acc_k = acc(k∘A_k): how much of the weaker model's "
    "accuracy survives when classifier *j* reads the signal kept by A_i. Thresholding RRC ≥ t gives a formal "
    "context (classifier *j* has attribute A_i); its concept lattice orders the signals the classifiers use.")

ref = state.selected_zoo()
has_zoo_table = ref is not None and ref.stamp > 0 and state.result_path(ref, "cross_accuracy").is_file()
linkable = ["zoo", "paper"] if has_zoo_table else ["paper"]  # an uploaded CSV cannot come back from a link
url_state.restore("src", SOURCE, url_state.choice(linkable), linkable[0], what="a table this page can show here")


def _use(source: str) -> None:
    st.session_state[SOURCE] = source


c = st.columns([3, 2])
c[0].radio("Cross-accuracy table", list(SOURCES), format_func=SOURCES.get, key=SOURCE, horizontal=True)
c[1].button("Load the paper's Table 2 as an example", on_click=_use, args=("paper",), key="load_paper",
            icon=":material/description:")
upload = st.file_uploader(
    "Your cross-accuracy CSV (header: classifiers j; first column: A_i in the same order; cells acc(j∘A_i) — "
    "the format of `s2s signal-order`)", key="cross_csv", on_change=_use, args=("upload",))

source = st.session_state[SOURCE]
if source in linkable:
    url_state.publish("src", source)
elif "src" in st.query_params:
    del st.query_params["src"]
try:
    if source == "paper":
        table, title = read_cross_table(paper_table2_csv()), "the paper's Table 2"
    elif source == "upload":
        if upload is None:
            st.info("Choose a CSV file above, or load the paper's Table 2.")
            st.stop()
        table, title = read_cross_table(upload.getvalue()), upload.name
    else:
        if not has_zoo_table:
            if ref is None:
                st.info(state.NO_ZOO_MESSAGE + "; meanwhile, load the paper's Table 2 or upload a CSV.")
            else:
                state.missing_results_note(ref, "cross-accuracy table")
            st.stop()
        table = read_cross_table(state.result_path(ref, "cross_accuracy"))
        title = f"zoo “{ref.info.name}”"
        state.data_note(ref, ("cross_accuracy", "per_class"))
        per_class = state.result_table(ref, "per_class")
        if per_class is not None:
            classes = list(dict.fromkeys(per_class["class"].astype(str)))
            chosen = st.multiselect("Restrict Table 2, RRC and the lattice to these classes (empty: all classes)",
                                    classes, key="so_classes",
                                    help="Pooled exactly from the per-class counts of results/per_class.csv.")
            if chosen:
                pooled = cross_accuracy_of_classes(per_class, chosen)
                table = read_cross_table(pooled.to_csv().encode())
                n = int(per_class[(per_class["class"].astype(str).isin(chosen))
                                  & (per_class["input"] == "original")].groupby("class")["n"].first().sum())
                title += f", {len(chosen)} of {len(classes)} classes ({n} images: {', '.join(chosen)})"
    rrc = rrc_matrix(table.acc)
except S2SError as exc:
    st.error(f"{SOURCES[source].capitalize()}: {exc}")
    st.stop()

colours = view_colours(table.names)
stem = {"paper": "paper_table2", "upload": "uploaded", "zoo": ref.info.name if ref else "zoo"}[source]
st.caption(f"Showing {title}: {len(table.names)} classifier{'s' if len(table.names) != 1 else ''} "
           f"({', '.join(table.names)}).")

left, right = st.columns(2)
with left:
    heat = cross_accuracy_heatmap(table)
    heat.update_layout(height=460, title_text="Table 2: cross accuracy acc(j∘A_i)")
    st.plotly_chart(heat, key="cross_heatmap")
    row = downloads.button_row()
    downloads.figure_buttons(heat, f"{stem}_cross_accuracy", key="heat_fig", where=row)
    downloads.csv_button(table.to_frame(), f"{stem}_cross_accuracy.csv", key="cross_csv_dl", where=row)
with right:
    rrc_frame = pd.DataFrame(rrc, index=table.ae_names, columns=table.names)
    st.markdown("**RRC(j∘A_i)** (rows A_i, columns classifiers j)")
    st.dataframe(rrc_frame.style.format("{:.3f}"), width="stretch")
    downloads.csv_button(rrc_frame, f"{stem}_rrc.csv", key="rrc_csv")

@st.fragment
def threshold_part() -> None:
    """The threshold slider and everything it changes (Fig. 6's line and band, Fig. 7, the concepts and the
    context): moving t reruns only this part, not Table 2's heatmap and the RRC table above."""
    top = max(1.0, math.ceil(float(np.max(rrc)) * 100) / 100)
    if st.session_state.get("threshold", 0.0) > top:  # a table with a smaller range than the previous one
        st.session_state["threshold"] = top
    url_state.restore("t", "threshold", url_state.number(0.0, top, 0.01), min(0.5, top),
                      what=f"a threshold in 0, 0.01, …, {top:g} for this table")
    t = st.slider("RRC threshold t", 0.0, top, step=0.01, key="threshold",
                  help="Classifier j has attribute A_i iff RRC(j∘A_i) ≥ t.")
    url_state.publish("t", t, lambda v: f"{v:.2f}")
    lattice = lattice_at(table.names, rrc, t, ae_names=table.ae_names)

    bars = recolour(rrc_sorted_bar(table.names, rrc, threshold=t, interval=lattice.interval), colours)
    bars.update_layout(height=380, title="Fig. 6: every j∘A_i sorted by RRC (dashed: t; band: the same lattice)")
    st.plotly_chart(bars, key="rrc_bars")
    downloads.figure_buttons(bars, f"{stem}_rrc_sorted", key="bars_fig")

    lo, hi = lattice.interval
    interval = f"({'−∞' if lo is None else f'{lo:.4f}'}, {'+∞)' if hi is None else f'{hi:.4f}]'}"
    st.subheader(f"Fig. 7: concept lattice at t = {t:.2f}")
    st.markdown(f"Every threshold t in **{interval}** gives this same context, hence this same lattice "
                f"({len(lattice.concepts)} concepts{', a chain' if lattice.is_chain() else ''}). "
                "Classifiers (blue) are written above the node that introduces them, AEs (red) below; "
                "bigger, darker nodes hold more classifiers.")
    lattice_fig = state.lattice_figure_at(table.names, rrc, t, table.ae_names)
    st.plotly_chart(lattice_fig, key="lattice", config={"displayModeBar": False})
    row = downloads.button_row()
    downloads.figure_buttons(lattice_fig, f"{stem}_lattice_t{t:.2f}", key="lattice_dl", where=row)
    downloads.dot_button(lattice_dot(lattice), f"{stem}_lattice_t{t:.2f}", key="lattice_dl", where=row)

    concepts = pd.DataFrame({"classifiers (extent)": [", ".join(cn.extent) or "∅" for cn in lattice.concepts],
                             "AEs (intent)": [", ".join(cn.intent) or "∅" for cn in lattice.concepts]})
    context = pd.DataFrame(np.where(lattice.incidence, "✕", ""), index=table.names, columns=table.ae_names)
    left, right = st.columns(2)
    left.markdown("**Formal concepts** (bottom first)")
    left.dataframe(concepts, width="stretch")
    right.markdown("**Formal context** (✕: RRC(j∘A_i) ≥ t)")
    right.dataframe(context, width="stretch")
    row = downloads.button_row()
    downloads.csv_button(concepts, f"{stem}_concepts_t{t:.2f}.csv", key="concepts_csv", index=False, where=row,
                         label="CSV (concepts)")
    downloads.csv_button(context, f"{stem}_context_t{t:.2f}.csv", key="context_csv", where=row,
                         label="CSV (context)")


threshold_part()
