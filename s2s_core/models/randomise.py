"""Cascading model-parameter randomisation (Adebayo et al., "Sanity checks for saliency maps", NeurIPS 2018,
Sec. 3.1): copies of a classifier whose layers are re-initialised from the top (the logits) down, cumulatively.

A *layer* here is a module of the network that owns parameters itself (a convolution, a linear layer, a batch
norm), named by its path in ``classifier.net`` (:mod:`s2s_core.models.layers`' scheme). Layers are ordered by
when the forward pass first calls them (one pass on a zero image); modules the pass never calls (an auxiliary
head in eval mode) cannot change a map and are left out.

Step 0 is the classifier itself; step k re-initialises the top ``cuts[k]`` layers, cumulatively: every layer
step k re-initialised keeps its random values at step k + 1 (each step starts from a copy of the previous one),
and the last step re-initialises every layer. Re-initialising calls the module's own ``reset_parameters()``
(PyTorch's default initialisation of that module type; batch norms also reset their running statistics)
under ``torch.manual_seed(seed + step)``, inside :func:`torch.random.fork_rng` so that the caller's random
stream is untouched. A module without ``reset_parameters()`` gets N(0, 0.02) weights and zero vectors.
This is the module type's initialisation, not necessarily the architecture's own: the demo AlexNet draws
Kaiming-normal weights at construction and the demo ResNet zeroes each block's last batch-norm scale; neither is
repeated, so a randomised residual block is random, not the identity.

Every copy is a deep copy: the classifier passed in is never changed (not even hooked).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn

from s2s_core.errors import ConfigError

#: Default number of randomised steps after the original (the top layer, evenly spaced cuts, everything).
DEFAULT_STEPS = 5
#: Default seed of the re-initialisations; step k draws with seed + k.
RANDOMISATION_SEED = 2_600_000


@dataclass(frozen=True)
class RandomisedCopy:
    """One step of the cascade: ``model`` (a deep copy, eval mode), ``step`` (0: the original weights),
    ``randomised`` (how many of the ``total`` layers are re-initialised, from the top) and ``layer`` (the lowest
    layer re-initialised so far, ``""`` at step 0)."""

    model: nn.Module
    step: int
    randomised: int
    total: int
    layer: str

    @property
    def fraction(self) -> float:
        """Share of the parametrised layers re-initialised, in [0, 1]."""
        return self.randomised / self.total if self.total else 0.0


def _net(classifier: nn.Module) -> nn.Module:
    return getattr(classifier, "net", classifier)


def parametrised_layers(classifier: nn.Module, size: int | None = None) -> list[str]:
    """Paths (in ``classifier.net``) of the modules that own parameters directly, in the order the forward
    pass first calls them on a zero ``(1, 3, size, size)`` image (default: the classifier's input size, else
    64). Runs on a deep copy; modules never called are left out."""
    probe = copy.deepcopy(classifier).eval()
    net = _net(probe)
    owners = {name: m for name, m in net.named_modules() if any(True for _ in m.parameters(recurse=False))}
    order: list[str] = []

    def called(name: str):
        def hook(_module, _inputs) -> None:
            if name not in order:
                order.append(name)
        return hook

    handles = [m.register_forward_pre_hook(called(name)) for name, m in owners.items()]
    size = int(size or getattr(getattr(probe, "spec", None), "input_size", 64))
    device = next(probe.parameters()).device
    try:
        with torch.no_grad():
            probe(torch.zeros(1, 3, size, size, device=device))
    finally:
        for h in handles:
            h.remove()
    if not order:
        raise ConfigError("the classifier has no parametrised layer that its forward pass calls: nothing to randomise")
    return order


def cut_points(total: int, steps: int = DEFAULT_STEPS) -> list[int]:
    """How many layers (from the top) each step re-initialises: ``[0, 1, ..., total]``, ``steps`` values after
    the 0 (fewer when ``total`` is small), evenly spaced between the top layer alone and every layer."""
    if steps < 1 or total < 1:
        raise ConfigError(f"the randomisation needs at least 1 step and 1 layer (got {steps} steps, {total} layers)")
    if steps == 1:
        return [0, total]
    return [0, *sorted({1 + round(j * (total - 1) / (steps - 1)) for j in range(steps)})]


def _reinitialise(module: nn.Module) -> None:
    """``module.reset_parameters()``, or N(0, 0.02) matrices and zero vectors for a module without one."""
    if callable(getattr(module, "reset_parameters", None)):
        module.reset_parameters()
        return
    with torch.no_grad():
        for p in module.parameters(recurse=False):
            nn.init.normal_(p, std=0.02) if p.dim() > 1 else nn.init.zeros_(p)


def cascade(classifier: nn.Module, steps: int = DEFAULT_STEPS, seed: int = RANDOMISATION_SEED,
            size: int | None = None) -> Iterator[RandomisedCopy]:
    """Yield step 0 (a deep copy of ``classifier``) and then the cumulative randomised copies of
    :func:`cut_points`, each a new deep copy of the step before with the next layers (downwards) re-initialised
    under ``torch.manual_seed(seed + step)``. The last step has every layer re-initialised."""
    layers = parametrised_layers(classifier, size)
    cuts = cut_points(len(layers), steps)
    model = copy.deepcopy(classifier).eval()
    yield RandomisedCopy(model, 0, 0, len(layers), "")
    for step, cut in enumerate(cuts[1:], start=1):
        model = copy.deepcopy(model)
        modules = dict(_net(model).named_modules())
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed + step)
            for name in reversed(layers[len(layers) - cut:len(layers) - cuts[step - 1]]):
                _reinitialise(modules[name])
        yield RandomisedCopy(model.eval(), step, cut, len(layers), layers[len(layers) - cut])


def fully_randomised(classifier: nn.Module, seed: int = RANDOMISATION_SEED) -> nn.Module:
    """A deep copy of ``classifier`` with every parametrised layer re-initialised (the cascade's last step, seeded):
    the untrained network of the same architecture (the S2S control's classifier, :mod:`s2s_core.demo.controls`)."""
    *_, last = cascade(classifier, steps=1, seed=seed)
    return last.model
