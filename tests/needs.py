"""Skips for a missing system dependency, which must not hide anything in CI.

Locally (a laptop without chromium, say) such a test skips with the reason. Under ``CI=true`` (set by
``.ci/run``, which installs every dependency first) the same condition fails the test instead, so a broken
install cannot turn into a green run of skipped tests.
"""

from __future__ import annotations

import os

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def system_dependency(present: bool, reason: str, *, module_level: bool = False) -> None:
    """Skip (or, under ``CI=true``, fail) unless ``present``; ``reason`` says what to install."""
    if present:
        return
    if in_ci():
        pytest.fail(f"missing system dependency under CI=true: {reason}", pytrace=False)
    pytest.skip(reason, allow_module_level=module_level)
