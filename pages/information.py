"""Information (Sec. 3.5, Figs. 8-9): intra- and inter-class nMI per AE, each beside the estimator's chance level."""

import streamlit as st

from dashboard import downloads, state
from s2s_core.analysis.accounts import nmi_account
from s2s_core.analysis.figures import nmi_bars_figure
from s2s_core.analysis.nmi import Estimator
from s2s_core.analysis.tables import nmi_summary, primary_nmi
from s2s_core.errors import S2SError

state.require_app(__file__)

st.title("Information kept by each AE")
st.markdown(
    "Normalised mutual information nMI(X, Y) = I(X; Y) / √(H(X) H(Y)) between the grey levels of corresponding "
    "pixels of two images (0: independent, 1: one determines the other).\n"
    "- **intra-class nMI** = nMI(x, A_i(x)): how much of the input a reconstruction keeps — high is expected.\n"
    "- **inter-class nMI** = nMI(A_i(x₁), A_i(x₂)) for random pairs of images of *different classes* (the same "
    "pairs for every AE): what two reconstructions share regardless of their input, e.g. a texture or tint the "
    "AE imposes — low is expected.\n"
    "- **chance level**: the same estimator on the same pairs of *original* images. Two unrelated images are not "
    "at 0 (shared layout and colour statistics, and the finite-sample bias of the estimator), so every value "
    "is read against this level, with its 95 % interval.\n\n"
    "The paper finds A_S keeps the most, and the fine-tuned AEs fall in one order under both measures "
    "(A_V > A_I > A_L > A_R > A_A on ImageNet), close to the chain of the concept lattice.")

ref = state.require_zoo()
info = ref.info
nmi = state.result_table(ref, "nmi")
if nmi is None:
    state.missing_results_note(ref, "nMI table")
    st.stop()
diffs = state.result_table(ref, "nmi_differences")
state.data_note(ref, ("nmi", "nmi_differences", "nmi_pairs"))
try:
    fig = nmi_bars_figure(nmi)
    table = nmi_summary(nmi)
    account = nmi_account(nmi, diffs)
    estimator = Estimator.parse(str(primary_nmi(nmi)["estimator"].iloc[0]))
except S2SError as exc:
    state.stop_on(exc)

st.subheader("What the numbers show")
st.markdown("\n".join(f"- {sentence}" for sentence in account))
st.caption(f"Estimator: {estimator.describe()}. The grey levels follow a rule for the sample count (at least 8 "
           "samples per cell of the joint histogram: 32 levels at 64 px, 128 at 224 px) and the Miller-Madow "
           "correction removes the estimator's finite-sample bias, so two independent noise images score about 0. "
           "nmi.csv also holds the raw 256-level (scikit-learn) values.")

fig.update_layout(height=440, title="Fig. 9: nMI per AE (error bars: one standard deviation; dashed: chance)")
st.plotly_chart(fig, key="nmi_bars")
downloads.figure_buttons(fig, f"{info.name}_nmi", key="nmi_fig")

st.markdown("**Intra- and inter-class nMI per AE against chance** (− chance: difference with its 95 % interval)")
st.dataframe(table.style.format(precision=4), width="stretch")
row = downloads.button_row()
downloads.csv_button(table, f"{info.name}_nmi_table.csv", key="nmi_csv", where=row, label="CSV (summary)")
downloads.csv_button(nmi, f"{info.name}_nmi.csv", key="nmi_raw_csv", index=False, where=row, label="CSV (nmi.csv)")

if diffs is not None:
    with st.expander("Paired differences between AEs (same images for intra, same pairs for inter)"):
        st.dataframe(diffs.style.format(precision=4), hide_index=True, width="stretch")
        downloads.csv_button(diffs, f"{info.name}_nmi_differences.csv", key="nmi_diff_csv", index=False)
pairs = state.result_table(ref, "nmi_pairs")
if pairs is not None:
    with st.expander(f"The {len(pairs)} inter-class pairs and their nMI"):
        st.dataframe(pairs, hide_index=True, width="stretch")
        downloads.csv_button(pairs, f"{info.name}_nmi_pairs.csv", key="nmi_pairs_csv", index=False)
