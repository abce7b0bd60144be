"""s2s dashboard (placeholder until the dashboard issue lands)."""

import streamlit as st

st.set_page_config(page_title="s2s — what do deep networks like to see?", layout="wide")
st.title("s2s — what do deep networks like to see?")
st.write("The dashboard is being built. Use the `s2s` command meanwhile: `s2s --help`.")
