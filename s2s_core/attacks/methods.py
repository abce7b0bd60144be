"""FGSM and L∞ PGD on images in [0, 1] (Goodfellow et al. 2015; Madry et al. 2018), as used against S2S by
Folz, Palacio et al. (WACV 2020) after Palacio et al. (CVPR 2018, Sec. 3.5).

Both minimise nothing and maximise the summed cross-entropy of the true labels. :func:`craft` runs them through
foolbox 3.3.4 (``library="foolbox"``, the default: a maintained library with two small dependencies) or through
:func:`fgsm` / :func:`pgd` below (``library="torch"``, a few lines each, for the known-answer tests and as the
oracle the library is compared with). PGD's step is ``2.5 ε / steps`` (Madry et al.), without a random start
unless asked, so that both implementations take the same path.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from s2s_core.errors import ConfigError

ATTACKS = ("fgsm", "pgd")
LIBRARIES = ("foolbox", "torch")
#: PGD's step relative to ε, per step count: α = 2.5 ε / steps (Madry et al. 2018).
STEP_FACTOR = 2.5


def loss_grad(model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
    """∇x of the summed cross-entropy of ``model(x)`` against ``y``; ``x`` (B, 3, H, W) -> same shape."""
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        loss = F.cross_entropy(model(x), y, reduction="sum")
        (grad,) = torch.autograd.grad(loss, x)
    return grad


def _project(x_adv: Tensor, x: Tensor, eps: float) -> Tensor:
    """Back into the L∞ ball of radius ``eps`` around ``x`` and into [0, 1]."""
    return torch.min(torch.max(x_adv, x - eps), x + eps).clamp(0.0, 1.0)


def fgsm(model: nn.Module, x: Tensor, y: Tensor, eps: float) -> Tensor:
    """One signed gradient step: ``clip(x + ε·sign(∇x CE(model(x), y)), 0, 1)``; (B, 3, H, W) in [0, 1]."""
    if eps == 0:
        return x.detach().clone()
    return _project(x + eps * loss_grad(model, x, y).sign(), x, eps).detach()


def pgd(model: nn.Module, x: Tensor, y: Tensor, eps: float, steps: int = 10, *, random_start: bool = False,
        generator: torch.Generator | None = None) -> Tensor:
    """``steps`` signed gradient steps of α = 2.5 ε / steps, each projected onto the ε-ball and [0, 1];
    ``random_start`` begins at a uniform point of the ball. (B, 3, H, W) in [0, 1] -> same."""
    if eps == 0:
        return x.detach().clone()
    alpha = STEP_FACTOR * eps / steps
    x_adv = x.detach().clone()
    if random_start:
        noise = torch.rand(x.shape, generator=generator, device="cpu").to(x) * 2 - 1
        x_adv = _project(x_adv + eps * noise, x, eps)
    for _ in range(steps):
        x_adv = _project(x_adv + alpha * loss_grad(model, x_adv, y).sign(), x, eps).detach()
    return x_adv


@contextmanager
def frozen(model: nn.Module) -> Iterator[None]:
    """Parameters without gradients while inside: foolbox differentiates with ``loss.backward()``, which would
    otherwise fill (and keep) every weight's ``.grad``."""
    params = [p for p in model.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)


def _foolbox(model: nn.Module, x: Tensor, y: Tensor, attack: str, eps: float, steps: int) -> Tensor:
    import foolbox as fb  # imported here: only crafting needs it, and it pulls in eagerpy and GitPython

    fmodel = fb.PyTorchModel(model, bounds=(0.0, 1.0), device=x.device)
    if attack == "fgsm":
        method = fb.attacks.FGSM(random_start=False)
    else:
        method = fb.attacks.LinfPGD(abs_stepsize=STEP_FACTOR * eps / steps, steps=steps, random_start=False)
    with frozen(model):
        _, clipped, _ = method(fmodel, x.detach(), y, epsilons=float(eps))
    return clipped.detach()


def check_attack(attack: str, eps: float, steps: int, library: str = "foolbox") -> None:
    """Refuse an unknown attack or library, a negative ε or fewer than one step (ConfigError)."""
    if attack not in ATTACKS:
        raise ConfigError(f"unknown attack {attack!r}; choose from {', '.join(ATTACKS)}")
    if library not in LIBRARIES:
        raise ConfigError(f"unknown attack library {library!r}; choose from {', '.join(LIBRARIES)}")
    if not 0 <= eps <= 1:
        raise ConfigError(f"ε must lie in [0, 1] (images are in [0, 1]), got {eps}")
    if steps < 1:
        raise ConfigError(f"PGD needs at least one step, got {steps}")


def craft(model: nn.Module, x: Tensor, y: Tensor, attack: str, eps: float, *, steps: int = 10,
          library: str = "foolbox") -> Tensor:
    """Adversarial examples of ``x`` (B, 3, H, W) in [0, 1] with labels ``y`` (B,) against ``model`` (logits):
    ``attack`` in :data:`ATTACKS`, L∞ radius ``eps`` (in [0, 1] units), ``steps`` for PGD. Same shape, in [0, 1],
    within ``eps`` of ``x``. ``model`` must be in eval mode; its parameters are not changed."""
    check_attack(attack, eps, steps, library)
    if eps == 0:
        return x.detach().clone()
    if library == "foolbox":
        return _foolbox(model, x, y, attack, eps, steps)
    return fgsm(model, x, y, eps) if attack == "fgsm" else pgd(model, x, y, eps, steps)
