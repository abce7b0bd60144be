"""Training jobs (project issue 7): launch pre-training, fine-tuning, evaluation and demo builds as background
jobs, watch their progress, loss and log live, cancel and resume them. Launching needs the server's token (as
in Jupyter: the URL printed at start carries it, or type it); without it the page lists the jobs read-only and
starts nothing. ``S2S_JOBS_ENABLED=0`` turns launching off. The logic lives in ``dashboard.jobs_view`` and ``s2s_core.jobs``."""

import sqlite3

import streamlit as st

from dashboard import downloads, state
from dashboard import jobs_view as jv
from s2s_core.jobs.specs import KINDS, get_kind

state.require_app(__file__)

st.title("Training jobs")
runs = state.runs_dir()
jv.show_flash()

gate = jv.gate(st.session_state.get(jv.TOKEN_KEY))
if gate.enabled and not gate.from_url:
    st.text_input("Launch token", type="password", key=jv.TOKEN_KEY, max_chars=512,
                  help="The token in the URL the server printed at start (or the operator's S2S_JOBS_TOKEN).")
if not gate.allowed and (st.session_state.get(jv.TOKEN_KEY) or gate.reason == jv.WRONG_LINK):
    st.error(f"Launching refused: {gate.reason}. The list below is read-only.")
elif not gate.allowed:
    st.info(jv.how_to_enable(gate))
board = jv.Board(runs, live=gate.allowed)

if gate.allowed:
    st.subheader("New job")
    kind = st.selectbox("Kind", KINDS, key="job_kind", format_func=lambda k: f"{k}: {get_kind(k).help}")
    fields = jv.kind_fields(kind, str(runs))
    with st.form(f"job_form_{kind}"):
        values = {f["name"]: jv.field_widget(f, f"job_{kind}_{f['name']}") for f in fields if f["main"]}
        with st.expander("More settings"):
            values |= {f["name"]: jv.field_widget(f, f"job_{kind}_{f['name']}") for f in fields
                       if not f["main"]}
        missing = jv.missing_required(fields)
        submitted = st.form_submit_button("Submit job", icon=":material/rocket_launch:", disabled=bool(missing))
    if submitted:
        jv.submit(board, kind, values)

st.subheader("Queue")
st.caption(f"Jobs recorded in `{runs}` (set S2S_RUNS_DIR to use another folder); `s2s jobs` manages the same queue.")
try:
    jobs = board.jobs()
except (OSError, sqlite3.Error) as exc:
    st.error(f"The job list in {runs} cannot be read ({exc}).")
    st.stop()
_, ended = jv.sync_active(jobs)
if ended:  # a job's zoo or unit may be new: redraw the sidebar's zoo picker too
    st.rerun()
if not jobs:
    st.info("No jobs yet.")
    st.stop()
frame = jv.jobs_frame(jobs)
st.dataframe(frame, hide_index=True, width="stretch")
downloads.csv_button(frame, "jobs.csv", key="jobs_csv", index=False)

if any(j.state in jv.ACTIVE_STATES for j in jobs):
    jv.live_queue(board, can_act=gate.allowed, run_every=jv.REFRESH_S)

finished = [j for j in jobs if j.final]
if finished:
    st.subheader("Finished jobs")
    pick = st.selectbox("Job", [j.id for j in finished], key="job_pick",
                        format_func=lambda i: next(f"{j.id}: {j.kind}, {j.state}" for j in finished if j.id == i))
    jv.job_card(board, next(j for j in finished if j.id == pick), can_act=gate.allowed)
