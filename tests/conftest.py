"""Test-wide settings: one torch thread (these machines have 2 cores and tests may run beside other work),
fixed seeds, and no network."""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
# The dashboard package sits beside app.py (not installed); `streamlit run` puts that folder on sys.path,
# AppTest does not, so the tests do.
ROOT = str(Path(__file__).resolve().parents[1])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
os.environ.setdefault("STREAMLIT_BROWSER_GATHER_USAGE_STATS", "false")

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.fixture(scope="module")
def tiny_zoo(tmp_path_factory):
    """A tiny zoo with result tables (tests/tiny_zoo.py), one per test module."""
    from tiny_zoo import build_tiny_zoo

    return build_tiny_zoo(tmp_path_factory.mktemp("zoo") / "tiny")


@pytest.fixture
def app_env(tiny_zoo, tmp_path, monkeypatch):
    """The dashboard's environment for AppTest: the tiny zoo via S2S_ZOO, runs in tmp_path, one thread."""
    monkeypatch.setenv("S2S_ZOO", str(tiny_zoo))
    monkeypatch.setenv("S2S_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("S2S_THREADS", "1")
    return tiny_zoo
