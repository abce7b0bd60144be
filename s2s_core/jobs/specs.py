"""The job kinds: what each one runs and which parameters it accepts, one declaration per kind (:data:`SPECS`).

A :class:`KindSpec` says everything about a kind: its fields (:class:`FieldSpec`: type, default, bounds, pattern,
where a path must lie, the choices a form offers), the argv of the ``s2s`` sub-command it runs (``argv``), where
its product appears (``target``), how many processes it starts on one machine, whether it runs under torchrun on
Slurm, whether ``--resume`` continues it, the fields a form shows first, and a last check across its values.
Adding a job kind is adding one entry to :data:`SPECS`; the runner, the Slurm backend, ``s2s jobs`` and the
Training jobs page read everything from there.

The values are checked in :mod:`.validation`; the browser launch gate is :mod:`.gate`. The specs are plain
data so a page can build its form from them (:func:`describe_kind`). This module does not import torch (the
classifier registry is imported lazily, for its names only).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from s2s_core import settings
from s2s_core.errors import ConfigError
from s2s_core.jobs.choices import (
    base_ae_choices,
    classifier_choices,
    data_dir_choices,
    device_choices,
    zoo_choices,
)
from s2s_core.jobs.roots import Roots
from s2s_core.jobs.store import Job
from s2s_core.train.config import FinetuneConfig, PretrainConfig

#: Environment: the backend that runs the jobs (``local`` subprocesses, or ``slurm``: each job goes to
#: ``sbatch``); read in :mod:`s2s_core.settings`.
BACKEND_ENV = settings.JOBS_BACKEND_ENV
BACKENDS = ("local", "slurm")

FieldType = Literal["int", "float", "str", "bool", "choice", "path"]
PathRole = Literal["data", "unit", "zoo", "output", "file", "classifier"]
#: Builds the argv of a job: ``(job, resume) -> [...]``; ``job.params`` are validated.
CommandBuilder = Callable[[Job, bool], list[str]]


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
    """A job kind, declared once: the ``s2s`` sub-command it runs and everything the queue, the Slurm backend and
    the form need to know about it.

    ``argv(job, resume)`` is the sub-command and its flags (``["pretrain", "--out", RUN, ...]``; the launcher in
    front is :func:`s2s_command`'s); ``target(job)`` is where its product appears (a unit, a zoo, results);
    ``main`` names the fields a form shows first (the rest go under "more settings"); ``resumable``: ``--resume``
    continues it from its checkpoint; ``launchable=False`` kinds are submitted by programs (``s2s reproduce``),
    never from a form or ``s2s jobs submit``; ``torchrun``: on Slurm it runs one training process per GPU under
    torchrun, on every node; ``processes(params)``: how many processes it starts on this machine (more than one:
    under ``torchrun --standalone``); ``check``: a last check across the typed values (:class:`ConfigError`)."""

    kind: str
    help: str
    fields: tuple[FieldSpec, ...]
    argv: CommandBuilder
    target: Callable[[Job], str]
    main: tuple[str, ...] = ()
    resumable: bool = False
    launchable: bool = True
    torchrun: bool = False
    processes: Callable[[Mapping[str, Any]], int] | None = None
    check: Callable[[dict[str, Any]], None] | None = None

    def field(self, name: str) -> FieldSpec:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.fields]


# --------------------------------------------------------------------------------------------------- argv
def _opt(argv: list[str], flag: str, value: Any) -> None:
    if value is not None:
        argv += [flag, str(value)]


def _flags(argv: list[str], params: Mapping[str, Any], keys: Sequence[str]) -> list[str]:
    """``argv`` with ``--key value`` for each of ``keys`` that has a value (``_`` becomes ``-``)."""
    for key in keys:
        _opt(argv, "--" + key.replace("_", "-"), params.get(key))
    return argv


def _train_argv(job: Job, resume: bool) -> list[str]:
    p = job.params
    argv = [job.kind, "--out", job.run_dir, "--data", p["data"], "--no-progress-bar"]
    if job.kind == "finetune":
        argv += ["--base", p["base"], "--classifier", p["classifier"]]
        _opt(argv, "--classifier-weights", p.get("classifier_weights"))
    _flags(argv, p, ("steps", "batch_size", "lr", "size", "seed", "ckpt_every", "log_every", "device", "threads",
                     "widths", "depths"))
    return [*argv, "--resume"] if resume else argv


def _evaluate_argv(job: Job, resume: bool) -> list[str]:
    p = job.params
    return _flags(["evaluate", p["zoo"], "--data", p["data"]], p, ("limit", "batch_size", "seed", "device", "threads"))


def _demo_argv(job: Job, resume: bool) -> list[str]:
    p = job.params
    argv = _flags(["demo", "--out", job.target or str(Path(job.run_dir) / "zoo"),
                   "--progress", str(Path(job.run_dir) / "progress.jsonl")], p, ("seed", "device", "threads"))
    return [*argv, "--quick"] if p.get("quick") else argv


def _stage_argv(job: Job, resume: bool) -> list[str]:
    # run-stage resumes by itself when the stage's checkpoint belongs to the same inputs
    return ["run-stage", job.params["spec"]]


def _model_target(job: Job) -> str:
    return str(Path(job.run_dir) / "model")


def _demo_target(job: Job) -> str:
    return job.params.get("out") or str(Path(job.run_dir) / "zoo")


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
        argv=_train_argv, target=_model_target, main=("data", "steps", "batch_size", "lr", "size", "device"),
        resumable=True, torchrun=True, check=_check_segnet_layout,
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
        argv=_train_argv, target=_model_target,
        main=("classifier", "base", "data", "steps", "batch_size", "lr", "size", "device"),
        resumable=True, torchrun=True,
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
        argv=_evaluate_argv, target=lambda job: str(Path(job.params["zoo"]) / "results"),
        main=("zoo", "data", "limit", "batch_size", "device"),
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
        argv=_demo_argv, target=_demo_target, main=("out", "quick", "seed", "device"),
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
        argv=_stage_argv, target=lambda job: str(job.params["output"]), resumable=True, launchable=False,
        torchrun=True,  # on Slurm, a training stage on several GPUs or nodes runs run-stage under torchrun
        processes=lambda params: int(params.get("nproc") or 1),
    ),
}

#: The kinds a person may submit (the dashboard's form, ``s2s jobs submit``).
KINDS: tuple[str, ...] = tuple(k for k, spec in SPECS.items() if spec.launchable)
#: The kinds that run under torchrun on Slurm (see :mod:`.slurm_step`).
TORCHRUN_KINDS = frozenset(k for k, spec in SPECS.items() if spec.torchrun)


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
#: The names of every cluster field (a local queue refuses them with a hint).
CLUSTER_NAMES = frozenset(f.name for f in (_NODES, *_CLUSTER))
#: Cluster fields a form shows first.
CLUSTER_MAIN = ("nodes", "gpus_per_node", "partition", "time_limit")


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
    nodes = (_NODES,) if spec.resumable else ()  # several nodes only for kinds that resume (training)
    return tuple(_SLURM_DEVICE if f.name == "device" else f for f in spec.fields) + nodes + _CLUSTER


def get_kind(kind: str) -> KindSpec:
    if kind not in SPECS:
        raise ConfigError(f"kind: unknown job kind {kind!r}; use one of {', '.join(KINDS)}")
    return SPECS[kind]


def describe_kind(kind: str, roots: Roots | None = None, backend: str | None = None) -> list[dict[str, Any]]:
    """The fields of ``kind`` as JSON-able dicts, in form order (see :meth:`FieldSpec.describe`), for ``backend``
    (default: :func:`backend_from_env`); ``main`` tells the fields a form shows first."""
    roots, main = roots or Roots.from_env(), (*get_kind(kind).main, *CLUSTER_MAIN)
    return [{**f.describe(roots), "main": f.name in main} for f in fields_for(kind, backend or backend_from_env())]


def s2s_command(job: Job, resume: bool) -> list[str]:
    """The default builder: ``[sys.executable, "-m", "s2s_core.cli", *KindSpec.argv(job, resume)]``; a kind that
    starts N > 1 processes on this machine (a stage with ``nproc > 1``) runs under ``torchrun --standalone
    --nproc-per-node N``."""
    spec = get_kind(job.kind)
    n = spec.processes(job.params) if spec.processes else 1
    launcher = [sys.executable, "-m", "s2s_core.cli"]
    if n > 1:
        launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(n),
                    *launcher[1:]]
    return [*launcher, *spec.argv(job, resume)]


def target_of(job: Job) -> str:
    """Where a job's product will be: the trained unit, the evaluated zoo's results, the built zoo, a stage's output."""
    return get_kind(job.kind).target(job)
