"""``s2s train-classifier``: a registry classifier trained from scratch, and the one loop every classifier trains with.

The paper fine-tunes its AEs through five ImageNet classifiers (Sec. 3.3); torchvision ships weights for four
of them, and LeNet-5 "modified to take input images of size 224 x 224" has to be trained. The demo zoo trains
its five small classifiers too. Both go through :func:`train_classifier_net`, on the loop that pre-training
and fine-tuning share (checkpoint/resume, SIGTERM, NaN guard, DDP under torchrun, bf16 autocast on CUDA,
progress events): the command with an ImageFolder and the torchvision-reference recipe
(:class:`~s2s_core.train.config.ClassifierConfig`), the demo with fresh procedural batches and Adam.

Images enter as ``x (B, 3, S, S)`` in [0, 1]; the :class:`~s2s_core.models.classifiers.Classifier` wrapper
normalises them. The loss is the cross-entropy of the logits ``(B, K)`` (optional label smoothing). The
exported unit records the class names in label order, the validation top-1/top-5 and the runtime flags.
"""

from __future__ import annotations

import dataclasses
import math
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Subset

from s2s_core.checkpoints import save_classifier
from s2s_core.data.augment import Augment
from s2s_core.data.datasets import LabelledImageFolder
from s2s_core.errors import ConfigError
from s2s_core.metrics import topk_correct
from s2s_core.models.classifiers import Classifier
from s2s_core.runtime import RuntimeFlags
from s2s_core.train import distributed
from s2s_core.train.config import ClassifierConfig
from s2s_core.train.finetune import EpochBatches
from s2s_core.train.loop import (
    CLASSIFIER_LOSS_HINT,
    LoopResult,
    LoopTask,
    RunDir,
    cross_entropy_scale,
    done_event,
    open_run,
    prepare_training,
    run_command,
    train_loop,
    warning_event,
)

#: torchvision's evaluation crop: the centre 224 of the shorter side resized to 256.
CENTER_CROP_FRACTION = 0.875


def make_schedule(opt: torch.optim.Optimizer, schedule: str, *, steps: int, lr: float, step_every: int = 0,
                  gamma: float = 0.1, warmup: int = 0, pct_start: float = 0.2) -> Any:
    """A torch lr scheduler stepped once per optimiser step (``None`` for ``constant``).

    ``step``: lr x ``gamma`` every ``step_every`` steps; ``cosine``: cosine decay to 0 over ``steps``;
    ``onecycle``: :class:`torch.optim.lr_scheduler.OneCycleLR` peaking at ``lr`` after ``pct_start`` of the
    steps (it also cycles momentum / Adam's beta1). ``warmup`` steps of linear warm-up from 1 % of ``lr``
    precede ``step`` and ``cosine``. Every state is plain JSON (checkpointed by the loop).
    """
    sched = torch.optim.lr_scheduler
    if schedule == "onecycle":
        return sched.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=pct_start)
    if schedule == "constant":
        return None if not warmup else sched.LinearLR(opt, start_factor=0.01, total_iters=warmup)
    if schedule == "step":
        main = sched.StepLR(opt, step_size=max(1, step_every), gamma=gamma)
    elif schedule == "cosine":
        main = sched.CosineAnnealingLR(opt, T_max=max(1, steps - warmup))
    else:
        raise ConfigError(f"schedule: must be step, cosine, onecycle or constant, got {schedule!r}")
    if not warmup:
        return main
    return sched.SequentialLR(opt, [sched.LinearLR(opt, start_factor=0.01, total_iters=warmup), main], milestones=[warmup])


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 256) -> float:
    """Top-1 accuracy of ``model`` on images ``x (N, 3, S, S)`` in [0, 1] with labels ``y (N,)`` held in memory."""
    was_training = model.training
    model.eval()
    hits = 0
    for start in range(0, x.shape[0], batch_size):
        logits = model(x[start:start + batch_size])
        hits += int((logits.argmax(1) == y[start:start + batch_size]).sum())
    model.train(was_training)
    return hits / max(x.shape[0], 1)


