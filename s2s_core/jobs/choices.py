"""What a job form offers to choose from, found on disk and in the registries: classifiers (registry names and
classifier units), pre-trained AE units, zoos, data directories and devices.

Each function takes the :class:`~s2s_core.jobs.roots.Roots` and returns a list of strings; a field declares one
of them as its ``choices`` (:mod:`.specs`). torch is imported only when the classifier registry or the devices
are asked for.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from s2s_core.jobs.roots import Roots


def classifier_names(roots: Roots | None = None) -> list[str]:
    """Names in the classifier registry (imports torch on first use)."""
    from s2s_core.models.classifiers import available

    return sorted(available())


def _find_dirs(roots: Sequence[Path], marker: str, kind: str | None = None, depth: int = 4) -> list[str]:
    """Directories under ``roots`` (at most ``depth`` levels down) holding ``marker``; for
    ``manifest.json`` only units whose manifest ``kind`` is ``kind``."""

    found: list[str] = []
    for root in roots:
        if not root.is_dir():
            continue
        for level in range(depth + 1):
            for m in sorted(root.glob("/".join(["*"] * level + [marker]))):
                if kind is not None:
                    try:
                        if json.loads(m.read_text()).get("kind") != kind:
                            continue
                    except (OSError, ValueError, AttributeError):
                        continue
                found.append(str(m.parent.resolve()))
    return list(dict.fromkeys(found))


def classifier_choices(roots: Roots) -> list[str]:
    """Registry names, then the classifier units (``kind: classifier``) under the readable roots."""
    return [*classifier_names(roots), *_find_dirs(roots.readable, "manifest.json", kind="classifier")]


def base_ae_choices(roots: Roots) -> list[str]:
    """Pre-trained AE units (``kind: ae``) found under ``checkpoints/`` and the runs root."""
    return _find_dirs((roots.checkpoints, roots.runs), "manifest.json", kind="ae")


def zoo_choices(roots: Roots) -> list[str]:
    """Zoo directories (with ``zoo.json``) under ``checkpoints/`` and the runs root."""
    return _find_dirs((roots.checkpoints, roots.runs), "zoo.json")


def data_dir_choices(roots: Roots) -> list[str]:
    """The data roots and their immediate sub-directories."""
    out: list[str] = []
    for root in roots.data:
        if root.is_dir():
            out.append(str(root))
            out.extend(str(p) for p in sorted(root.iterdir()) if p.is_dir() and not p.name.startswith("."))
    return out


def device_choices(roots: Roots | None = None) -> list[str]:
    """``cpu`` and each GPU of this machine (imports torch on first use)."""
    import torch

    return ["cpu", *(f"cuda:{i}" for i in range(torch.cuda.device_count() if torch.cuda.is_available() else 0))]

