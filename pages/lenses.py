"""Lenses: one image through every lens (DESIGN.md "Lenses"), per classifier: S2S's A_i(x) beside relevant
channels and feature inversion (the tab *This image*), and every lens checked across the test set: against
ground-truth masks where the data has them (the demo's: the shape is the class), zeroing, randomisation, class
sensitivity (the tab *Across the test set*, :mod:`dashboard.lenses.checks`). Only the open tab runs."""

from dataclasses import replace
from pathlib import Path

import streamlit as st

from dashboard import state
from dashboard.lenses import LENSES, TABS, checks, make_context, render
from s2s_core.data.gallery import class_names
from s2s_core.errors import S2SError

state.require_app(__file__)

st.title("Lenses")
ref = state.require_zoo()
zoo = state.load_zoo(ref)
st.markdown("What does classifier *i* use in this image? Each lens answers in its own way, on the same image and "
            "the same classifiers: " + "; ".join(f"**{lens.title}** shows {lens.summary}" for lens in LENSES.values())
            + ". Where the test images come with masks of what makes their class (`<split>_masks/`; on the demo "
            "the shape's outline and nothing else), every lens is also checked against them (the tab **Across the test set**, "
            "with the other checks).")

items = state.gallery(ref.info.test_dir)
opened = state.open_requested(ref.info.test_dir, "lens_open")  # from the Per image page: any test image
if opened is not None:
    items = [opened, *(it for it in items if it != opened)]
    st.session_state["lens_source"], st.session_state["lens_pick"] = "test image", opened.title
    st.session_state["lens_tab"] = TABS[0]
# The pickers stay above the tabs: a widget that a run does not draw loses its value (an upload included).
c = st.columns([1, 3])
kind = c[0].radio("Image", ["test image", "upload"] if items else ["upload"], key="lens_source", horizontal=True)
upload = None
if kind == "test image":
    titles = [item.title for item in items]
    title = c[1].selectbox("Test image", titles, key="lens_pick")
    item = items[titles.index(title)]
    source, upload_name, label, stem = str(item.path), None, f"test image ({item.label})", Path(item.path).stem
else:
    upload = c[1].file_uploader("Image file", key="lens_upload")
    if upload is not None:
        source, upload_name = upload.getvalue(), upload.name
        label, stem = "your image", Path(upload.name).stem or "upload"
names = st.multiselect("Classifiers", list(zoo.classifiers), default=list(zoo.classifiers), key="lens_clfs")

# Lazy tabs: only the open one runs, so the image's lenses do not wait for the test-set tables and figures.
here, across = st.tabs(list(TABS), key="lens_tab", on_change="rerun")
if here.open:
    with here:
        if kind == "upload" and upload is None:
            st.info("No image yet: choose a file above.")
            st.stop()
        if not names:
            st.info("Choose at least one classifier.")
            st.stop()
        try:
            ctx = make_context(ref, source, names, label=label, file_stem=stem, upload_name=upload_name)
        except S2SError as exc:
            state.stop_on(exc)
        c = st.columns([3, 1])
        c[0].caption(f"{label}, shown at the zoo's input size {zoo.input_size}×{zoo.input_size} (shorter side "
                     "resized, centre crop); classifiers see exactly this image."
                     + (" Ground-truth mask available." if ctx.mask is not None else ""))
        if ctx.mask is not None:
            ctx = replace(ctx, outline=c[1].toggle("outline the mask (cyan)", value=True, key="lens_outline"))
        for lens in LENSES.values():
            st.header(lens.title)
            render(ctx, lens)
if across.open:
    with across:
        checks.render(ref, class_names(zoo))