@torch.no_grad()
def evaluate_classifier(clf: nn.Module, dataset, *, batch_size: int, flags: RuntimeFlags,
                        info: distributed.DistInfo, num_workers: int = 0) -> dict[str, float]:
    """Top-1 and top-5 of ``clf`` on a labelled map-style dataset; each process takes every world-size-th image
    and the counts are summed over processes (no image is counted twice). Keys: ``top1``, ``top5``, ``images``."""
    was_training = clf.training
    clf.eval()
    share = Subset(dataset, range(info.rank, len(dataset), info.world_size))
    counts = torch.zeros(3, dtype=torch.float64)
    for x, y in DataLoader(share, batch_size=batch_size, num_workers=num_workers, pin_memory=flags.pin_memory):
        x, y = flags.to_device(x), y.to(info.device)
        with flags.autocast():
            logits = clf(x)
        hits = topk_correct(logits.float(), y, ks=(1, 5))
        counts += torch.tensor([float(hits[1]), float(hits[5]), float(len(y))], dtype=torch.float64)
    if info.enabled:
        counts = distributed.all_reduce_(counts.to(info.device), info).cpu()
    clf.train(was_training)
    n = max(float(counts[2]), 1.0)
    return {"top1": float(counts[0]) / n, "top5": float(counts[1]) / n, "images": int(counts[2])}


def train_classifier_net(clf: nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor]] | Any, *, steps: int,
                         optimizer: str = "sgd", lr: float = 0.1, momentum: float = 0.9, weight_decay: float = 1e-4,
                         schedule: str = "constant", step_every: int = 0, gamma: float = 0.1, warmup: int = 0,
                         pct_start: float = 0.2, label_smoothing: float = 0.0, evaluate=None,
                         eval_every_images: int = 0, run_dir: str | Path | None = None, ckpt_every: int | None = None,
                         log_every: int = 10, resume: bool = False, info: distributed.DistInfo | None = None,
                         flags: RuntimeFlags | None = None, compile: bool = False,
                         bar: bool | None = False) -> LoopResult:
    """Train ``clf`` **in place** with cross-entropy for ``steps`` optimiser steps; the only classifier trainer.

    ``batches``: ``(x (B, 3, S, S) in [0, 1], y (B,) int64)`` pairs, re-iterable (or with ``state_dict`` /
    ``load_state_dict``, e.g. :class:`~s2s_core.train.finetune.EpochBatches`, for exact resume). The optimiser
    (``sgd`` | ``adam`` | ``adamw``) and the per-step lr ``schedule`` are built here (:func:`make_schedule`).
    ``evaluate(step, images, final) -> dict`` runs every ``eval_every_images`` training images and at the end.
    ``run_dir`` receives ``progress.jsonl`` and ``ckpt/`` (a temporary dir if None). ``clf`` moves to the
    device and is left in train mode. Returns the loop result (``loss``: mean of the last logging window).
    """
    info = info or distributed.DistInfo(device=next(clf.parameters()).device)
    flags = flags or RuntimeFlags.for_device(info.device)
    clf = flags.prepare_model(clf).train()
    params = list(clf.parameters())
    setup = prepare_training(clf, params, batches, info, optimizer=optimizer, lr=lr, momentum=momentum,
                             weight_decay=weight_decay, compile=compile)
    model, opt = setup.model, setup.optimizer
    sched = make_schedule(opt, schedule, steps=steps, lr=lr, step_every=step_every, gamma=gamma, warmup=warmup,
                          pct_start=pct_start)

    def step_fn(batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, int]:
        x, y = batch
        x, y = flags.to_device(x), y.to(info.device, non_blocking=flags.non_blocking)
        with flags.autocast():
            logits = model(x)
        return F.cross_entropy(logits.float(), y, label_smoothing=label_smoothing), len(x)

    task = LoopTask(step_fn=step_fn, batches=setup.batches, modules={"classifier": clf}, params=params, optimizer=opt,
                    scheduler=sched, evaluate=evaluate, eval_every_images=eval_every_images,
                    after_step=sched.step if sched is not None else None, loss_scale=cross_entropy_scale(clf),
                    loss_hint=CLASSIFIER_LOSS_HINT)
    with tempfile.TemporaryDirectory(prefix="s2s-classifier-") as tmp:
        run = RunDir(Path(run_dir) if run_dir is not None else Path(tmp))
        return train_loop(task, run, info, total_steps=steps, ckpt_every=ckpt_every or steps, log_every=log_every,
                          resume=resume, bar=bar, desc=f"train-classifier[{getattr(clf, 'name', 'net')}]")


