"""Settings are read in one place (s2s_core.settings), and the CLI, the job runner and the dashboard agree."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from s2s_core import settings
from s2s_core.errors import ConfigError
from s2s_core.jobs.gate import GateSettings
from s2s_core.jobs.roots import Roots
from s2s_core.jobs.runner import JobRunner

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted([*(ROOT / "s2s_core").rglob("*.py"), *(ROOT / "dashboard").rglob("*.py"),
                  *(ROOT / "pages").rglob("*.py"), ROOT / "app.py"])


@pytest.fixture
def clean_env(monkeypatch, tmp_path: Path) -> Path:
    for name in [n for n in dir(settings) if n.endswith("_ENV")]:
        monkeypatch.delenv(getattr(settings, name), raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_folders_default_to_the_current_directory(clean_env: Path) -> None:
    assert settings.home() == clean_env.resolve()
    assert settings.runs_dir() == clean_env.resolve() / "runs"
    assert settings.checkpoints_dir() == clean_env.resolve() / "checkpoints"
    assert settings.demo_zoo_dir() == clean_env.resolve() / "checkpoints" / "demo"
    assert settings.data_roots() == (clean_env.resolve() / "data",)
    assert settings.zoo() is None and settings.threads() is None
    assert settings.jobs_enabled() and settings.jobs_token() is None and not settings.allow_download()
    assert not settings.jobs_enabled({settings.JOBS_ENABLED_ENV: " Off "})
    assert settings.jobs_per_device() == 1 and settings.jobs_grace_s() == 30.0


def test_home_moves_every_default_and_variables_override(clean_env: Path, tmp_path: Path) -> None:
    env = {settings.HOME_ENV: str(tmp_path / "proj")}
    assert settings.runs_dir(env) == (tmp_path / "proj" / "runs").resolve()
    assert settings.checkpoints_dir(env) == (tmp_path / "proj" / "checkpoints").resolve()
    env.update({settings.RUNS_ENV: str(tmp_path / "r"), settings.CHECKPOINTS_ENV: str(tmp_path / "c"),
                settings.DATA_ROOTS_ENV: f"{tmp_path / 'd1'}:{tmp_path / 'd2'}", settings.THREADS_ENV: "3",
                settings.JOBS_ENABLED_ENV: "yes", settings.JOBS_TOKEN_ENV: "t0k", settings.ALLOW_DOWNLOAD_ENV: "1",
                settings.JOBS_PER_DEVICE_ENV: "2", settings.JOBS_GRACE_ENV: "4.5"})
    assert settings.runs_dir(env) == (tmp_path / "r").resolve()
    assert settings.checkpoints_dir(env) == (tmp_path / "c").resolve()
    assert settings.data_roots(env) == ((tmp_path / "d1").resolve(), (tmp_path / "d2").resolve())
    assert settings.threads(env) == 3 and settings.jobs_enabled(env) and settings.jobs_token(env) == "t0k"
    assert settings.allow_download(env) and settings.jobs_per_device(env) == 2 and settings.jobs_grace_s(env) == 4.5
    roots = Roots.from_env(env=env)
    assert (roots.runs, roots.checkpoints, roots.data) == (settings.runs_dir(env), settings.checkpoints_dir(env),
                                                           settings.data_roots(env))
    assert GateSettings.from_env(env) == GateSettings(enabled=True, token="t0k", configured=True)


@pytest.mark.parametrize(("name", "value", "message"), [
    ("THREADS_ENV", "two", "is not an integer"), ("THREADS_ENV", "0", "at least 1"),
    ("JOBS_GRACE_ENV", "soon", "not a non-negative number"), ("JOBS_PER_DEVICE_ENV", "-1", "not a non-negative"),
])
def test_bad_values_are_one_clear_line(name: str, value: str, message: str) -> None:
    env = {getattr(settings, name): value}
    reader = {"THREADS_ENV": settings.threads, "JOBS_GRACE_ENV": settings.jobs_grace_s,
              "JOBS_PER_DEVICE_ENV": settings.jobs_per_device}[name]
    with pytest.raises(ConfigError, match=f"{getattr(settings, name)}.*{message}"):
        reader(env)


def test_cli_jobs_and_dashboard_agree_on_the_runs_folder(clean_env: Path) -> None:
    from dashboard import state

    runner = JobRunner()  # what `s2s jobs ...` uses without --runs
    assert runner.runs_dir == state.runs_dir() == settings.runs_dir() == clean_env.resolve() / "runs"


def test_demo_writes_into_the_checkpoints_folder_by_default(clean_env: Path, monkeypatch) -> None:
    from s2s_core.cli import build_parser
    from s2s_core.commands import demo as demo_command

    seen = {}
    monkeypatch.setattr(demo_command, "build_demo", lambda out, *a, **k: seen.setdefault("out", out))
    args = build_parser().parse_args(["demo", "--quick"])
    assert args.func(args) == 0
    assert seen["out"] == clean_env.resolve() / "checkpoints" / "demo"


def test_s2s_environment_variables_are_read_only_in_settings() -> None:
    """No other module names an S2S_* variable in code (docstrings and messages aside) or reads os.environ for it."""
    offenders = []
    for path in SOURCES:
        if path.name == "settings.py" and path.parent.name == "s2s_core":
            continue
        tree = ast.parse(path.read_text())
        docstrings = {id(n.body[0].value) for n in ast.walk(tree)
                      if isinstance(n, ast.Module | ast.FunctionDef | ast.ClassDef) and n.body
                      and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
        for node in ast.walk(tree):
            if (isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
                    and re.fullmatch(r"S2S_[A-Z_]+", node.value)):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.value}")
    assert not offenders, offenders


def _edits_sys_path(tree: ast.AST) -> bool:
    """A call ``sys.path.insert(...)`` / ``sys.path.append(...)`` in the module's own code (not in a string)."""
    return any(isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr in ("insert", "append")
               and isinstance(n.func.value, ast.Attribute) and n.func.value.attr == "path"
               and isinstance(n.func.value.value, ast.Name) and n.func.value.value.id == "sys" for n in ast.walk(tree))


def test_no_module_finds_the_repository_from_its_own_file() -> None:
    pattern = re.compile(r"__file__\)\.resolve\(\)\.parents\[\d\]")
    found = [f"{p.relative_to(ROOT)}" for p in SOURCES
             if pattern.search(p.read_text()) or _edits_sys_path(ast.parse(p.read_text()))]
    assert not found, found
    assert _edits_sys_path(ast.parse("import sys\nsys.path.insert(0, 'x')"))
    assert not _edits_sys_path(ast.parse("s = 'sys.path.insert(0, x)'"))
