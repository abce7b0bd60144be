"""Lenses: what does each classifier use in one image? S2S, relevant channels (and the other lenses), and every
lens scored against the demo's ground truth (the shape is the class)."""

from pathlib import Path

import streamlit as st

from dashboard import downloads, lens_image, lenses, state
from s2s_core.analysis.dataset.ground_truth import ground_truth_wide

state.require_app(__file__)

st.title("Lenses")
st.markdown("A lens answers *which part of its input does classifier i use?* in its own way: **S2S** by what "
            "A_i(x) keeps of x, **relevant channels** (Oramas et al.) by the few channels whose response weighs most "
            "for i's predicted class, projected back to the pixels. On the demo the class is the shape's outline and "
            "nothing else, so each lens can be checked against the truth.")
ref = state.require_zoo()
items = state.gallery(str(ref.info.data_dir))
source = st.radio("Image", ["a test image", "your own image"], horizontal=True, key="lens_source",
                  label_visibility="collapsed")
if source == "a test image" and items:
    titles = [item.title for item in items]
    pick = items[titles.index(st.selectbox("Test image", titles, key="lens_pick"))]
    choice = lens_image.ImageChoice(str(pick.path), pick.label, Path(pick.path).stem,
                                    mask=lens_image.mask_for(ref, pick.path))
else:
    upload = st.file_uploader("Image file", key="lens_upload")
    if upload is None:
        st.info("No image yet: choose a file above." if items else
                "This zoo has no test images: upload one.")
        st.stop()
    choice = lens_image.ImageChoice(upload.getvalue(), "your image", Path(upload.name).stem or "upload",
                                    upload_name=upload.name)
st.caption(f"{choice.label}" + (" · ground-truth mask available" if choice.mask is not None else ""))
lenses.draw_all(ref, choice)

st.header("Ground truth: every lens against the shape")
gt = state.result_table(ref, "ground_truth")
if gt is None:
    st.info("No ground-truth table yet: it needs test images with masks (`s2s demo-masks` for a demo zoo) and "
            f"`s2s evaluate {state.zoo_label(ref.path)} --data DIR --only ground_truth,channel_zeroing`.")
else:
    st.markdown(f"Pixel AUC (chance 0.5) and best-threshold IoU of each lens's heatmap against the shape's mask, "
                f"mean ± standard deviation over {int(gt['n'].max())} test images (`ground_truth.csv`); the last "
                "column scores a random heatmap on the same images.")
    for metric, title in (("auc", "pixel AUC"), ("iou", "IoU at the best threshold")):
        st.markdown(f"**{title}**")
        st.dataframe(ground_truth_wide(gt, metric, list(ref.info.classifiers)), width="stretch")
    downloads.csv_button(gt, f"{ref.info.name}_ground_truth.csv", key="gt_csv", index=False)

st.header("Zeroing the relevant channels (the paper's first check)")
zero = state.result_table(ref, "channel_zeroing")
if zero is None:
    st.info("No zeroing table yet: fit W (`s2s channels fit`) and run `s2s evaluate ... --only channel_zeroing`.")
else:
    st.markdown("Top-1 on the test images as they are, with each image's top-k relevant channels set to zero, and "
                "with k random channels of the same layers set to zero instead (mean ± std, min–max over "
                f"{int(zero['draws'].max())} draws; `channel_zeroing.csv`).")
    shown = zero.assign(random=[f"{m:.3f} ± {s:.3f} ({lo:.3f}–{hi:.3f})" for m, s, lo, hi in zip(
        zero["top1_random_zeroed"], zero["random_std"], zero["random_min"], zero["random_max"], strict=True)])
    st.dataframe(shown[["classifier", "k", "top1", "top1_relevant_zeroed", "random"]].rename(columns={
        "top1": "top-1", "top1_relevant_zeroed": "top-k relevant zeroed", "random": "k random zeroed"}),
        hide_index=True, width="stretch")
    downloads.csv_button(zero, f"{ref.info.name}_channel_zeroing.csv", key="zero_csv", index=False)
