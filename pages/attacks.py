"""Attacks: one image under FGSM/PGD against classifier i, read by i, A_i and A_S; below, the zoo's accuracy-vs-ε
curves (gray- and white-box) and the transfer matrix from ``s2s attack`` (issue 28; Folz, Palacio et al.,
WACV 2020)."""

from pathlib import Path

import streamlit as st

from dashboard import attacks_view, downloads, state
from s2s_core.attacks.figures import curves_figure, transfer_figure
from s2s_core.attacks.methods import ATTACKS
from s2s_core.attacks.summary import curves
from s2s_core.demo.report import attack_section
from s2s_core.errors import S2SError
from s2s_core.imaging import to_uint8

state.require_app(__file__)

EPS = [0, 1, 2, 4, 8, 16]

st.title("Attacks")
ref = state.require_zoo()
zoo = state.load_zoo(ref)
st.markdown("A perturbation δ (L∞, ε in 1/255) crafted to move classifier *i* off its answer: **gray-box** crafted on "
            "*i* alone, **white-box** on *i*∘A_i through the AE. Does A_i(x + δ) still carry what *i* needs? Gray-box "
            "numbers alone overstate robustness (Athalye et al. 2018): compare both.")
items = state.gallery(ref.info.test_dir)
c = st.columns([1, 3])
kind = c[0].radio("Image", ["test image", "upload"] if items else ["upload"], key="attack_source", horizontal=True)
if kind == "test image":
    item = state.pick_image(items, "attack_pick", "Test image", where=c[1])
    source, upload_name = str(item.path), None
else:
    upload = c[1].file_uploader("Image file", key="attack_upload")
    if upload is None:
        st.info("No image yet: choose a file above.")
        st.stop()
    source, upload_name = upload.getvalue(), upload.name
c = st.columns(4)
name = c[0].selectbox("Classifier", list(zoo.classifiers), key="attack_clf")
attack = c[1].selectbox("Attack", ATTACKS, index=ATTACKS.index("pgd"), format_func=str.upper, key="attack_kind")
threat = c[2].radio("Crafted on", ["gray", "white"], horizontal=True, key="attack_threat",
                    format_func=lambda t: "i (gray-box)" if t == "gray" else "i∘A_i (white-box)")
eps = c[3].select_slider("ε (1/255)", EPS, value=4, key="attack_eps")
try:
    result = attacks_view.attacked(ref, source, name, attack, eps, threat, upload_name)
except S2SError as exc:
    state.stop_on(exc)
st.caption(f"Pushed away from {name}'s answer on x ({result.target}); max |δ| = {result.linf:.1f}/255. "
           "δ is shown as 0.5 + δ/2ε. Under each image: " f"{name}'s top-5.")
for col, (caption, image) in zip(st.columns(len(result.images)), result.images.items(), strict=True):
    col.image(to_uint8(image), caption=caption, width="stretch")
    if caption in result.top5:
        top = result.top5[caption]
        col.markdown("<div style='font-size:0.75em'>" + "<br>".join(
            f"{lab} {p:.0%}" for lab, p in zip(top.labels, top.probs, strict=True)) + "</div>", unsafe_allow_html=True)

st.header("Accuracy under attack")
table = state.result_table(ref, "adversarial")
if table is None:
    st.info(f"No attack tables yet: `s2s attack {state.zoo_label(ref.path)}` writes them.")
    st.stop()
state.data_note(ref, ("adversarial",))
transfer = state.result_table(ref, "adversarial_transfer")
st.markdown("\n\n".join(attack_section(table, list(zoo.classifiers), state.result_table(ref, "gradient_structure"),
                                      transfer)))
c = st.columns(2)
shown = [a for a in ATTACKS if a in set(table["attack"])]
run = c[0].selectbox("Attack", shown, format_func=str.upper, key="attack_curve")
c[0].plotly_chart(curves_figure(table, name, run), key="attack_curves")
downloads.csv_button(curves(table, name, run), f"attack_{name}_{run}.csv", key="attack_csv", index=False,
                     where=c[0])
levels = sorted(set(transfer[transfer["attack"] == run]["eps"])) if transfer is not None else []
if levels:
    level = c[1].select_slider("ε of the transfer (1/255)", levels, value=min(levels, key=lambda e: abs(e - 4)),
                               key="attack_transfer_eps")
    through = c[1].toggle("read through each target's own A_j", key="attack_through")
    c[1].plotly_chart(transfer_figure(transfer, run, level, "A_j" if through else "original"), key="attack_transfer")
st.caption(f"Images and labels as `s2s attack` read them ({Path(ref.path).name}/results/adversarial.csv).")
