"""Training jobs: a read-only list of the jobs in the runs dir (the jobs page proper comes with s2s_core.jobs)."""

import pandas as pd
import streamlit as st

from dashboard import downloads, state

st.title("Training jobs")
runs = state.runs_dir()
try:
    from s2s_core.jobs.store import DB_NAME, JobStore
except ImportError as exc:
    st.info("Training, fine-tuning and evaluation run as separate processes started with the `s2s` command "
            f"(`s2s pretrain`, `s2s finetune`, `s2s evaluate`, `s2s demo`); the job list is not available here "
            f"({exc}).")
    st.stop()

st.caption(f"Jobs recorded in `{runs}` (set S2S_RUNS_DIR to use another folder). Start jobs with `s2s jobs`.")
if not (runs / DB_NAME).is_file():
    st.info("No jobs yet.")
    st.stop()
# The job table itself, not JobRunner.list(): that also refreshes and may start queued jobs; this view only reads.
jobs = JobStore(runs / DB_NAME).list()
if not jobs:
    st.info("No jobs yet.")
    st.stop()
frame = pd.DataFrame([{
    "id": j.id, "kind": j.kind, "state": j.state, "device": j.device,
    "created": pd.Timestamp(j.created, unit="s").strftime("%Y-%m-%d %H:%M"),
    "output": j.output or j.target or "", "error": j.error or ""} for j in jobs])
st.dataframe(frame, hide_index=True, width="stretch")
downloads.csv_button(frame, "jobs.csv", key="jobs_csv", index=False)
