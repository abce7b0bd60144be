"""``s2s pretrain``: the SegNet autoencoder A_S trained to reconstruct its input (Sec. 3.2).

Paper recipe: MSE loss, SGD with momentum 0.9, initial lr 0.01, 256 px inputs, augmentations (scale,
rotation, shift, noise, blur, brightness, contrast, colour, mirror); the reconstruction error is checked
every 1 million images and the lr becomes 0.2 x lr when it has not improved for two consecutive checks.
Training is counted in steps / images: data is a stream (no epochs), from a flat folder (recursive; an
ImageFolder tree is read the same way, labels ignored) or ``.tar`` shards.

**The loss space is a choice** (``loss_space``, :func:`reconstruction_loss`). The paper says "MSE" without the
space. The authors' network maps normalised input to normalised output, so their MSE was most likely taken
between normalised images; ours is by default taken in [0, 1] pixel space between ``A(x)`` and ``x`` (both
``(B, 3, S, S)``). Normalised MSE weights channel c by ``1 / std_c²`` (ImageNet std ≈ 0.225, so about 20×):
at the same lr 0.01 the pixel-space loss takes a step roughly 20× smaller. ``loss_space="normalized"``
reproduces the authors' likely choice; ``"pixel"`` stays the default because the shipped demo zoo was trained
with it. The held-out loss and PSNR are always reported in pixel space, so runs of either space compare.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from s2s_core.checkpoints import save_ae
from s2s_core.data.datasets import FlatFolderStream, TarShardStream, stratified_sample
from s2s_core.errors import ConfigError
from s2s_core.models.segnet import SegNet, vgg_features_to_encoder
from s2s_core.runtime import RuntimeFlags
from s2s_core.train import distributed
from s2s_core.train.config import LOSS_SPACES, PretrainConfig
from s2s_core.train.loop import (
    LoopResult,
    LoopTask,
    RunDir,
    done_event,
    open_run,
    prepare_training,
    run_command,
    train_loop,
)
from s2s_core.weights import read_state_dict


class PlateauScheduler:
    """Multiply the lr by ``factor`` after ``patience`` consecutive checks without improvement (Sec. 3.2).

    A check improves when ``loss < best * (1 - threshold)``. After a reduction the count starts again.
    With ``patience=2`` this is ``torch.optim.lr_scheduler.ReduceLROnPlateau(factor=0.2, patience=1)``
    (PyTorch reduces once the number of bad checks *exceeds* its patience); its state is plain JSON.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, *, factor: float = 0.2, patience: int = 2,
                 threshold: float = 1e-4, min_lr: float = 0.0, eps: float = 1e-8) -> None:
        self.optimizer, self.factor, self.patience = optimizer, factor, patience
        self.threshold, self.min_lr, self.eps = threshold, min_lr, eps
        self.best = math.inf
        self.bad_checks = 0
        self.reductions = 0

    def step(self, loss: float) -> bool:
        """Record one check; returns True when the lr was reduced."""
        if loss < self.best * (1 - self.threshold):
            self.best, self.bad_checks = loss, 0
            return False
        self.bad_checks += 1
        if self.bad_checks < self.patience:
            return False
        self.bad_checks = 0
        reduced = False
        for group in self.optimizer.param_groups:
            new = max(group["lr"] * self.factor, self.min_lr)
            if group["lr"] - new > self.eps:
                group["lr"], reduced = new, True
        self.reductions += int(reduced)
        return reduced

    def state_dict(self) -> dict[str, Any]:
        return {"best": None if math.isinf(self.best) else self.best, "bad_checks": self.bad_checks,
                "reductions": self.reductions}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best = math.inf if state["best"] is None else float(state["best"])
        self.bad_checks, self.reductions = int(state["bad_checks"]), int(state["reductions"])

    def advance(self) -> None:
        """Called before every training step; the plateau rule acts only on checks."""


