"""The job table: one SQLite file (``RUNS/jobs.sqlite``, WAL mode) beside the runs.

Every process that touches jobs (the dashboard, ``s2s jobs``, each job's supervisor) opens its own short
connection per operation, so the table is safe to share across processes and threads. State changes
that must not race (claiming queued jobs, recording an outcome) are conditional updates or run inside
``BEGIN IMMEDIATE`` transactions.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from s2s_core.errors import ConfigError

#: Job states. ``queued`` waits for its device; ``running`` has a live supervisor process; the rest are final
#: (``cancelled``, ``lost`` and ``failed`` jobs can be resumed).
STATES = ("queued", "running", "succeeded", "failed", "cancelled", "lost")
FINAL_STATES = frozenset({"succeeded", "failed", "cancelled", "lost"})
DB_NAME = "jobs.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    params TEXT NOT NULL,
    argv TEXT NOT NULL,
    state TEXT NOT NULL,
    device TEXT NOT NULL,
    source TEXT NOT NULL DEFAULT 'cli',
    created REAL NOT NULL,
    queued REAL NOT NULL,
    started REAL,
    finished REAL,
    pid INTEGER,
    pid_start INTEGER,
    child_pid INTEGER,
    child_start INTEGER,
    exit_code INTEGER,
    error TEXT,
    run_dir TEXT NOT NULL DEFAULT '',
    target TEXT,
    output TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    resumed INTEGER NOT NULL DEFAULT 0,
    cancel_requested REAL,
    depends TEXT NOT NULL DEFAULT '[]',
    backend TEXT NOT NULL DEFAULT 'local',
    slurm_id TEXT,
    slurm_state TEXT
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state, device, queued);
"""

_JSON_COLUMNS = ("params", "argv", "depends")
#: Columns added after the first release, with their SQL type, for tables created before them.
_ADDED_COLUMNS = {"depends": "TEXT NOT NULL DEFAULT '[]'", "backend": "TEXT NOT NULL DEFAULT 'local'",
                  "slurm_id": "TEXT", "slurm_state": "TEXT"}


@dataclass
class Job:
    """One job as stored. Times are unix seconds; ``output`` is set once the job has produced its
    unit/zoo (``target`` is where it will appear); ``pid`` is the job's supervisor process (``local``
    backend); ``depends``: ids of jobs that must have succeeded before this one starts. On the ``slurm``
    backend ``slurm_id`` is the current attempt's Slurm job id and ``slurm_state`` what Slurm last reported
    (``PENDING (Priority)``, ``RUNNING``, ``TIMEOUT (TimeLimit)``, ...)."""

    id: int
    kind: str
    params: dict[str, Any]
    state: str
    device: str
    created: float
    queued: float
    run_dir: str
    argv: list[str] = field(default_factory=list)
    source: str = "cli"
    started: float | None = None
    finished: float | None = None
    pid: int | None = None
    pid_start: int | None = None
    child_pid: int | None = None
    child_start: int | None = None
    exit_code: int | None = None
    error: str | None = None
    target: str | None = None
    output: str | None = None
    attempts: int = 0
    resumed: bool = False
    cancel_requested: float | None = None
    depends: list[int] = field(default_factory=list)
    backend: str = "local"
    slurm_id: str | None = None
    slurm_state: str | None = None

    @property
    def final(self) -> bool:
        return self.state in FINAL_STATES

    def as_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)


class JobStore:
    """Rows of the ``jobs`` table as :class:`Job` objects."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as con:
            con.execute("PRAGMA journal_mode=WAL")
            con.executescript(_SCHEMA)
            missing = set(_ADDED_COLUMNS) - {row["name"] for row in con.execute("PRAGMA table_info(jobs)")}
        if missing:  # a table from before these columns; of two openers at once, the first adds them
            with self.transaction() as con:
                have = {row["name"] for row in con.execute("PRAGMA table_info(jobs)")}
                for name, decl in _ADDED_COLUMNS.items():
                    if name not in have:
                        con.execute(f"ALTER TABLE jobs ADD COLUMN {name} {decl}")

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        con = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        con.row_factory = sqlite3.Row
        try:
            con.execute("PRAGMA busy_timeout=30000")
            yield con
        finally:
            con.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction taken at once (``BEGIN IMMEDIATE``): other writers wait."""
        with self._connect() as con:
            con.execute("BEGIN IMMEDIATE")
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")

    def insert(self, kind: str, params: dict[str, Any], device: str, *, source: str = "cli",
               depends: list[int] | tuple[int, ...] = (), backend: str = "local") -> int:
        now = time.time()
        with self._connect() as con:
            cur = con.execute(
                "INSERT INTO jobs (kind, params, argv, state, device, source, created, queued, depends, backend) "
                "VALUES (?, ?, '[]', 'queued', ?, ?, ?, ?, ?, ?)",
                (kind, json.dumps(params), device, source, now, now, json.dumps([int(d) for d in depends]), backend),
            )
            return int(cur.lastrowid)

    def get(self, job_id: int) -> Job:
        with self._connect() as con:
            row = con.execute("SELECT * FROM jobs WHERE id = ?", (int(job_id),)).fetchone()
        if row is None:
            raise ConfigError(f"job {job_id}: no such job")
        return row_to_job(row)

    def list(self, states: tuple[str, ...] | None = None) -> list[Job]:
        """Jobs, newest first (optionally only those in ``states``)."""
        sql, args = "SELECT * FROM jobs", ()
        if states:
            sql += f" WHERE state IN ({','.join('?' * len(states))})"
            args = tuple(states)
        with self._connect() as con:
            rows = con.execute(sql + " ORDER BY id DESC", args).fetchall()
        return [row_to_job(r) for r in rows]

    def update(self, job_id: int, *, expect_state: str | tuple[str, ...] | None = None, **values: Any) -> bool:
        """Set columns of one job; with ``expect_state`` only if it is in that state. True if updated."""
        return update_row(None, self, job_id, expect_state=expect_state, **values)


def update_row(con: sqlite3.Connection | None, store: JobStore | None, job_id: int, *,
               expect_state: str | tuple[str, ...] | None = None, **values: Any) -> bool:
    """The UPDATE behind :meth:`JobStore.update`, usable inside a :meth:`JobStore.transaction`."""
    unknown = set(values) - set(Job.__dataclass_fields__)
    if unknown or "id" in values:
        raise ValueError(f"not job columns: {sorted(unknown)}")
    cols = ", ".join(f"{k} = ?" for k in values)
    args: list[Any] = [json.dumps(v) if k in _JSON_COLUMNS else v for k, v in values.items()]
    sql = f"UPDATE jobs SET {cols} WHERE id = ?"
    args.append(int(job_id))
    if expect_state is not None:
        states = (expect_state,) if isinstance(expect_state, str) else tuple(expect_state)
        sql += f" AND state IN ({','.join('?' * len(states))})"
        args.extend(states)
    if con is not None:
        return con.execute(sql, args).rowcount > 0
    assert store is not None
    with store._connect() as c:
        return c.execute(sql, args).rowcount > 0


def row_to_job(row: sqlite3.Row) -> Job:
    d = dict(row)
    for k in _JSON_COLUMNS:
        d[k] = json.loads(d[k]) if d[k] else ({} if k == "params" else [])
    d["resumed"] = bool(d["resumed"])
    return Job(**d)
