"""The training loop both commands share: checkpoint/resume, progress, SIGTERM, NaN guard, DDP.

Run dir layout (``RUN`` = ``--out``)::

    RUN/config.json       the resolved configuration
    RUN/progress.jsonl    progress events (see ``progress.py``)
    RUN/ckpt/             the latest training state: latest.json -> state-<step>.json + state-<step>.safetensors
    RUN/model/            the exported unit (``ae`` after pretrain, ``decoder`` after finetune)

A training state is tensors in safetensors (model, optimizer tensors, torch RNG states) and everything
else in JSON (step, images seen, scheduler, optimizer hyper-parameters, numpy/python RNG, data-stream
positions of every rank). No pickle. Each file is written to a temporary name and renamed; the
``latest.json`` pointer is renamed last, so a crash mid-write leaves the previous state in place.
"""

from __future__ import annotations

import json
import math
import os
import random
import signal
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from s2s_core.errors import CheckpointError, ConfigError, S2SError
from s2s_core.train.distributed import DistInfo, all_reduce_, barrier, gather_objects, wrap
from s2s_core.train.progress import Progress
from s2s_core.weights import load_into


class TrainingDivergedError(S2SError):
    """The loss (or the weights) became NaN or infinite; the last good checkpoint is kept."""


class ResumableBatches(Protocol):
    """An endless (or finite) source of batches that can report and restore its position."""

    def __iter__(self) -> Iterator[Any]: ...
    def state_dict(self) -> dict[str, Any]: ...
    def load_state_dict(self, state: dict[str, Any]) -> None: ...


def make_optimizer(params: list[nn.Parameter], name: str = "adam", lr: float = 1e-4, momentum: float = 0.9,
                   weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """Adam, AdamW (decoupled weight decay) or SGD (with momentum) over ``params``; any other name is a ConfigError."""
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    raise ConfigError(f"optimizer: must be adam, adamw or sgd, got {name!r}")


class IterableBatches:
    """Any re-iterable source of batches; the data state is how many batches were consumed
    (a resumed run re-iterates and skips them, which is exact for deterministic sources)."""

    def __init__(self, source: Iterable[Any]) -> None:
        self.source, self.consumed, self._skip = source, 0, 0

    def __iter__(self) -> Iterator[Any]:
        for k, batch in enumerate(self.source):
            if k < self._skip:
                continue
            self.consumed = k + 1
            yield batch

    def state_dict(self) -> dict[str, Any]:
        return {"batches": self.consumed}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._skip = self.consumed = int(state["batches"])


@dataclass
class TrainingSetup:
    """What every trainer builds before its loop (:func:`prepare_training`)."""

    model: nn.Module                  #: what a step calls: the network, wrapped for DDP and compiled as asked
    optimizer: torch.optim.Optimizer  #: over the trained parameters only
    batches: ResumableBatches         #: the data source, able to report and restore its position


def prepare_training(net: nn.Module, params: list[nn.Parameter], batches: Iterable[Any] | ResumableBatches,
                     info: DistInfo, *, optimizer: str = "adam", lr: float = 1e-4, momentum: float = 0.9,
                     weight_decay: float = 0.0, compile: bool = False) -> TrainingSetup:
    """The preamble shared by pre-training, fine-tuning and classifier training: the optimiser over ``params``
    (:func:`make_optimizer`), then ``net`` wrapped for DistributedDataParallel when distributed, then
    ``torch.compile`` when ``compile``, and ``batches`` made resumable (:class:`IterableBatches` unless it
    already has ``state_dict``/``load_state_dict``). ``net`` itself stays unwrapped: checkpoint that."""
    opt = make_optimizer(params, optimizer, lr, momentum, weight_decay)
    model = wrap(net, info)
    if compile:
        model = torch.compile(model)
    if not hasattr(batches, "state_dict"):
        batches = IterableBatches(batches)
    return TrainingSetup(model=model, optimizer=opt, batches=batches)


#: The folder of a run dir that holds its exported unit (``RUN/model``).
RUN_MODEL_DIR = "model"


@dataclass
class RunDir:
    """Paths of a run (see the module docstring)."""

    root: Path

    def __post_init__(self) -> None:
        self.root = Path(self.root)

    config = property(lambda self: self.root / "config.json")
    progress = property(lambda self: self.root / "progress.jsonl")
    ckpt = property(lambda self: self.root / "ckpt")
    model = property(lambda self: self.root / RUN_MODEL_DIR)

    def has_checkpoint(self) -> bool:
        return (self.ckpt / "latest.json").is_file()


# --------------------------------------------------------------------------- signals
class StopRequest:
    """SIGTERM / SIGINT set a flag that the loop checks between steps (then it checkpoints and exits 0).

    A second SIGINT falls back to Python's default (KeyboardInterrupt). Handlers are installed only in the
    main thread and restored on exit.
    """

    def __init__(self) -> None:
        self.requested = False
        self.signal: str | None = None
        self._old: dict[int, Any] = {}

    def _handler(self, signum: int, _frame: Any) -> None:
        self.requested = True
        self.signal = signal.Signals(signum).name
        if signum == signal.SIGINT:
            signal.signal(signal.SIGINT, signal.default_int_handler)

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                self._old[sig] = signal.signal(sig, self._handler)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


# --------------------------------------------------------------------------- state <-> files
def flatten_optimizer(sd: dict[str, Any], prefix: str = "optim") -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split ``optimizer.state_dict()`` into tensors (safetensors) and JSON-able rest."""
    tensors: dict[str, torch.Tensor] = {}
    state_json: dict[str, dict[str, Any]] = {}
    for pid, entries in sd["state"].items():
        state_json[str(pid)] = {}
        for key, value in entries.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{prefix}/{pid}/{key}"] = value.detach().cpu().contiguous().clone()
            else:
                state_json[str(pid)][key] = value
    return tensors, {"state": state_json, "param_groups": sd["param_groups"]}


def unflatten_optimizer(tensors: dict[str, torch.Tensor], meta: dict[str, Any], prefix: str = "optim") -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {int(pid): dict(v) for pid, v in meta["state"].items()}
    for name, value in tensors.items():
        head, _, rest = name.partition("/")
        if head != prefix:
            continue
        pid, _, key = rest.partition("/")
        state.setdefault(int(pid), {})[key] = value
    return {"state": state, "param_groups": meta["param_groups"]}


def rng_state() -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """This process's torch (CPU + CUDA), numpy and python RNG states."""
    tensors = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"cuda{i}"] = s
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    py = random.getstate()
    meta = {"numpy": [kind, keys.tolist(), int(pos), int(has_gauss), float(gauss)],
            "python": [py[0], list(py[1]), py[2]]}
    return tensors, meta


