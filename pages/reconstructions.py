"""Reconstructions: pick a test image of the zoo and see it through A_S and every A_i (Fig. 3)."""

from pathlib import Path

import streamlit as st

from dashboard import panels, quality, state
from s2s_core.errors import S2SError

state.require_app(__file__)

PICK = "recon_pick"
COLUMNS = 12

st.title("Reconstructions")
ref = state.require_zoo()
info = ref.info
items = state.gallery(str(info.data_dir))
if not items:
    st.info(f"This zoo has no labelled test images (expected {info.data_dir}/test/<class>/<image>); "
            "use the Upload page to inspect your own image.")
    st.stop()

titles = [item.title for item in items]
if st.session_state.get(PICK) not in titles:
    st.session_state[PICK] = titles[0]


def _choose(title: str) -> None:
    st.session_state[PICK] = title


with st.expander(f"Test images ({len(items)} shown, from {items[0].path.parent.parent})", expanded=True):
    for start in range(0, len(items), COLUMNS):
        for col, item in zip(st.columns(COLUMNS), items[start: start + COLUMNS], strict=False):
            thumb = state.thumbnail(str(item.path), item.path.stat().st_mtime)
            if thumb is not None:
                col.image(thumb, width="stretch")
            chosen = item.title == st.session_state[PICK]
            col.button(item.label, key=f"thumb_{start}_{item.path.name}", on_click=_choose, args=(item.title,),
                       type="primary" if chosen else "secondary", width="stretch", help=item.title)
st.selectbox("Image", titles, key=PICK)
item = items[titles.index(st.session_state[PICK])]
st.caption(f"True class: **{item.label}** · `{item.path.name}` · shown at the zoo's input size "
           f"{info.input_size}×{info.input_size} (shorter side resized, centre crop)")

try:
    inspection = state.inspect(ref, str(item.path))
except S2SError as exc:
    state.stop_on(exc)
panels.reconstruction_panel(inspection, state.lab_figure(ref, str(item.path), 0.0, inspection), key="recon",
                            original_label=f"test image ({item.label})", file_stem=Path(item.path).stem)

with st.expander("How every AE differs over all test images"):
    quality.quality_table(ref, key="quality_csv_recon")
