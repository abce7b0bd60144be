"""What a job may be asked to do: declarative parameter specs per job kind, their validation, and the
browser launch gate.

Every value a user types (in the dashboard's form or after ``s2s jobs submit --set``) is checked here
against a :class:`FieldSpec` before it becomes one element of a command's argv list. Nothing reaches a
shell or ``eval``; on top of that, strings with shell metacharacters are refused, paths must resolve
(symlinks followed) inside the configured roots, numbers must be in range and unknown keys are refused.
Each refusal is a :class:`~s2s_core.errors.ConfigError` naming the field.

The specs are plain data so the page can build its form from them (:func:`describe_kind`).
This module does not import torch (the classifier registry is imported lazily, for its names only).
"""

from __future__ import annotations

import hmac
import math
import re
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from s2s_core import settings
from s2s_core.errors import ConfigError
from s2s_core.train.config import FinetuneConfig, PretrainConfig

#: Environment: browser launching off with ``0``/``false``/``no``/``off``, the launch token, and the backend
#: that runs the jobs (``local`` subprocesses, or ``slurm``: each job goes to ``sbatch``); read in
#: :mod:`s2s_core.settings`.
ENABLED_ENV = settings.JOBS_ENABLED_ENV
TOKEN_ENV = settings.JOBS_TOKEN_ENV
BACKEND_ENV = settings.JOBS_BACKEND_ENV
BACKENDS = ("local", "slurm")

#: Characters refused in any string or path value, although no shell ever sees them.
FORBIDDEN_CHARS = frozenset(";|&$`<>\\\"'*?!(){}[]#~\n\r\t\x00")

FieldType = Literal["int", "float", "str", "bool", "choice", "path"]
PathRole = Literal["data", "unit", "zoo", "output", "file", "classifier"]


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


@dataclass(frozen=True)
class FieldSpec:
    """One parameter of a job kind.

    ``choices`` is the fixed list (or a function of the roots giving it) for ``choice`` fields; for
    ``str`` and ``path`` fields it only suggests values. ``path_role`` says what a path must be: ``data`` (a readable
    directory), ``unit`` (a directory with ``manifest.json``), ``zoo`` (a directory with ``zoo.json``),
    ``file`` (a readable file), ``classifier`` (a registry name, or a classifier unit directory inside the
    roots), or ``output`` (inside the runs root or ``checkpoints/``; need not exist).
    ``check`` is a last check of the typed value that returns it (possibly normalised) or raises
    :class:`ConfigError` naming the field.
    """

    name: str
    type: FieldType
    default: Any = None
    help: str = ""
    label: str = ""
    required: bool = False
    min: float | None = None
    max: float | None = None
    multiple_of: int | None = None
    pattern: str | None = None
    choices: Sequence[str] | Callable[[Roots], Sequence[str]] | None = None
    path_role: PathRole | None = None
    check: Callable[[Any], Any] | None = None  #: a last check of the typed value (raises ConfigError)

    def options(self, roots: Roots) -> list[str]:
        """The allowed values (``choice``) or suggestions (``path``); ``[]`` when there are none."""
        if self.choices is None:
            return []
        return list(self.choices(roots) if callable(self.choices) else self.choices)

    def describe(self, roots: Roots) -> dict[str, Any]:
        """A JSON-able description for building a form."""
        return {
            "name": self.name, "type": self.type, "label": self.label or self.name.replace("_", " "),
            "default": self.default, "help": self.help, "required": self.required, "min": self.min,
            "max": self.max, "multiple_of": self.multiple_of, "pattern": self.pattern,
            "path_role": self.path_role, "options": self.options(roots),
        }


@dataclass(frozen=True)
class KindSpec:
    """A job kind: the ``s2s`` sub-command it runs, its fields, and whether ``--resume`` continues it.
    ``launchable=False`` kinds are submitted by programs (``s2s reproduce``), never from a form or ``s2s jobs submit``."""

    kind: str
    help: str
    fields: tuple[FieldSpec, ...]
    resumable: bool = False
    launchable: bool = True
    check: Callable[[dict[str, Any]], None] | None = None  #: a last check across the typed values (ConfigError)

    def field(self, name: str) -> FieldSpec:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.fields]


# ----------------------------------------------------------------------------------------------- choices


