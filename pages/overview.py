"""Overview: the method in a few lines, its pipeline, and the selected zoo (classifiers, data, Table 1)."""

import pandas as pd
import streamlit as st

from dashboard import downloads, quality, state
from s2s_core.analysis.figures import table1_figure
from s2s_core.analysis.tables import class_highlights, class_shifts, classifier_frame, parameter_count
from s2s_core.analysis.tables import table1 as table1_of
from s2s_core.errors import S2SError
from s2s_core.provenance import provenance_rows

state.require_app(__file__)

PIPELINE_DOT = """digraph pipeline {
  rankdir=LR; bgcolor="transparent"; nodesep=0.35; ranksep=0.45;
  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=11, fillcolor="#eef2f8", color="#8899aa"];
  edge [fontname="Helvetica", fontsize=10, color="#555555"];
  x [label="image x", shape=ellipse, fillcolor="#ffffff"];
  enc [label="SegNet encoder\\n(shared, frozen ❄)"];
  code [label="code + pooling indices", shape=note, fillcolor="#ffffff"];
  decS [label="decoder of A_S\\n(pre-trained with MSE, frozen ❄)"];
  deci [label="decoder of A_i\\n(a copy of A_S's, fine-tuned)", fillcolor="#ffe3c4", color="#d9822b"];
  xs [label="A_S(x)", shape=ellipse, fillcolor="#ffffff"];
  xi [label="A_i(x)", shape=ellipse, fillcolor="#ffffff"];
  clf [label="classifier i\\n(frozen ❄)"];
  logits [label="logits", shape=ellipse, fillcolor="#ffffff"];
  loss [label="cross-entropy\\nwith label y", shape=diamond, fillcolor="#fff6d5"];
  x -> enc -> code;
  code -> decS -> xs;
  code -> deci -> xi -> clf -> logits -> loss;
  loss -> clf [style=dashed, color="#c0392b", fontcolor="#c0392b", label="gradient", constraint=false];
  clf -> xi [style=dashed, color="#c0392b", constraint=false];
  xi -> deci [style=dashed, color="#c0392b", fontcolor="#c0392b", label="updates only\\nthe decoder", constraint=false];
}"""

st.title("What do deep networks like to see?")
st.markdown(
    "A SegNet autoencoder **A_S** is pre-trained to reconstruct many images (MSE). For each classifier *i*, "
    "a copy of its **decoder** is then fine-tuned with *i*'s classification loss while the encoder and the "
    "classifier stay frozen: the result **A_i** keeps exactly the part of the input that *i* uses. "
    "Comparing the reconstructions A_i(x), the accuracies of *j*∘A_i (Table 2, RRC, concept lattices) and the "
    "information kept (nMI) shows which signal each network relies on (Palacio et al., CVPR 2018, Sec. 3).")
st.graphviz_chart(PIPELINE_DOT, width="stretch")
st.caption("Dashed red: the path of the fine-tuning gradient. Only the decoder of A_i is updated; one encoder "
           "pass feeds every decoder, so A_S and all A_i reconstruct the same code.")

ref = state.require_zoo()
info = ref.info
zoo = state.load_zoo(ref)
test_dir = info.test_dir
n_test = state.count_test_images(test_dir)

st.header(f"Zoo “{info.name}”")
st.caption(str(info.path))
m = st.columns(5)
m[0].metric("input size", f"{info.input_size}×{info.input_size}")
m[1].metric("classes", info.num_classes)
m[2].metric("classifiers", len(zoo.classifiers))
m[3].metric("fine-tuned AEs", len(zoo.names))
m[4].metric("test images", n_test if n_test is not None else "none")

left, right = st.columns([3, 2])
with left:
    st.subheader("Classifiers")
    for name in info.random_weight_classifiers():
        st.warning(f"Classifier {name} has randomly initialised weights (fine-tuned with classifier_weights: none): "
                   f"its accuracies and A_{name} describe a network that was never trained.")
    frame = classifier_frame(zoo)
    st.dataframe(frame.style.format({"parameters": "{:,}"}), hide_index=True, width="stretch")
    downloads.csv_button(frame, f"{info.name}_classifiers.csv", key="clf_csv", index=False)
    base = zoo.base.config
    st.caption(f"A_S: SegNet with widths {base['widths']} and depths {base['depths']} "
               f"({parameter_count(zoo.base):,} parameters; each decoder "
               f"{parameter_count(zoo.base.decoder):,}).")
