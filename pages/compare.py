"""Compare two: classifiers i and j on one image — A_i(x), A_j(x), their difference with one synchronised zoom,
and each classifier's top-5 on its own and on the other's reconstruction (the single-image view of Table 2)."""

import streamlit as st

from dashboard import downloads, panels, state, url_state
from s2s_core import pair_view
from s2s_core.analysis.figures import view_colours
from s2s_core.errors import S2SError
from s2s_core.imaging import colourise, draw_box, upscale, zoom, zoom_box

state.require_app(__file__)

st.title("Compare two classifiers")
ref = state.require_zoo()
info = ref.info
zoo = state.load_zoo(ref)
names = list(zoo.names)
items = state.gallery(info.test_dir)
if len(names) < 2 or not items:
    st.info("Comparing needs a zoo with at least two fine-tuned AEs and labelled test images.")
    st.stop()

c = st.columns([1, 1, 2])
for param, key, default in (("i", "cmp_i", names[0]), ("j", "cmp_j", names[1])):
    url_state.restore(param, key, url_state.choice(names), default, what="a classifier of this zoo")
i = c[0].selectbox("classifier i", names, key="cmp_i")
j = c[1].selectbox("classifier j", names, key="cmp_j")
url_state.publish("i", i)
url_state.publish("j", j)
item = state.pick_image(items, "cmp_pick", where=c[2])
try:
    inspection = state.inspect(ref, str(item.path))
except S2SError as exc:
    state.stop_on(exc)

cx, cy, factor, scale = panels.zoom_widgets("cmp")
diff = pair_view.pair_difference(inspection, i, j)
vmax = pair_view.difference_scale(diff) if scale == "auto" else float(scale)
up = max(1, 256 // inspection.size)
box = zoom_box(inspection.size, inspection.size, cx, cy, factor)
shown = {f"A_{i}(x)": inspection.images[f"A_{i}"], f"A_{j}(x)": inspection.images[f"A_{j}"],
         f"|A_{i}(x) − A_{j}(x)|": colourise(diff, vmax)}
colours = view_colours(names)
for col, (title, image) in zip(st.columns(3), shown.items(), strict=True):
    col.markdown(f"**{title}**")
    col.image(upscale(draw_box(image, box) if factor > 1 else image, up), width="stretch")
    col.image(upscale(zoom(image, cx, cy, factor), up), caption=f"zoom ×{factor}", width="stretch")
st.caption(f"Difference: mean over R, G, B of the two reconstructions, colour scale 0 … {vmax:.3f} "
           f"(mean {diff.mean():.3f}); {item.title}, true class **{item.label}**.")

st.subheader(f"Table 2 on this image: {i} and {j} on each other's reconstruction")
st.dataframe(pair_view.cross_top1(inspection, i, j), width="stretch")
topk = pair_view.cross_topk(inspection, i, j)
st.dataframe(topk, width="stretch")
st.caption(f"Rows of the first table: the reconstruction; columns: the classifier reading it. {i}∘A_{j} and "
           f"{j}∘A_{i} are the cross cells: does the other network's kept signal still carry this class?")
downloads.csv_button(topk, f"{item.path.stem}_{i}_vs_{j}_top5.csv", key="cmp_csv")