def classifier_names(roots: Roots | None = None) -> list[str]:
    """Names in the classifier registry (imports torch on first use)."""
    from s2s_core.models.classifiers import available

    return sorted(available())


def _find_dirs(roots: Sequence[Path], marker: str, kind: str | None = None, depth: int = 4) -> list[str]:
    """Directories under ``roots`` (at most ``depth`` levels down) holding ``marker``; for
    ``manifest.json`` only units whose manifest ``kind`` is ``kind``."""
    import json

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


# ------------------------------------------------------------------------------------------------- specs

_DEVICE = FieldSpec("device", "str", "cpu", "cpu, cuda, cuda:N or auto; one job runs at a time per device",
                    pattern=r"auto|cpu|cuda(:\d{1,2})?", choices=device_choices)
_SEED = FieldSpec("seed", "int", 0, "random seed", min=0, max=2**31 - 1)
_THREADS = FieldSpec("threads", "int", None, "torch threads (empty: S2S_THREADS or torch's default)", min=1, max=256)
_NAME = FieldSpec("name", "str", None, "a label for the job list", pattern=r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_DATA = FieldSpec("data", "path", None, "directory of training images (inside the data roots)", label="data directory",
                  required=True, choices=data_dir_choices, path_role="data")
_LOG = FieldSpec("log_every", "int", None, "a progress event every N steps (empty: the command's default)",
                 min=1, max=10_000_000)
_WIDTHS = FieldSpec("widths", "str", None, "SegNet stage widths, 1 to 9 stages (empty: 64,128,256,512,512)",
                    pattern=r"\d{1,4}(,\d{1,4}){0,8}")
_DEPTHS = FieldSpec("depths", "str", None, "convolutions per SegNet stage, one per width (empty: 2,2,3,3,3)",
                    pattern=r"\d(,\d){0,8}")
_CKPT = FieldSpec("ckpt_every", "int", None, "write a checkpoint every K steps (empty: the command's default)",
                  min=1, max=10_000_000)


_PT, _FT = PretrainConfig(), FinetuneConfig()  # the one set of defaults (configs/*.yaml are dumped from them)


def _train_fields(cfg: PretrainConfig | FinetuneConfig) -> tuple[FieldSpec, ...]:
    rule = "a multiple of 2**stages of the AE: 32 for five stages, 8 for three"
    size_help = (f"input size in pixels ({rule})" if cfg.size is not None else
                 f"input size in pixels ({rule}; empty: the size the base AE was trained at)")
    return (
        FieldSpec("steps", "int", cfg.steps, "optimiser steps in total", min=1, max=10_000_000),
        FieldSpec("batch_size", "int", cfg.batch_size, "images per step", label="batch size", min=1, max=4096),
        FieldSpec("lr", "float", cfg.lr, "learning rate", label="learning rate", min=1e-8, max=10.0),
        FieldSpec("size", "int", cfg.size, size_help, min=2, max=1024),  # the multiple: _check_segnet_layout
    )


def _check_segnet_layout(values: dict[str, Any]) -> None:
    """Pre-training: one depth per width, and a size that is a multiple of 2**stages (the rule of the
    ``pretrain`` command, :meth:`PretrainConfig.validate`)."""
    from s2s_core.models.segnet import check_input_size, check_layout

    widths = [int(w) for w in values["widths"].split(",")] if values.get("widths") else _PT.widths
    depths = [int(d) for d in values["depths"].split(",")] if values.get("depths") else _PT.depths
    try:
        check_layout(widths, depths)
    except ConfigError as exc:
        raise ConfigError(f"widths/depths: {exc}") from exc
    check_input_size(values["size"], len(widths))


SPECS: dict[str, KindSpec] = {
    "pretrain": KindSpec(
        "pretrain", "Pre-train the SegNet autoencoder A_S with MSE (Sec. 3.2)",
        (_DATA, *_train_fields(_PT), _DEVICE, _SEED, _CKPT, _LOG, _THREADS, _NAME, _WIDTHS, _DEPTHS),
        resumable=True, check=_check_segnet_layout,
    ),
    "finetune": KindSpec(
        "finetune", "Fine-tune a copy of A_S's decoder through a frozen classifier: A_i (Sec. 3.3)",
        (
            FieldSpec("classifier", "path", None, "the frozen classifier: a registry name or a classifier unit "
                      "directory inside the roots", required=True, choices=classifier_choices,
                      path_role="classifier"),
            FieldSpec("classifier_weights", "str", _FT.classifier_weights,
                      "for a registry name: DEFAULT (its published weights, from the torch cache), a torchvision "
                      "weights tag, or none (random weights, recorded in the manifest)", label="classifier weights",
                      pattern=r"DEFAULT|none|[A-Za-z0-9_]{1,64}"),
            FieldSpec("base", "path", None, "the pre-trained autoencoder unit (A_S)", label="base AE", required=True,
                      choices=base_ae_choices, path_role="unit"),
            _DATA, *_train_fields(_FT), _DEVICE, _SEED, _CKPT, _LOG, _THREADS, _NAME,
        ),
        resumable=True,
    ),
    "evaluate": KindSpec(
        "evaluate", "Tables 1-2, noise curves, nMI and L*a*b* histograms of a zoo (Sec. 3.3-3.5)",
        (
            FieldSpec("zoo", "path", None, "the zoo to evaluate (results go to ZOO/results)", required=True,
                      choices=zoo_choices, path_role="zoo"),
            FieldSpec("data", "path", None, "labelled images, one sub-folder per class", label="data directory",
                      required=True, choices=data_dir_choices, path_role="data"),
            FieldSpec("limit", "int", None, "evaluate at most N images (empty: all)", min=1, max=100_000_000),
            FieldSpec("batch_size", "int", 32, "images per batch", label="batch size", min=1, max=4096),
            _DEVICE, _SEED, _THREADS, _NAME,
        ),
    ),
    "demo": KindSpec(
        "demo", "Build the demo zoo (shapes data, demo classifiers, A_S and every A_i)",
        (
            FieldSpec("out", "path", None, "where the zoo is written (empty: the job's directory)",
                      label="output directory", path_role="output"),
            _SEED,
            FieldSpec("quick", "bool", False, "a minutes-long smoke build instead of the full demo zoo"),
            _DEVICE, _THREADS, _NAME,
        ),
    ),
    "stage": KindSpec(
        "stage", "One stage of a plan (s2s reproduce): runs `s2s run-stage STAGE.json`, which resumes by itself",
        (
            FieldSpec("spec", "path", None, "the stage file written by s2s reproduce", required=True, path_role="file"),
            FieldSpec("stage", "str", None, "the stage's name in its plan", required=True,
                      pattern=r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}"),
            FieldSpec("output", "path", None, "what the stage produces", required=True, path_role="output"),
            FieldSpec("nproc", "int", 1, "processes (torchrun --nproc-per-node) for training stages", min=1, max=64),
            _DEVICE,
        ),
        resumable=True, launchable=False,
    ),
}

#: The kinds a person may submit (the dashboard's form, ``s2s jobs submit``).
KINDS: tuple[str, ...] = tuple(k for k, spec in SPECS.items() if spec.launchable)


# ------------------------------------------------------------------------------------------ cluster fields
_TIME_FORMS = "MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS"
_TIME_RE = re.compile(r"(?:(?P<d>\d{1,4})-(?P<dh>\d{1,2})(?::(?P<dm>\d{1,2})(?::(?P<ds>\d{1,2}))?)?"
                      r"|(?P<h>\d{1,5}):(?P<hm>\d{1,2}):(?P<hs>\d{1,2})"
                      r"|(?P<m>\d{1,7})(?::(?P<ms>\d{1,2}))?)")


def slurm_minutes(text: str, name: str = "time_limit") -> int:
    """A Slurm time (``MM``, ``MM:SS``, ``HH:MM:SS``, ``D-HH``, ``D-HH:MM``, ``D-HH:MM:SS``) in whole minutes,
    seconds rounded up as Slurm does. :class:`ConfigError` for any other form or a zero limit."""
    m = _TIME_RE.fullmatch(text.strip())
    if m is None:
        raise ConfigError(f"{name}: {text!r} is not a Slurm time limit; use {_TIME_FORMS} (e.g. 90, 1:30:00, 2-00)")
    g = {k: int(v) if v else 0 for k, v in m.groupdict().items()}
    if m["d"] is not None:
        days, hours, minutes, seconds = g["d"], g["dh"], g["dm"], g["ds"]
    elif m["h"] is not None:
        days, hours, minutes, seconds = 0, g["h"], g["hm"], g["hs"]
    else:
        days, hours, minutes, seconds = 0, 0, g["m"], g["ms"]
    if (m["d"] is not None and hours > 23) or (m["m"] is None and minutes > 59) or seconds > 59:
        raise ConfigError(f"{name}: {text!r} is not a Slurm time limit (a field is out of range); use {_TIME_FORMS}")
    total = ((days * 24 + hours) * 60 + minutes) + (1 if seconds else 0)
    if total <= 0:
        raise ConfigError(f"{name}: {text!r} is no time at all; give at least one minute")
    return total


def _time_limit(value: str) -> str:
    slurm_minutes(value)
    return value.strip()


#: Names of Slurm partitions and accounts: what sbatch accepts, without anything a shell would read.
_SLURM_NAME = r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}"
_NODES = FieldSpec("nodes", "int", 1, "nodes; torchrun starts on each (sbatch --nodes)", min=1, max=10_000)
_CLUSTER = (
    FieldSpec("gpus_per_node", "int", 0, "GPUs on each node, one training process per GPU (sbatch --gpus-per-node)",
              label="GPUs per node", min=0, max=64),
    FieldSpec("cpus_per_node", "int", None, "CPUs on each node (sbatch --cpus-per-task; empty: the cluster's default)",
              label="CPUs per node", min=1, max=100_000),
    FieldSpec("partition", "str", None, "Slurm partition (sbatch --partition; empty: the cluster's default)",
              pattern=_SLURM_NAME),
    FieldSpec("time_limit", "str", None, f"wall-clock limit, {_TIME_FORMS} (sbatch --time; empty: the partition's "
              "default)", label="time limit", check=_time_limit),
    FieldSpec("account", "str", None, "account charged for the job (sbatch --account; empty: your default)",
              pattern=_SLURM_NAME),
)
#: On Slurm the device is that of the compute nodes: ``auto`` takes their GPUs when the job asks for some.
_SLURM_DEVICE = FieldSpec("device", "str", "auto", "auto (GPUs when gpus_per_node > 0), cpu or cuda, on the compute "
                          "nodes", pattern=r"auto|cpu|cuda", choices=("auto", "cpu", "cuda"))