with right:
    st.subheader("Data")
    st.markdown(f"Test images: `{test_dir}`" if test_dir else "No labelled test images in this zoo's data folder.")
    if info.classes:
        st.markdown("Classes: " + ", ".join(f"`{c}`" for c in info.classes))
    with st.expander("zoo.json: data and recipe"):
        st.json({"data": info.data, "recipe": info.recipe, "seed": info.seed})

prov = state.provenance(ref)
if prov is not None:
    st.subheader("Provenance: how this zoo was built")
    prov_frame = pd.DataFrame(provenance_rows(prov))
    st.dataframe(prov_frame, hide_index=True, width="stretch")
    st.caption(f"Every stage of the plan `{prov.get('plan')}` that produced this zoo, from `provenance.json` "
               f"(written by `s2s reproduce` on {prov.get('written')}): command, start and end, code version, "
               "the output and its hash. Inputs, settings and runtime flags are in the file.")
    downloads.csv_button(prov_frame, f"{info.name}_provenance.csv", key="prov_csv", index=False)
    with st.expander("provenance.json"):
        st.json(prov, expanded=False)

st.subheader("Table 1: accuracy of i, i∘A_S and i∘A_i")
state.data_note(ref)
acc = state.result_table(ref, "accuracy")
if acc is None:
    state.missing_results_note(ref, "accuracy table")
else:
    try:
        table1 = table1_of(acc)
    except S2SError as exc:
        state.stop_on(exc)
    shown = table1.copy()
    for col in ("diff top-1", "diff top-5"):  # signed, blank on the classifiers' own rows, as in the paper
        shown[col] = [f"{v:+.2f}" if v == v else "" for v in table1[col]]
    table_col, plot_col = st.columns([3, 2])
    source = state.result_source(ref, "accuracy")
    with plot_col:
        fig = table1_figure(acc, n=source.n if source else None,
                            chance=1.0 / info.num_classes if info.num_classes else None)
        st.plotly_chart(fig, key="table1_fig", config={"displayModeBar": False})
        downloads.figure_buttons(fig, f"{info.name}_table1", key="table1_fig_dl")
    table_col.dataframe(
        shown.style.format(precision=2)
        .map(lambda v: "color: #1a7f37" if v.startswith("+") and v != "+0.00" else
             "color: #c0392b" if v.startswith("-") and v != "-0.00" else "", subset=["diff top-1", "diff top-5"]),
        hide_index=True, width="stretch", height=35 * (len(shown) + 1) + 3)
    table_col.caption("Top-1/top-5 in percent on the zoo's test data (the plot: top-1 with Wilson 95 % intervals); diff = change in points against the classifier "
               "on the original images (the paper: A_S loses 1.2–3.7 points, A_i wins them back).")
    downloads.csv_button(table1, f"{info.name}_table1.csv", key="table1_csv", index=False, where=table_col)
    protocol = state.result_table(ref, "preprocessing")
    if protocol is not None:
        with st.expander("Preprocessing of each model (centre crop, single scale) and published accuracies"):
            st.dataframe(protocol, hide_index=True, width="stretch")
            st.caption("What each model read of the original images (`results/preprocessing.csv`): classifiers "
                       "with torchvision weights read their weights' own transforms, units trained with "
                       "`s2s train-classifier` the validation crop they were trained with; the others the AE "
                       "input. published_top1/5: torchvision's ImageNet-1K accuracies, shown only for published "
                       "weights, for comparison with Table 1's originals on ImageNet's validation set.")

per_class = state.result_table(ref, "per_class")
if per_class is not None:
    st.subheader("Classes where an A_i loses or gains most")
    try:
        highlights = class_highlights(per_class, top=2)
    except S2SError as exc:
        state.stop_on(exc)
    if highlights.empty:
        st.info("No class changes its top-1 between i and i∘A_i.")
    else:
        st.dataframe(highlights.style.format(precision=1).map(
            lambda v: "color: #1a7f37" if v == "gains" else "color: #c0392b" if v == "loses" else "",
            subset=["direction"]), hide_index=True, width="stretch")
    st.caption("Per class: top-1 (%) of classifier i on the originals and through its own A_i, and the change in "
               "points (`results/per_class.csv`; A_S for reference). Few images per class make single classes "
               "noisy: n is the number of test images of the class.")
    downloads.csv_button(class_shifts(per_class), f"{info.name}_class_shifts.csv", key="class_csv", index=False)

st.subheader("How the reconstructions differ")
quality.quality_table(ref, key="quality_csv_overview")
