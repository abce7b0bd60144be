"""Validation of a job's parameters: every value a user types (in the dashboard's form or after
``s2s jobs submit --set``) is checked against its :class:`~s2s_core.jobs.specs.FieldSpec` before it becomes one
element of a command's argv list.

Nothing reaches a shell or ``eval``; on top of that, strings with shell metacharacters are refused, paths must
resolve (symlinks followed) inside the configured roots, numbers must be in range and unknown keys are refused;
then the kind's own cross-field check runs (:attr:`KindSpec.check`), and on Slurm the device must fit the GPUs
asked for. Each refusal is a :class:`~s2s_core.errors.ConfigError` naming the field.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from s2s_core.errors import ConfigError
from s2s_core.jobs.roots import Roots
from s2s_core.jobs.specs import BACKEND_ENV, CLUSTER_NAMES, FieldSpec, fields_for, get_kind

#: Characters refused in any string or path value, although no shell ever sees them.
FORBIDDEN_CHARS = frozenset(";|&$`<>\\\"'*?!(){}[]#~\n\r\t\x00")


def validate_params(kind: str, params: Mapping[str, Any], roots: Roots, backend: str = "local") -> dict[str, Any]:
    """Check ``params`` against the specs of ``kind`` on ``backend`` and return every field's value, typed,
    with defaults filled in and paths resolved to absolute paths. Values may be typed or strings (from
    ``--set``). Raises :class:`ConfigError` naming the first offending field."""
    fields = fields_for(kind, backend)
    names = [f.name for f in fields]
    unknown = sorted(set(params) - set(names))
    if unknown:
        if unknown[0] in CLUSTER_NAMES and backend == "local":
            raise ConfigError(f"{unknown[0]}: a Slurm setting, but this queue runs jobs on this machine "
                              f"(set {BACKEND_ENV}=slurm to submit to Slurm)")
        raise ConfigError(f"{unknown[0]}: unknown parameter for {kind} jobs; valid: {', '.join(names)}")
    out: dict[str, Any] = {}
    for f in fields:
        value = params.get(f.name)
        if isinstance(value, str) and value.strip() == "" and f.type != "str":
            value = None
        if value is None:
            if f.required:
                raise ConfigError(f"{f.name}: a value is required ({f.help})")
            out[f.name] = f.default
            continue
        out[f.name] = check_value(f, value, roots)
    spec = get_kind(kind)
    if spec.check is not None:
        spec.check(out)
    if backend == "slurm":
        _check_slurm_device(out)
    return out



def _check_slurm_device(values: dict[str, Any]) -> None:
    gpus, device = values.get("gpus_per_node") or 0, values.get("device")
    if gpus and device == "cpu":
        raise ConfigError(f"device: cpu, but gpus_per_node is {gpus}; use auto or cuda, or ask for no GPUs")
    if not gpus and device == "cuda":
        raise ConfigError("device: cuda needs GPUs on the compute nodes; set gpus_per_node (1 or more)")


def check_value(f: FieldSpec, value: Any, roots: Roots) -> Any:
    """One field's value, coerced to its type and checked; :class:`ConfigError` names the field."""
    if f.type == "int":
        v: Any = _to_int(f.name, value)
    elif f.type == "float":
        v = _to_float(f.name, value)
    elif f.type == "bool":
        v = _to_bool(f.name, value)
    else:
        if not isinstance(value, str | Path):
            raise ConfigError(f"{f.name}: expected text, got {type(value).__name__} {value!r}")
        v = check_text(f.name, str(value))
        if f.pattern and not re.fullmatch(f.pattern, v):
            raise ConfigError(f"{f.name}: {v!r} is not allowed (must match {f.pattern})")
        if f.type == "choice":
            allowed = f.options(roots)
            if v not in allowed:
                raise ConfigError(f"{f.name}: {v!r} is not one of {', '.join(allowed) or '(none available)'}")
        elif f.type == "path":
            v = _check_classifier(f, v, roots) if f.path_role == "classifier" else check_path(f, v, roots)
    if f.type in ("int", "float"):
        if f.min is not None and v < f.min:
            raise ConfigError(f"{f.name}: {v} is below the minimum {f.min}")
        if f.max is not None and v > f.max:
            raise ConfigError(f"{f.name}: {v} is above the maximum {f.max}")
        if f.multiple_of and v % f.multiple_of:
            raise ConfigError(f"{f.name}: {v} is not a multiple of {f.multiple_of}")
    if f.check is not None:
        v = f.check(v)
    return v


