"""The Lenses page's second tab: every lens checked across the test set, from the zoo's result tables (none of it
depends on the image of the first tab). In order: which lens passes which check (the scorecard), S2S against its
control, the ground-truth masks against maps that read no classifier, zeroing the relevant channels, feature
inversion by depth, model randomisation and class sensitivity; each with its table, figure and CSV, or with the
command that computes it."""

from __future__ import annotations

import streamlit as st

from dashboard import downloads, state
from dashboard.lenses import channels, inversion
from s2s_core.analysis.dataset.randomisation import NOT_READ, THRESHOLD
from s2s_core.analysis.figures import ground_truth_figure, randomisation_figure
from s2s_core.analysis.lens_checks import scorecard
from s2s_core.analysis.lens_tables import (
    HEADLINE_METRIC,
    OPTIMISTIC,
    metric_label,
    scores_wide,
    verdict_sentences,
    verdicts_wide,
)
from s2s_core.analysis.sensitivity_figure import class_sensitivity_figure
from s2s_core.demo.report import (
    class_sensitivity_section,
    randomisation_sentences,
    randomisation_wide,
    s2s_control_sentences,
)


def render(ref: state.ZooRef, classes: list[str]) -> None:
    """Every test-set section of the Lenses page for zoo ``ref`` (``classes``: its class names)."""
    st.caption("Every number here is over the zoo's test images, from its result tables: none of it depends on "
               "the image chosen above (that one is in the tab *This image*).")
    _scorecard(ref)
    _control(ref)
    _ground_truth(ref)
    st.header("Zeroing the relevant channels (the paper's first check)")
    channels.zeroing_section(ref)
    st.header("Feature inversion across the test set")
    inversion.dataset_section(ref, classes)
    _randomisation(ref)
    _class_sensitivity(ref)


def _scorecard(ref: state.ZooRef) -> None:
    checks = {k: t for k in ("ground_truth_baselines", "class_sensitivity", "randomisation")
              if (t := state.result_table(ref, k)) is not None}
    card = scorecard(checks, list(ref.info.classifiers))
    if not card.empty:  # the answer first: which lens passes which check, for which classifiers
        st.header("Which lens passes which check")
        st.markdown("The classifiers for which each lens passes, from the tables below (each decided by a paired 95 % "
                    "interval): better than the best map that reads **no classifier** on the test masks, following the "
                    "**class** on two-shape images, following the **weights** when the classifier is randomised. "
                    "“does not apply”: S2S is not class-conditional and reads A_i, not i's weights (its check is the "
                    "control); “—”: not measured.")
        st.dataframe(card, width="stretch")
        downloads.csv_button(card, f"{ref.info.name}_lens_checks.csv", key="checks_csv")


def _control(ref: state.ZooRef) -> None:
    control = state.result_table(ref, "s2s_control")
    if control is not None:  # the zoo has S2S controls (s2s demo --extras builds them; s2s demo-controls adds them)
        st.header("S2S against its control: the classifier's doing, or the fine-tuning's?")
        state.data_note(ref, ("s2s_control",))
        for sentence in s2s_control_sentences(control, list(ref.info.classifiers)):
            st.markdown(f"- {sentence}")
        st.dataframe(control.drop(columns=["measure"]).rename(columns={
            "label": "measure", "a_i": "A_i", "control": "control", "a_s": "A_S (reference)", "diff": "A_i − control",
            "ci_low": "95 % CI low", "ci_high": "95 % CI high"}), hide_index=True, width="stretch")
        downloads.csv_button(control, f"{ref.info.name}_s2s_control.csv", key="control_csv", index=False)


