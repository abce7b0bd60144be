"""The browser launch gate: who may start, cancel and resume jobs from the dashboard, and the launch token.

As Jupyter does it: launching is on unless the operator sets ``S2S_JOBS_ENABLED=0``, and every browser session
must show the token (``S2S_JOBS_TOKEN``, or one the dashboard makes at start). The ``s2s jobs`` CLI does not go
through this gate; every parameter is validated the same way either way (:mod:`.validation`).
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field

from s2s_core import settings

#: Environment: browser launching off with ``0``/``false``/``no``/``off``, and the launch token; read in
#: :mod:`s2s_core.settings`.
ENABLED_ENV = settings.JOBS_ENABLED_ENV
TOKEN_ENV = settings.JOBS_TOKEN_ENV


@dataclass(frozen=True)
class GateSettings:
    """The browser launch gate, as Jupyter does it: launching is on unless the operator sets
    ``S2S_JOBS_ENABLED=0``, and every browser session must show the token. The token is
    ``S2S_JOBS_TOKEN`` when set; otherwise the dashboard makes one at start (:func:`new_token`) and prints
    a URL carrying it (``configured`` tells which)."""

    enabled: bool = True
    token: str | None = field(default=None, repr=False)
    configured: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> GateSettings:
        """The operator's settings; ``token`` is ``None`` when ``S2S_JOBS_TOKEN`` is unset or empty."""
        token = settings.jobs_token(env)
        return cls(enabled=settings.jobs_enabled(env), token=token, configured=token is not None)

    def with_token(self, token: str) -> GateSettings:
        """These settings with a server-made token (kept when the operator configured one)."""
        return self if self.token else GateSettings(self.enabled, token, configured=False)


def new_token() -> str:
    """A fresh launch token: 32 random bytes, URL-safe base64 (43 characters)."""
    return secrets.token_urlsafe(32)


def token_matches(given: str | None, gate: GateSettings) -> bool:
    """Whether ``given`` is the launch token (constant-time comparison; ``False`` without a token)."""
    if not given or not gate.token:
        return False
    return hmac.compare_digest(given.encode("utf-8"), gate.token.encode("utf-8"))


def launch_allowed(token_given: str | None, *, settings: GateSettings) -> tuple[bool, str]:
    """May this browser session start, cancel or resume jobs? Returns ``(allowed, reason)``.

    Off when the operator set ``S2S_JOBS_ENABLED=0``; otherwise the session must give the token (from the
    start-up URL or typed), compared in constant time. The ``s2s jobs`` CLI does not go through this gate.
    """
    if not settings.enabled:
        return False, f"launching jobs from the browser is off ({ENABLED_ENV}=0)"
    if not settings.token:
        return False, "the server has no launch token"
    if not token_given:
        return False, "a launch token is required"
    if not token_matches(token_given, settings):
        return False, "wrong launch token"
    return True, "token accepted"
