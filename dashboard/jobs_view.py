"""What the Training jobs page shows and does, kept out of the page script (project issue 7).

* The launch gate, as Jupyter's: :func:`server_gate` makes a token at start when the operator set none and
  prints the URL carrying it; :func:`unlock_from_url` (app.py, every run) unlocks the session that opens that
  URL; :func:`gate` also accepts the token typed on the page.
* The board: :class:`Board` lists jobs. Without launch rights it reads the job table only (``JobStore``), because
  :meth:`JobRunner.list` refreshes the queue and may START queued jobs; with launch rights it uses the runner.
* Progress: :func:`job_progress` reads a job's ``progress.jsonl`` (cached) into a fraction, an ETA and the loss
  curve, the same way ``s2s jobs list`` does (:mod:`s2s_core.jobs.progress`); :func:`loss_figure` draws the curve.
* The form: :func:`kind_fields` (from :func:`s2s_core.jobs.specs.describe_kind`, so the registries and roots decide
  the choices, and the kind's declaration which fields come first) and :func:`field_widget` (one widget per field,
  with the specs' bounds); :func:`form_params` turns widget values into the parameters
  :func:`s2s_core.jobs.validation.validate_params` checks.
"""

from __future__ import annotations

import math
import sqlite3
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from s2s_core import settings
from s2s_core.errors import ConfigError
from s2s_core.jobs import progress
from s2s_core.jobs.gate import ENABLED_ENV, TOKEN_ENV, GateSettings, launch_allowed, new_token, token_matches
from s2s_core.jobs.jobfiles import read_progress, tail_lines
from s2s_core.jobs.progress import JobProgress
from s2s_core.jobs.roots import Roots
from s2s_core.jobs.runner import JobRunner
from s2s_core.jobs.specs import describe_kind
from s2s_core.jobs.store import DB_NAME, Job, JobStore
from s2s_core.jobs.validation import validate_params

#: How often the live part of the page refreshes while a job is queued or running.
REFRESH_S = 2.0
#: Session-state keys of the page.
TOKEN_KEY = "jobs_token"
UNLOCKED_KEY = "_jobs_unlocked"
#: The query parameter that carries the launch token (as Jupyter's ``?token=``).
URL_TOKEN = "token"
WRONG_LINK = "the token in the link was wrong"
FLASH_KEY = "jobs_flash"
ACTIVE_KEY = "jobs_active"
ACTIVE_STATES = ("queued", "running")
RESUMABLE_STATES = ("cancelled", "lost", "failed")


# ------------------------------------------------------------------------------------------------- gate
@dataclass(frozen=True)
class Gate:
    """Whether this session may launch, cancel and resume jobs, and why (or why not)."""

    allowed: bool
    reason: str
    enabled: bool          # launching is not switched off (S2S_JOBS_ENABLED=0)
    from_url: bool         # this session was unlocked by the token in the URL


@st.cache_resource(show_spinner=False)
def server_gate() -> GateSettings:
    """The gate of this server process, made once at start: the operator's settings, with a random token
    when ``S2S_JOBS_TOKEN`` is not set. A made token is printed once, inside the URL that unlocks launching
    (the only place it is ever written: not in logs, session state or job records)."""
    settings = GateSettings.from_env()
    if not settings.enabled or settings.configured:
        return settings
    settings = settings.with_token(new_token())
    print(f"\n  Training jobs: open {launch_url(settings.token)}\n  to launch jobs from that browser "
          f"(token made at start; set {TOKEN_ENV} to choose one, {ENABLED_ENV}=0 to turn launching off).\n",
          file=sys.stdout, flush=True)
    return settings


def launch_url(token: str) -> str:
    """The dashboard's URL carrying ``token`` (host and port from the server's options)."""
    address = st.get_option("browser.serverAddress") or "localhost"
    port = st.get_option("browser.serverPort") or st.get_option("server.port")
    base = (st.get_option("server.baseUrlPath") or "").strip("/")
    return f"http://{address}:{port}/{base + '/' if base else ''}?{URL_TOKEN}={token}"


