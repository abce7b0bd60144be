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
items = state.gallery(info.test_dir)
if not items:
    st.info(f"This zoo has no labelled test images (expected {info.data_dir}/test/<class>/<image>, or a folder "
            "given with `s2s zoo create --test DIR`); use the Upload page to inspect your own image.")
    st.stop()


def _choose(title: str) -> None:
    st.session_state[PICK] = title


gallery_box, pick_box = st.container(), st.container()  # the picker is made first (it reads the URL)
item = state.pick_image(items, PICK, where=pick_box)
with gallery_box, st.expander(f"Test images ({len(items)} shown, from {items[0].path.parent.parent})", expanded=True):
    for start in range(0, len(items), COLUMNS):
        for col, it in zip(st.columns(COLUMNS), items[start: start + COLUMNS], strict=False):
            thumb = state.thumbnail(str(it.path), it.path.stat().st_mtime)
            if thumb is not None:
                col.image(thumb, width="stretch")
            col.button(it.label, key=f"thumb_{it.title}", on_click=_choose, args=(it.title,),
                       type="primary" if it == item else "secondary", width="stretch", help=it.title)
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