class CosineScheduler:
    """Linear warm-up to the base lr over ``warmup`` steps, then cosine decay to 0 at ``total`` steps.

    Not the paper's rule (Sec. 3.2 reduces on plateaus over 92 M images); a short CPU budget gets much
    further with it (measured for the demo zoo, ``docs/DEMO_ZOO.md``). :meth:`advance` sets the lr of the
    coming step; :meth:`step` (a held-out check) changes nothing. State is plain JSON for exact resume.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, *, total: int, warmup: int = 0) -> None:
        if total < 1 or warmup < 0:
            raise ConfigError(f"cosine schedule needs total >= 1 and warmup >= 0 steps, got {total} and {warmup}")
        self.optimizer, self.total, self.warmup = optimizer, int(total), int(warmup)
        self.base = [float(g["lr"]) for g in optimizer.param_groups]
        self.done = 0
        self.reductions = 0

    def factor(self, step: int) -> float:
        """The lr multiplier of 0-based step ``step``."""
        if step < self.warmup:
            return (step + 1) / self.warmup
        span = max(self.total - self.warmup, 1)
        return 0.5 * (1.0 + math.cos(math.pi * min(step - self.warmup, span) / span))

    def advance(self) -> None:
        f = self.factor(self.done)
        for group, base in zip(self.optimizer.param_groups, self.base, strict=True):
            group["lr"] = base * f
        self.done += 1

    def step(self, loss: float) -> bool:
        return False

    def state_dict(self) -> dict[str, Any]:
        return {"done": self.done, "base": self.base}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.done, self.base = int(state["done"]), [float(b) for b in state["base"]]


def make_augment(setting: bool | dict[str, Any]):
    """``True`` -> the default Sec. 3.2 augmentations; a mapping -> those ``AugmentConfig`` fields; ``False`` -> None."""
    if setting is False:
        return None
    from s2s_core.data.augment import Augment

    return Augment.from_config({} if setting is True else setting)


def open_stream(paths: list[str], size: int, *, seed: int, info: distributed.DistInfo, transform=None,
                crop: str = "random", infinite: bool = True, shuffle: bool = True):
    """A :class:`FlatFolderStream` (one folder) or :class:`TarShardStream` (``.tar`` files or a folder of them)."""
    kw = dict(transform=transform, seed=seed, infinite=infinite, shuffle=shuffle, rank=info.rank,
              world_size=info.world_size, crop=crop)
    tars = [p for p in paths if ".tar" in Path(p).name]
    if tars and len(tars) == len(paths):
        return TarShardStream(tars, size, **kw)
    if len(paths) == 1 and Path(paths[0]).is_dir():
        folder = Path(paths[0])
        if any(".tar" in p.name for p in folder.iterdir()) and not any(p.is_dir() for p in folder.iterdir()):
            return TarShardStream(folder, size, **kw)
        return FlatFolderStream(folder, size, **kw)
    raise ConfigError(f"data: give one folder of images or a list of .tar shards, got {paths}")


class StreamBatches:
    """Batches ``(B, 3, S, S)`` from an image stream, with the stream's position as the data state.

    ``num_workers=0`` iterates in this process, so resuming is exact. With workers each holds its own
    copy of the stream; the position cannot be known, so a resumed run starts a fresh shuffled pass.
    """

    def __init__(self, stream, batch_size: int, num_workers: int = 0, pin_memory: bool = False) -> None:
        self.stream, self.batch_size, self.num_workers, self.pin = stream, batch_size, num_workers, pin_memory
        self.resumes = 0

    def __iter__(self) -> Iterator[torch.Tensor]:
        if self.num_workers == 0:
            it = iter(self.stream)
            while True:
                items = [x for _, x in zip(range(self.batch_size), it, strict=False)]
                if len(items) < self.batch_size:
                    return
                yield torch.stack(items)
        else:
            loader = torch.utils.data.DataLoader(self.stream, batch_size=self.batch_size, num_workers=self.num_workers,
                                                 pin_memory=self.pin, drop_last=True, persistent_workers=False)
            yield from loader

    def state_dict(self) -> dict[str, Any]:
        if self.num_workers:
            return {"approximate": True, "resumes": self.resumes}
        return self.stream.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("approximate") or self.num_workers:
            self.resumes = int(state.get("resumes", 0)) + 1
            self.stream.load_state_dict({"pass": 1000 * self.resumes, "position": 0, "seed": self.stream.seed})
        else:
            self.stream.load_state_dict(state)


def heldout_set(cfg: PretrainConfig, info: distributed.DistInfo) -> torch.Tensor:
    """This rank's share of the held-out images as uint8 ``(N_r, 3, S, S)`` (centre crops, no augmentation).

    From ``cfg.heldout``, else from ``cfg.data`` (then not disjoint from the training images; with a stream of
    ~100M images the training loss itself is unbiased, Sec. 3.2). From a folder: ``heldout_images`` files drawn
    at random with the run's seed, stratified over its class folders (:func:`stratified_sample`), the same
    on every run with that seed; from tar shards: the first images in shard order.
    """
    paths = cfg.heldout or cfg.data
    stream = open_stream(paths, cfg.size, seed=cfg.seed + 7919, info=info, crop="center", infinite=False, shuffle=False)
    if isinstance(stream, FlatFolderStream):
        stream.files = stratified_sample(stream.files, stream.root, cfg.heldout_images, cfg.seed)
    share = math.ceil(cfg.heldout_images / info.world_size)
    items = [(x * 255).round().to(torch.uint8) for _, x in zip(range(share), stream, strict=False)]
    if not items:
        raise ConfigError(f"heldout: no readable images in {paths}")
    return torch.stack(items)


@torch.no_grad()
def evaluate_reconstruction(ae: SegNet, images_u8: torch.Tensor, flags: RuntimeFlags, info: distributed.DistInfo,
                            batch_size: int) -> dict[str, float]:
    """Mean held-out MSE and PSNR (dB, on outputs clamped to [0, 1]) over all ranks' shares."""
    was_training = ae.training
    ae.eval()
    sums = torch.zeros(3, dtype=torch.float64)
    for i in range(0, len(images_u8), batch_size):
        x = flags.to_device(images_u8[i:i + batch_size].float() / 255)
        with flags.autocast():
            y = ae(x)
        mse = F.mse_loss(y.float(), x, reduction="none").flatten(1).mean(1)
        mse_c = F.mse_loss(y.float().clamp(0, 1), x, reduction="none").flatten(1).mean(1)
        sums += torch.stack([mse.sum(), (-10 * torch.log10(mse_c.clamp_min(1e-10))).sum(), torch.tensor(len(x))]).double().cpu()
    if info.enabled:  # nccl reduces CUDA tensors only
        sums = distributed.all_reduce_(sums.to(info.device), info).cpu()
    ae.train(was_training)
    n = max(float(sums[2]), 1.0)
    return {"heldout_loss": float(sums[0]) / n, "psnr": float(sums[1]) / n}