def _ground_truth(ref: state.ZooRef) -> None:
    st.header("Ground truth: every lens against the masks and against maps that read no classifier")
    gt = state.result_table(ref, "ground_truth")
    vs = state.result_table(ref, "ground_truth_baselines")
    if gt is not None:
        state.data_note(ref, ("ground_truth", "ground_truth_baselines", "channel_zeroing", "inversion"))
    if gt is None:
        st.info("No ground-truth table yet: it needs test images with masks (`s2s demo-masks` for a demo zoo) and "
                f"`s2s evaluate {state.zoo_label(ref.path)} --data DIR --only ground_truth,channel_zeroing`.")
    else:
        lens_rows = gt[~gt["model_free"].astype(bool)]
        n = int(gt["n"].max())
        fewer = "".join(f"; {label}: {int(m)} images (the first of every class met in the evaluation's seeded order: "
                        "an optimisation per image)"
                        for label, m in lens_rows[lens_rows["n"] < n].groupby("label", sort=False)["n"].max().items())
        st.markdown("Each lens's heatmaps are scored against the test images' masks, and so are maps that read **no "
                    "classifier** (a random map, a centre prior, an edge map, saliency maps; for S2S its own control "
                    "|x − A_S(x)|). A lens shows what *i* uses only where it beats the best of those on the same "
                    f"images. Means with 95 % intervals over {n} test images{fewer} (`ground_truth.csv`); verdicts "
                    "from a paired bootstrap of the per-image difference (`ground_truth_baselines.csv`).")
        if vs is not None:
            for sentence in verdict_sentences(vs, gt, list(ref.info.classifiers)):
                st.markdown(f"- {sentence}")
        c = st.columns(2)
        metrics = list(dict.fromkeys(gt["metric"]))
        metric = c[0].selectbox("Metric", metrics, index=metrics.index(HEADLINE_METRIC) if HEADLINE_METRIC in metrics else 0,
                                format_func=metric_label, key="gt_metric")
        masks = list(dict.fromkeys(gt["mask"]))
        mask = c[1].radio("Mask", masks, horizontal=True, key="gt_mask",
                          format_func={"filled": "filled shape", "outline": "outline band"}.get)
        if metric in OPTIMISTIC:
            st.caption(f"{metric_label(metric)} picks each image's threshold with the mask in hand: optimistic, never "
                       "used for a verdict.")
        # the plot first (where people would rather look than read), its numbers below it
        fig = ground_truth_figure(gt, metric, mask, list(ref.info.classifiers))
        st.plotly_chart(fig, key="gt_fig", config={"displayModeBar": False})
        st.dataframe(scores_wide(gt, metric, mask, list(ref.info.classifiers)), width="stretch")
        row = downloads.button_row()
        downloads.figure_buttons(fig, f"{ref.info.name}_ground_truth_{metric}_{mask}", key="gt_fig_dl", where=row)
        downloads.csv_button(gt, f"{ref.info.name}_ground_truth.csv", key="gt_csv", index=False,
                             label="CSV (every metric, mask and lens)", where=row)
        if vs is not None:
            st.markdown(f"**Against the best model-free map on the same images** ({metric_label(metric)}, {mask}): "
                        "mean per-image difference, paired bootstrap 95 % interval, verdict")
            st.dataframe(verdicts_wide(vs, metric, mask, list(ref.info.classifiers)), width="stretch")
            downloads.csv_button(vs, f"{ref.info.name}_ground_truth_baselines.csv", key="gt_vs_csv", index=False,
                                 label="CSV (every lens against the best model-free map)")


def _randomisation(ref: state.ZooRef) -> None:
    randomisation = state.result_table(ref, "randomisation")
    if randomisation is not None:  # `s2s evaluate --only randomisation`: opt-in, so shown only where it was run
        st.header("Model randomisation: do the maps follow the classifier's weights?")
        state.data_note(ref, ("randomisation",))
        order = list(ref.info.classifiers)
        st.markdown("Adebayo et al. (NeurIPS 2018): each classifier's layers are re-initialised from the top down, "
                    "one cut at a time, and every lens that reads the classifier is drawn again. A lens whose maps "
                    "keep their ranking once every layer is random explains the image, not the classifier. Spearman "
                    "rank correlation with the original map at the fully random step, mean [95 % interval]; fails "
                    f"above {THRESHOLD:g}, passes below (`randomisation.csv`).")
        for sentence in randomisation_sentences(randomisation, order):
            st.markdown(f"- {sentence}")
        st.dataframe(randomisation_wide(randomisation, order), width="stretch")
        metric = st.radio("Similarity", ["spearman", "ssim"], horizontal=True, key="rand_metric",
                          format_func={"spearman": "Spearman rank correlation", "ssim": "SSIM"}.get)
        fig = randomisation_figure(randomisation[randomisation["verdict"] != NOT_READ], metric, order,
                                   THRESHOLD if metric == "spearman" else None)
        st.plotly_chart(fig, key="rand_fig", config={"displayModeBar": False})
        downloads.csv_button(randomisation, f"{ref.info.name}_randomisation.csv", key="rand_csv", index=False)


def _class_sensitivity(ref: state.ZooRef) -> None:
    sens = state.result_table(ref, "class_sensitivity")
    if sens is not None:  # issue 26: does each class-conditional lens follow the class it is asked about?
        st.header("Class sensitivity: two shapes, two targets")
        st.markdown("\n\n".join(class_sensitivity_section(sens, list(ref.info.classifiers))))
        only_top2 = st.toggle("Only images where both classes are in i's top-2", key="sens_top2")
        fig = class_sensitivity_figure(sens, list(ref.info.classifiers), "top2" if only_top2 else "all")
        st.plotly_chart(fig, key="sens_fig", config={"displayModeBar": False})
        downloads.csv_button(sens, f"{ref.info.name}_class_sensitivity.csv", key="sens_csv", index=False)