# --------------------------------------------------------------------------------------------- the command
#: Binomial standard errors above 1/K within which a validation top-1 still counts as chance.
CHANCE_SIGMAS = 3.0


def chance_warning(top1: float | None, num_classes: int, images: int) -> str | None:
    """A sentence when ``top1`` on ``images`` validation images is no better than guessing among
    ``num_classes`` classes: at most 1/K + :data:`CHANCE_SIGMAS` x sqrt(p (1 - p) / n) with p = 1/K (the
    spread of a guesser's accuracy on n images). None when it is clearly better, or unmeasured."""
    if top1 is None or images < 1 or num_classes < 2:
        return None
    p = 1.0 / num_classes
    noise = CHANCE_SIGMAS * math.sqrt(p * (1 - p) / images)
    if top1 > p + noise:
        return None
    return (f"validation top-1 {top1:.3f} is at chance (1/{num_classes} = {p:.3f}, within {noise:.3f} on {images} "
            f"images): the classifier has learned nothing usable. On a small data set use --preset small (Adam, "
            f"lr 1e-3, no flips, crops near the whole image), train more epochs, or set --size near the images' own")


def flip_only() -> Augment:
    """Random horizontal flips (p = 0.5) and nothing else."""
    return Augment(scale=None, rotation=0.0, shift=0.0, noise=0.0, blur=None, brightness=0.0, contrast=0.0,
                   color=0.0, mirror=True, p=0.5)


def _val_folder(cfg: ClassifierConfig, size: int, class_to_idx: dict[str, int]) -> LabelledImageFolder:
    root = Path(str(cfg.val))
    found = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    unknown = [c for c in found if c not in class_to_idx]
    if unknown:
        raise ConfigError(f"val: class folder {unknown[0]!r} of {root} is not a class of the training data {cfg.data[0]}")
    return LabelledImageFolder(root, size, class_to_idx=class_to_idx, crop="center", resize=val_resize(cfg, size))


def val_resize(cfg: ClassifierConfig, size: int) -> int:
    """The shorter side that validation resizes to before its centre ``size`` crop: ``--val-resize``, else
    ``size / 0.875`` (torchvision's ImageNet ratio). The unit records it as its native protocol, so that
    ``s2s evaluate`` reads the classifier as it was validated (Table 1's centre-crop, single-scale)."""
    return int(cfg.val_resize or round(size / CENTER_CROP_FRACTION))


def train_classifier(cfg: ClassifierConfig, *, resume: bool = False, bar: bool | None = None) -> dict[str, Any]:
    """Run ``s2s train-classifier``: writes ``RUN/model`` (a ``classifier`` unit) and returns its metadata."""
    return run_command(_train_classifier, cfg, resume=resume, bar=bar)


