"""Training the demo classifiers from scratch on freshly generated shape images.

The classifiers of the paper come pre-trained from torchvision; the demo has to train its own. Every step
draws a new batch from the procedural generator, so nothing can be memorised (a fixed set of a few
thousand images was memorised in a first attempt: see the project's demo notes). Adam with a one-cycle
learning rate schedule reaches a useful accuracy within a CPU budget of about a minute per network.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from s2s_core.models.classifiers import Classifier


@dataclass
class ClassifierRun:
    """What one classifier's training produced: the model (eval mode) and its numbers."""

    classifier: Classifier
    steps: int
    final_loss: float
    val_top1: float
    seconds: float


@torch.no_grad()
def accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 256) -> float:
    """Top-1 accuracy of ``model`` on images x (N, 3, S, S) in [0, 1] with labels y (N,)."""
    was_training = model.training
    model.eval()
    hits = 0
    for start in range(0, x.shape[0], batch_size):
        logits = model(x[start : start + batch_size])
        hits += int((logits.argmax(1) == y[start : start + batch_size]).sum())
    model.train(was_training)
    return hits / max(x.shape[0], 1)


def train_classifier(
    name: str,
    sample: Callable[[int, torch.Generator], tuple[torch.Tensor, torch.Tensor]],
    *,
    num_classes: int,
    steps: int,
    batch_size: int,
    lr: float,
    seed: int,
    val: tuple[torch.Tensor, torch.Tensor],
    weight_decay: float = 5e-4,
    log: Callable[[dict], None] | None = None,
    log_every: int = 50,
) -> ClassifierRun:
    """Train the registered classifier ``name`` from scratch.

    Args:
        name: registry name (e.g. ``"resnet_demo"``).
        sample: ``sample(n, generator) -> (x (n, 3, S, S) in [0, 1], y (n,) int64)``; a fresh batch per step.
        steps, batch_size, lr: Adam with a one-cycle schedule peaking at ``lr``.
        seed: seeds the weights and the data stream.
        val: fixed validation images and labels, measured at the end.
        log: optional callback receiving progress dicts (``step``, ``loss``, ``lr``, ``images_per_s``).
    """
    torch.manual_seed(seed)
    clf = Classifier.from_name(name, num_classes=num_classes)
    clf.train()
    gen = torch.Generator().manual_seed(seed + 1)
    opt = torch.optim.AdamW(clf.parameters(), lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.2)
    start = time.perf_counter()
    smoothed = None
    for step in range(1, steps + 1):
        x, y = sample(batch_size, gen)
        loss = F.cross_entropy(clf(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        value = float(loss.detach())
        smoothed = value if smoothed is None else 0.95 * smoothed + 0.05 * value
        if log is not None and (step % log_every == 0 or step == steps):
            elapsed = time.perf_counter() - start
            log({"step": step, "loss": smoothed, "lr": sched.get_last_lr()[0],
                 "images_per_s": step * batch_size / max(elapsed, 1e-9)})
    clf.eval()
    return ClassifierRun(
        classifier=clf,
        steps=steps,
        final_loss=float(smoothed if smoothed is not None else float("nan")),
        val_top1=accuracy(clf, *val),
        seconds=time.perf_counter() - start,
    )
