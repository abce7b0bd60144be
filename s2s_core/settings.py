"""Settings: every ``S2S_*`` environment variable and every default folder, read here and nowhere else.

The CLI, the job runner and the dashboard ask these functions, so they agree. Folders default to the
*project folder*: ``$S2S_HOME``, else the current working directory (where ``s2s`` or ``streamlit run
app.py`` was started; in the Docker image ``/app``). Nothing is looked up relative to this file, so an
installed package (``pip install .``, not editable) behaves like a checkout.

| variable | meaning | default |
|---|---|---|
| ``S2S_HOME`` | the project folder | the current directory |
| ``S2S_RUNS_DIR`` | runs: training outputs, the job queue | ``<home>/runs`` |
| ``S2S_CHECKPOINTS_DIR`` | zoos and units (the demo zoo in ``demo/``) | ``<home>/checkpoints`` |
| ``S2S_DATA_ROOTS`` | folders jobs may read data from (``os.pathsep``-separated) | ``<home>/data`` |
| ``S2S_ZOO`` | the zoo the dashboard opens first | the demo zoo |
| ``S2S_THREADS`` | torch threads | torch's default (CLI), 1 (dashboard) |
| ``S2S_JOBS_ENABLED`` | ``0``/``false``/``no``/``off``: the dashboard never launches jobs | on (with the token) |
| ``S2S_JOBS_TOKEN`` | the launch token a browser must show (as Jupyter's) | made by the server at start |
| ``S2S_JOBS_PER_DEVICE`` | jobs run at once per device | 1 |
| ``S2S_JOBS_GRACE_S`` | seconds a cancelled job has to save a checkpoint | 30 |
| ``S2S_JOBS_BACKEND`` | what runs jobs: ``local`` subprocesses or ``slurm`` (``sbatch``) | local |
| ``S2S_ALLOW_DOWNLOAD`` | ``1``: torchvision weights may be downloaded | off |

Every function takes an optional ``env`` mapping (default ``os.environ``) so callers and tests can pass
their own.
"""

from __future__ import annotations

import functools
import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

from s2s_core.errors import ConfigError

HOME_ENV = "S2S_HOME"
RUNS_ENV = "S2S_RUNS_DIR"
CHECKPOINTS_ENV = "S2S_CHECKPOINTS_DIR"
DATA_ROOTS_ENV = "S2S_DATA_ROOTS"
ZOO_ENV = "S2S_ZOO"
THREADS_ENV = "S2S_THREADS"
JOBS_ENABLED_ENV = "S2S_JOBS_ENABLED"
JOBS_TOKEN_ENV = "S2S_JOBS_TOKEN"
JOBS_PER_DEVICE_ENV = "S2S_JOBS_PER_DEVICE"
JOBS_GRACE_ENV = "S2S_JOBS_GRACE_S"
JOBS_BACKEND_ENV = "S2S_JOBS_BACKEND"
ALLOW_DOWNLOAD_ENV = "S2S_ALLOW_DOWNLOAD"

