"""A jobs database as an older s2s wrote it (before the backend, Slurm and dependency columns), for the tests
that check :class:`s2s_core.jobs.store.JobStore` upgrades it in place."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def write_legacy_jobs_db(path: Path, kind: str = "pretrain", created: float = 0) -> Path:
    """``path``: a ``jobs`` table of the old schema holding one succeeded job of ``kind``."""
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE jobs (id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, params TEXT NOT NULL, "
                "argv TEXT NOT NULL, state TEXT NOT NULL, device TEXT NOT NULL, source TEXT NOT NULL DEFAULT 'cli', "
                "created REAL NOT NULL, queued REAL NOT NULL, started REAL, finished REAL, pid INTEGER, "
                "pid_start INTEGER, child_pid INTEGER, child_start INTEGER, exit_code INTEGER, error TEXT, "
                "run_dir TEXT NOT NULL DEFAULT '', target TEXT, output TEXT, attempts INTEGER NOT NULL DEFAULT 0, "
                "resumed INTEGER NOT NULL DEFAULT 0, cancel_requested REAL)")
    con.execute("INSERT INTO jobs (kind, params, argv, state, device, created, queued) "
                "VALUES (?, '{}', '[]', 'succeeded', 'cpu', ?, ?)", (kind, created, created))
    con.commit()
    con.close()
    return path