def unlock_from_url() -> None:
    """Called by app.py on every run: a ``?token=...`` in the URL unlocks launching for this session when it
    matches; the parameter is removed at once so a copied link never carries it. The session keeps only
    the result (``True``/``False``), never the token."""
    given = st.query_params.get(URL_TOKEN)
    if given is None:
        return
    del st.query_params[URL_TOKEN]
    st.session_state[UNLOCKED_KEY] = token_matches(given, server_gate())


def gate(typed: str | None = None) -> Gate:
    """The launch gate for this run: unlocked by the URL's token, or by the ``typed`` one."""
    settings = server_gate()
    from_url = bool(st.session_state.get(UNLOCKED_KEY))
    if settings.enabled and from_url:
        return Gate(True, "unlocked by the link's token", True, True)
    allowed, reason = launch_allowed(typed or None, settings=settings)
    if st.session_state.get(UNLOCKED_KEY) is False and not allowed and not typed:
        reason = WRONG_LINK
    return Gate(allowed, reason, settings.enabled, False)


def how_to_enable(g: Gate) -> str:
    """The explanation shown when launching is locked."""
    if not g.enabled:
        return (f"Launching jobs from the browser is off on this server ({ENABLED_ENV}=0). Jobs can always be "
                f"started from a shell with `s2s jobs submit KIND --set key=value`. The list below is read-only.")
    return (f"Launching is locked in this browser ({g.reason}). Open the link with `?{URL_TOKEN}=…` that the "
            f"server printed when it started (or the token the operator set in `{TOKEN_ENV}`), or type the token "
            f"below. The list is read-only until then; `s2s jobs submit` works from a shell.")


# ------------------------------------------------------------------------------------------------ board
@dataclass
class Board:
    """The jobs of one runs root, read through the runner (``live``: may start queued jobs) or the table only."""

    runs: Path
    live: bool
    _runner: JobRunner | None = field(default=None, repr=False)

    @property
    def runner(self) -> JobRunner:
        if not self.live:
            raise ConfigError("launching jobs is off in this session")
        if self._runner is None:
            self._runner = JobRunner(self.runs)
        return self._runner

    def jobs(self) -> list[Job]:
        """Every job, newest first. Read-only boards never refresh the queue (that could start jobs)."""
        if self.live:
            return self.runner.list()
        db = self.runs / DB_NAME
        return JobStore(db).list() if db.is_file() else []

    def log_tail(self, job: Job, n: int = 30) -> list[str]:
        if self.live:
            return self.runner.log_tail(job.id, n)
        return tail_lines(Path(job.run_dir) / "log.txt", n) if job.run_dir else []


# --------------------------------------------------------------------------------------------- progress
def job_events(job: Job) -> list[dict[str, Any]]:
    """The events of the job's ``progress.jsonl`` (re-read only when the file has grown or changed)."""
    if not job.run_dir:
        return []
    path = Path(job.run_dir) / "progress.jsonl"
    try:
        info = path.stat()
    except OSError:
        return []
    return _read_events(str(path), info.st_size, info.st_mtime)


@st.cache_data(max_entries=16, show_spinner=False)
def _read_events(path: str, size: int, mtime: float) -> list[dict[str, Any]]:
    return read_progress(Path(path))


def job_progress(job: Job, events: list[dict[str, Any]] | None = None) -> JobProgress:
    """Fraction, ETA and loss curve of ``job`` (:func:`s2s_core.jobs.progress.job_progress`), from ``events`` or
    else its cached ``progress.jsonl`` (:func:`job_events`)."""
    return progress.job_progress(job, job_events(job) if events is None else events)


