"""Where jobs may read and write: the data roots, the checkpoints folder and the runs folder (:class:`Roots`).

Every path a user gives a job is resolved against these roots (:mod:`.validation`), and the form's choices are
found under them (:mod:`.choices`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from s2s_core import settings


@dataclass(frozen=True)
class Roots:
    """Where jobs may read (``data`` roots, checkpoints, runs) and write (runs, checkpoints)."""

    runs: Path
    checkpoints: Path
    data: tuple[Path, ...]

    @classmethod
    def from_env(cls, runs_dir: str | Path | None = None, env: Mapping[str, str] | None = None) -> Roots:
        """Roots from :mod:`s2s_core.settings`: the runs folder (``runs_dir`` if given), the checkpoints folder
        and the data roots (the checkpoints dir, which holds the demo zoo and its data, is always readable)."""
        runs = _abs(Path(runs_dir)) if runs_dir else settings.runs_dir(env)
        return cls(runs=runs, checkpoints=settings.checkpoints_dir(env), data=settings.data_roots(env))

    @property
    def readable(self) -> tuple[Path, ...]:
        return (*self.data, self.checkpoints, self.runs)

    @property
    def writable(self) -> tuple[Path, ...]:
        return (self.runs, self.checkpoints)


def _abs(p: Path) -> Path:
    return p.expanduser().resolve()