def _train_classifier(cfg: ClassifierConfig, info: distributed.DistInfo, *, resume: bool,
                      bar: bool | None) -> dict[str, Any]:
    from s2s_core.models.classifiers import get_spec

    run = open_run(cfg, info, resume=resume)
    flags = RuntimeFlags.for_device(info.device, amp=cfg.amp, channels_last=cfg.channels_last)
    flags.apply_global()
    size = cfg.size or get_spec(cfg.arch).input_size
    train_set = LabelledImageFolder(cfg.data[0], size, transform=flip_only() if cfg.flip else None, crop="random",
                                    scale=(cfg.crop_scale[0], cfg.crop_scale[1]), seed=cfg.seed)
    classes = list(train_set.classes)
    num_classes = cfg.num_classes or len(classes)
    if num_classes < len(classes):
        raise ConfigError(f"num_classes: {num_classes} is fewer than the {len(classes)} class folders of {cfg.data[0]}")
    val_set = _val_folder(cfg, size, train_set.class_to_idx) if cfg.val else None
    per_step = cfg.batch_size * info.world_size
    steps_per_epoch = len(train_set) // per_step
    if steps_per_epoch < 1:
        raise ConfigError(f"batch_size: {cfg.batch_size} x {info.world_size} process(es) is more than the "
                          f"{len(train_set)} training images")
    torch.manual_seed(cfg.seed)  # the same initial weights on every rank
    clf = Classifier.from_name(cfg.arch, num_classes=num_classes)
    # its own protocol (the validation crop below), never the registry's published one; bicubic, as the loader
    clf = Classifier(dataclasses.replace(clf.spec, input_size=size, resize_size=val_resize(cfg, size),
                                         interpolation="bicubic", weights=None, classes=None), clf.net)
    torch.manual_seed(cfg.seed + 1 + info.rank)  # dropout differs between ranks
    batches = EpochBatches(train_set, cfg.batch_size, seed=cfg.seed, info=info, num_workers=cfg.num_workers,
                           pin_memory=flags.pin_memory)

    def evaluate(step: int, images: int, final: bool) -> dict[str, Any] | None:
        if val_set is None:
            return None
        m = evaluate_classifier(clf, val_set, batch_size=cfg.batch_size, flags=flags, info=info,
                                num_workers=cfg.num_workers)
        return {"val_top1": m["top1"], "val_top5": m["top5"], "val_images": m["images"]}

    t0 = time.monotonic()
    result = train_classifier_net(
        clf, batches, steps=cfg.epochs * steps_per_epoch, optimizer=cfg.optimizer, lr=cfg.lr, momentum=cfg.momentum,
        weight_decay=cfg.weight_decay, schedule=cfg.schedule, step_every=cfg.lr_step_epochs * steps_per_epoch,
        gamma=cfg.lr_gamma, warmup=cfg.warmup_epochs * steps_per_epoch, label_smoothing=cfg.label_smoothing,
        evaluate=evaluate if val_set is not None else None, eval_every_images=steps_per_epoch * per_step,
        run_dir=run.root, ckpt_every=cfg.ckpt_every, log_every=cfg.log_every, resume=resume, info=info, flags=flags,
        compile=cfg.compile, bar=bar)
    top1, val_images = result.metrics.get("val_top1"), result.metrics.get("val_images") or 0
    chance = chance_warning(top1, len(classes), val_images) if val_set is not None else None
    meta = {"name": cfg.name or cfg.arch, "preset": cfg.preset, "data": cfg.data, "val": cfg.val, "classes": classes,
            "steps": result.step, "epochs": cfg.epochs,
            "images_seen": result.images, "seed": cfg.seed, "batch_size": cfg.batch_size,
            "world_size": info.world_size, "final_train_loss": result.loss,
            "val_top1": result.metrics.get("val_top1"), "val_top5": result.metrics.get("val_top5"),
            "val_images": result.metrics.get("val_images"), "skipped_images": train_set.skipped,
            "val_chance": 1 / len(classes) if val_set is not None else None,
            "warnings": [*result.warnings, *([chance] if chance else [])],
            "runtime": flags.as_dict(), "seconds": time.monotonic() - t0,
            "recipe": {"loss": "cross_entropy", "label_smoothing": cfg.label_smoothing, "optimizer": cfg.optimizer,
                       "lr": cfg.lr, "momentum": cfg.momentum, "weight_decay": cfg.weight_decay,
                       "schedule": cfg.schedule, "lr_step_epochs": cfg.lr_step_epochs, "lr_gamma": cfg.lr_gamma,
                       "warmup_epochs": cfg.warmup_epochs, "train_crop": f"random resized crop {size} px, area "
                       f"{cfg.crop_scale[0]:g}-{cfg.crop_scale[1]:g}" + (", horizontal flip" if cfg.flip else ""),
                       "val_crop": f"resize {val_resize(cfg, size)}, centre crop {size}"}}
    if result.stopped:
        return {"stopped": True, **meta}
    if chance:
        warning_event(run, info, result, chance)
    if info.is_main:
        # the unit records one name per output, in label order (outputs beyond the class folders stay unused)
        names = [*classes, *(f"(unused {k})" for k in range(len(classes), num_classes))]
        save_classifier(run.model, clf.cpu().eval(), meta, classes=names, origin="trained")
        done_event(run, info, result, model=str(run.model), val_top1=meta["val_top1"], val_top5=meta["val_top5"],
                   warnings=meta["warnings"])
    distributed.barrier(info)
    return {"stopped": False, **meta}