def reconstruction_loss(y01: torch.Tensor, x01: torch.Tensor, space: str = "pixel",
                        std: torch.Tensor | None = None) -> torch.Tensor:
    """MSE between the reconstruction ``y01`` and the input ``x01`` (both ``(B, 3, S, S)`` in [0, 1] space).

    ``space="pixel"``: ``mean((y - x)²)``; ``"normalized"``: ``mean(((y - x) / std)²)``, the MSE between the
    normalised images (the mean cancels), ``std`` of shape ``(1, 3, 1, 1)`` (the AE's normalisation).
    """
    if space == "pixel":
        return F.mse_loss(y01, x01)
    if space != "normalized":
        raise ConfigError(f"loss space must be one of {', '.join(LOSS_SPACES)}, got {space!r}")
    if std is None:
        raise ConfigError("the normalized loss space needs the AE's std")
    std = std.to(y01.dtype)
    return F.mse_loss(y01 / std, x01 / std)


def build_model(cfg: PretrainConfig) -> SegNet:
    """A SegNet with ``cfg.widths``/``cfg.depths``; encoder from VGG16-BN or a weights file if asked."""
    if cfg.init_encoder == "vgg16_bn":
        return SegNet.from_vgg16_bn("DEFAULT", widths=cfg.widths, depths=cfg.depths)
    ae = SegNet(cfg.widths, cfg.depths)
    if cfg.init_encoder:
        sd = read_state_dict(cfg.init_encoder)
        if any(k.startswith("features.") for k in sd):
            sd = vgg_features_to_encoder(sd, ae.encoder)
        else:
            sd = {k.removeprefix("encoder."): v for k, v in sd.items() if not k.startswith("decoder.")}
        try:
            ae.encoder.load_state_dict(sd)
        except RuntimeError as exc:
            raise ConfigError(f"init_encoder: {cfg.init_encoder} does not fit the encoder: {exc}") from exc
    return ae


