"""Lenses: one image through every lens (DESIGN.md "Lenses"), per classifier: S2S's A_i(x) beside the others."""

from pathlib import Path

import streamlit as st

from dashboard import state
from dashboard.lenses import LENSES, make_context
from s2s_core.errors import S2SError

state.require_app(__file__)

st.title("Lenses")
ref = state.require_zoo()
zoo = state.load_zoo(ref)
st.markdown("What does classifier *i* use in this image? Each lens answers in its own way, on the same image and "
            "the same classifiers: S2S shows A_i(x), the image the autoencoder fine-tuned through *i* makes of x; "
            + "; ".join(f"**{lens.title.lower()}** shows {lens.summary}" for lens in LENSES) + ".")

items = state.gallery(str(ref.info.data_dir))
c = st.columns([1, 3])
kind = c[0].radio("Image", ["test image", "upload"] if items else ["upload"], key="lens_source", horizontal=True)
if kind == "test image":
    titles = [item.title for item in items]
    title = c[1].selectbox("Test image", titles, key="lens_pick")
    item = items[titles.index(title)]
    source, upload_name, label, stem = str(item.path), None, f"test image ({item.label})", Path(item.path).stem
else:
    upload = c[1].file_uploader("Image file", key="lens_upload")
    if upload is None:
        st.info("No image yet: choose a file above.")
        st.stop()
    source, upload_name, label, stem = upload.getvalue(), upload.name, "your image", Path(upload.name).stem or "upload"
names = st.multiselect("Classifiers", list(zoo.classifiers), default=list(zoo.classifiers), key="lens_clfs")
if not names:
    st.info("Choose at least one classifier.")
    st.stop()
try:
    ctx = make_context(ref, source, names, label=label, file_stem=stem, upload_name=upload_name)
except S2SError as exc:
    state.stop_on(exc)
st.caption(f"{label}, shown at the zoo's input size {zoo.input_size}×{zoo.input_size} (shorter side resized, "
           "centre crop); classifiers see exactly this image.")

for lens in LENSES:
    st.header(lens.title)
    lens.render(ctx)
