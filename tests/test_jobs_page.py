"""The Training jobs page under AppTest: the launch gate (Jupyter-style token: by URL, typed, wrong, switched off),
the form built from the
specs (a refused field is named), a real tiny ``pretrain`` submitted through the form and watched to the end
(progress bar, loss curve, the zoo picker rescanned), and the cancel button on a running job."""

from __future__ import annotations

import os
import shutil
import signal
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit import config
from streamlit.testing.v1 import AppTest
from tiny_zoo import build_tiny_zoo

from dashboard import jobs_view as jv
from dashboard import state
from s2s_core.jobs.processes import is_alive
from s2s_core.jobs.runner import JobRunner
from s2s_core.jobs.store import DB_NAME, JobStore

APP = str(Path(__file__).resolve().parents[1] / "app.py")
TINY = {"widths": "4,8,8,8,8", "depths": "1,1,1,1,1"}  # text fields of the pretrain form, in "More settings"


@pytest.fixture(scope="module")
def tiny_zoo(tmp_path_factory) -> Path:
    return build_tiny_zoo(tmp_path_factory.mktemp("zoo") / "tiny", images_per_class=1)


@pytest.fixture
def env(tiny_zoo: Path, tmp_path: Path, monkeypatch):
    """Runs, data and checkpoints roots in tmp_path (a folder of six PNGs under the data root), no token
    configured (the server makes one), the server on loopback; afterwards no job is left running and
    server.address is restored."""
    imgs = tmp_path / "data" / "imgs"
    imgs.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(6):
        Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(imgs / f"{i}.png")
    monkeypatch.setenv("S2S_ZOO", str(tiny_zoo))
    monkeypatch.setenv("S2S_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("S2S_DATA_ROOTS", str(tmp_path / "data"))
    monkeypatch.setenv("S2S_CHECKPOINTS_DIR", str(tmp_path / "checkpoints"))
    monkeypatch.setenv("S2S_THREADS", "1")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.delenv("S2S_JOBS_ENABLED", raising=False)
    monkeypatch.delenv("S2S_JOBS_TOKEN", raising=False)
    address = config.get_option("server.address")
    config.set_option("server.address", "127.0.0.1")
    jv.server_gate.clear()  # the gate is made once per server process: once per test here
    yield tmp_path
    jv.server_gate.clear()
    config.set_option("server.address", address)
    db = tmp_path / "runs" / DB_NAME
    for job in JobStore(db).list(("running",)) if db.is_file() else []:  # never leave a job behind
        for pid, start in ((job.pid, job.pid_start), (job.child_pid, job.child_start)):
            if is_alive(pid, start):
                os.killpg(os.getpgid(pid), signal.SIGKILL)


def jobs_page(token: str | None = None, *, unlocked: bool = False) -> AppTest:
    """The jobs page in a new session; opened through a URL with ``?token=token`` (``unlocked``: the
    server's own token)."""
    at = AppTest.from_file(APP, default_timeout=60)
    if unlocked:
        token = jv.server_gate().token
    if token is not None:
        at.query_params["token"] = token
    at.run()
    at.switch_page("pages/jobs.py").run()
    assert not at.exception, at.exception
    return at


def submit_button(at: AppTest):
    return next(b for b in at.button if b.label == "Submit job")


def has_form(at: AppTest) -> bool:
    return any(b.label == "Submit job" for b in at.button)


def wait_for(cond, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.1)


def test_locked_without_the_token_lists_read_only_and_starts_nothing(env: Path, capsys) -> None:
    db = JobStore(env / "runs" / DB_NAME)
    job_id = db.insert("evaluate", {"zoo": "z", "data": str(env / "data")}, "cpu")
    at = jobs_page()
    assert not has_form(at) and not [s for s in at.selectbox if s.key == "job_kind"]
    assert any("locked" in i.value and "?token=" in i.value and "read-only" in i.value for i in at.info)
    frame = at.dataframe[0].value
    assert list(frame["id"]) == [job_id] and list(frame["state"]) == ["queued"]
    cancel = at.button(key=f"job_cancel_{job_id}")
    assert cancel.disabled  # cancel and resume are launch actions too
    assert db.get(job_id).state == "queued"  # listed, not started
    assert not (env / "runs" / "jobs").exists()  # nothing created either
    # the server made a token at start and printed the URL that carries it, once
    token = jv.server_gate().token
    printed = capsys.readouterr().out
    assert printed.count(f"?token={token}") == 1 and "Training jobs: open http://" in printed
    jobs_page()
    assert token not in capsys.readouterr().out  # not printed again


def test_the_url_with_the_token_unlocks_launching(env: Path) -> None:
    at = jobs_page(unlocked=True)
    assert has_form(at) and not at.error and [i.value for i in at.info] == ["No jobs yet."]
    assert "token" not in at.query_params  # removed from the URL at once: a copied link never carries it
    assert not [t for t in at.text_input if t.key == "jobs_token"]  # nothing to type
    assert at.session_state[jv.UNLOCKED_KEY] is True and jv.server_gate().token not in repr(at.session_state)
    at.run()  # the session stays unlocked after the parameter is gone
    assert has_form(at)
    assert not has_form(jobs_page())  # another browser without the URL stays locked


def test_a_wrong_token_in_the_url_is_refused(env: Path) -> None:
    at = jobs_page("guess")
    assert not at.exception and not has_form(at)
    assert any("the token in the link was wrong" in e.value for e in at.error)
    assert "token" not in at.query_params


def test_typed_token_and_the_operators_token(env: Path, monkeypatch) -> None:
    monkeypatch.setenv("S2S_JOBS_TOKEN", "open-sesame")
    config.set_option("server.address", "0.0.0.0")
    at = jobs_page()
    assert not has_form(at)
    token = at.text_input(key="jobs_token")
    assert token.proto.type == token.proto.PASSWORD
    token.set_value("guess").run()
    assert not at.exception and not has_form(at)
    assert any("wrong launch token" in e.value for e in at.error)
    at.text_input(key="jobs_token").set_value("open-sesame").run()
    assert not at.exception and has_form(at) and not at.error
    assert [o.split(":")[0] for o in at.selectbox(key="job_kind").options] == ["pretrain", "finetune", "evaluate",
                                                                                "demo"]
    assert has_form(jobs_page("open-sesame"))  # the operator's token works in the URL too


def test_switched_off_even_with_the_token(env: Path, monkeypatch) -> None:
    monkeypatch.setenv("S2S_JOBS_ENABLED", "0")
    monkeypatch.setenv("S2S_JOBS_TOKEN", "open-sesame")
    at = jobs_page("open-sesame")
    assert not at.exception and not has_form(at)
    assert not [t for t in at.text_input if t.key == "jobs_token"]
    assert any("S2S_JOBS_ENABLED=0" in i.value and "read-only" in i.value for i in at.info)


def test_refused_fields_are_named_and_nothing_is_queued(env: Path, monkeypatch) -> None:
    at = jobs_page(unlocked=True)
    steps = at.number_input(key="job_pretrain_steps")
    assert (steps.min, steps.max) == (1, 10_000_000)  # bounds from the specs
    assert at.number_input(key="job_pretrain_batch_size").max == 4096
    data = at.selectbox(key="job_pretrain_data")  # chosen from the data roots, not typed
    assert data.options == [str(env / "data"), str(env / "data" / "imgs")]
    at.number_input(key="job_pretrain_size").set_value(48)
    submit_button(at).click().run()
    assert not at.exception
    assert [e.value for e in at.error] == ["Not submitted: size: 48 is not a positive multiple of 32 (a 5-stage "
                                           "SegNet pools 5 times, 2**5); try 64"]
    at.number_input(key="job_pretrain_size").set_value(32)
    at.text_input(key="job_pretrain_name").set_value("x;rm -rf ~")
    submit_button(at).click().run()
    assert any(e.value.startswith("Not submitted: name: character(s)") for e in at.error)
    assert JobStore(env / "runs" / DB_NAME).list() == []


@pytest.mark.slow
def test_submit_a_real_pretrain_and_watch_it_finish(env: Path, tiny_zoo: Path, monkeypatch) -> None:
    at = jobs_page(unlocked=True)
    at.selectbox(key="job_pretrain_data").set_value(str(env / "data" / "imgs"))
    for key, value in {"steps": 8, "batch_size": 2, "size": 32, "threads": 1, "log_every": 1}.items():
        at.number_input(key=f"job_pretrain_{key}").set_value(value)
    for key, value in TINY.items():
        at.text_input(key=f"job_pretrain_{key}").set_value(value)
    submit_button(at).click().run()
    assert not at.exception and not at.error
    assert any(s.value.startswith("Job 1 (pretrain) submitted") for s in at.success)
    frame = at.dataframe[0].value
    assert list(frame["id"]) == [1] and frame["state"][0] in ("queued", "running")
    assert frame["source"][0] == "dashboard"
    zoo = env / "runs" / "jobs" / "1" / "zoo"  # where a demo job writes its zoo: the picker must find it
    shutil.copytree(tiny_zoo, zoo)  # (a copy of a zoo stands in for a demo build here)
    picker_options = lambda: state.zoo_candidates(os.environ["S2S_ZOO"], str(state.runs_dir()))  # noqa: E731

    job = JobRunner(env / "runs").wait(1, timeout=120)
    assert job.state == "succeeded", job.error
    at.run()  # the page sees the job end: the zoo list is rescanned (its cache would otherwise hold 15 s)
    assert not at.exception
    assert str(zoo) in picker_options()  # the page dropped the picker's cached list when the job ended
    assert at.dataframe[0].value["state"][0] == "succeeded"
    bar = at.get("progress")[0].proto
    assert bar.value == 100 and bar.text.startswith("succeeded · step 8/8 · loss")
    assert len(at.get("plotly_chart")) == 1  # the loss curve
    assert any("job 1" in c.value and "succeeded" in c.value for c in at.get("code"))  # the log tail


@pytest.mark.slow
def test_cancel_button_stops_a_running_job(env: Path, monkeypatch) -> None:
    runner = JobRunner(env / "runs", grace_s=20)
    job = runner.submit("pretrain", {"data": "imgs", "steps": 100_000, "batch_size": 2, "size": 32, "threads": 1,
                                     "log_every": 1, "ckpt_every": 100_000, **TINY})
    wait_for(lambda: any(e["event"] == "step" for e in runner.progress(job.id)))
    at = jobs_page(unlocked=True)
    bar = at.get("progress")[0].proto
    assert bar.text.startswith("running · step") and "/100000" in bar.text and "ETA" in bar.text
    at.button(key=f"job_cancel_{job.id}").click().run()
    assert not at.exception
    assert any(f"Stopping job {job.id}" in s.value for s in at.success)
    job = runner.wait(job.id, timeout=60)
    assert job.state == "cancelled"
    last = runner.progress(job.id)[-1]
    assert last["event"] == "done" and last["status"] == "stopped"
    assert (Path(job.run_dir) / "ckpt" / "latest.json").is_file()  # SIGTERM let it save a checkpoint
    at.run()
    assert not at.exception and at.button(key=f"job_resume_{job.id}").label == "Resume"


def test_every_kind_has_a_form_and_missing_choices_block_submitting(env: Path, monkeypatch) -> None:
    at = jobs_page(unlocked=True)
    at.selectbox(key="job_kind").select_index(1).run()  # finetune: no pre-trained AE under the roots yet
    assert not at.exception
    assert "lenet5_demo" in at.selectbox(key="job_finetune_classifier").options  # from the classifier registry
    assert any("no pre-trained autoencoder found" in w.value for w in at.warning)
    assert submit_button(at).disabled
    at.selectbox(key="job_kind").select_index(2).run()  # evaluate: no zoo inside the writable roots
    assert not at.exception and submit_button(at).disabled
    at.selectbox(key="job_kind").select_index(3).run()  # demo: nothing required
    assert not at.exception and not submit_button(at).disabled
    assert at.checkbox(key="job_demo_quick").value is False


def test_progress_from_events() -> None:
    from dashboard import jobs_view as jv
    from s2s_core.jobs.store import Job

    job = Job(id=1, kind="pretrain", params={"steps": 40}, state="running", device="cpu", created=0, queued=0,
              run_dir="")
    events = [{"event": "step", "step": s, "loss": 1.0 / s, "eta_s": 40.0 - s} for s in range(1, 31)]
    events.append({"event": "step", "step": 31, "loss": None, "eta_s": None})  # a NaN loss is written as null
    p = jv.job_progress(job, events)
    assert (p.step, p.total, p.fraction) == (31, 40, 31 / 40) and len(p.losses) == 30 and p.eta_s is None
    assert jv.progress_text(job, p).startswith("running · step 31/40 · loss")
    fig = jv.loss_figure(p)
    assert [t.name for t in fig.data] == ["loss", "moving average"] and fig.layout.yaxis.type == "log"
    demo = Job(id=2, kind="demo", params={}, state="running", device="cpu", created=0, queued=0, run_dir="")
    p = jv.job_progress(demo, [{"event": "step", "step": 3, "total_steps": 9, "eta_s": 75.0}])
    assert p.fraction == 3 / 9 and "ETA 1 min 15 s" in jv.progress_text(demo, p)