#: Name of the demo zoo's folder inside the checkpoints folder.
DEMO_ZOO_NAME = "demo"
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def _env(env: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if env is None else env


def _folder(value: str | Path) -> Path:
    return Path(value).expanduser().resolve()


def home(env: Mapping[str, str] | None = None) -> Path:
    """The project folder: ``$S2S_HOME`` or the current working directory."""
    return _folder(_env(env).get(HOME_ENV) or Path.cwd())


def runs_dir(env: Mapping[str, str] | None = None) -> Path:
    """Where runs and the job queue live: ``$S2S_RUNS_DIR`` or ``<home>/runs``."""
    e = _env(env)
    return _folder(e.get(RUNS_ENV) or home(e) / "runs")


def checkpoints_dir(env: Mapping[str, str] | None = None) -> Path:
    """Where zoos live: ``$S2S_CHECKPOINTS_DIR`` or ``<home>/checkpoints``."""
    e = _env(env)
    return _folder(e.get(CHECKPOINTS_ENV) or home(e) / "checkpoints")


def demo_zoo_dir(env: Mapping[str, str] | None = None) -> Path:
    """The demo zoo: ``<checkpoints>/demo`` (where ``s2s demo`` writes by default)."""
    return checkpoints_dir(env) / DEMO_ZOO_NAME


def data_roots(env: Mapping[str, str] | None = None) -> tuple[Path, ...]:
    """Folders jobs may read data from: ``$S2S_DATA_ROOTS`` (``os.pathsep``-separated) or ``<home>/data``."""
    e = _env(env)
    raw = e.get(DATA_ROOTS_ENV)
    parts = [p for p in raw.split(os.pathsep) if p.strip()] if raw else [home(e) / "data"]
    return tuple(_folder(p) for p in parts)


def zoo(env: Mapping[str, str] | None = None) -> Path | None:
    """``$S2S_ZOO`` (the zoo the dashboard opens first), or ``None``."""
    value = _env(env).get(ZOO_ENV)
    return _folder(value) if value else None


def threads(env: Mapping[str, str] | None = None) -> int | None:
    """``$S2S_THREADS`` as a positive int, or ``None`` when unset."""
    value = (_env(env).get(THREADS_ENV) or "").strip()
    if not value:
        return None
    try:
        n = int(value)
    except ValueError as exc:
        raise ConfigError(f"{THREADS_ENV}={value!r} is not an integer") from exc
    if n < 1:
        raise ConfigError(f"{THREADS_ENV}: thread count must be at least 1, got {n}")
    return n


def jobs_enabled(env: Mapping[str, str] | None = None) -> bool:
    """Whether the dashboard may launch jobs at all: yes unless ``$S2S_JOBS_ENABLED`` is ``0``/``false``/``no``/
    ``off`` (a browser session still needs the launch token)."""
    return (_env(env).get(JOBS_ENABLED_ENV) or "").strip().lower() not in _FALSE


def jobs_token(env: Mapping[str, str] | None = None) -> str | None:
    """The operator's launch token (``$S2S_JOBS_TOKEN``), or ``None`` (the dashboard then makes one)."""
    return _env(env).get(JOBS_TOKEN_ENV) or None


def _number(env: Mapping[str, str] | None, name: str, default: float, kind: type) -> float:
    value = (_env(env).get(name) or "").strip()
    if not value:
        return default
    try:
        number = kind(value)
    except ValueError:
        number = -1
    if number < 0:
        raise ConfigError(f"{name}={value!r} is not a non-negative number")
    return number


def jobs_per_device(env: Mapping[str, str] | None = None) -> int:
    """How many jobs run at once on one device (``$S2S_JOBS_PER_DEVICE``, default 1)."""
    return max(1, int(_number(env, JOBS_PER_DEVICE_ENV, 1, int)))


def jobs_grace_s(env: Mapping[str, str] | None = None) -> float:
    """Seconds a cancelled job has to save a checkpoint (``$S2S_JOBS_GRACE_S``, default 30)."""
    return float(_number(env, JOBS_GRACE_ENV, 30.0, float))


def jobs_backend(env: Mapping[str, str] | None = None) -> str:
    """The job backend named by ``$S2S_JOBS_BACKEND``, lower-cased (default ``local``; checked by the job specs)."""
    return (_env(env).get(JOBS_BACKEND_ENV) or "").strip().lower() or "local"


def allow_download(env: Mapping[str, str] | None = None) -> bool:
    """Whether torchvision weights missing from the cache may be downloaded (``$S2S_ALLOW_DOWNLOAD=1``)."""
    return (_env(env).get(ALLOW_DOWNLOAD_ENV) or "").strip() == "1"


def package_root() -> Path:
    """The folder that holds the running ``s2s_core`` package (a checkout, or site-packages when installed).

    Job processes get it on ``PYTHONPATH`` so they import this same code, whichever copy is running."""
    return Path(__file__).resolve().parent.parent


@functools.cache
def git_commit() -> str | None:
    """The commit of the s2s checkout the running code comes from, if it is one (``git rev-parse HEAD``; no
    shell), else ``None`` (an installed package). Read once per process."""
    root = package_root()
    if not (root / ".git").exists():
        return None
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None
