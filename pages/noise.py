"""Noise: reconstructions of a noisy input x + U(-s, s) and the zoo's noise curves (Sec. 3.3.2, Figs. 4-5)."""

import streamlit as st

from dashboard import downloads, panels, state, url_state
from s2s_core.analysis.accounts import noise_account, noise_claims
from s2s_core.analysis.figures import noise_curves_figure, recolour, view_colours
from s2s_core.analysis.noise import NOISE_SEED
from s2s_core.errors import S2SError

state.require_app(__file__)

st.title("Resilience to noise")
ref = state.require_zoo()
info = ref.info
zoo = state.load_zoo(ref)
st.markdown("Additive uniform noise U(−s, s) per pixel and channel, clipped to [0, 1] (a fixed seed, "
            f"{NOISE_SEED}, so the same s always gives the same noise). The paper finds that the fine-tuned AEs "
            "keep more of what their classifier needs under noise than the original input does.")

items = state.gallery(info.test_dir)


@st.fragment
def noisy_panel() -> None:
    """Slider, image and panel: moving s reruns only this part, not the noise curves below."""
    c = st.columns([2, 3])
    url_state.restore("s", "noise_s", url_state.number(0.0, 1.0, 0.05), 0.2,
                      what="a noise strength in 0, 0.05, …, 1")
    s = c[0].slider("noise strength s", 0.0, 1.0, step=0.05, key="noise_s")
    url_state.publish("s", s, url_state.fmt_number)
    if not items:
        st.info("This zoo has no test images to add noise to; the curves below come from its results.")
        return
    item = state.pick_image(items, "noise_pick", where=c[1])
    try:
        inspection = state.inspect(ref, str(item.path), noise=s)
    except S2SError as exc:
        state.stop_on(exc)
    panels.reconstruction_panel(inspection, state.lab_figure(ref, str(item.path), s, inspection), key="noise",
                                original_label=f"x + U(−{s:g}, {s:g}) ({item.label})",
                                file_stem=f"{item.path.stem}_noise_{s:g}")


noisy_panel()

st.header("Top-1 accuracy under noise (Fig. 4)")
noise = state.result_table(ref, "noise")
if noise is not None:
    state.data_note(ref, ("noise",))
if noise is None:
    state.missing_results_note(ref, "noise curves")
else:
    try:
        fig = recolour(noise_curves_figure(noise), view_colours(zoo.names))
    except S2SError as exc:
        state.stop_on(exc)
    fig.update_layout(height=460)
    st.plotly_chart(fig, key="noise_curves")
    st.caption("Dashed: classifier i on the noisy original; solid: on A_S(x + n) (left) and on A_i(x + n) (right).")
    chance = 1.0 / info.num_classes if info.num_classes else None
    try:
        claims = noise_claims(noise, chance)
        account = noise_account(noise, chance)
    except S2SError as exc:
        state.stop_on(exc)
    st.markdown(f"**Fig. 4 stated.** {account}")
    shown = claims.rename(columns={"original": "i (%)", "A_S": "i∘A_S (%)", "A_i": "i∘A_i (%)",
                                   "gain": "i∘A_i − i (points)", "holds": "acc(i∘A_i) > acc(i)"})
    st.dataframe(shown.style.format(precision=1), hide_index=True, width="stretch")
    row = downloads.button_row()
    downloads.figure_buttons(fig, f"{info.name}_noise_curves", key="noise_fig", where=row)
    downloads.csv_button(noise, f"{info.name}_noise.csv", key="noise_csv", index=False, where=row)
