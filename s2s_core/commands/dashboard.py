"""``s2s dashboard``: start the dashboard as ``streamlit run app.py`` does, and print its links at once.

Streamlit's own options pass through (``s2s dashboard --server.port 8502 --server.headless true``). When the
operator set no launch token (``S2S_JOBS_TOKEN``), one is made here, before the server starts, handed to the
server through its environment and printed inside the URL that unlocks launching jobs, as Jupyter does: the
link is on screen before anyone opens the page. ``streamlit run app.py`` keeps working as before (the app then
makes and prints its own token on the first page load).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from s2s_core import settings
from s2s_core.errors import ConfigError
from s2s_core.jobs.gate import ENABLED_ENV, TOKEN_ENV, GateSettings, new_token

DEFAULT_PORT = 8501


def find_app(given: Path | None = None) -> Path:
    """``app.py``: ``given``, else the one beside this ``s2s_core`` (a checkout), else the current folder's."""
    for candidate in ([given] if given else [settings.package_root() / "app.py", Path.cwd() / "app.py"]):
        if candidate is not None and candidate.is_file():
            return candidate.resolve()
    where = given or "beside s2s_core/ or in the current folder"
    raise ConfigError(f"no app.py found ({where}): run `s2s dashboard` in the s2s repository, or give --app PATH")


def streamlit_option(args: Sequence[str], name: str) -> str | None:
    """The value of Streamlit option ``--<name>`` in ``args`` (``--name value`` or ``--name=value``; the last wins)."""
    value = None
    for k, arg in enumerate(args):
        if arg == f"--{name}" and k + 1 < len(args):
            value = args[k + 1]
        elif arg.startswith(f"--{name}="):
            value = arg.split("=", 1)[1]
    return value


def dashboard_url(args: Sequence[str]) -> str:
    """The address a browser on this machine opens, from the Streamlit options in ``args``."""
    address = streamlit_option(args, "browser.serverAddress") or streamlit_option(args, "server.address")
    if address in (None, "", "0.0.0.0", "::"):
        address = "localhost"
    port = streamlit_option(args, "browser.serverPort") or streamlit_option(args, "server.port") or DEFAULT_PORT
    base = (streamlit_option(args, "server.baseUrlPath") or "").strip("/")
    return f"http://{address}:{port}/{base + '/' if base else ''}"


def launch_lines(url: str, env: dict[str, str]) -> list[str]:
    """What is printed before the server starts; makes a token into ``env`` when the operator set none."""
    gate = GateSettings.from_env(env)
    lines = [f"  Dashboard: {url}"]
    if not gate.enabled:
        lines.append(f"  Launching jobs from the browser is off ({ENABLED_ENV}=0).")
    elif gate.configured:
        lines.append(f"  Training jobs: open {url}?token=<your {TOKEN_ENV}> to launch jobs from that browser.")
    else:
        env[TOKEN_ENV] = new_token()
        lines.append(f"  Training jobs: open {url}?token={env[TOKEN_ENV]}\n  to launch jobs from that browser "
                     f"(token made at start; set {TOKEN_ENV} to choose one, {ENABLED_ENV}=0 to turn launching off).")
    return lines


def register(sub) -> None:
    p = sub.add_parser(
        "dashboard", help="start the dashboard (streamlit run app.py) and print its launch link at once",
        description="Start the dashboard as `streamlit run app.py` does; every option after the command goes to "
        "Streamlit (e.g. --server.port 8502 --server.address 0.0.0.0 --server.headless true). The dashboard's "
        "address and, unless S2S_JOBS_TOKEN is set or S2S_JOBS_ENABLED=0, a link with a launch token made now "
        "are printed before the server starts.")
    p.add_argument("--app", type=Path, default=None, help="the app to run (default: app.py of this checkout)")
    p.set_defaults(func=_main, passthrough=True)


def _main(args) -> int:
    app = find_app(args.app)
    extra = [a for a in getattr(args, "extra", []) if a != "--"]
    env = dict(os.environ)
    print("\n".join(launch_lines(dashboard_url(extra), env)), flush=True)
    return subprocess.call([sys.executable, "-m", "streamlit", "run", str(app), *extra], env=env, cwd=app.parent)