def pretrain_ae(ae: SegNet, batches: Any, heldout_u8: torch.Tensor, *, steps: int, compile: bool = False,
                optimizer: str = "sgd", lr: float = 0.01, momentum: float = 0.9, weight_decay: float = 0.0,
                lr_factor: float = 0.2, lr_patience: int = 2, eval_every_images: int = 1_000_000,
                eval_batch_size: int = 32, run_dir: str | Path, ckpt_every: int | None = None, log_every: int = 10,
                resume: bool = False, info: distributed.DistInfo | None = None, flags: RuntimeFlags | None = None,
                bar: bool | None = None, schedule: str = "plateau", warmup_steps: int = 0,
                channels_last: bool = False, stop_at: int | None = None, loss_space: str = "pixel",
                ) -> tuple[LoopResult, torch.optim.Optimizer, PlateauScheduler | CosineScheduler]:
    """Train ``ae`` **in place** to reconstruct its input with MSE (Sec. 3.2); the core of ``s2s pretrain``.

    ``batches``: re-iterable source of ``(B, 3, S, S)`` images in [0, 1] (with ``state_dict``/``load_state_dict``
    for exact resume, e.g. :class:`StreamBatches`; any iterable works). ``heldout_u8``: uint8 ``(N, 3, S, S)``
    images checked every ``eval_every_images`` training images; the lr is multiplied by ``lr_factor`` after
    ``lr_patience`` consecutive checks without improvement. ``compile``: ``torch.compile`` the (DDP-wrapped) AE
    (:func:`~s2s_core.train.loop.prepare_training`). ``run_dir`` receives ``progress.jsonl`` and ``ckpt/``.
    Returns the loop result (its ``metrics`` hold the final held-out loss and PSNR), the optimiser and the
    scheduler. ``loss_space``: where the training
    MSE is taken (:func:`reconstruction_loss`; the held-out loss is always in pixel space).
    """
    if loss_space not in LOSS_SPACES:
        raise ConfigError(f"loss_space must be one of {', '.join(LOSS_SPACES)}, got {loss_space!r}")
    info = info or distributed.DistInfo(device=next(ae.parameters()).device)
    flags = flags or RuntimeFlags.for_device(info.device)
    if schedule not in ("plateau", "cosine"):
        raise ConfigError(f"schedule must be 'plateau' or 'cosine', got {schedule!r}")
    if channels_last:
        ae.to(memory_format=torch.channels_last)
    setup = prepare_training(ae, list(ae.parameters()), batches, info, optimizer=optimizer, lr=lr, momentum=momentum,
                             weight_decay=weight_decay, compile=compile)
    model, opt = setup.model, setup.optimizer
    sched: PlateauScheduler | CosineScheduler = (
        PlateauScheduler(opt, factor=lr_factor, patience=lr_patience) if schedule == "plateau"
        else CosineScheduler(opt, total=steps, warmup=warmup_steps))

    def step_fn(x: torch.Tensor) -> tuple[torch.Tensor, int]:
        sched.advance()
        x = flags.to_device(x)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with flags.autocast():
            y = model(x)
        return reconstruction_loss(y.float(), x, loss_space, ae.std), len(x)

    def evaluate(step: int, images: int, final: bool) -> dict[str, Any]:
        metrics = evaluate_reconstruction(ae, heldout_u8, flags, info, eval_batch_size)
        if not final:
            metrics["lr_reduced"] = sched.step(metrics["heldout_loss"])
        return metrics

    # an MSE of outputs in the image range is at most 1 in pixel space, 1/std² (about 20) in normalised space
    scale = 1.0 if loss_space == "pixel" else float(ae.std.min()) ** -2
    task = LoopTask(step_fn=step_fn, batches=setup.batches, modules={"ae": ae}, params=list(ae.parameters()),
                    optimizer=opt, scheduler=sched, evaluate=evaluate, eval_every_images=eval_every_images,
                    loss_scale=scale, loss_hint="the AE's output is far outside the image range; lower the "
                    "learning rate, or check that the images are in [0, 1]")
    total = min(int(stop_at), steps) if stop_at is not None else steps
    result = train_loop(task, RunDir(Path(run_dir)), info, total_steps=total, ckpt_every=ckpt_every or steps,
                        log_every=log_every, resume=resume, bar=bar, desc="pretrain")
    if channels_last:
        ae.to(memory_format=torch.contiguous_format)
    return result, opt, sched


