"""The Docker deployment, checked without Docker (no engine on these machines).

``docker/entrypoint.sh`` runs here with fake ``streamlit``/``s2s``/``torchrun`` programs first on PATH that
record the PID they run as and their argv, so the tests see exactly what the image would start and that it
was ``exec``'d (same PID, so ``docker stop``'s SIGTERM reaches it). One test starts the real dashboard
through the entrypoint and stops it with SIGTERM. The rest read Dockerfile, compose.yaml and .dockerignore.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
ENTRYPOINT = ROOT / "docker" / "entrypoint.sh"
VENV_BIN = Path(sys.executable).parent

FAKE_PROGRAM = """#!/usr/bin/env bash
# Records its PID, then its name and argv NUL-separated, and exits with $FAKE_EXIT (default 0).
{ printf '%s\\n' "$$"; printf '%s\\0' "$(basename "$0")" "$@"; } > "$ARGV_LOG"
exit "${FAKE_EXIT:-0}"
"""


@pytest.fixture
def fake_env(tmp_path: Path) -> dict[str, str]:
    """Environment whose PATH starts with fake streamlit, s2s and torchrun programs."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("streamlit", "s2s", "torchrun"):
        path = bin_dir / name
        path.write_text(FAKE_PROGRAM)
        path.chmod(0o755)
    app = tmp_path / "app.py"
    app.write_text("# placeholder dashboard\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("S2S_")}
    env.update(PATH=f"{bin_dir}:{os.environ['PATH']}", ARGV_LOG=str(tmp_path / "argv.log"), S2S_APP=str(app))
    return env


def run_entrypoint(
    args: list[str], env: dict[str, str], cwd: Path
) -> tuple[subprocess.CompletedProcess, int]:
    """Run the entrypoint with ``args``; return the finished process and its PID."""
    proc = subprocess.Popen(
        [str(ENTRYPOINT), *args], env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    out, err = proc.communicate(timeout=20)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err), proc.pid


def recorded(env: dict[str, str]) -> tuple[int, str, list[str]]:
    """(PID, program name, argv) written by the fake program that ran."""
    data = Path(env["ARGV_LOG"]).read_bytes()
    pid, _, rest = data.partition(b"\n")
    name, *argv = rest.split(b"\0")[:-1]
    return int(pid), name.decode(), [a.decode() for a in argv]


# --- the entrypoint ------------------------------------------------------------------------------


def test_no_arguments_starts_dashboard_on_all_interfaces(fake_env, tmp_path):
    done, pid = run_entrypoint([], fake_env, tmp_path)
    assert done.returncode == 0, done.stderr
    fake_pid, name, argv = recorded(fake_env)
    assert name == "streamlit"
    assert fake_pid == pid, "streamlit must replace the entrypoint's shell (exec) to receive SIGTERM"
    assert argv[:6] == ["run", fake_env["S2S_APP"], "--server.address", "0.0.0.0", "--server.port", "8501"]
    options = dict(zip(argv[2::2], argv[3::2], strict=True))
    assert options["--server.headless"] == "true"
    assert options["--browser.gatherUsageStats"] == "false"


def test_dashboard_honours_app_address_and_port(fake_env, tmp_path):
    app = tmp_path / "my app.py"
    app.write_text("")
    env = {**fake_env, "S2S_APP": str(app), "S2S_PORT": "9123", "S2S_ADDRESS": "127.0.0.1"}
    done, _ = run_entrypoint([], env, tmp_path)
    assert done.returncode == 0, done.stderr
    _, name, argv = recorded(env)
    assert name == "streamlit"
    assert argv[:6] == ["run", str(app), "--server.address", "127.0.0.1", "--server.port", "9123"]


def test_missing_dashboard_script_is_a_clear_error(fake_env, tmp_path):
    env = {**fake_env, "S2S_APP": str(tmp_path / "nowhere" / "app.py")}
    done, _ = run_entrypoint([], env, tmp_path)
    assert done.returncode == 2
    assert b"S2S_APP" in done.stderr and b"nowhere/app.py" in done.stderr
    assert not Path(env["ARGV_LOG"]).exists()


HOSTILE = [
    "--x",
    "y",
    "--data",
    "/data/my images/train",
    "'; rm -rf /'",
    "$(touch PWNED)",
    "`touch PWNED`",
    "*",
    "a\nb",
    "",
    "--set",
    "lr=0.1 momentum=0.9",
    "\\",
    '"',
    "$HOME",
]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["s2s", "finetune", "--x", "y"], ["finetune", "--x", "y"]),
        (["finetune", "--x", "y"], ["finetune", "--x", "y"]),
        (["s2s", "finetune", *HOSTILE], ["finetune", *HOSTILE]),
        (["pretrain", *HOSTILE], ["pretrain", *HOSTILE]),
        (["jobs", "list"], ["jobs", "list"]),  # `jobs` is a shell builtin: still the s2s sub-command
        (["--version"], ["--version"]),
        (["s2s"], []),
        (["a-subcommand-added-later", "--flag"], ["a-subcommand-added-later", "--flag"]),
    ],
    ids=[
        "s2s-finetune",
        "finetune",
        "s2s-hostile",
        "pretrain-hostile",
        "jobs",
        "option",
        "bare-s2s",
        "unknown",
    ],
)
def test_arguments_reach_s2s_intact(fake_env, tmp_path, args, expected):
    done, pid = run_entrypoint(args, fake_env, tmp_path)
    assert done.returncode == 0, done.stderr
    fake_pid, name, argv = recorded(fake_env)
    assert (name, argv) == ("s2s", expected)
    assert fake_pid == pid
    assert not (tmp_path / "PWNED").exists()


