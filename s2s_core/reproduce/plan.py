"""A plan: the paper's experiments (Sec. 3.2-3.5) as stages, each one ``s2s`` command.

``PLAN.yaml`` (see ``configs/paper.yaml``)::

    name: paper
    out: paper                        # stage run dirs: RUNS/paper/<stage>/ (relative to the runs root)
    zoo: null                         # the assembled zoo (null: OUT/zoo)
    data: {pretrain: DIR|SHARDS, train: IMAGEFOLDER, val: IMAGEFOLDER}
    device: auto
    gpus: 1                           # processes per training stage (torchrun --nproc-per-node)
    pretrain: {config: pretrain.yaml, set: {...}}
    classifiers:                      # short name -> where the classifier comes from
      L: {train: lenet5, config: train_classifier.yaml, set: {...}}   # trained by s2s train-classifier
      A: {torchvision: alexnet, weights: DEFAULT}                     # published weights
      X: {unit: DIR}                                                  # a classifier unit of your own
    finetune: {config: finetune.yaml, set: {...}}
    evaluate: {set: {batch_size: 32, ...}}                           # flags of s2s evaluate
    backend: local                    # or slurm: every stage an sbatch job (s2s reproduce --backend overrides)
    resources:                        # Slurm fields per stage: default, a stage kind, or a stage name
      default: {partition: gpu, time_limit: "1-00:00", gpus_per_node: 1, cpus_per_node: 8}
      pretrain: {nodes: 4, gpus_per_node: 8, time_limit: "7-00:00"}
      finetune-V: {time_limit: "2-00:00"}

Relative paths are taken from the plan file's directory, except ``out`` (from the runs root). The stages:
``pretrain`` (A_S), ``train-<K>`` for each classifier to train, ``finetune-<K>`` for every classifier (A_K),
``zoo`` (``s2s zoo create``) and ``evaluate`` (every results file of Tables 1-2 and Figs. 3-9).

``resources`` holds the job queue's Slurm fields (``nodes``, ``gpus_per_node``, ``cpus_per_node``, ``partition``,
``time_limit``, ``account``), checked here as the queue checks a job's; a stage takes ``default``, then the
entry of its kind (``pretrain``, ``train-classifier``, ``finetune``, ``zoo``, ``evaluate``), then its own.
Only training stages may ask for more than one node. On Slurm ``gpus`` is not used: each stage runs one
training process per GPU of ``gpus_per_node``, on each of its ``nodes``, as the queue's Slurm jobs do.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from s2s_core.errors import ConfigError
from s2s_core.jobs.specs import BACKENDS, CLUSTER_NAMES, fields_for
from s2s_core.jobs.validation import check_value
from s2s_core.train.config import FinetuneConfig, read_config_file, resolve_config
from s2s_core.zoo import check_member_name

_TOP_KEYS = {"name", "out", "zoo", "data", "device", "gpus", "pretrain", "classifiers", "finetune", "evaluate",
             "estimate", "backend", "resources"}
_DATA_KEYS = ("pretrain", "train", "val")
_EVALUATE_FLAGS = {"batch_size", "limit", "seed", "workers", "threads", "noise_grid"}
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


@dataclass
class Stage:
    """One stage: the ``s2s`` arguments it runs, the paths it reads and the one it produces.

    ``out``: its run dir (``stage.json``, ``log.txt``, ``stage-record.json``, and for training ``progress.jsonl``,
    ``ckpt/``, ``model/``). ``inputs``: role -> path (data folders, config files, units, the zoo).
    ``after``: the stages whose outputs it reads. ``kind``: the command (for estimates).
    """

    name: str
    kind: str
    argv: list[str]
    out: Path
    output: Path
    inputs: dict[str, str]
    after: list[str] = field(default_factory=list)
    resumable: bool = False
    nproc: int = 1
    settings: dict[str, Any] = field(default_factory=dict)
    resources: dict[str, Any] = field(default_factory=dict)

    @property
    def spec_path(self) -> Path:
        return self.out / "stage.json"

    def command_line(self) -> str:
        """The command as a person would type it (for ``--dry-run``; jobs run the argv list, never a shell)."""
        import shlex

        launcher = ["torchrun", "--standalone", f"--nproc-per-node={self.nproc}", "-m", "s2s_core.cli"] \
            if self.nproc > 1 else ["s2s"]
        return " ".join(shlex.quote(a) for a in [*launcher, *self.argv])


@dataclass
class Plan:
    """A validated plan with every path absolute, and its stages in an order that respects ``after``."""

    path: Path
    name: str
    out: Path
    zoo: Path
    device: str
    gpus: int
    data: dict[str, str]
    stages: list[Stage]
    estimate: dict[str, Any] = field(default_factory=dict)
    backend: str = "local"

    def stage(self, name: str) -> Stage:
        for s in self.stages:
            if s.name == name:
                return s
        raise ConfigError(f"no stage {name!r} in {self.path}; stages: {', '.join(s.name for s in self.stages)}")


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a mapping of key: value, got {value!r}")
    return value


def _set_args(settings: dict[str, Any], where: str) -> list[str]:
    """``{k: v}`` -> ``["--set", "k=v", ...]`` (values in YAML syntax, as ``--set`` reads them)."""
    out: list[str] = []
    for key, value in _mapping(settings, where).items():
        if not isinstance(key, str) or not key:
            raise ConfigError(f"{where}: setting names must be text, got {key!r}")
        text = value if isinstance(value, str) else yaml.safe_dump(value, default_flow_style=True).strip()
        text = text.removesuffix("\n...").strip()
        out += ["--set", f"{key}={text}"]
    return out


def load_plan(path: str | Path, runs: str | Path, *, check_data: bool = True) -> Plan:
    """Read and check ``PLAN.yaml``; stage outputs go under ``runs / out``. Raises :class:`ConfigError`.
    ``check_data=False`` (a dry run) accepts data folders that do not exist yet."""
    path = Path(path).resolve()
    raw = read_config_file(path)
    unknown = sorted(set(raw) - _TOP_KEYS)
    if unknown:
        raise ConfigError(f"{path}: unknown key {unknown[0]!r}; valid keys: {', '.join(sorted(_TOP_KEYS))}")
    here = path.parent

    def rel(value: Any, where: str, *, must_exist: bool = True) -> Path:
        if not isinstance(value, str | Path) or not str(value):
            raise ConfigError(f"{where}: expected a path, got {value!r}")
        p = Path(value).expanduser()
        p = p if p.is_absolute() else here / p
        if must_exist and not p.exists():
            raise ConfigError(f"{where}: {p} does not exist; edit the path in {path.name}")
        return p.resolve()

    name = str(raw.get("name") or path.stem)
    if not _NAME.fullmatch(name):
        raise ConfigError(f"name: {name!r} must be letters, digits, '.', '_' or '-'")
    out_value = Path(str(raw.get("out") or name)).expanduser()
    out = (out_value if out_value.is_absolute() else Path(runs) / out_value).resolve()
    zoo = rel(raw["zoo"], "zoo", must_exist=False) if raw.get("zoo") else out / "zoo"
    data_raw = _mapping(raw.get("data"), "data")
    missing = [k for k in _DATA_KEYS if not data_raw.get(k)]
    if missing or set(data_raw) - set(_DATA_KEYS):
        raise ConfigError(f"data: give {', '.join(_DATA_KEYS)} (unlabelled images for A_S, labelled train and val "
                          f"ImageFolders); missing {missing or sorted(set(data_raw) - set(_DATA_KEYS))}")
    data = {k: str(rel(data_raw[k], f"data.{k}", must_exist=check_data)) for k in _DATA_KEYS}
    device = str(raw.get("device") or "auto")
    gpus = raw.get("gpus", 1)
    if not isinstance(gpus, int) or isinstance(gpus, bool) or not 1 <= gpus <= 64:
        raise ConfigError(f"gpus: expected a number of processes per training stage from 1 to 64, got {gpus!r}")

    def config_args(section: dict[str, Any], where: str) -> tuple[list[str], dict[str, str]]:
        args, inputs = [], {}
        if section.get("config"):
            cfg = rel(section["config"], f"{where}.config")
            section["config"] = str(cfg)
            args += ["--config", str(cfg)]
            inputs["config"] = str(cfg)
        return args + _set_args(section.get("set"), f"{where}.set"), inputs

    stages: list[Stage] = []
    common = ["--device", device, "--no-progress-bar"]
    # ---- A_S (Sec. 3.2)
    pre = _mapping(raw.get("pretrain"), "pretrain")
    _only(pre, {"config", "set"}, "pretrain")
    args, inputs = config_args(pre, "pretrain")
    run = out / "pretrain"
    stages.append(Stage("pretrain", "pretrain", ["pretrain", *args, "--data", data["pretrain"], "--out", str(run), *common],
                        run, run / "model", {**inputs, "data": data["pretrain"]}, resumable=True, nproc=gpus,
                        settings=_settings(pre)))
    # ---- classifiers (Sec. 3.3): trained, torchvision or units
    classifiers = _mapping(raw.get("classifiers"), "classifiers")
    if not classifiers:
        raise ConfigError("classifiers: name at least one classifier (the paper: L, A, V, R, I)")
    sources: dict[str, str] = {}
    zoo_sources: dict[str, str] = {}
    local: set[str] = set()  # classifiers that are unit directories (inputs whose hash counts)
    ft_extra: dict[str, list[str]] = {}
    for key, entry in classifiers.items():
        key = str(key)
        try:
            check_member_name(key)
        except ConfigError as exc:
            raise ConfigError(f"classifiers: {exc}") from exc
        entry = _mapping(entry, f"classifiers.{key}")
        kinds = [k for k in ("train", "torchvision", "unit") if k in entry]
        if len(kinds) != 1:
            raise ConfigError(f"classifiers.{key}: give exactly one of train: ARCH, torchvision: NAME or unit: DIR")
        if kinds[0] == "train":
            _only(entry, {"train", "config", "set"}, f"classifiers.{key}")
            args, inputs = config_args(entry, f"classifiers.{key}")
            run = out / f"train-{key}"
            stages.append(Stage(
                f"train-{key}", "train-classifier",
                ["train-classifier", *args, "--arch", str(entry["train"]), "--name", key, "--data", data["train"],
                 "--val", data["val"], "--out", str(run), *common],
                run, run / "model", {**inputs, "data": data["train"], "val": data["val"]}, resumable=True, nproc=gpus,
                settings={**_settings(entry), "arch": str(entry["train"])}))
            sources[key] = zoo_sources[key] = str(run / "model")
            local.add(key)
        elif kinds[0] == "torchvision":
            _only(entry, {"torchvision", "weights"}, f"classifiers.{key}")
            weights = str(entry.get("weights") or "DEFAULT")
            sources[key] = str(entry["torchvision"])
            zoo_sources[key] = f"torchvision:{entry['torchvision']}:{weights}"
            ft_extra[key] = ["--set", f"classifier_weights={weights}"]
        else:
            _only(entry, {"unit"}, f"classifiers.{key}")
            sources[key] = zoo_sources[key] = str(rel(entry["unit"], f"classifiers.{key}.unit"))
            local.add(key)
    # ---- A_i (Sec. 3.3)
    ft = _mapping(raw.get("finetune"), "finetune")
    _only(ft, {"config", "set"}, "finetune")
    ft_args, ft_inputs = config_args(ft, "finetune")
    base = out / "pretrain" / "model"
    for key, source in sources.items():
        run = out / f"finetune-{key}"
        after = ["pretrain"] + ([f"train-{key}"] if f"train-{key}" in {s.name for s in stages} else [])
        unit_input = {"classifier": source} if key in local else {}
        stages.append(Stage(
            f"finetune-{key}", "finetune",
            ["finetune", *ft_args, *ft_extra.get(key, []), "--set", f"classifier_name={key}", "--base", str(base),
             "--classifier", source, "--data", data["train"], "--out", str(run), *common],
            run, run / "model", {**ft_inputs, "base": str(base), "data": data["train"], **unit_input},
            after=after, resumable=True, nproc=gpus, settings={**_settings(ft), "classifier": source}))
    # ---- the zoo and its evaluation (Sec. 3.3-3.5)
    size = _finetune_size(ft)
    zoo_argv = ["zoo", "create", str(zoo), "--base", str(base), "--input-size", str(size), "--name", name,
                "--classes-from", data["val"]]
    for key in sources:
        zoo_argv += ["--ae", f"{key}={out / f'finetune-{key}' / 'model'}", "--classifier", f"{key}={zoo_sources[key]}"]
    stages.append(Stage("zoo", "zoo", zoo_argv, out / "zoo-stage", zoo,
                        {"base": str(base), **{f"A_{k}": str(out / f"finetune-{k}" / "model") for k in sources},
                         **{f"classifier_{k}": zoo_sources[k] for k in sorted(local)}, "classes": data["val"]},
                        after=[f"finetune-{k}" for k in sources]))
    ev = _mapping(raw.get("evaluate"), "evaluate")
    _only(ev, {"set"}, "evaluate")
    ev_flags = _mapping(ev.get("set"), "evaluate.set")
    bad = sorted(set(ev_flags) - _EVALUATE_FLAGS)
    if bad:
        raise ConfigError(f"evaluate.set: unknown setting {bad[0]!r}; valid: {', '.join(sorted(_EVALUATE_FLAGS))}")
    ev_argv = ["evaluate", str(zoo), "--data", data["val"], "--device", device]
    for key, value in ev_flags.items():
        ev_argv += [f"--{key.replace('_', '-')}",
                    ",".join(str(v) for v in value) if isinstance(value, list) else str(value)]
    stages.append(Stage("evaluate", "evaluate", ev_argv, out / "evaluate-stage", zoo / "results",
                        {"zoo": str(zoo), "data": data["val"]}, after=["zoo"], settings=dict(ev_flags)))
    backend = str(raw.get("backend") or "local")
    if backend not in BACKENDS:
        raise ConfigError(f"backend: {backend!r} is not a job backend; use one of {', '.join(BACKENDS)}")
    _assign_resources(stages, _mapping(raw.get("resources"), "resources"))
    return Plan(path=path, name=name, out=out, zoo=zoo, device=device, gpus=gpus, data=data, stages=stages,
                estimate=_mapping(raw.get("estimate"), "estimate"), backend=backend)


def _assign_resources(stages: list[Stage], raw: dict[str, Any]) -> None:
    """Give each stage its Slurm fields from ``resources`` (default, kind, name), each checked as a job's."""
    kinds = {s.kind for s in stages}
    names = {s.name for s in stages}
    fields = {f.name: f for f in fields_for("stage", "slurm") if f.name in CLUSTER_NAMES}
    checked: dict[str, dict[str, Any]] = {}
    for key, entry in raw.items():
        key = str(key)
        if key != "default" and key not in kinds | names:
            raise ConfigError(f"resources: {key!r} is no stage or stage kind of this plan; use default, "
                              f"{', '.join(sorted(kinds))} or a stage name")
        entry = _mapping(entry, f"resources.{key}")
        _only(entry, set(fields), f"resources.{key}")
        try:
            checked[key] = {k: check_value(fields[k], v, None) for k, v in entry.items() if v is not None}
        except ConfigError as exc:
            raise ConfigError(f"resources.{key}: {exc}") from exc
    for stage in stages:
        stage.resources = {**checked.get("default", {}), **checked.get(stage.kind, {}), **checked.get(stage.name, {})}
        if stage.resources.get("nodes", 1) > 1 and not stage.resumable:
            raise ConfigError(f"resources: stage {stage.name} runs on one node; only training stages may ask for "
                              f"nodes > 1")


def _only(section: dict[str, Any], allowed: set[str], where: str) -> None:
    extra = sorted(set(section) - allowed)
    if extra:
        raise ConfigError(f"{where}: unknown key {extra[0]!r}; valid keys: {', '.join(sorted(allowed))}")


def _settings(section: dict[str, Any]) -> dict[str, Any]:
    """The settings a stage runs with, as far as the plan says (config file values, then ``set``)."""
    values = dict(read_config_file(section["config"])) if section.get("config") and Path(section["config"]).is_file() else {}
    values.update(_mapping(section.get("set"), "set"))
    return values


def _finetune_size(section: dict[str, Any]) -> int:
    """The AE input size of the fine-tuning (the zoo's input size): config file, then ``set``, then the default."""
    layers: list[dict[str, Any]] = []
    if section.get("config"):
        layers.append({k: v for k, v in read_config_file(section["config"]).items() if k == "size"})
    layers.append({k: v for k, v in _mapping(section.get("set"), "finetune.set").items() if k == "size"})
    return int(resolve_config(FinetuneConfig, *layers, validate=False).size)
