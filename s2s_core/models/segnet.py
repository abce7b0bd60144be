"""The SegNet autoencoder of Sec. 3.1.

Encoder: the 13 conv3x3 + BatchNorm + ReLU layers of VGG16-BN in 5 stages, each stage ending in a 2x2
max-pool that keeps its argmax indices. Decoder: the mirror image; each stage starts by un-pooling with
the indices of the matching encoder stage (``max_unpool2d``), and a final 1x1 conv maps to 3 channels.
Widths and depths are parameters so that small demo models share the code.

Parameter names follow the authors' release (``encoder.conv11.weight``, ..., ``decoder.conv53d.weight``,
..., ``decoder.conv11d.weight``, ``decoder.conv_final.weight``) so their checkpoints load by name
(see :mod:`s2s_core.models.authors`).

The encoder and the decoder are separate modules: :meth:`SegNet.encode` returns a :class:`Code` that can
feed any number of decoders with the same widths and depths (one encoder pass for A_S and every A_i).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from s2s_core.errors import ConfigError, WeightsUnavailableError

IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)
VGG16_WIDTHS: tuple[int, ...] = (64, 128, 256, 512, 512)
VGG16_DEPTHS: tuple[int, ...] = (2, 2, 3, 3, 3)


@dataclass
class Code:
    """What the encoder returns; feeds any number of decoders.

    ``features``: (B, C_last, H / 2**S, W / 2**S) with S stages (S = 5: H/32, W/32).
    ``indices``: max-pool argmax indices of stages 1..S, each (B, C_k, H_k / 2, W_k / 2).
    ``sizes``: pre-pool sizes of stages 1..S (``torch.Size`` of (B, C_k, H_k, W_k)).
    """

    features: Tensor
    indices: list[Tensor]
    sizes: list[torch.Size]


def check_layout(widths: Sequence[int], depths: Sequence[int]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """``(widths, depths)`` as int tuples, one of each per stage (any number of stages from 1 to 9), or
    :class:`ConfigError`."""
    widths, depths = tuple(int(w) for w in widths), tuple(int(d) for d in depths)
    if not widths or len(widths) != len(depths):
        raise ConfigError(f"SegNet needs one width per stage and one depth per stage; got widths={widths}, depths={depths}")
    if len(widths) > 9 or any(d < 1 or d > 9 for d in depths):
        raise ConfigError(f"SegNet supports 1-9 stages of 1-9 convs each (names conv<stage><index>); got depths={depths}")
    if any(w < 1 for w in widths):
        raise ConfigError(f"SegNet widths must be positive; got {widths}")
    return widths, depths


def size_multiple(stages: int) -> int:
    """Image sides must be multiples of this: SegNet max-pools by 2 once per stage, so 2**stages
    (32 for VGG16's five stages, 8 for a three-stage A_S)."""
    return 2 ** int(stages)


def check_input_size(size: int, stages: int, what: str = "size") -> None:
    """Raise :class:`ConfigError` unless a square ``size`` x ``size`` input fits a SegNet of ``stages`` stages
    (a positive multiple of :func:`size_multiple`); the message suggests the nearest size that does."""
    m = size_multiple(stages)
    if size < m or size % m:
        raise ConfigError(f"{what}: {size} is not a positive multiple of {m} (a {stages}-stage SegNet pools "
                          f"{stages} times, 2**{stages}); try {max(m, round(size / m) * m)}")


def _layer_names(depths: Sequence[int]) -> list[list[str]]:
    """``[["11", "12"], ["21", "22"], ["31", "32", "33"], ...]``: the authors' layer suffixes per stage."""
    return [[f"{k}{j}" for j in range(1, d + 1)] for k, d in enumerate(depths, start=1)]


class SegNetEncoder(nn.Module):
    """VGG-BN style encoder (Sec. 3.1): ``forward(x_norm) -> Code``.

    ``x_norm``: (B, in_channels, H, W), ImageNet-normalised, H and W multiples of 2**len(widths).
    """

    def __init__(self, widths: Sequence[int] = VGG16_WIDTHS, depths: Sequence[int] = VGG16_DEPTHS,
                 in_channels: int = 3) -> None:
        super().__init__()
        self.widths, self.depths = check_layout(widths, depths)
        self.stages = _layer_names(self.depths)
        c_in = in_channels
        for names, width in zip(self.stages, self.widths, strict=True):
            for name in names:
                self.add_module(f"conv{name}", nn.Conv2d(c_in, width, kernel_size=3, padding=1))
                self.add_module(f"bn{name}", nn.BatchNorm2d(width))
                c_in = width

    def layer_names(self) -> list[str]:
        """Suffixes of all conv/BN pairs in forward order (``["11", "12", "21", ..., "53"]``)."""
        return [name for names in self.stages for name in names]

    def forward(self, x: Tensor) -> Code:
        indices: list[Tensor] = []
        sizes: list[torch.Size] = []
        for names in self.stages:
            for name in names:
                x = F.relu(getattr(self, f"bn{name}")(getattr(self, f"conv{name}")(x)), inplace=True)
            sizes.append(x.shape)
            x, idx = F.max_pool2d(x, kernel_size=2, stride=2, return_indices=True)
            indices.append(idx)
        return Code(features=x, indices=indices, sizes=sizes)


class SegNetDecoder(nn.Module):
    """Mirror of :class:`SegNetEncoder` (Sec. 3.1): ``forward(code) -> y_norm`` of shape (B, 3, H, W).

    Stage k (from the deepest) un-pools with the encoder's stage-k indices, then runs convs
    ``conv{k}{d}d ... conv{k}1d``; all keep ``widths[k-1]`` channels except the last, which maps
    ``widths[k-1] -> widths[k-2]`` (stage 1: ``widths[0] -> widths[0]``). ``conv_final`` (1x1) maps to 3.
    The output lives in the encoder's normalised input space.
    """

    def __init__(self, widths: Sequence[int] = VGG16_WIDTHS, depths: Sequence[int] = VGG16_DEPTHS,
                 out_channels: int = 3) -> None:
        super().__init__()
        self.widths, self.depths = check_layout(widths, depths)
        self.stages: list[list[str]] = []  # deepest stage first, convs in forward order
        for k in range(len(self.widths), 0, -1):
            width = self.widths[k - 1]
            width_out = self.widths[k - 2] if k > 1 else self.widths[0]
            names = [f"{k}{j}d" for j in range(self.depths[k - 1], 0, -1)]
            for name in names:
                c_out = width_out if name == f"{k}1d" else width
                self.add_module(f"conv{name}", nn.Conv2d(width, c_out, kernel_size=3, padding=1))
                self.add_module(f"bn{name}", nn.BatchNorm2d(c_out))
            self.stages.append(names)
        self.conv_final = nn.Conv2d(self.widths[0], out_channels, kernel_size=1)

    def forward(self, code: Code) -> Tensor:
        n = len(self.stages)
        if len(code.indices) != n or len(code.sizes) != n:
            raise ConfigError(f"this decoder has {n} stages but the code comes from an encoder with "
                              f"{len(code.indices)}; use an encoder with the same widths and depths")
        x = code.features
        for k, names in zip(range(n, 0, -1), self.stages, strict=True):
            x = F.max_unpool2d(x, code.indices[k - 1], kernel_size=2, stride=2,
                               output_size=code.sizes[k - 1][-2:])
            for name in names:
                x = F.relu(getattr(self, f"bn{name}")(getattr(self, f"conv{name}")(x)), inplace=True)
        return self.conv_final(x)


class SegNet(nn.Module):
    """The autoencoder A (Sec. 3.1): images in [0, 1] -> reconstructions in the same space.

    ``forward(x01)``: x01 (B, 3, H, W) in [0, 1] with H, W multiples of 2**len(widths) (32 by default);
    returns (B, 3, H, W), not clamped. Normalisation with ``mean``/``std`` happens inside.
    """

    def __init__(self, widths: Sequence[int] = VGG16_WIDTHS, depths: Sequence[int] = VGG16_DEPTHS,
                 mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD) -> None:
        super().__init__()
        widths, depths = check_layout(widths, depths)
        if len(mean) != 3 or len(std) != 3 or any(float(s) <= 0 for s in std):
            raise ConfigError(f"mean and std need 3 values each (std > 0); got mean={mean}, std={std}")
        self.encoder = SegNetEncoder(widths, depths)
        self.decoder = SegNetDecoder(widths, depths)
        self.register_buffer("mean", torch.tensor([float(m) for m in mean]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor([float(s) for s in std]).view(1, 3, 1, 1), persistent=False)
        self.config: dict = {"widths": list(widths), "depths": list(depths),
                             "mean": [float(m) for m in mean], "std": [float(s) for s in std]}

    @property
    def multiple(self) -> int:
        """Input height and width must be multiples of this (2**stages)."""
        return size_multiple(len(self.config["widths"]))

    def check_input(self, x01: Tensor) -> None:
        """Raise :class:`ConfigError` unless ``x01`` is (B, 3, H, W) with H, W multiples of ``multiple``."""
        if x01.dim() != 4 or x01.shape[1] != 3:
            raise ConfigError(f"SegNet takes images of shape (B, 3, H, W); got {tuple(x01.shape)}")
        h, w = x01.shape[-2:]
        if h % self.multiple or w % self.multiple or h == 0 or w == 0:
            raise ConfigError(f"SegNet needs height and width that are multiples of {self.multiple}; got {h}x{w}. "
                              f"Resize or crop the image first (e.g. --size {max(self.multiple, h // self.multiple * self.multiple)})")

    def encode(self, x01: Tensor) -> Code:
        """Normalise (B, 3, H, W) images in [0, 1] and run the encoder."""
        self.check_input(x01)
        return self.encoder((x01 - self.mean) / self.std)

    def decode(self, code: Code, decoder: SegNetDecoder | None = None) -> Tensor:
        """Run ``decoder`` (default: this AE's) and map back to [0, 1] space: (B, 3, H, W), unclamped."""
        y = (decoder if decoder is not None else self.decoder)(code)
        return y * self.std + self.mean

    def forward(self, x01: Tensor) -> Tensor:
        return self.decode(self.encode(x01))

    @classmethod
    def from_vgg16_bn(cls, weights: str | None = "DEFAULT", **kwargs) -> SegNet:
        """A full-width SegNet whose encoder starts from torchvision's VGG16-BN ImageNet weights.

        ``weights``: a ``VGG16_BN_Weights`` name (``"DEFAULT"``, ``"IMAGENET1K_V1"``) or ``None`` (random).
        The file must be in torch's cache ($TORCH_HOME/hub/checkpoints) or downloadable; otherwise
        :class:`WeightsUnavailableError`. The decoder stays randomly initialised.
        """
        kwargs.setdefault("widths", VGG16_WIDTHS)
        kwargs.setdefault("depths", VGG16_DEPTHS)
        model = cls(**kwargs)
        if weights is not None:
            model.encoder.load_state_dict(vgg_features_to_encoder(_vgg16_bn_state_dict(weights), model.encoder))
        return model


def vgg_features_to_encoder(state: Mapping[str, Tensor], encoder: SegNetEncoder) -> dict[str, Tensor]:
    """Map torchvision VGG-BN keys ``features.N.*`` onto the encoder's ``conv11..`` / ``bn11..`` names.

    Conv layers are the ``features.N`` entries with a 4-D weight, BatchNorms those with ``running_mean``;
    both are taken in order of N. Raises :class:`ConfigError` if counts or shapes do not match.
    """
    layers: dict[int, dict[str, Tensor]] = {}
    for key, value in state.items():
        parts = key.split(".")
        if len(parts) == 3 and parts[0] == "features" and parts[1].isdigit():
            layers.setdefault(int(parts[1]), {})[parts[2]] = value
    convs = [layers[i] for i in sorted(layers) if layers[i].get("weight") is not None and layers[i]["weight"].dim() == 4]
    bns = [layers[i] for i in sorted(layers) if "running_mean" in layers[i]]
    names = encoder.layer_names()
    if len(convs) != len(names) or len(bns) != len(names):
        raise ConfigError(f"the VGG weights have {len(convs)} convs and {len(bns)} BatchNorms, but this encoder has "
                          f"{len(names)} conv/BN layers; VGG16-BN needs widths {VGG16_WIDTHS} and depths {VGG16_DEPTHS}")
    out: dict[str, Tensor] = {}
    for name, conv, bn in zip(names, convs, bns, strict=True):
        for key, value in conv.items():
            out[f"conv{name}.{key}"] = value
        for key, value in bn.items():
            out[f"bn{name}.{key}"] = value
    own = encoder.state_dict()
    for key, value in own.items():
        if key not in out and key.endswith("num_batches_tracked"):
            out[key] = torch.zeros_like(value)
        elif key not in out:
            raise ConfigError(f"the VGG weights have no tensor for encoder.{key}")
        elif out[key].shape != value.shape:
            raise ConfigError(f"VGG tensor for encoder.{key} has shape {tuple(out[key].shape)}, "
                              f"the encoder needs {tuple(value.shape)}")
    return out


def _vgg16_bn_state_dict(weights: str) -> dict[str, Tensor]:
    """torchvision's VGG16-BN state dict from the torch cache (or a download), read with weights_only."""
    import os
    from urllib.parse import urlparse

    from torchvision.models import VGG16_BN_Weights

    try:
        entry = VGG16_BN_Weights.verify(weights)
    except (KeyError, ValueError) as exc:
        raise ConfigError(f"unknown VGG16-BN weights {weights!r}: use DEFAULT or IMAGENET1K_V1") from exc
    filename = os.path.basename(urlparse(entry.url).path)
    where = os.path.join(torch.hub.get_dir(), "checkpoints", filename)
    try:
        return torch.hub.load_state_dict_from_url(entry.url, progress=False, check_hash=True,
                                                  map_location="cpu", weights_only=True)
    except Exception as exc:  # no network, proxy refusal, truncated file: all mean the same to the user
        if os.path.isfile(where):
            raise WeightsUnavailableError(f"the cached VGG16-BN weights {where} could not be read ({exc}); "
                                          f"delete the file and download {entry.url} again") from exc
        raise WeightsUnavailableError(
            f"VGG16-BN weights {filename} are not in the torch cache and could not be downloaded ({exc}). "
            f"Download {entry.url} on a machine with internet access and put it at {where} "
            f"(the folder is $TORCH_HOME/hub/checkpoints), or start from random weights") from exc