def test_every_cli_subcommand_goes_to_s2s(fake_env, tmp_path):
    from s2s_core.cli import build_parser

    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command")
    names = set(subparsers.choices) | {
        "pretrain",
        "finetune",
        "evaluate",
        "reconstruct",
        "signal-order",
        "demo",
        "import-pth",
        "jobs",
    }
    for name in sorted(names):
        done, _ = run_entrypoint([name, "--help"], fake_env, tmp_path)
        assert done.returncode == 0, done.stderr
        assert recorded(fake_env)[1:] == ("s2s", [name, "--help"]), name


def test_exit_code_of_the_command_is_the_containers(fake_env, tmp_path):
    done, _ = run_entrypoint(["evaluate", "--zoo", "z"], {**fake_env, "FAKE_EXIT": "3"}, tmp_path)
    assert done.returncode == 3


def test_other_programs_are_executed_as_given(fake_env, tmp_path):
    code = "import os, sys; print(os.getpid()); print(repr(sys.argv[1:]))"
    done, pid = run_entrypoint(
        [sys.executable, "-c", code, "a b", "'; rm -rf /'", "$(id)"], fake_env, tmp_path
    )
    assert done.returncode == 0, done.stderr
    out_pid, out_argv = done.stdout.decode().splitlines()
    assert int(out_pid) == pid
    assert out_argv == repr(["a b", "'; rm -rf /'", "$(id)"])
    assert not Path(fake_env["ARGV_LOG"]).exists(), "s2s must not be involved"


def test_program_found_on_path_runs_without_s2s(fake_env, tmp_path):
    args = ["--nproc-per-node", "8", "-m", "s2s_core.cli", "pretrain", "--out", "/runs/a b"]
    done, pid = run_entrypoint(["torchrun", *args], fake_env, tmp_path)
    assert done.returncode == 0, done.stderr
    assert recorded(fake_env) == (pid, "torchrun", args)

    done, _ = run_entrypoint(["bash", "-c", 'printf "%s|" "$0" "$@"', "x", "y z"], fake_env, tmp_path)
    assert done.stdout == b"x|y z|"


def run_healthcheck(env: dict[str, str]) -> subprocess.CompletedProcess:
    """Run the Dockerfile's HEALTHCHECK command (exec form) with this interpreter."""
    spec = next(v for k, v in dockerfile_instructions() if k == "HEALTHCHECK")
    argv = json.loads(spec[spec.index("CMD") + 3 :])
    assert argv[0] == "python"
    return subprocess.run([sys.executable, *argv[1:]], env=env, capture_output=True, timeout=20)


def test_real_dashboard_starts_and_stops_on_sigterm(tmp_path):
    app = ROOT / "app.py"
    assert app.is_file()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("S2S_")}
    env.update(
        PATH=f"{VENV_BIN}:{os.environ['PATH']}",
        S2S_APP=str(app),
        S2S_PORT=str(port),
        S2S_ADDRESS="127.0.0.1",
        HOME=str(tmp_path),
    )
    proc = subprocess.Popen(
        [str(ENTRYPOINT)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        deadline, body = time.monotonic() + 25, b""
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
                    body = r.read().strip()
                    break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.3)
        assert body == b"ok", proc.stderr.read().decode() if proc.poll() is not None else "no answer"
        assert run_healthcheck(env).returncode == 0  # the image's HEALTHCHECK command agrees
        proc.send_signal(signal.SIGTERM)  # what `docker stop` sends (tini forwards it)
        assert proc.wait(timeout=15) == 0  # streamlit stops cleanly on SIGTERM
        with pytest.raises(urllib.error.URLError):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2)
        assert run_healthcheck(env).returncode != 0
    finally:
        # The whole session: also catches a streamlit left behind by an entrypoint that forgot `exec`.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