def check_text(name: str, value: str) -> str:
    """Refuse shell metacharacters, control characters and a leading ``-`` (it would read as an option)."""
    bad = sorted({c for c in value if c in FORBIDDEN_CHARS or ord(c) < 32 or ord(c) == 127})
    if bad:
        raise ConfigError(f"{name}: character(s) {''.join(repr(c)[1:-1] for c in bad)} are not allowed in {value!r}")
    if value.startswith("-"):
        raise ConfigError(f"{name}: a value may not start with '-' ({value!r})")
    if len(value) > 4096:
        raise ConfigError(f"{name}: value too long ({len(value)} characters)")
    return value


def check_path(f: FieldSpec, value: str, roots: Roots) -> str:
    """Resolve ``value`` (symlinks followed) and require it inside the roots of the field's role.

    Relative paths are taken from the working directory, or else from each allowed root in turn.
    ``..`` components are refused outright. Returns the resolved absolute path.
    """
    p = Path(value)
    if ".." in p.parts:
        raise ConfigError(f"{f.name}: '..' is not allowed in paths ({value!r})")
    # outputs, and zoos (evaluation writes ZOO/results), must be where jobs may write
    allowed = roots.writable if f.path_role in ("output", "zoo") else roots.readable
    candidates = [p] if p.is_absolute() else [Path.cwd() / p, *(r / p for r in allowed)]
    resolved = None
    for cand in candidates:
        r = cand.resolve()
        if _inside(r, allowed) and (f.path_role == "output" or r.exists()):
            resolved = r
            break
    if resolved is None:
        for cand in candidates:
            r = cand.resolve()
            if _inside(cand.absolute(), allowed) and not _inside(r, allowed):
                raise ConfigError(f"{f.name}: {value!r} is a symlink pointing outside the allowed roots (to {r})")
        if not any(_inside(c.resolve(), allowed) for c in candidates):
            where = ", ".join(str(a) for a in allowed)
            raise ConfigError(f"{f.name}: {value!r} is outside the allowed roots ({where})")
        raise ConfigError(f"{f.name}: {value!r} does not exist")
    if f.path_role == "output":
        if resolved in allowed:
            raise ConfigError(f"{f.name}: {value!r} is a root itself; name a directory inside it")
        return str(resolved)
    if f.path_role == "file":
        if not resolved.is_file():
            raise ConfigError(f"{f.name}: {value!r} is not a file")
        return str(resolved)
    if not resolved.is_dir():
        raise ConfigError(f"{f.name}: {value!r} is not a directory")
    marker = {"unit": "manifest.json", "zoo": "zoo.json", "classifier": "manifest.json"}.get(f.path_role or "")
    if marker and not (resolved / marker).is_file():
        what = "a registry name nor a classifier unit" if f.path_role == "classifier" else f"a {f.path_role}"
        raise ConfigError(f"{f.name}: {value!r} has no {marker} (not {what})")
    if f.path_role == "classifier":

        try:
            kind = json.loads((resolved / marker).read_text()).get("kind")
        except (OSError, ValueError, AttributeError):
            kind = None
        if kind != "classifier":
            raise ConfigError(f"{f.name}: {value!r} is not a classifier unit (its manifest says kind {kind!r})")
    return str(resolved)


def _check_classifier(f: FieldSpec, value: str, roots: Roots) -> str:
    """A registry (or torchvision) name as it is, else a classifier unit directory inside the readable roots."""
    from s2s_core.models.classifiers import available

    if value in available(include_torchvision=True):
        return value
    if "/" not in value and not Path(value).exists():
        raise ConfigError(f"{f.name}: {value!r} is neither a registered classifier nor a classifier unit directory "
                          "(see s2s jobs kinds finetune for the options)")
    return check_path(f, value, roots)


def _inside(p: Path, roots: Sequence[Path]) -> bool:
    return any(p.is_relative_to(r) for r in roots)


def _to_int(name: str, value: Any) -> int:
    if isinstance(value, bool):
        raise ConfigError(f"{name}: expected an integer, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d{1,18}\s*", value):
        return int(value)
    raise ConfigError(f"{name}: expected an integer, got {value!r}")


def _to_float(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ConfigError(f"{name}: expected a number, got {value!r}")
    try:
        v = float(value)
    except ValueError:
        raise ConfigError(f"{name}: expected a number, got {value!r}") from None
    if not math.isfinite(v):
        raise ConfigError(f"{name}: expected a finite number, got {value!r}")
    return v


def _to_bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("1", "true", "yes", "on", "0", "false", "no", "off"):
        return value.strip().lower() in ("1", "true", "yes", "on")
    raise ConfigError(f"{name}: expected true or false, got {value!r}")

