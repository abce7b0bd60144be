"""s2s dashboard: ``streamlit run app.py``.

The entry script sets up the page, the shared sidebar (zoo picker: widgets made here persist across pages)
and ``st.navigation`` over the files in ``pages/``. Pages read the selected zoo through ``dashboard.state``.
``dashboard/`` is a package beside this file: ``streamlit run`` puts this file's folder on ``sys.path``.
Zoos and runs are found in the project folder (``$S2S_HOME`` or the current directory; see
:mod:`s2s_core.settings`).
"""

from pathlib import Path

import streamlit as st

from dashboard import jobs_view, state
from dashboard.lenses import warm

ROOT = Path(__file__).resolve().parent

st.set_page_config(page_title="s2s — what do deep networks like to see?", page_icon=":material/visibility:",
                   layout="wide")
state.configure_server()
jobs_view.server_gate()  # once per process: makes the launch token (if none is set) and prints its URL
jobs_view.unlock_from_url()  # ?token=... unlocks launching in this session, then leaves the URL

PAGES = [
    st.Page(ROOT / "pages" / "overview.py", title="Overview", icon=":material/home:", default=True),
    st.Page(ROOT / "pages" / "reconstructions.py", title="Reconstructions", icon=":material/image:"),
    st.Page(ROOT / "pages" / "upload.py", title="Upload", icon=":material/upload:"),
    st.Page(ROOT / "pages" / "noise.py", title="Noise", icon=":material/grain:"),
    st.Page(ROOT / "pages" / "signal_order.py", title="Signal order", icon=":material/account_tree:"),
    st.Page(ROOT / "pages" / "compare.py", title="Compare two", icon=":material/compare:"),
    st.Page(ROOT / "pages" / "information.py", title="Information", icon=":material/insights:"),
    st.Page(ROOT / "pages" / "patterns.py", title="AE patterns", icon=":material/grid_on:"),
    st.Page(ROOT / "pages" / "lenses.py", title="Lenses", icon=":material/lens_blur:"),
    st.Page(ROOT / "pages" / "per_image.py", title="Per image", icon=":material/sort:"),
    st.Page(ROOT / "pages" / "attacks.py", title="Attacks", icon=":material/bolt:"),
    st.Page(ROOT / "pages" / "jobs.py", title="Training jobs", icon=":material/model_training:"),
]
page = st.navigation(PAGES)
state.mark_app_ran()
pending = state.pop_pending_page()
if pending:  # a deep link that arrived before st.navigation was set up
    st.switch_page(pending[0], query_params=pending[1])

with st.sidebar:
    state.zoo_picker()
    st.caption("Palacio et al., *What do Deep Networks Like to See?* (CVPR 2018)")
# Show small images with crisp pixels when the browser enlarges them.
st.html("<style>[data-testid='stImage'] img {image-rendering: pixelated;}</style>")

page.run()
# After the page: the Lenses page's per-zoo pieces (hooked classifier copies, layer lists) are built in the
# background once per zoo, so that its first view does not wait for them (dashboard/lenses/warm.py).
warm.start(state.selected_zoo())
