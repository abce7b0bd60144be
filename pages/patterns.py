"""AE patterns (Sec. 3.3.1): what each AE adds to every image, whatever the image: mean and spread of
A(x) − x over the test images, the mean's power spectrum with the un-pooling period marked, colour casts."""

import numpy as np
import streamlit as st

from dashboard import downloads, state
from s2s_core.analysis.accounts import pattern_account
from s2s_core.analysis.ae_patterns import (
    UNPOOL_PERIOD,
    mark,
    mean_image,
    peak_marks,
    spectrum_values,
    std_values,
)
from s2s_core.errors import S2SError
from s2s_core.imaging import colourise, upscale

state.require_app(__file__)

st.title("The image-independent part of each AE")
st.markdown(
    "The paper describes regular patterns the fine-tuned AEs add: checkerboards from SegNet's 2×2 un-pooling and "
    "colour casts. Averaged over the test images, the residual A(x) − x keeps only what does not depend on x:\n"
    "- **mean of A(x) − x**: grey is no change; the scale is the same for every AE (the largest |mean| of all);\n"
    f"- **power spectrum of the mean** (log scale, centre = constant): the cyan boxes mark period {UNPOOL_PERIOD}, "
    "the un-pooling period, where a checkerboard shows as a bright corner or edge centre;\n"
    "- **pixel-wise standard deviation** of A(x) − x: how much the residual varies from image to image.")

ref = state.require_zoo()
info = ref.info
patterns = state.result_table(ref, "ae_patterns")
arrays = state.result_arrays(ref, "ae_pattern_images")
if patterns is None or arrays is None:
    state.missing_results_note(ref, "AE pattern table")
    st.stop()
try:
    account = pattern_account(patterns)
except S2SError as exc:
    state.stop_on(exc)
st.markdown(account)
shown = patterns.set_index("ae")
st.dataframe(shown.style.format(precision=4), width="stretch")
st.caption("cast_r/g/b: spatial mean of the mean residual per channel (image range 1); mean_abs: mean |E[A(x) − x]|; "
           "std_mean: mean pixel-wise standard deviation; peak_ratio: power at the period-2 bins over the median "
           "power of the mean residual (about 1: no peak), peak_share: their share of its power; peak4_ratio: the "
           "same at period 4. A_S, the pre-trained AE, is the reference.")
row = downloads.button_row()
downloads.csv_button(patterns, f"{info.name}_ae_patterns.csv", key="patterns_csv", index=False, where=row)
row.download_button("Arrays (safetensors)", data=state.result_path(ref, "ae_pattern_images").read_bytes(),
                    file_name=f"{info.name}_ae_patterns.safetensors", key="patterns_arrays")

aes = list(shown.index)
scale = max(float(arrays[f"{ae}/mean"].abs().max()) for ae in aes)
vmax_std = max(float(std_values(arrays[f"{ae}/std"]).max()) for ae in aes)
spectra = {ae: spectrum_values(arrays[f"{ae}/spectrum"]) for ae in aes}
lo, hi = min(float(s.min()) for s in spectra.values()), max(float(s.max()) for s in spectra.values())
factor = max(1, 192 // info.input_size)
st.caption(f"Mean: ±{scale:.3f} maps to black/white; std: 0 to {vmax_std:.3f}; spectra: log10 power from {lo:.1f} "
           f"to {hi:.1f}, the same colour scale for every AE.")
for ae in aes:
    mean_img = upscale(mean_image(arrays[f"{ae}/mean"], scale), factor)
    spec = spectra[ae]
    spec_img = colourise(spec - lo, max(hi - lo, 1e-9))
    spec_img = upscale(mark(spec_img, peak_marks(*spec.shape)), factor)
    std_img = upscale(colourise(std_values(arrays[f"{ae}/std"]), max(vmax_std, 1e-9)), factor)
    st.subheader(ae)
    cols = st.columns(3)
    for col, (label, image, suffix) in zip(cols, (("mean of A(x) − x", mean_img, "mean"),
                                                 ("power spectrum of the mean", spec_img, "spectrum"),
                                                 ("std of A(x) − x", std_img, "std")), strict=True):
        col.image(np.ascontiguousarray(image), caption=label, width="stretch")
        downloads.png_button(image, f"{info.name}_{ae}_{suffix}.png", key=f"png_{ae}_{suffix}", where=col)
