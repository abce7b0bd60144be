"""Provenance: which stage produced which file, with which command and settings, when, from what.

``s2s reproduce`` runs each stage through ``s2s run-stage``, which writes ``STAGE/stage-record.json`` when the
stage succeeds; the last stage gathers every record into ``ZOO/provenance.json``::

    {"format": "s2s-provenance/1", "plan": "/abs/PLAN.yaml", "name": "paper", "written": ISO time,
     "stages": [{"stage": "pretrain", "command": ["s2s", "pretrain", ...], "config": {...},
                 "started": ISO, "finished": ISO, "seconds": float, "code_version": "0.1.0",
                 "git_commit": "..." | null, "inputs": {role: {"path": ..., "hash": ...}},
                 "output": {"path": ..., "hash": ...}, "runtime": {...}, "fingerprint": "..."}, ...]}

Hashes (:func:`fingerprint_path`): a file's sha256; a unit its ``manifest.json``'s (which holds every weights
file's sha256); a zoo its ``zoo.json`` with the manifests of the units it names; another directory the sha256 of
its files' contents, or, above :data:`CONTENT_HASH_LIMIT` bytes (ImageNet), of their names, sizes and
modification times (prefixed ``stat:``).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from s2s_core.checkpoints import read_format_json, sha256_file, write_json_atomic

PROVENANCE_FILE = "provenance.json"
PROVENANCE_FORMAT = "s2s-provenance/1"
#: Directories with more bytes than this are fingerprinted by file names, sizes and times, not contents.
CONTENT_HASH_LIMIT = 256 * 2**20


def _files(root: Path) -> list[tuple[str, os.stat_result]]:
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if not name.startswith("."):
                p = Path(dirpath) / name
                out.append((p.relative_to(root).as_posix(), p.stat()))
    return out


def fingerprint_path(path: str | Path) -> str:
    """A hash that changes when what ``path`` holds changes (see the module docstring for the rules)."""
    p = Path(path)
    if p.is_file():
        return sha256_file(p)
    if not p.is_dir():
        raise FileNotFoundError(f"{p} does not exist")
    if (p / "manifest.json").is_file():
        return "unit:" + sha256_file(p / "manifest.json")
    if (p / "zoo.json").is_file():
        digest = hashlib.sha256((p / "zoo.json").read_bytes())
        zoo = json.loads((p / "zoo.json").read_text())
        refs = [zoo.get("base"), *(zoo.get("aes") or {}).values(), *(zoo.get("classifiers") or {}).values()]
        for ref in refs:
            if isinstance(ref, str) and (p / ref / "manifest.json").is_file():
                digest.update(sha256_file(p / ref / "manifest.json").encode())
        return "zoo:" + digest.hexdigest()
    files = _files(p)
    digest = hashlib.sha256()
    if sum(st.st_size for _, st in files) > CONTENT_HASH_LIMIT:
        for rel, st in files:
            digest.update(f"{rel}\t{st.st_size}\t{st.st_mtime_ns}\n".encode())
        return "stat:" + digest.hexdigest()
    for rel, _ in files:
        digest.update(f"{rel}\t{sha256_file(p / rel)}\n".encode())
    return "dir:" + digest.hexdigest()


def write_provenance(zoo: str | Path, *, plan: str, name: str, records: list[dict[str, Any]]) -> Path:
    """Write ``ZOO/provenance.json`` (atomically) from the stages' records, in plan order."""
    from datetime import UTC, datetime

    return write_json_atomic(Path(zoo) / PROVENANCE_FILE, {
        "format": PROVENANCE_FORMAT, "plan": plan, "name": name,
        "written": datetime.now(UTC).isoformat(timespec="seconds"), "stages": records})


def read_provenance(zoo: str | Path) -> dict[str, Any] | None:
    """``ZOO/provenance.json``, or ``None`` when the zoo has none (it was not built by ``s2s reproduce``)."""
    path = Path(zoo) / PROVENANCE_FILE
    return read_format_json(path, PROVENANCE_FORMAT) if path.is_file() else None


def provenance_rows(prov: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per stage for a table: stage, command, start, end, seconds, code version, output and its hash."""
    rows = []
    for rec in prov.get("stages", []):
        out = rec.get("output") or {}
        rows.append({"stage": rec.get("stage"), "command": " ".join(rec.get("command") or []),
                     "started": rec.get("started"), "finished": rec.get("finished"), "seconds": rec.get("seconds"),
                     "code": f"{rec.get('code_version')}" + (f" ({rec['git_commit'][:10]})" if rec.get("git_commit") else ""),
                     "device": (rec.get("runtime") or {}).get("device"), "output": out.get("path"),
                     "output hash": str(out.get("hash") or "")[:22]})
    return rows
