"""`s2s dashboard` (issue 29 item 2): the launch link is printed before the server answers, and it works."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from browser_harness import free_port
from tiny_zoo import build_tiny_zoo

from s2s_core.commands.dashboard import dashboard_url, launch_lines, streamlit_option

ROOT = Path(__file__).resolve().parents[1]


def test_options_and_links_known_answers() -> None:
    args = ["--server.port", "8600", "--server.address=0.0.0.0", "--server.baseUrlPath", "/s2s/"]
    assert streamlit_option(args, "server.port") == "8600" and streamlit_option(args, "server.address") == "0.0.0.0"
    assert dashboard_url(args) == "http://localhost:8600/s2s/"
    assert dashboard_url([]) == "http://localhost:8501/"
    env: dict[str, str] = {}
    lines = launch_lines("http://localhost:8501/", env)
    assert f"?token={env['S2S_JOBS_TOKEN']}" in lines[1] and len(env["S2S_JOBS_TOKEN"]) == 43  # made now
    env = {"S2S_JOBS_TOKEN": "mine"}
    assert "?token=<your S2S_JOBS_TOKEN>" in launch_lines("http://x/", env)[1] and env == {"S2S_JOBS_TOKEN": "mine"}
    assert "is off" in launch_lines("http://x/", {"S2S_JOBS_ENABLED": "0"})[1]


def test_the_link_is_printed_before_the_server_answers_and_unlocks(tmp_path: Path) -> None:
    zoo = build_tiny_zoo(tmp_path / "tiny", evaluate=False)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "S2S_JOBS_TOKEN"}
    env.update(S2S_ZOO=str(zoo), S2S_RUNS_DIR=str(tmp_path / "runs"), S2S_THREADS="1",
               STREAMLIT_BROWSER_GATHER_USAGE_STATS="false", PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-c", "import sys; from s2s_core.cli import main; sys.exit(main())",
                             "dashboard", "--server.port", str(port), "--server.address", "127.0.0.1",
                             "--server.headless", "true"], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        first = proc.stdout.readline() + proc.stdout.readline()
        assert f"Dashboard: http://127.0.0.1:{port}/" in first
        token = first.split("?token=")[1].split()[0]
        health = f"http://127.0.0.1:{port}/_stcore/health"
        try:  # printed before the server could answer: it starts only after the line
            urllib.request.urlopen(health, timeout=1)
            answered_before = True
        except OSError:
            answered_before = False
        assert not answered_before
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(health, timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "the dashboard did not start"
                time.sleep(0.5)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/?token={token}", timeout=10) as r:
            assert r.status == 200
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    assert "Training jobs: open" in first and token not in (proc.stdout.read() or "")  # printed once only
