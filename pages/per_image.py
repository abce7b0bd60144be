"""Per image: the test images sorted by any per-image score (a lens's AUC or relevance mass, nMI(x, A_i(x)),
A_i's disagreement with i), worst first, with thumbnails; a click opens the image in the Lenses view."""

import streamlit as st

from dashboard import downloads, state
from dashboard.lenses import LENSES
from s2s_core.analysis.per_image_table import as_read, beside_baselines, choices, classifiers_for, ranked

state.require_app(__file__)

SHOWN, COLUMNS = 24, 6

st.title("Per image")
ref = state.require_zoo()
per = state.result_table(ref, "per_image")
st.markdown("Where does a lens fail, where does A_i change i's answer? Every test image's own scores "
            "(`per_image.csv`), sorted worst first. **Open** shows the image in the Lenses view.")
if per is None:
    st.info(f"No per-image table yet: `s2s evaluate {state.zoo_label(ref.path)} --data DIR` writes it "
            "(with masks beside the images it holds every lens's scores too).")
    st.stop()
state.data_note(ref, ("per_image",))
per = as_read(per)
labels = {h.key: h.label for lens in LENSES.values() for h in lens.heatmaps}
options = choices(per, labels)
c = st.columns([3, 1, 1])
choice = c[0].selectbox("Sort by", options, format_func=lambda o: o.label, key="per_image_measure")
names = classifiers_for(per, choice)
if st.session_state.get("per_image_clf") not in names:  # a classifier the new score has not (a model-free map)
    st.session_state.pop("per_image_clf", None)
classifier = c[1].selectbox("Classifier", names, format_func=lambda n: n or "reads no classifier",
                            key="per_image_clf", disabled=names == [""])
shown = c[2].number_input("Images shown", 8, 96, SHOWN, step=8, key="per_image_n")
table = ranked(per, choice, classifier)
if table.empty:
    st.info("No image has this score.")
    st.stop()
st.caption(f"{len(table)} images; worst first. Mean {table['value'].mean():.3f}, "
           f"worst {table['value'].iloc[0]:.3f}, best {table['value'].dropna().iloc[-1]:.3f}.")
context = beside_baselines(choice, classifier, state.result_table(ref, "ground_truth"),
                           state.result_table(ref, "ground_truth_baselines"))
if context:  # a lens's score beside chance and the best map that reads no classifier, as on the Lenses page
    st.markdown(context)


def _open(file: str) -> None:
    st.session_state["lens_open"] = file


root = ref.info.test_dir
top = table.head(int(shown))
for start in range(0, len(top), COLUMNS):
    for col, row in zip(st.columns(COLUMNS), top.iloc[start: start + COLUMNS].itertuples(), strict=False):
        path = root / row.file if root is not None and row.file else None
        if path is not None and path.is_file():
            thumb = state.thumbnail(str(path), path.stat().st_mtime)
            if thumb is not None:
                col.image(thumb, width="stretch")
        col.caption(f"#{row.rank} · {row.label} · **{row.value:.3f}**")
        if path is not None and path.is_file() and col.button("Open", key=f"per_image_open_{row.item}",
                                                              on_click=_open, args=(row.file,), width="stretch",
                                                              help=row.file):
            st.switch_page("pages/lenses.py")
st.dataframe(table, hide_index=True, width="stretch")
downloads.csv_button(table, f"per_image_{choice.measure}_{choice.heatmap or 'ae'}_{classifier or 'none'}.csv",
                     key="per_image_csv", index=False)