def pretrain(cfg: PretrainConfig, *, resume: bool = False, bar: bool | None = None) -> dict[str, Any]:
    """Train A_S per ``cfg``; writes ``RUN/model`` (an ``ae`` unit) and returns its metadata.

    Under torchrun every rank calls this; rank 0 writes files. A stop on SIGTERM/SIGINT returns
    ``{"stopped": True, ...}`` after a checkpoint, without exporting.
    """
    return run_command(_pretrain, cfg, resume=resume, bar=bar)


def _pretrain(cfg: PretrainConfig, info: distributed.DistInfo, *, resume: bool, bar: bool | None) -> dict[str, Any]:
    run = open_run(cfg, info, resume=resume)
    flags = RuntimeFlags.for_device(info.device, amp=cfg.amp, channels_last=cfg.channels_last)
    flags.apply_global()
    torch.manual_seed(cfg.seed)  # same initial weights on every rank (DDP also broadcasts rank 0's)
    ae = flags.prepare_model(build_model(cfg)).train()
    torch.manual_seed(cfg.seed + 1 + info.rank)
    stream = open_stream(cfg.data, cfg.size, seed=cfg.seed, info=info, transform=make_augment(cfg.augment))
    batches = StreamBatches(stream, cfg.batch_size, cfg.num_workers, flags.pin_memory)
    heldout = heldout_set(cfg, info)
    t0 = time.monotonic()
    result, opt, sched = pretrain_ae(
        ae, batches, heldout, steps=cfg.steps, compile=cfg.compile, optimizer=cfg.optimizer, lr=cfg.lr, momentum=cfg.momentum,
        weight_decay=cfg.weight_decay, lr_factor=cfg.lr_factor, lr_patience=cfg.lr_patience,
        eval_every_images=cfg.eval_every_images, eval_batch_size=cfg.batch_size, run_dir=run.root,
        ckpt_every=cfg.ckpt_every, log_every=cfg.log_every, resume=resume, info=info, flags=flags, bar=bar,
        loss_space=cfg.loss_space)
    meta = {"data": cfg.data, "heldout": cfg.heldout or "seeded stratified sample of data", "steps": result.step,
            "images_seen": result.images, "seed": cfg.seed, "size": cfg.size, "batch_size": cfg.batch_size,
            "world_size": info.world_size, "final_train_loss": result.loss, "warnings": result.warnings,
            "final_heldout_loss": result.metrics.get("heldout_loss"), "final_psnr": result.metrics.get("psnr"),
            "lr_final": opt.param_groups[0]["lr"], "lr_reductions": sched.reductions,
            "skipped_images": stream.skipped, "runtime": flags.as_dict(), "seconds": time.monotonic() - t0,
            "recipe": {"loss": "mse", "loss_space": cfg.loss_space, "optimizer": cfg.optimizer, "lr": cfg.lr,
                       "momentum": cfg.momentum, "init_encoder": cfg.init_encoder, "augment": cfg.augment}}
    if result.stopped:
        return {"stopped": True, **meta}
    if info.is_main:
        save_ae(run.model, ae, meta)
        done_event(run, info, result, model=str(run.model))
    distributed.barrier(info)
    return {"stopped": False, **meta}