def progress_text(job: Job, p: JobProgress) -> str:
    """The line under a progress bar: ``step 30/120 · loss 0.0123 · ETA 1 min 05 s``."""
    if job.state == "queued":
        if job.slurm_id:
            return f"queued in Slurm as job {job.slurm_id} ({job.slurm_state or 'PENDING'})"
        return f"queued for {job.device}"
    parts = [job.state]
    if p.steps_text:
        parts.append(p.steps_text)
    if p.loss is not None:
        parts.append(f"loss {p.loss:.4g}")
    if job.state == "running" and p.eta_s is not None:
        parts.append(f"ETA {format_seconds(p.eta_s)}")
    if job.state == "running" and job.cancel_requested:
        parts.append("stopping (saving a checkpoint)")
    return " · ".join(parts)


def format_seconds(s: float) -> str:
    s = max(0, int(round(s)))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s // 60 % 60:02d} min"


def loss_figure(p: JobProgress, title: str = "training loss", max_points: int = 2000) -> go.Figure:
    """The loss against the step, with its exponential moving average once there are enough points (log scale
    when the loss spans more than a decade). Long runs are thinned to about ``max_points`` points."""
    stride = max(1, math.ceil(len(p.losses) / max_points))
    x, y = p.loss_steps[::stride], p.losses[::stride]
    fig = go.Figure(go.Scatter(x=x, y=y, mode="lines+markers" if len(y) < 50 else "lines", name="loss",
                               opacity=0.45 if len(y) >= 20 else 1.0))
    if len(y) >= 20:
        alpha, avg, smooth = 2 / (1 + max(5, len(y) // 20)), y[0], []
        for v in y:
            avg = alpha * v + (1 - alpha) * avg
            smooth.append(avg)
        fig.add_trace(go.Scatter(x=x, y=smooth, mode="lines", name="moving average", line={"width": 2.5}))
    positive = [v for v in y if v > 0]
    log = bool(positive) and len(positive) == len(y) and max(positive) / min(positive) > 10
    fig.update_layout(title=title, xaxis_title="step", yaxis_title="loss", height=280, showlegend=len(fig.data) > 1,
                      margin={"l": 10, "r": 10, "t": 40, "b": 10}, yaxis_type="log" if log else "linear",
                      legend={"orientation": "h", "y": 1.12, "x": 1, "xanchor": "right"})
    return fig


def jobs_frame(jobs: list[Job]) -> pd.DataFrame:
    """The job table (one row per job, newest first)."""
    return pd.DataFrame([{
        "id": j.id, "kind": j.kind, "state": j.state, "device": j.device,
        "slurm": f"{j.slurm_id} {j.slurm_state or ''}".strip() if j.slurm_id else "", "source": j.source,
        "created": time.strftime("%Y-%m-%d %H:%M", time.localtime(j.created)),
        "duration": format_seconds((j.finished or time.time()) - j.started) if j.started else "",
        "name": j.params.get("name") or "", "output": j.output or j.target or "", "error": j.error or ""}
        for j in jobs], columns=["id", "kind", "state", "device", "slurm", "source", "created", "duration", "name",
                                 "output", "error"])


def active_ids(jobs: list[Job]) -> frozenset[int]:
    return frozenset(j.id for j in jobs if j.state in ACTIVE_STATES)


def sync_active(jobs: list[Job]) -> tuple[bool, bool]:
    """Remember which jobs are queued or running in this session; returns ``(changed, ended)`` since the last
    call. When a job has ended, the cached zoo list and form choices are dropped (its product may be new)."""
    now = active_ids(jobs)
    before = st.session_state.get(ACTIVE_KEY)
    st.session_state[ACTIVE_KEY] = now
    if before is None:
        return False, False
    ended = bool(before - now)
    if ended:
        jobs_finished()
    return now != before, ended


# ------------------------------------------------------------------------------------------------- form
@st.cache_data(ttl=10, show_spinner=False)
def kind_fields(kind: str, runs: str) -> list[dict[str, Any]]:
    """The form fields of ``kind`` (:func:`describe_kind` with the configured roots), cached briefly since
    finding units and zoos walks the checkpoints and runs directories."""
    return describe_kind(kind, Roots.from_env(runs))


def field_widget(desc: dict[str, Any], key: str) -> Any:
    """One form widget for a field description of :func:`describe_kind`; returns its value (``None``: empty).

    Numbers get the specs' bounds; paths and choices are picked from the options the specs find (data
    directories under the data roots, units, zoos, registry names), never typed; only free text fields
    (job name, SegNet widths, the demo's output directory) are text inputs, and the specs check them."""
    label, help_text, kind = desc["label"], desc["help"] or None, desc["type"]
    label = label[:1].upper() + label[1:]
    if kind == "int":
        lo = None if desc["min"] is None else int(desc["min"])
        hi = None if desc["max"] is None else int(desc["max"])
        return st.number_input(label, min_value=lo, max_value=hi, value=desc["default"], step=desc["multiple_of"] or 1,
                               key=key, help=help_text, placeholder="empty: the default")
    if kind == "float":
        lo = None if desc["min"] is None else float(desc["min"])
        hi = None if desc["max"] is None else float(desc["max"])
        default = desc["default"]
        step = 10.0 ** math.floor(math.log10(default)) if default else 1e-3
        return st.number_input(label, min_value=lo, max_value=hi, value=None if default is None else float(default),
                               step=step, format="%g", key=key, help=help_text, placeholder="empty: the default")
    if kind == "bool":
        return st.checkbox(label, value=bool(desc["default"]), key=key, help=help_text)
    options = list(desc["options"])
    if kind in ("choice", "path") and desc["path_role"] != "output":
        if not options:
            st.warning(f"{label}: {_none_found(desc)}")
            return None
        if not desc["required"]:
            options = ["", *options]
        index = options.index(desc["default"]) if desc["default"] in options else 0
        return st.selectbox(label, options, index=index, key=key, help=help_text,
                            format_func=lambda v: _short(v) if v else "(none)")
    if options:  # a free text field with a fixed set of suggestions (device): pick one
        index = options.index(desc["default"]) if desc["default"] in options else 0
        return st.selectbox(label, options, index=index, key=key, help=help_text)
    return st.text_input(label, value=desc["default"] or "", key=key, help=help_text, placeholder="empty: the default",
                         max_chars=256)


def _none_found(desc: dict[str, Any]) -> str:
    role = desc["path_role"]
    if role == "data":
        return "no data directory found under the data roots (set S2S_DATA_ROOTS, separated by ':')"
    if role == "unit":
        return "no pre-trained autoencoder found under checkpoints/ or the runs directory (run a pretrain job first)"
    if role == "zoo":
        return "no zoo found under checkpoints/ or the runs directory (build one with a demo job)"
    return "nothing to choose from"


def _short(path: str) -> str:
    """A path shown relative to the project or home directory when inside them."""
    p = Path(path)
    for base in (settings.home(), Path.home()):
        if p.is_relative_to(base):
            return str(p.relative_to(base))
    return path


def missing_required(fields: list[dict[str, Any]]) -> list[str]:
    """Required fields that have nothing to choose from (the form cannot be submitted)."""
    return [f["label"] for f in fields if f["required"] and f["type"] in ("choice", "path") and not f["options"]]


def form_params(values: dict[str, Any]) -> dict[str, Any]:
    """Widget values -> job parameters: empty values are left out (the specs fill in defaults)."""
    return {k: v for k, v in values.items() if v is not None and not (isinstance(v, str) and not v.strip())}


# ----------------------------------------------------------------------------------------------- actions
def submit(board: Board, kind: str, values: dict[str, Any]) -> None:
    """Validate the form's values through the specs and queue the job (the runner validates once more); a
    refused field is shown as a plain error naming it, a queued job reruns the page with a message."""
    params = form_params(values)
    try:
        validate_params(kind, params, board.runner.roots, board.runner.backend)
        job = board.runner.submit(kind, params, source="dashboard")
    except ConfigError as exc:
        st.error(f"Not submitted: {exc}")
        return
    except (OSError, sqlite3.Error) as exc:
        st.error(f"Not submitted: the job could not be recorded in {board.runs} ({exc})")
        return
    where = "running" if job.state == "running" else f"{job.state} (waiting for {job.device})"
    flash("success", f"Job {job.id} ({kind}) submitted: {where}.")
    st.rerun(scope="app")


def act(board: Board, job: Job, action: str) -> None:
    """Cancel or resume ``job`` (launch actions: only on a live board), then rerun the page with a message."""
    try:
        if action == "cancel":
            job = board.runner.cancel(job.id)
            msg = (f"Job {job.id} cancelled before it started." if job.state == "cancelled" else
                   f"Stopping job {job.id}: SIGTERM sent. A training job saves a checkpoint and can be resumed.")
        else:
            job = board.runner.resume(job.id)
            msg = f"Job {job.id} queued again, " + ("from its last checkpoint." if job.resumed else "from the start.")
    except ConfigError as exc:
        flash("error", str(exc))
    else:
        flash("success", msg)
    st.rerun(scope="app")


def job_card(board: Board, job: Job, *, can_act: bool) -> None:
    """One job: progress bar (step/total, ETA), loss curve, error or output, log tail, cancel/resume button."""
    p = job_progress(job)
    name = job.params.get("name")
    with st.container(border=True):
        st.markdown(f"**Job {job.id}: {job.kind}**" + (f" `{name}`" if name else "") + f" — {job.state}")
        text = progress_text(job, p)
        if p.fraction is not None:
            st.progress(p.fraction, text=text)
        else:
            st.caption(text)
        if job.error and job.state != "running":
            (st.warning if job.state == "cancelled" else st.error)(f"Job {job.id}: {job.error}")
        if job.output:
            st.caption(f"Output: `{job.output}`" + (" (now in the sidebar's zoo picker)" if job.kind == "demo" else ""))
        if len(p.losses) > 1:
            st.plotly_chart(loss_figure(p), key=f"job_loss_{job.id}")
        lines = board.log_tail(job, 30)
        if lines:
            st.code("\n".join(lines), language=None, height=220)
        why = None if can_act else "Launching is off in this session (see above)."
        if job.state in ACTIVE_STATES:
            action, label, icon, tip = ("cancel", "Cancel", ":material/stop_circle:",
                                        "Stop the job (SIGTERM: training saves a checkpoint first).")
        elif job.state in RESUMABLE_STATES:
            action, label, icon, tip = ("resume", "Resume", ":material/play_circle:",
                                        "Queue the job again (training continues from its last checkpoint).")
        else:
            return
        if st.button(label, key=f"job_{action}_{job.id}", icon=icon, disabled=not can_act, help=why or tip):
            act(board, job, action)


def live_queue(board: Board, *, can_act: bool, run_every: float | None) -> None:
    """The queued and running jobs, redrawn every ``run_every`` seconds without rerunning the page. When the
    set of active jobs changes (one ended, or a new one appeared) the whole page reruns once, so the table,
    the zoo picker and the refresh interval follow."""

    @st.fragment(run_every=run_every)
    def _live() -> None:
        jobs = board.jobs()
        changed, _ = sync_active(jobs)
        if changed:
            st.rerun(scope="app")
        for job in jobs:
            if job.state in ACTIVE_STATES:
                job_card(board, job, can_act=can_act)

    _live()


def flash(kind: str, message: str) -> None:
    """A message to show at the top of the next run (after ``st.rerun``)."""
    st.session_state[FLASH_KEY] = (kind, message)


def show_flash() -> None:
    kind, message = st.session_state.pop(FLASH_KEY, (None, None))
    if kind:
        getattr(st, kind)(message)


def jobs_finished() -> None:
    """A job ended: its product (a zoo, a unit, results) may be new, so drop the cached lists of them."""
    from dashboard import state

    state.zoo_candidates.clear()
    kind_fields.clear()
