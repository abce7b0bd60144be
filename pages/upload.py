"""Upload: the reconstruction panel for the user's own image."""

from pathlib import Path

import streamlit as st

from dashboard import panels, state
from s2s_core.errors import S2SError

state.require_app(__file__)

st.title("Your image")
ref = state.require_zoo()
size = ref.info.input_size
state.load_zoo(ref)
st.markdown(f"Upload an image (PNG, JPEG, WebP, BMP, TIFF or GIF). It is resized so that its shorter side is "
            f"**{size} px** and centre-cropped to **{size}×{size}**, the zoo's input size, before it goes through "
            "the encoder, every decoder and every classifier. Transparent areas are composited onto white.")
upload = st.file_uploader("Image file", key="upload_image")
if upload is None:
    st.info("No image yet: choose a file above.")
    st.stop()

data = upload.getvalue()
try:
    inspection = state.inspect(ref, data, name=upload.name)
except S2SError as exc:
    state.stop_on(exc)
st.caption(f"`{upload.name}` ({len(data) / 1024:.0f} KiB)")
panels.reconstruction_panel(inspection, state.lab_figure(ref, data, 0.0, inspection), key="upload",
                            original_label="your image", file_stem=Path(upload.name).stem or "upload")