# --- Dockerfile, compose.yaml, .dockerignore -------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with line continuations joined and comments dropped."""
    text = (ROOT / "Dockerfile").read_text()
    lines = [ln for ln in text.splitlines() if not ln.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    return [(m[1].upper(), m[2].strip()) for m in re.finditer(r"^\s*([A-Za-z]+)\s+(.*)$", joined, re.M)]


def test_dockerfile_runtime_contract():
    ins = dockerfile_instructions()
    by = {}
    for key, value in ins:
        by.setdefault(key, []).append(value)
    base = next(v for k, v in ins if k == "ARG" and v.startswith("BASE_IMAGE="))
    assert re.fullmatch(r"BASE_IMAGE=pytorch/pytorch:\d+\.\d+\.\d+-cuda\d+\.\d+-cudnn\d+-runtime", base)
    assert by["EXPOSE"] == ["8501"]
    assert "/_stcore/health" in by["HEALTHCHECK"][0]
    user = by["USER"][-1]
    assert user.split(":")[0] not in {"root", "0"}
    assert "/app/docker/entrypoint.sh" in by["ENTRYPOINT"][0] and "tini" in by["ENTRYPOINT"][0]
    volumes = yaml.safe_load(by["VOLUME"][0])
    assert set(volumes) == {"/app/checkpoints/user", "/runs", "/cache/torch"}
    env = " ".join(by["ENV"])
    assert "TORCH_HOME=/cache/torch" in env and "S2S_APP=/app/app.py" in env
    run = " ".join(by["RUN"])
    assert "graphviz" in run
    assert "venv --system-site-packages" in run
    # The README's install command, minus the torch step (the base image's CUDA torch is used).
    assert "pip install -c /opt/venv/torch-constraints.txt -e '.[test]'" in run
    readme = ROOT / "README.md"
    if readme.is_file() and "pip install -e '.[test]'" not in readme.read_text():
        pytest.fail("README's install command changed: keep the Dockerfile's install step the same")


def test_compose_file():
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    svc = compose["services"]["s2s"]
    assert svc["build"]["context"] == "."
    devices = svc["deploy"]["resources"]["reservations"]["devices"]
    assert {"driver": "nvidia", "count": "all", "capabilities": ["gpu"]} in devices
    assert any(str(p).endswith(":8501") for p in svc["ports"])
    targets = {v["target"]: v for v in svc["volumes"]}
    assert set(targets) == {"/data", "/app/checkpoints/user", "/runs", "/cache/torch"}
    assert targets["/data"].get("read_only") is True
    assert not any(t.get("read_only") for name, t in targets.items() if name != "/data")
    env = svc["environment"]
    assert env["S2S_JOBS_ENABLED"] == "1"
    assert env["S2S_JOBS_TOKEN"].startswith("${S2S_JOBS_TOKEN:?")  # compose refuses to start without it
    assert env["TORCH_HOME"] == "/cache/torch"
    assert svc["shm_size"] and svc["restart"] in {"unless-stopped", "always", "on-failure"}


def _docker_pattern(pattern: str) -> re.Pattern:
    """A .dockerignore pattern as a regex: ``*`` and ``?`` stop at "/", ``**`` spans directories."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        else:
            out += {"*": "[^/]*", "?": "[^/]"}.get(pattern[i], re.escape(pattern[i]))
            i += 1
    return re.compile(out + r"\Z")


def dockerignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last pattern that matches the path or one of its parent directories decides."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        regex = _docker_pattern(pattern.lstrip("!").strip("/"))
        if any(regex.match(prefix) for prefix in prefixes):
            excluded = not negate
    return excluded


def test_dockerignore_keeps_demo_zoo_and_sources_out_local_state():
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    patterns = [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
    for path in [
        ".venv/bin/python",
        ".git/HEAD",
        "runs/train/config.json",
        "checkpoints/my-zoo/zoo.json",
        "s2s_core/__pycache__/cli.cpython-311.pyc",
        ".env",
        "s2s.egg-info/PKG-INFO",
    ]:
        assert dockerignored(path, patterns), path
    for path in [
        "checkpoints/demo/zoo.json",
        "checkpoints/demo/aes/L/decoder.safetensors",
        "app.py",
        "pyproject.toml",
        "README.md",
        "docker/entrypoint.sh",
        "s2s_core/data/images.py",
        "s2s_core/jobs/__init__.py",
        "pages/1_reconstruct.py",
    ]:
        assert not dockerignored(path, patterns), path