CLUSTER_FIELDS: dict[str, tuple[FieldSpec, ...]] = {
    kind: ((_NODES,) if SPECS[kind].resumable else ()) + _CLUSTER for kind in SPECS}
CLUSTER_NAMES = frozenset(f.name for fields in CLUSTER_FIELDS.values() for f in fields)


def backend_from_env(env: Mapping[str, str] | None = None) -> str:
    """The job backend of this installation: ``S2S_JOBS_BACKEND`` (``local``, the default, or ``slurm``)."""
    return check_backend(settings.jobs_backend(env))


def check_backend(backend: str) -> str:
    if backend not in BACKENDS:
        raise ConfigError(f"{BACKEND_ENV}: unknown job backend {backend!r}; use one of {', '.join(BACKENDS)}")
    return backend


def fields_for(kind: str, backend: str = "local") -> tuple[FieldSpec, ...]:
    """The fields of ``kind`` on ``backend``: on Slurm the device refers to the compute nodes and the cluster
    fields (nodes for the training kinds, GPUs and CPUs per node, partition, time limit, account) are added."""
    spec = get_kind(kind)
    if check_backend(backend) == "local":
        return spec.fields
    return tuple(_SLURM_DEVICE if f.name == "device" else f for f in spec.fields) + CLUSTER_FIELDS[kind]


def get_kind(kind: str) -> KindSpec:
    if kind not in SPECS:
        raise ConfigError(f"kind: unknown job kind {kind!r}; use one of {', '.join(KINDS)}")
    return SPECS[kind]


def describe_kind(kind: str, roots: Roots | None = None, backend: str | None = None) -> list[dict[str, Any]]:
    """The fields of ``kind`` as JSON-able dicts, in form order (see :meth:`FieldSpec.describe`), for ``backend``
    (default: :func:`backend_from_env`)."""
    roots = roots or Roots.from_env()
    return [f.describe(roots) for f in fields_for(kind, backend or backend_from_env())]


# -------------------------------------------------------------------------------------------- validation


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
        import json

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


# ------------------------------------------------------------------------------------------- launch gate

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
