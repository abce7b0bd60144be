"""The reconstruction-quality table (``results/recon_quality.csv``) as the Overview and Reconstructions show it."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import downloads, state

#: CSV column -> what the page calls it.
LABELS = {
    "psnr_input": "PSNR vs x (dB)",
    "ssim_input": "SSIM vs x",
    "psnr_base": "PSNR vs A_S(x) (dB)",
    "ssim_base": "SSIM vs A_S(x)",
    "mad_base": "mean |A(x) − A_S(x)|",
    "hf_energy": "top-octave energy",
    "checkerboard": "checkerboard (× input)",
}


def quality_table(ref: state.ZooRef, key: str) -> None:
    """Draw the per-AE table with its caption and CSV download, or say how to compute it."""
    frame = state.result_table(ref, "recon_quality")
    if frame is None or frame.empty:
        state.missing_results_note(ref, "reconstruction-quality table")
        return
    digits = {"psnr_input": 2, "psnr_base": 2, "mad_base": 4, "hf_energy": 4, "checkerboard": 2}
    shown = frame.set_index("ae")[list(LABELS)]
    shown = pd.DataFrame({LABELS[c]: [f"{v:.{digits.get(c, 3)}f}" if v == v else "–" for v in shown[c]]
                          for c in LABELS}, index=shown.index)  # the input's own row has no fidelity columns
    st.dataframe(shown, width="stretch")
    n = int(frame["n"].iloc[0]) if "n" in frame else 0
    st.caption(
        f"Means over {n} test images (`results/recon_quality.csv`). The row *original* is the baseline: the input "
        "itself. Top-octave energy: share of spectral power at ≥ 1/4 cycle per pixel; checkerboard: power of the "
        "period-2 pattern 2×2 un-pooling stamps, as a multiple of the input's (1 = none added).")
    downloads.csv_button(frame, f"{ref.info.name}_recon_quality.csv", key=key, index=False)
