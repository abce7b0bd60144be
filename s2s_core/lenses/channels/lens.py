"""The relevant-channels lens (Oramas et al., seed 004): fit W, rank one image's channels, show where they fire.

1. :func:`fit_channel_weights` pools each channel's response over labelled images and solves the μ-lasso
   (:mod:`s2s_core.lenses.channels.lasso`) for W ``(P, K)``.
2. :meth:`ChannelLens.relevant`: for each image, the response vector times W's column of the *predicted* class;
   the k largest entries are its relevant channels (layer, channel, weight, response).
3. :meth:`ChannelLens.backproject`: each relevant channel's activation map projected down to the input
   with the paper's DeconvNet (interpolate, then stride-1 deconvolution) or guided backpropagation
   (:mod:`s2s_core.lenses.channels.probe`), as ``(B, k, H, W)`` heatmaps at the input's resolution: the L2 norm over
   R, G, B of the projection. :meth:`ChannelLens.heatmap` sums them weighted by the channels' shares of the
   positive response, each normalised to a maximum of 1.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from s2s_core.errors import ConfigError
from s2s_core.lenses.channels.lasso import fit_mu_lasso
from s2s_core.lenses.channels.probe import ChannelProbe, pooled_responses
from s2s_core.lenses.channels.store import ChannelWeights

#: How many relevant channels a view shows and the heatmap combines (the paper shows 3 to 5).
DEFAULT_K = 3


def fit_channel_weights(classifier: nn.Module, name: str, batches: Iterable[tuple[Tensor, Tensor]], classes: int, *,
                        layers: list[str] | None = None, mu: float | None = None, input_size: int = 64,
                        seed: int = 0) -> ChannelWeights:
    """Responses of ``classifier`` over ``batches`` of ``(x (B, 3, S, S) in [0, 1], y (B,))``, then the μ-lasso.

    ``layers``: layer names (:mod:`s2s_core.models.layers`; default every post-ReLU response); ``mu``: the L1 bound (default: the documented rule of
    :mod:`s2s_core.lenses.channels.lasso`). The result carries the sparsity, μ, its rule and the cross-validation curve.
    """
    network = getattr(getattr(classifier, "spec", None), "name", "")
    label = f"classifier {name!r}" + (f" ({network})" if network and network != name else "")
    probe = ChannelProbe(classifier, layers, input_size=input_size, label=label)
    xs, ys = [], []
    for x, y in batches:
        xs.append(probe.responses(x).numpy())
        ys.append(np.asarray(y, dtype=np.int64))
    if not xs:
        raise ConfigError("no labelled images to fit the relevant channels on")
    X, labels = np.concatenate(xs), np.concatenate(ys)
    fit = fit_mu_lasso(X, labels, classes, mu=mu, seed=seed)
    return ChannelWeights(classifier=name, layers=list(zip(probe.names, probe.widths, strict=True)),
                          W=torch.from_numpy(fit.W).float(), intercept=torch.from_numpy(fit.intercept).float(),
                          mu=fit.mu, rule=fit.rule,
                          meta={"sparsity": fit.sparsity(), "images": int(len(labels)), "cv": fit.cv})


@dataclass
class Relevant:
    """The top-k relevant channels of each image of a batch (all ``(B, k)`` except ``predicted`` ``(B,)``)."""

    predicted: Tensor
    rows: Tensor
    responses: Tensor
    weights: Tensor
    names: list[list[tuple[str, int]]]

    @property
    def k(self) -> int:
        return int(self.rows.shape[1])


class ChannelLens:
    """A classifier with its fitted W: relevant channels, their projections and the zeroing check."""

    def __init__(self, classifier: nn.Module, weights: ChannelWeights, *, input_size: int = 64) -> None:
        self.weights = weights
        self.probe = ChannelProbe(classifier, weights.layer_names, input_size=input_size,
                                  label=f"classifier {weights.classifier!r}")
        if self.probe.widths != [w for _, w in weights.layers]:
            raise ConfigError(f"the channel weights of {weights.classifier!r} do not match the classifier's layers: "
                              "re-run `s2s channels fit`")
        self.offsets = weights.offsets()

    def responses(self, x01: Tensor) -> tuple[Tensor, Tensor]:
        """``(logits (B, K), pooled responses (B, P))`` in one forward pass."""
        with torch.no_grad():
            logits, acts = self.probe.run(x01, record=True)
        return logits, pooled_responses([acts[n] for n in self.weights.layer_names])

    def relevant(self, x01: Tensor, k: int = DEFAULT_K, classes: Tensor | None = None) -> Relevant:
        """Top-``k`` channels of each image for its predicted class (or for ``classes`` (B,) if given)."""
        return self._rank(*self.responses(x01), k, classes)

    def _rank(self, logits: Tensor, resp: Tensor, k: int, classes: Tensor | None) -> Relevant:
        predicted = logits.argmax(dim=1) if classes is None else classes.to(logits.device)
        score = resp * self.weights.W.to(resp.device).T[predicted]  # (B, P): x ⊙ w_c
        k = max(1, min(int(k), score.shape[1]))
        top = score.topk(k, dim=1)
        weights = self.weights.W.to(resp.device)[top.indices, predicted[:, None]]
        names = [[self.weights.locate(int(i)) for i in row] for row in top.indices]
        return Relevant(predicted=predicted, rows=top.indices, responses=top.values, weights=weights, names=names)

    def backproject(self, x01: Tensor, relevant: Relevant, rule: str = "deconvnet") -> Tensor:
        """``(B, k, H, W)``: each relevant channel's activation projected to the input under ``rule``
        (``"deconvnet"``: the paper's interpolating DeconvNet; ``"guided"``: guided backpropagation), as the
        L2 norm over RGB. One forward and k backward passes for the whole batch."""
        with torch.inference_mode(False), torch.enable_grad():
            x = x01.detach().clone().requires_grad_(True)
            _, acts = self.probe.run(x, record=True, rule=rule)
            return self._project(x, acts, relevant)

    def rank_and_project(self, x01: Tensor, k: int = DEFAULT_K,
                         rules: Sequence[str] = ("deconvnet", "guided")) -> tuple[Relevant, dict[str, Tensor]]:
        """:meth:`relevant` and :meth:`backproject` under each of ``rules`` with one forward pass fewer: the
        first rule's forward also gives the responses that rank the channels (a backward rule changes only the
        backward pass, so its forward activations are the plain ones). Returns the relevant channels and
        ``{rule: (B, k, H, W)}``; equal to calling the two methods."""
        maps: dict[str, Tensor] = {}
        with torch.inference_mode(False), torch.enable_grad():
            x = x01.detach().clone().requires_grad_(True)
            logits, acts = self.probe.run(x, record=True, rule=rules[0])
            resp = pooled_responses([acts[n].detach() for n in self.weights.layer_names])
            relevant = self._rank(logits.detach(), resp, k, None)
            maps[rules[0]] = self._project(x, acts, relevant)
        for rule in rules[1:]:
            maps[rule] = self.backproject(x01, relevant, rule)
        return relevant, maps

    def _project(self, x: Tensor, acts: dict[str, Tensor], relevant: Relevant) -> Tensor:
        """The k backward passes of :meth:`backproject` from a recorded forward of ``x`` (which requires grad)."""
        maps = []
        with torch.inference_mode(False), torch.enable_grad():
            for r in range(relevant.k):
                seeds: dict[str, Tensor] = {}
                for b, picks in enumerate(relevant.names):
                    layer, channel = picks[r]
                    act = acts[layer]
                    seed = seeds.setdefault(layer, torch.zeros_like(act))
                    seed[b, channel] = act[b, channel].detach()
                grad = torch.autograd.grad([acts[n] for n in seeds], x, grad_outputs=list(seeds.values()),
                                           retain_graph=r < relevant.k - 1, allow_unused=True)[0]
                maps.append(torch.zeros_like(x[:, 0]) if grad is None else grad.norm(dim=1))
        return torch.stack(maps, dim=1).detach()

    def heatmap(self, x01: Tensor, k: int = DEFAULT_K, rule: str = "deconvnet",
                relevant: Relevant | None = None) -> Tensor:
        """``(B, H, W)``: the top-k projections, each scaled to a maximum of 1, weighted by positive response."""
        relevant = relevant or self.relevant(x01, k)
        return combine(self.backproject(x01, relevant, rule), relevant)

    def zero_mask(self, picks: list[list[tuple[str, int]]]) -> dict[str, Tensor]:
        """Per layer ``(B, C)`` bool: the channels listed for each image (for :meth:`ChannelProbe.run`'s ``zero``)."""
        widths = dict(self.weights.layers)
        masks: dict[str, Tensor] = {}
        for b, row in enumerate(picks):
            for layer, channel in row:
                masks.setdefault(layer, torch.zeros(len(picks), widths[layer], dtype=torch.bool))[b, channel] = True
        return masks

    def logits_without(self, x01: Tensor, picks: list[list[tuple[str, int]]]) -> Tensor:
        """``(B, K)`` logits with the listed channels of each image set to zero."""
        masks = {n: m.to(x01.device) for n, m in self.zero_mask(picks).items()}
        with torch.no_grad():
            return self.probe.run(x01, zero=masks)[0]


def combine(maps: Tensor, relevant: Relevant) -> Tensor:
    """``(B, k, H, W)`` channel heatmaps -> ``(B, H, W)``: each scaled to a maximum of 1, weighted by the channel's
    share of the positive response (equal shares when no response is positive)."""
    maps = maps / maps.flatten(2).amax(dim=2).clamp_min(1e-12)[:, :, None, None]
    share = relevant.responses.clamp_min(0)
    share = torch.where(share.sum(1, keepdim=True) > 0, share, torch.ones_like(share))
    share = share / share.sum(1, keepdim=True)
    return (maps * share[:, :, None, None].to(maps.device)).sum(dim=1)
