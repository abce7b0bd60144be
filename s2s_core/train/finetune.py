"""``s2s finetune``: a copy of A_S fine-tuned through a frozen classifier i, giving A_i (Sec. 3.3).

The reconstruction ``A(x)`` (B, 3, S, S) in [0, 1] space (not clamped, so gradients pass everywhere)
goes through the classifier's own differentiable resize + normalisation and network; the loss is the
cross-entropy of its logits (B, K) with the labels, plus optionally ``recon_weight * MSE(A(x), x)``
(0 by default, as in the paper). The classifier is in eval mode with ``requires_grad=False`` on every
parameter: gradients flow *through* it into the AE but never change it. By default only the decoder
trains (the paper's best setting): the encoder is in eval mode, frozen, and its ``Code`` is computed
under ``torch.no_grad()`` (no autograd graph, no encoder backward). ``train="encoder"`` / ``"both"``
are the paper's alternatives. Optimiser: Adam (default, lr 1e-4) or SGD with momentum.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler

from s2s_core.checkpoints import (
    classifier_weights_sha256,
    load_ae,
    load_classifier,
    read_manifest,
    save_finetuned,
)
from s2s_core.errors import ConfigError
from s2s_core.models.segnet import SegNet, check_input_size
from s2s_core.runtime import RuntimeFlags
from s2s_core.train import distributed
from s2s_core.train.config import DEFAULT_WEIGHTS, FinetuneConfig
from s2s_core.train.loop import (
    CLASSIFIER_LOSS_HINT,
    RUN_MODEL_DIR,
    LoopResult,
    LoopTask,
    RunDir,
    cross_entropy_scale,
    done_event,
    open_run,
    prepare_training,
    run_command,
    train_loop,
)
from s2s_core.zoo import check_member_name


class FinetuneNet(nn.Module):
    """AE followed by a frozen classifier: ``forward(x01) -> (recon (B, 3, S, S), logits (B, K))``.

    ``train`` picks the trained half ("decoder", "encoder", "both"); frozen parts stay in eval mode
    whatever ``.train()`` is called with, so their BatchNorm statistics never move.
    """

    def __init__(self, ae: SegNet, classifier: nn.Module, train: str = "decoder") -> None:
        super().__init__()
        if train not in ("decoder", "encoder", "both"):
            raise ConfigError(f"train: must be decoder, encoder or both, got {train!r}")
        self.ae, self.classifier, self.mode = ae, classifier, train
        classifier.requires_grad_(False)
        ae.encoder.requires_grad_(train != "decoder")
        ae.decoder.requires_grad_(train != "encoder")
        self.train(True)

    def train(self, mode: bool = True) -> FinetuneNet:
        super().train(mode)
        self.classifier.eval()
        if self.mode == "decoder":
            self.ae.encoder.eval()
        elif self.mode == "encoder":
            self.ae.decoder.eval()
        return self

    def trainable(self) -> list[nn.Parameter]:
        return [p for p in self.ae.parameters() if p.requires_grad]

    def forward(self, x01: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.mode == "decoder":
            with torch.no_grad():
                code = self.ae.encode(x01)
        else:
            code = self.ae.encode(x01)
        recon = self.ae.decode(code)
        return recon, self.classifier(recon)


class EpochBatches:
    """Endless shuffled batches of a map-style dataset: a :class:`DistributedSampler` per epoch
    (``set_epoch``; one process is rank 0 of 1), ``drop_last``; state ``{"epoch", "batch"}``."""

    def __init__(self, dataset, batch_size: int, *, seed: int, info: distributed.DistInfo, num_workers: int = 0,
                 pin_memory: bool = False) -> None:
        if len(dataset) < batch_size * info.world_size:
            raise ConfigError(f"batch_size: {batch_size} x {info.world_size} process(es) is more than the "
                              f"{len(dataset)} labelled images")
        self.dataset, self.batch_size, self.seed, self.info = dataset, batch_size, seed, info
        self.num_workers, self.pin = num_workers, pin_memory
        self.epoch, self.batch = 0, 0

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        while True:
            sampler = DistributedSampler(self.dataset, num_replicas=self.info.world_size, rank=self.info.rank,
                                         shuffle=True, seed=self.seed, drop_last=True)
            sampler.set_epoch(self.epoch)
            if hasattr(self.dataset, "set_epoch"):
                self.dataset.set_epoch(self.epoch)
            idx = list(sampler)
            groups = [idx[i:i + self.batch_size] for i in range(0, len(idx) - self.batch_size + 1, self.batch_size)]
            # the loader's own seed (worker seeds) depends on (seed, epoch, rank) only, not on the global RNG,
            # so a resumed run draws the same worker seeds as an uninterrupted one
            gen = torch.Generator().manual_seed((self.seed * 1_000_003 + self.epoch) * 64 + self.info.rank)
            loader = DataLoader(self.dataset, batch_sampler=groups[self.batch:], num_workers=self.num_workers,
                                pin_memory=self.pin, generator=gen)
            for batch in loader:
                self.batch += 1
                yield batch
            self.epoch, self.batch = self.epoch + 1, 0

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "batch": self.batch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.epoch, self.batch = int(state["epoch"]), int(state["batch"])


def finetune_ae(ae: SegNet, classifier: nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor]] | Any, *,
                steps: int, train: str = "decoder", optimizer: str = "adam", lr: float = 1e-4, momentum: float = 0.9,
                weight_decay: float = 0.0, recon_weight: float = 0.0, run_dir: str | Path | None = None,
                ckpt_every: int | None = None, log_every: int = 10, resume: bool = False,
                info: distributed.DistInfo | None = None, flags: RuntimeFlags | None = None, compile: bool = False,
                bar: bool | None = False) -> LoopResult:
    """Fine-tune ``ae`` **in place** through the frozen ``classifier`` for ``steps`` steps (Sec. 3.3).

    ``batches``: an iterable of ``(x (B, 3, S, S) in [0, 1], y (B,) int64)`` (re-iterable for resume), or
    an object with ``state_dict``/``load_state_dict`` (e.g. :class:`EpochBatches`). A finite source ends
    the run early. ``run_dir``: where ``progress.jsonl`` and ``ckpt/`` go (a temporary dir if None).
    Side effects: ``ae`` and ``classifier`` move to the device; the classifier is left in eval mode with
    ``requires_grad=False``. Returns the loop result (``loss``: mean of the last logging window).
    """
    info = info or distributed.DistInfo(device=next(ae.parameters()).device)
    flags = flags or RuntimeFlags.for_device(info.device)
    net = FinetuneNet(flags.prepare_model(ae), flags.prepare_model(classifier), train)
    params = net.trainable()
    setup = prepare_training(net, params, batches, info, optimizer=optimizer, lr=lr, momentum=momentum,
                             weight_decay=weight_decay, compile=compile)
    model = setup.model

    def step_fn(batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, int]:
        x, y = batch
        x, y = flags.to_device(x), y.to(info.device, non_blocking=flags.non_blocking)
        with flags.autocast():
            recon, logits = model(x)
        loss = F.cross_entropy(logits.float(), y)
        if recon_weight:
            loss = loss + recon_weight * F.mse_loss(recon.float(), x)
        return loss, len(x)

    scale = cross_entropy_scale(classifier)  # plus the MSE term's, at most 1 for images in [0, 1]
    task = LoopTask(step_fn=step_fn, batches=setup.batches, modules={"ae": ae}, params=params,
                    optimizer=setup.optimizer, loss_scale=None if scale is None else scale + recon_weight,
                    loss_hint=CLASSIFIER_LOSS_HINT)
    with tempfile.TemporaryDirectory(prefix="s2s-finetune-") as tmp:
        run = RunDir(Path(run_dir) if run_dir is not None else Path(tmp))
        return train_loop(task, run, info, total_steps=steps, ckpt_every=ckpt_every or steps, log_every=log_every,
                          resume=resume, bar=bar, desc=f"finetune[{train}]")


DEFAULT_SIZE = 224
"""Fine-tuning size for a base AE unit that records no training ``size`` (e.g. imported authors' weights)."""
RANDOM_WEIGHTS = "none"
"""``classifier_weights`` value that asks for a randomly initialised classifier (never the default)."""


def unit_classifier_name(path: Path) -> str:
    """A classifier unit's name in a zoo: the ``name`` its manifest records (``s2s train-classifier`` writes
    ``--name`` or the architecture), else its folder's name (``ZOO/classifiers/L`` -> ``L``), except the run
    layout's ``RUN/model`` folder, which names nothing: then the architecture (registry name)."""
    manifest = read_manifest(path)
    if manifest.get("name"):
        return str(manifest["name"])
    return str(manifest["arch"]) if path.name == RUN_MODEL_DIR else path.name


def load_frozen_classifier(cfg: FinetuneConfig, data_root: str | Path) -> tuple[nn.Module, str, str]:
    """The frozen classifier of ``cfg.classifier`` with its class names, its zoo name and where its weights come
    from (``"unit"``, a torchvision weights tag, or ``"none"``: random, only when asked for explicitly).

    A unit dir loads with its recorded class names. A registry / torchvision name loads its published weights
    (``classifier_weights``, default ``DEFAULT``), whose class names it carries, or is refused when they are
    not available. ``classifier_weights: none`` builds it randomly initialised with one output per class
    folder of ``data_root``, labelled in sorted folder order.
    """
    from s2s_core.data.class_names import ClassNames
    from s2s_core.models.classifiers import Classifier

    path = Path(cfg.classifier)
    weights = cfg.classifier_weights
    if (path / "manifest.json").is_file():
        if weights != DEFAULT_WEIGHTS:
            raise ConfigError(f"classifier_weights: {weights!r} applies to registry names; the classifier unit "
                              f"{cfg.classifier} carries its own weights (leave classifier_weights at {DEFAULT_WEIGHTS})")
        clf, name, source = load_classifier(path), cfg.classifier_name or unit_classifier_name(path), "unit"
    elif weights == RANDOM_WEIGHTS:
        folders = sorted(p.name for p in Path(data_root).iterdir() if p.is_dir() and not p.name.startswith("."))
        if not folders:
            raise ConfigError(f"data: no class folders in {data_root} (expected root/<class>/<image>)")
        clf = Classifier.from_name(cfg.classifier, weights=None, num_classes=len(folders))
        clf.spec = replace(clf.spec, classes=ClassNames(tuple(folders)))
        name, source = cfg.classifier_name or cfg.classifier, RANDOM_WEIGHTS
    else:
        clf = Classifier.from_name(cfg.classifier, weights=weights)
        name, source = cfg.classifier_name or cfg.classifier, weights
    if cfg.classes:
        given = ClassNames(tuple(cfg.classes))
        if len(given) != int(clf.spec.num_classes):
            raise ConfigError(f"classes: {len(given)} names for classifier {cfg.classifier!r} with "
                              f"{clf.spec.num_classes} outputs")
        diff = clf.classes.first_difference(given) if clf.classes is not None else None
        if diff:
            raise ConfigError(f"classes: classifier {cfg.classifier!r} records other class names ({diff})")
        clf.spec = replace(clf.spec, classes=given)
    if clf.classes is None:
        raise ConfigError(f"classifier: {cfg.classifier} records no class names (written by an older s2s), so its "
                          "outputs cannot be matched to data folders; give them in label order with --set "
                          "classes=[name0,name1,...]")
    return clf.eval(), name, source


def _write_run_zoo(cfg: FinetuneConfig, root: Path, clf: nn.Module, clf_name: str, clf_entry: str | dict) -> None:
    """Make the run dir a one-classifier zoo (A_S, A_<name>, the classifier) so the dashboard lists it."""
    import os

    from s2s_core.zoo import write_zoo_manifest

    write_zoo_manifest(root, name=f"finetune {clf_name}", input_size=cfg.size, num_classes=int(clf.spec.num_classes),
                       base=os.path.relpath(Path(cfg.base).resolve(), root.resolve()), classifiers={clf_name: clf_entry},
                       aes={clf_name: "model"}, seed=cfg.seed, data={"train": cfg.data},
                       recipe={"command": "s2s finetune", **cfg.to_dict()}, classes=clf.classes)


def _classifier_entry(cfg: FinetuneConfig, run: RunDir, clf: nn.Module, source: str) -> str | dict:
    """The run zoo's entry for the classifier: its unit, its torchvision weights, or (random weights) a unit
    saved into ``RUN/classifier`` so that the zoo evaluates the very network the decoder was tuned through."""
    import os

    from s2s_core.checkpoints import save_classifier

    if source == "unit":
        return os.path.relpath(Path(cfg.classifier).resolve(), run.root.resolve())
    if source == RANDOM_WEIGHTS:
        save_classifier(run.root / "classifier", clf.cpu(), {"random_init": True, "source": cfg.classifier},
                        origin="random")
        return "classifier"
    return {"torchvision": cfg.classifier, "weights": source}


def finetune(cfg: FinetuneConfig, *, resume: bool = False, bar: bool | None = None) -> dict[str, Any]:
    """Run ``s2s finetune``: writes ``RUN/model`` (a ``decoder`` unit referencing ``cfg.base``)."""
    return run_command(_finetune, cfg, resume=resume, bar=bar)


def _finetune(cfg: FinetuneConfig, info: distributed.DistInfo, *, resume: bool, bar: bool | None) -> dict[str, Any]:
    from s2s_core.data.datasets import LabelledImageFolder
    from s2s_core.train.pretrain import make_augment

    if len(cfg.data) != 1:
        raise ConfigError(f"data: give one labelled ImageFolder tree (root/<class>/<image>), got {cfg.data}")
    base_manifest = read_manifest(cfg.base)
    if base_manifest["kind"] != "ae":
        raise ConfigError(f"base: {cfg.base} is not an 'ae' unit (fine-tune from the pre-trained A_S)")
    if cfg.size is None:  # the base AE's training size, recorded in config.json as the resolved value
        cfg = replace(cfg, size=int(base_manifest.get("size") or DEFAULT_SIZE))
    check_input_size(cfg.size, len(base_manifest["args"]["widths"]))
    clf, clf_name, source = load_frozen_classifier(cfg, cfg.data[0])
    dataset = LabelledImageFolder(cfg.data[0], cfg.size, transform=make_augment(cfg.augment), seed=cfg.seed,
                                  classes=clf.classes, where=f"classifier {cfg.classifier}")
    try:
        check_member_name(clf_name)
    except ConfigError as exc:
        raise ConfigError(f"classifier_name: {exc}") from exc
    run = open_run(cfg, info, resume=resume)  # only once the settings, classifier and data are known to fit
    flags = RuntimeFlags.for_device(info.device, amp=cfg.amp, channels_last=cfg.channels_last)
    flags.apply_global()
    torch.manual_seed(cfg.seed + info.rank)
    ae = load_ae(cfg.base)
    batches = EpochBatches(dataset, cfg.batch_size, seed=cfg.seed, info=info, num_workers=cfg.num_workers,
                           pin_memory=flags.pin_memory)
    t0 = time.monotonic()
    result = finetune_ae(ae, clf, batches, steps=cfg.steps, train=cfg.train, optimizer=cfg.optimizer, lr=cfg.lr,
                         momentum=cfg.momentum, weight_decay=cfg.weight_decay, recon_weight=cfg.recon_weight,
                         run_dir=run.root, ckpt_every=cfg.ckpt_every, log_every=cfg.log_every, resume=resume,
                         info=info, flags=flags, compile=cfg.compile, bar=bar)
    meta = {"data": cfg.data, "classes": list(clf.classes.names), "data_classes": dataset.classes,
            "classifier_weights": source, "steps": result.step, "images_seen": result.images,
            "seed": cfg.seed, "size": cfg.size, "batch_size": cfg.batch_size, "world_size": info.world_size,
            "final_train_loss": result.loss, "warnings": result.warnings, "skipped_images": dataset.skipped,
            "runtime": flags.as_dict(),
            "seconds": time.monotonic() - t0, "classifier_source": cfg.classifier,
            "recipe": {"loss": "cross_entropy" + (" + recon_weight * mse" if cfg.recon_weight else ""),
                       "recon_weight": cfg.recon_weight, "optimizer": cfg.optimizer, "lr": cfg.lr,
                       "train": cfg.train, "augment": cfg.augment}}
    if result.stopped:
        return {"stopped": True, **meta}
    if info.is_main:
        clf_entry = _classifier_entry(cfg, run, clf, source)  # a random classifier is saved first: its hash
        if isinstance(clf_entry, str):
            meta["classifier_sha256"] = classifier_weights_sha256(run.root / clf_entry)
        save_finetuned(run.model, ae.cpu(), cfg.base, clf_name, trained=cfg.train, meta=meta)
        _write_run_zoo(cfg, run.root, clf, clf_name, clf_entry)
        done_event(run, info, result, model=str(run.model))
    distributed.barrier(info)
    return {"stopped": False, **meta}
