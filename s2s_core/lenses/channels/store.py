"""A classifier's relevant-channel weights W in its zoo: ``ZOO/channels/<name>/`` (safetensors + JSON, no pickle).

The unit (kind ``channels``, :mod:`s2s_core.checkpoints`) holds ``weights.safetensors`` with ``W`` ``(P, K)``
and ``intercept`` ``(K,)``; its manifest names the layers whose channels the P rows are (in order, with their
widths), the μ and the rule that chose it, the sparsity, the data it was fitted on, and the identity of the
classifier (the sha256 of its weights, or its torchvision entry). W fitted for other weights is refused on
load: rebuilding a zoo's classifiers makes its channel weights stale, and the error says to re-fit.

Layer names follow :mod:`s2s_core.models.layers` (paths in the network, what ``s2s layers`` prints); the
manifest says so with ``args.naming = "network"``. Units written before that (no ``naming``) name paths in the
classifier wrapper (``"net.features.1"``): they are read with the prefix taken off, unchanged on disk.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from s2s_core.checkpoints import read_manifest, read_unit, save_unit
from s2s_core.errors import CheckpointError
from s2s_core.zoo import ZooInfo

CHANNELS_DIR = "channels"
#: ``args.naming`` of units whose layer names are paths in the network (not in the wrapper, ``net.`` first).
NAMING = "network"


@dataclass
class ChannelWeights:
    """W ``(P, K)`` float32 over the channels of ``layers`` (name, width) in order, plus its fit record."""

    classifier: str
    layers: list[tuple[str, int]]
    W: torch.Tensor
    intercept: torch.Tensor
    mu: float
    rule: str
    meta: dict = field(default_factory=dict)

    @property
    def layer_names(self) -> list[str]:
        return [name for name, _ in self.layers]

    def locate(self, index: int) -> tuple[str, int]:
        """Row ``index`` of W -> ``(layer name, channel within the layer)``."""
        for name, width in self.layers:
            if index < width:
                return name, index
            index -= width
        raise IndexError("channel index beyond W's rows")

    def offsets(self) -> dict[str, int]:
        """Layer name -> its first row in W."""
        out, start = {}, 0
        for name, width in self.layers:
            out[name], start = start, start + width
        return out


def unit_dir(zoo_dir: str | Path, classifier: str) -> Path:
    return Path(zoo_dir) / CHANNELS_DIR / classifier


def classifier_identity(info: ZooInfo, classifier: str) -> dict:
    """What W was fitted for: the sha256 of the classifier unit's files, or its torchvision entry."""
    entry = info.classifiers.get(classifier)
    if entry is None:
        raise CheckpointError(f"zoo {info.name!r} has no classifier {classifier!r}; known: {', '.join(info.classifiers)}")
    if isinstance(entry, dict):
        return {"torchvision": entry}
    return {"files": read_manifest(info.path / entry)["files"]}


def save_channel_weights(zoo_dir: str | Path, weights: ChannelWeights) -> Path:
    """Write ``ZOO/channels/<classifier>/`` atomically; returns its path."""
    info = ZooInfo.read(zoo_dir)
    args = {"layers": [{"name": n, "channels": w} for n, w in weights.layers], "classes": int(weights.W.shape[1]),
            "naming": NAMING}
    meta = {**weights.meta, "classifier": weights.classifier, "mu": weights.mu, "mu_rule": weights.rule,
            "fitted_for": classifier_identity(info, weights.classifier)}
    tensors = {"weights": {"W": weights.W.float().contiguous(), "intercept": weights.intercept.float().contiguous()}}
    return save_unit(unit_dir(zoo_dir, weights.classifier), "channels", "mu-lasso", args, tensors, meta)


def has_channel_weights(zoo_dir: str | Path, classifier: str) -> bool:
    return (unit_dir(zoo_dir, classifier) / "manifest.json").is_file()


def load_channel_weights(zoo_dir: str | Path, classifier: str) -> ChannelWeights:
    """Read and check W of ``classifier``; CheckpointError if missing, corrupt, or fitted for other weights."""
    path = unit_dir(zoo_dir, classifier)
    if not path.is_dir():
        raise CheckpointError(f"classifier {classifier!r} has no relevant-channel weights in {Path(zoo_dir)}: run "
                              f"`s2s channels fit --zoo {zoo_dir} --classifier {classifier} --data DIR`")
    manifest, tensors = read_unit(path)
    if manifest["kind"] != "channels":
        raise CheckpointError(f"{path} is a {manifest['kind']!r} unit, not a 'channels' unit")
    info = ZooInfo.read(zoo_dir)
    if manifest.get("fitted_for") != classifier_identity(info, classifier):
        raise CheckpointError(f"{path} was fitted for other weights of classifier {classifier!r} (the zoo was "
                              f"rebuilt since): re-run `s2s channels fit --zoo {zoo_dir} --classifier {classifier}`")
    try:
        layers = [(str(d["name"]), int(d["channels"])) for d in manifest["args"]["layers"]]
        if manifest["args"].get("naming") != NAMING:  # legacy: paths in the wrapper, all "net.<path>"
            layers = [(name.removeprefix("net."), width) for name, width in layers]
        W, intercept = tensors["weights"]["W"], tensors["weights"]["intercept"]
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: malformed channels unit ({exc}); re-run `s2s channels fit`") from exc
    if W.dim() != 2 or W.shape[0] != sum(w for _, w in layers) or intercept.shape != (W.shape[1],):
        raise CheckpointError(f"{path}: W {tuple(W.shape)} does not match its {len(layers)} layers; re-run "
                              "`s2s channels fit`")
    meta = {k: v for k, v in manifest.items() if k not in ("args", "files")}
    return ChannelWeights(classifier=classifier, layers=layers, W=W, intercept=intercept, mu=float(manifest["mu"]),
                          rule=str(manifest.get("mu_rule", "")), meta=meta)
