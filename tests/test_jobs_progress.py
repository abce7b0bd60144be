"""``s2s jobs list`` and the Training jobs page read a job's progress one way (s2s_core.jobs.progress): for the
same ``progress.jsonl`` they show the same step, total and fraction, whether the total comes from the job's
``steps`` parameter (training) or from the events' ``total_steps`` (the demo build), and a succeeded job is
complete in both."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

from dashboard import jobs_view as jv
from s2s_core.cli import main
from s2s_core.jobs.store import DB_NAME, JobStore


def _job(store: JobStore, runs: Path, kind: str, params: dict, state: str, events: list[dict]) -> int:
    """A job recorded as ``state`` (a running one just started, so the queue leaves it be) with ``events``."""
    job_id = store.insert(kind, params, "cpu")
    run = runs / "jobs" / str(job_id)
    run.mkdir(parents=True)
    (run / "progress.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    store.update(job_id, state=state, started=time.time(), run_dir=str(run))
    return job_id


def test_cli_and_page_show_the_same_progress(tmp_path: Path, capsys) -> None:
    runs = tmp_path / "runs"
    store = JobStore(runs / DB_NAME)
    steps = [{"event": "step", "step": s, "loss": 1.0 / s, "eta_s": 10.0} for s in range(1, 31)]
    ids = {
        # training: the total is the job's steps parameter
        "training": _job(store, runs, "pretrain", {"steps": 40}, "running", steps),
        # the demo build: the events carry the total (its stages), which wins over any steps parameter
        "demo": _job(store, runs, "demo", {"steps": 500}, "running",
                     [{"event": "step", "step": 3, "total_steps": 9, "loss": 0.5}]),
        # a succeeded job is complete, whatever its last event says
        "succeeded": _job(store, runs, "pretrain", {"steps": 40}, "succeeded", steps),
    }
    assert main(["jobs", "list", "--runs", str(runs), "--backend", "local"]) == 0
    rows = {int(line.split()[0]): line for line in capsys.readouterr().out.splitlines()[1:]}
    for name, job_id in ids.items():
        page = jv.job_progress(store.get(job_id))
        cli = re.search(r"step (\d+)/(\d+)", rows[job_id])
        assert cli is not None, (name, rows[job_id])
        assert cli.group(0) == page.steps_text, name
        assert int(cli.group(1)) / int(cli.group(2)) == page.fraction, name
        assert f"loss {page.loss:.4g}" in rows[job_id], name
    assert jv.job_progress(store.get(ids["demo"])).steps_text == "step 3/9"
    assert jv.job_progress(store.get(ids["succeeded"])).fraction == 1.0