def set_rng_state(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    torch.set_rng_state(tensors["torch"].to(torch.uint8))
    cuda = [tensors[k] for k in sorted(k for k in tensors if k.startswith("cuda"))]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda[: torch.cuda.device_count()])
    kind, keys, pos, has_gauss, gauss = meta["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, gauss))
    version, internal, gauss_next = meta["python"]
    random.setstate((version, tuple(internal), gauss_next))


def _atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    write(tmp)
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def save_state(ckpt: Path, step: int, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> Path:
    """Write ``state-<step>.{safetensors,json}`` then point ``latest.json`` at them; drop older states."""
    ckpt.mkdir(parents=True, exist_ok=True)
    stem = f"state-{step:09d}"
    _atomic_write(ckpt / f"{stem}.safetensors", lambda p: save_file(tensors, str(p)))
    _atomic_write(ckpt / f"{stem}.json", lambda p: p.write_text(json.dumps(meta)))
    _atomic_write(ckpt / "latest.json", lambda p: p.write_text(json.dumps({"step": step, "stem": stem})))
    for old in ckpt.glob("state-*"):
        if not old.name.startswith(stem):
            old.unlink(missing_ok=True)
    return ckpt / f"{stem}.json"


def load_state(ckpt: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The tensors and JSON of the latest training state in ``ckpt``."""
    try:
        stem = json.loads((ckpt / "latest.json").read_text())["stem"]
        meta = json.loads((ckpt / f"{stem}.json").read_text())
        tensors = load_file(str(ckpt / f"{stem}.safetensors"))
    except (OSError, KeyError, ValueError) as exc:
        raise CheckpointError(f"cannot read the training state in {ckpt}: {exc}") from exc
    return tensors, meta


# --------------------------------------------------------------------------- the loop
@dataclass
class LoopTask:
    """What a command plugs into :func:`train_loop`.

    ``step_fn(batch) -> (loss, n_images)``: the forward pass and loss on this rank (no backward).
    ``modules``: what is checkpointed (name -> module, unwrapped). ``params``: the trained parameters.
    ``evaluate(step, images, final) -> dict | None``: called whenever ``eval_every_images`` more images
    were seen (pre-training's held-out check; it may step the scheduler) and once at the end with
    ``final=True`` (a report only: it must not change the training state). ``after_step()``: called after
    every optimiser step (a per-step lr schedule; its state belongs in ``scheduler`` to be checkpointed).
    ``loss_scale``: what a sane loss is about at the start (log K for a K-class cross-entropy, what a uniform
    guess scores; 1 for an MSE of images in [0, 1]); a loss :data:`ABSURD_LOSS_FACTOR` times above it is
    warned about once, with ``loss_hint`` naming the likely cause (:func:`absurd_loss_warning`).
    """

    step_fn: Callable[[Any], tuple[torch.Tensor, int]]
    batches: ResumableBatches
    modules: dict[str, nn.Module]
    params: list[torch.Tensor]
    optimizer: torch.optim.Optimizer
    scheduler: Any = None  # state_dict()/load_state_dict() with JSON-able state
    evaluate: Callable[[int, int, bool], dict[str, Any] | None] | None = None
    eval_every_images: int = 0
    extra_state: dict[str, Any] = field(default_factory=dict)
    after_step: Callable[[], None] | None = None
    loss_scale: float | None = None
    loss_hint: str = ""


@dataclass
class LoopResult:
    step: int
    images: int
    loss: float | None  # mean training loss over the last logging window
    stopped: bool
    metrics: dict[str, Any] = field(default_factory=dict)  # the last evaluate() result
    warnings: list[str] = field(default_factory=list)  # what the loop warned about (also ``warning`` events)


#: A finite loss this many times above :attr:`LoopTask.loss_scale` is absurd (a K-class cross-entropy of a
#: network that guesses is about log K; torchvision's randomly initialised inception_v3 gives 1e10).
ABSURD_LOSS_FACTOR = 100.0

#: The likely causes of an absurd cross-entropy (``s2s finetune``, ``s2s train-classifier``).
CLASSIFIER_LOSS_HINT = ("the classifier is likely randomly initialised (torchvision's init gives inception_v3 "
                        "logits of about 1e11 in eval mode) or fed input normalised other than it expects; "
                        "check --classifier-weights and the classifier's mean/std")


def cross_entropy_scale(classifier: nn.Module) -> float | None:
    """log K: the cross-entropy of a K-class classifier that gives every class the same probability; K from
    the classifier's ``spec.num_classes`` (None for a bare network that records none: no check)."""
    num_classes = getattr(getattr(classifier, "spec", None), "num_classes", None)
    return math.log(max(int(num_classes), 2)) if num_classes else None


def absurd_loss_warning(loss: float, scale: float | None, step: int, hint: str) -> str | None:
    """One sentence when a finite ``loss`` is over :data:`ABSURD_LOSS_FACTOR` x ``scale``, else None."""
    if scale is None or not math.isfinite(loss) or loss <= ABSURD_LOSS_FACTOR * scale:
        return None
    return (f"the training loss is {loss:.3g} at step {step}, {loss / scale:.2g} times the {scale:.3g} a sane "
            f"start gives: {hint or 'check the data, the model and the learning rate'}")


def _lr(opt: torch.optim.Optimizer) -> float:
    return float(opt.param_groups[0]["lr"])


def _finite(modules: dict[str, nn.Module]) -> bool:
    """All floating-point parameters and buffers (BatchNorm statistics too) are finite."""
    return all(bool(torch.isfinite(t.detach()).all()) for m in modules.values()
               for t in m.state_dict().values() if t.is_floating_point())


def _checkpoint(task: LoopTask, run: RunDir, info: DistInfo, step: int, images: int) -> Path | None:
    """Gather every rank's RNG + data position; rank 0 writes one training state."""
    if not _finite(task.modules):
        raise TrainingDivergedError(f"the weights became NaN or infinite at step {step}; the last good checkpoint in {run.ckpt} was kept")
    rng_t, rng_m = rng_state()
    per_rank = gather_objects({"rng_t": rng_t, "rng_m": rng_m, "data": task.batches.state_dict()}, info)
    path = None
    if info.is_main:
        tensors: dict[str, torch.Tensor] = {}
        for name, module in task.modules.items():
            for k, v in module.state_dict().items():
                tensors[f"model/{name}/{k}"] = v.detach().cpu().contiguous().clone()
        opt_t, opt_m = flatten_optimizer(task.optimizer.state_dict())
        tensors.update(opt_t)
        for r, st in enumerate(per_rank):
            tensors.update({f"rng/{r}/{k}": v for k, v in st["rng_t"].items()})
        meta = {"step": step, "images": images, "optimizer": opt_m, "world_size": info.world_size,
                "scheduler": task.scheduler.state_dict() if task.scheduler is not None else None,
                "ranks": [{"rng": st["rng_m"], "data": st["data"]} for st in per_rank], **task.extra_state}
        path = save_state(run.ckpt, step, tensors, meta)
    barrier(info)
    return path


def _restore(task: LoopTask, run: RunDir, info: DistInfo) -> tuple[int, int]:
    tensors, meta = load_state(run.ckpt)
    for name, module in task.modules.items():
        prefix = f"model/{name}/"
        sd = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
        load_into(module, sd, f"the checkpoint in {run.ckpt} ({name})")
    task.optimizer.load_state_dict(unflatten_optimizer(tensors, meta["optimizer"]))
    if task.scheduler is not None and meta.get("scheduler") is not None:
        task.scheduler.load_state_dict(meta["scheduler"])
    ranks = meta["ranks"]
    if info.rank < len(ranks) and meta.get("world_size") == info.world_size:
        prefix = f"rng/{info.rank}/"
        set_rng_state({k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}, ranks[info.rank]["rng"])
        task.batches.load_state_dict(ranks[info.rank]["data"])
    else:  # a different number of processes: data positions cannot be mapped one to one
        raise CheckpointError(f"the checkpoint in {run.ckpt} was written by {meta.get('world_size')} process(es); resume with the same number")
    return int(meta["step"]), int(meta["images"])


def train_loop(task: LoopTask, run: RunDir, info: DistInfo, *, total_steps: int, ckpt_every: int,
               log_every: int, resume: bool = False, bar: bool | None = None, desc: str = "train") -> LoopResult:
    """Run optimiser steps until ``total_steps`` (or a stop signal, or the end of a finite data source).

    Raises :class:`TrainingDivergedError` on a NaN/inf loss or weights, before anything bad is saved.
    """
    step, images = _restore(task, run, info) if resume and run.has_checkpoint() else (0, 0)
    progress = Progress(run.progress, total_steps=total_steps, start_step=step, start_images=images,
                        enabled=info.is_main, bar=bar, desc=desc)
    window_loss, window_n, last_loss = 0.0, 0, None
    metrics: dict[str, Any] = {}
    warnings: list[str] = []
    stopped = False
    last_eval = -1
    device = info.device
    batches = iter(task.batches)
    try:
        with StopRequest() as stop:
            while step < total_steps:
                try:
                    batch = next(batches)
                except StopIteration:
                    break
                loss, n = task.step_fn(batch)
                stats = torch.tensor([loss.detach().float().item() * n, float(n), float(stop.requested)],
                                     dtype=torch.float64, device=device if info.enabled and device.type == "cuda" else "cpu")
                all_reduce_(stats, info)
                mean_loss, n_all, stop_all = stats[0].item() / max(stats[1].item(), 1), int(stats[1].item()), stats[2].item() > 0
                if not math.isfinite(mean_loss):
                    raise TrainingDivergedError(
                        f"the loss became {mean_loss} at step {step + 1} (lr {_lr(task.optimizer):g}); lower the learning rate "
                        f"or check the data. The last good checkpoint in {run.ckpt} was kept")
                absurd = None if warnings else absurd_loss_warning(mean_loss, task.loss_scale, step + 1, task.loss_hint)
                if absurd is not None:  # once per run: the same cause would repeat it every step
                    warnings.append(absurd)
                    progress.warn(absurd, step=step + 1, images=images, loss=mean_loss, lr=_lr(task.optimizer))
                task.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                task.optimizer.step()
                if task.after_step is not None:
                    task.after_step()
                step, images_before = step + 1, images
                images += n_all
                window_loss += mean_loss * n_all
                window_n += n_all
                if step % log_every == 0 or step == total_steps:
                    last_loss = window_loss / max(window_n, 1)
                    progress.event("step", step=step, images=images, loss=last_loss, lr=_lr(task.optimizer))
                    window_loss, window_n = 0.0, 0
                if task.evaluate and task.eval_every_images and images // task.eval_every_images > images_before // task.eval_every_images:
                    metrics, last_eval = task.evaluate(step, images, False) or {}, step
                    progress.event("eval", step=step, images=images, loss=last_loss, lr=_lr(task.optimizer), **metrics)
                if stop_all:
                    stopped = True
                    break
                if step % ckpt_every == 0 and step < total_steps:
                    path = _checkpoint(task, run, info, step, images)
                    progress.event("checkpoint", step=step, images=images, loss=last_loss, lr=_lr(task.optimizer), path=str(path))
            if window_n:
                last_loss = window_loss / window_n
            if task.evaluate and not stopped and last_eval != step:
                metrics = task.evaluate(step, images, True) or {}
                progress.event("eval", step=step, images=images, loss=last_loss, lr=_lr(task.optimizer), **metrics)
            path = _checkpoint(task, run, info, step, images)
            progress.event("checkpoint", step=step, images=images, loss=last_loss, lr=_lr(task.optimizer), path=str(path))
            if stopped:
                progress.event("done", step=step, images=images, loss=last_loss, lr=_lr(task.optimizer), status="stopped",
                               message=f"stopped at step {step} ({stop.signal or 'signal'}); resume with --resume")
    except S2SError as exc:
        progress.event("error", step=step, images=images, loss=last_loss, lr=_lr(task.optimizer), message=str(exc))
        progress.close()
        raise
    progress.close()
    return LoopResult(step=step, images=images, loss=last_loss, stopped=stopped, metrics=metrics, warnings=warnings)


def warning_event(run: RunDir, info: DistInfo, result: LoopResult, message: str) -> None:
    """A ``warning`` event after the loop (e.g. a validation at chance), also printed on stderr; rank 0 only."""
    if info.is_main:
        p = Progress(run.progress, total_steps=result.step, start_step=result.step, enabled=True, bar=False)
        p.warn(message, step=result.step, images=result.images, loss=result.loss)
        p.close()


def done_event(run: RunDir, info: DistInfo, result: LoopResult, **extra: Any) -> None:
    """The final ``done`` event (after the unit was exported)."""
    if info.is_main and not result.stopped:
        p = Progress(run.progress, total_steps=result.step, start_step=result.step, enabled=True, bar=False)
        p.event("done", step=result.step, images=result.images, loss=result.loss, lr=None, status="completed", **extra)
        p.close()


def run_command(body: Callable[..., Any], cfg: Any, *, resume: bool, bar: bool | None) -> Any:
    """Run ``body(cfg, info, resume=, bar=)`` with the configured threads inside a (possibly distributed) process
    group, torn down afterwards; ``s2s pretrain`` and ``s2s finetune`` both start this way."""
    from s2s_core.runtime import configure_threads
    from s2s_core.train import distributed

    configure_threads(cfg.threads)
    info = distributed.setup(cfg.device)
    try:
        return body(cfg, info, resume=resume, bar=bar)
    finally:
        distributed.cleanup(info)


def open_run(cfg: Any, info: DistInfo, *, resume: bool) -> RunDir:
    """The run dir of ``cfg.out``: refuses to overwrite a training state without ``--resume``, and to resume with
    settings that contradict the saved ones (:func:`~s2s_core.train.config.resume_mismatch`); rank 0 creates it
    and saves the resolved configuration only after those checks, so a refused resume leaves it untouched."""
    from s2s_core.train.config import read_saved_config, resume_mismatch, write_config

    run = RunDir(Path(cfg.out))
    if run.has_checkpoint() and not resume:
        raise ConfigError(f"out: {run.root} already holds a training state; pass --resume or choose another --out")
    if resume and run.config.is_file():
        mismatch = resume_mismatch(read_saved_config(run.config), cfg)
        if mismatch:
            raise ConfigError(mismatch)
    if info.is_main:
        run.root.mkdir(parents=True, exist_ok=True)
        write_config(cfg, run.config)
    return run

