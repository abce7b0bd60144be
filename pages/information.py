"""Information (Sec. 3.5, Figs. 8-9): intra- and inter-class nMI per AE, with standard deviations."""

import streamlit as st

from dashboard import downloads, state
from s2s_core.analysis.figures import nmi_bars_figure
from s2s_core.analysis.tables import nmi_summary
from s2s_core.errors import S2SError
from s2s_core.views import BASE_KEY

state.require_app(__file__)

st.title("Information kept by each AE")
st.markdown(
    "Normalised mutual information nMI(X, Y) = I(X; Y) / √(H(X) H(Y)) between the 8-bit pixel values of two "
    "images (0: independent, 1: one determines the other).\n"
    "- **intra-class nMI** = nMI(x, A_i(x)): how much of the input a reconstruction keeps — high is expected.\n"
    "- **inter-class nMI** = nMI(A_i(x₁), A_i(x₂)) for consecutive pairs of different images: how much two "
    "reconstructions share regardless of their input, e.g. a texture or tint the AE imposes — low is expected.\n\n"
    "The paper finds A_S keeps the most, and the fine-tuned AEs fall in one order under both measures "
    "(A_V > A_I > A_L > A_R > A_A on ImageNet), close to the chain of the concept lattice.")

ref = state.require_zoo()
info = ref.info
nmi = state.result_table(ref, "nmi")
if nmi is None:
    state.missing_results_note(ref, "nMI table")
    st.stop()
try:
    fig = nmi_bars_figure(nmi)
except S2SError as exc:
    state.stop_on(exc)
fig.update_layout(height=440, title="Fig. 9: nMI per AE (error bars: one standard deviation)")
st.plotly_chart(fig, key="nmi_bars")
downloads.figure_buttons(fig, f"{info.name}_nmi", key="nmi_fig")

table = nmi_summary(nmi)
left, right = st.columns([3, 2])
with left:
    st.markdown("**Intra- vs. inter-class nMI per AE** (Fig. 8 illustrates the two measures)")
    st.dataframe(table.style.format(precision=4), width="stretch")
    downloads.csv_button(table, f"{info.name}_nmi_table.csv", key="nmi_csv")
with right:
    for kind in ("intra", "inter"):
        if f"{kind} mean" in table.columns:
            tuned = table[f"{kind} mean"].drop(index=[BASE_KEY], errors="ignore").dropna().sort_values(ascending=False)
            st.markdown(f"**Order by {kind}-class nMI:** " + " > ".join(tuned.index))
    st.caption("n: images (intra) or image pairs (inter) of the zoo's test data.")
