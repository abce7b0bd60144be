"""The classifier registry: the frozen classifiers i that the autoencoders A_i are fine-tuned through (Sec. 3.3).

Every entry is a :class:`ClassifierSpec`: a builder plus the preprocessing the network expects (input size,
mean, std). :class:`Classifier` wraps a network with that preprocessing so that the rest of s2s hands it
images in [0, 1] of any size. The resize is differentiable, because fine-tuning a decoder backpropagates the
classification loss through the frozen classifier into the reconstruction (Sec. 3.3).

Entries: the paper's five classifiers (``lenet5``, ``alexnet``, ``vgg16_bn``, ``resnet50``, ``inception_v3``),
the demo-sized family members of ``demo_nets`` (64 px, 10 classes), any other torchvision classification model
by name, and users' own checkpoints (:func:`register_checkpoint`, :func:`from_checkpoint`).

Pre-trained torchvision weights are used only when their file is already in the torch hub cache, or when the
environment variable ``S2S_ALLOW_DOWNLOAD=1`` allows downloading; the file is read with ``weights_only=True``.
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlparse

import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from s2s_core import settings
from s2s_core.data.class_names import ClassNames, from_categories
from s2s_core.data.preprocess import Preprocessing
from s2s_core.errors import CheckpointError, ConfigError, WeightsUnavailableError
from s2s_core.models.demo_nets import DEMO_ENTRIES, DEMO_INPUT_SIZE, DEMO_NUM_CLASSES
from s2s_core.models.lenet import LeNet5
from s2s_core.models.segnet import IMAGENET_MEAN, IMAGENET_STD
from s2s_core.weights import WRAPPER_PREFIXES, load_into, read_state_dict

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "Classifier", "ClassifierSpec", "available", "build",
           "check_weights_available", "from_checkpoint", "get_spec", "hub_weights_path", "load_weights_into",
           "native_preprocessing", "published_accuracy", "register", "register_checkpoint", "spec_for_weights"]
# Auxiliary heads that torchvision's GoogLeNet / Inception v3 carry; s2s always uses the main logits only.
_AUX_PREFIXES = ("AuxLogits.", "aux1.", "aux2.")
_LOAD_LOCK = threading.Lock()


@dataclass(frozen=True)
class ClassifierSpec:
    """A registry entry. ``builder(num_classes=N, weights=None | "DEFAULT" | tag) -> nn.Module`` returns the raw
    network, which takes images normalised with ``mean``/``std`` at ``input_size`` x ``input_size``.
    ``classes``: the class names of its logits in label order, when known (pre-trained weights, saved units).

    ``resize_size``/``interpolation``: the native evaluation protocol of the weights (resize the shorter side to
    ``resize_size``, centre-crop ``input_size``; torchvision's ``weights.transforms()``); ``None`` for networks
    without one, which take the zoo's AE input (:func:`native_preprocessing`). ``weights``: the weights tag the
    protocol was read from (``"IMAGENET1K_V1"``), for the record of the results; only published weights
    have one. ``origin``: where the weights come from, ``"published"``, ``"trained"`` (a unit trained here),
    ``"random"`` or ``""`` (not built yet: a registry entry)."""

    name: str
    builder: Callable[..., nn.Module]
    input_size: int
    mean: tuple
    std: tuple
    num_classes: int = 1000
    default_weights: str | None = None
    family: str = ""
    description: str = ""
    classes: ClassNames | None = None
    resize_size: int | None = None
    interpolation: str = "bilinear"
    weights: str | None = None
    origin: str = ""


_REGISTRY: dict[str, ClassifierSpec] = {}


def register(spec: ClassifierSpec) -> ClassifierSpec:
    """Add ``spec`` to the registry; a name that is already registered raises ConfigError."""
    if spec.name in _REGISTRY:
        raise ConfigError(f"a classifier named {spec.name!r} is already registered: choose another name")
    if spec.input_size < 1 or len(spec.mean) != 3 or len(spec.std) != 3 or min(spec.std) <= 0:
        raise ConfigError(f"classifier {spec.name!r}: input_size must be >= 1 and mean/std three values (std > 0)")
    _REGISTRY[spec.name] = spec
    return spec


def available(include_torchvision: bool = False) -> list[str]:
    """Registered names in registration order; with ``include_torchvision`` also every other torchvision
    classification model that :func:`get_spec` accepts."""
    names = list(_REGISTRY)
    if include_torchvision:
        names += [n for n in _torchvision_names() if n not in _REGISTRY]
    return names


def get_spec(name: str) -> ClassifierSpec:
    """The spec of a registered name or of any torchvision classification model; otherwise ConfigError naming
    the closest known names."""
    if name in _REGISTRY:
        return _REGISTRY[name]
    if name in _torchvision_names():
        return _torchvision_spec(name)
    close = difflib.get_close_matches(name, available(include_torchvision=True), n=4, cutoff=0.5)
    hint = f"did you mean {', '.join(close)}?" if close else f"registered: {', '.join(available())}"
    raise ConfigError(f"unknown classifier {name!r}: {hint} (any torchvision classification model name works too)")


def spec_for_weights(name: str, weights: str | None) -> ClassifierSpec:
    """The spec of ``name`` with input size / mean / std taken from the torchvision weights ``weights`` (their
    eval transforms), e.g. ``vit_b_16`` with ``IMAGENET1K_SWAG_E2E_V1`` takes 384 px inputs, and the class
    names from ``weights.meta["categories"]`` (ImageNet-1k ones with their WordNet ids)."""
    spec = get_spec(name)
    b = spec.builder
    if weights is None or not (isinstance(b, functools.partial) and b.func is _build_torchvision):
        return spec
    w = _resolve_weights(spec.builder.args[0], weights)
    categories = w.meta.get("categories")
    return replace(spec, **_transform_params(w), classes=from_categories(categories) if categories else None,
                   origin="published")


def check_weights_available(name: str, weights: str) -> ClassifierSpec:
    """The spec (with class names) of registry entry ``name`` with ``weights``, after checking that those weights
    can be loaded here: torchvision weights must be in the torch hub cache (or downloads allowed with
    ``S2S_ALLOW_DOWNLOAD=1``), else :class:`WeightsUnavailableError` with today's message; entries without
    published weights raise ConfigError. Nothing is loaded (for refusing a zoo entry before it is written)."""
    spec = get_spec(name)
    b = spec.builder
    if not (isinstance(b, functools.partial) and b.func is _build_torchvision):
        if spec.default_weights is None:
            raise ConfigError(f"no pre-trained weights exist for {name}: save a trained {name} as a classifier unit "
                              "and give its directory")
        return spec
    w = _resolve_weights(b.args[0], weights)
    path = hub_weights_path(w)
    if not path.is_file() and not settings.allow_download():
        raise WeightsUnavailableError(_missing_weights_message(b.args[0], w, path))
    return spec_for_weights(name, weights)


def _missing_weights_message(tv_name: str, w, path: Path) -> str:
    return (f"pre-trained weights {type(w).__name__}.{w.name} for {tv_name} are not in the local cache: put the file "
            f"{path.name} (from {w.url}) at {path}, or set {settings.ALLOW_DOWNLOAD_ENV}=1 to let s2s download it")


def native_preprocessing(spec: ClassifierSpec) -> Preprocessing | None:
    """The centre-crop protocol of ``spec``'s weights (Table 1's "center-crop, single-scale"), or ``None`` when
    the network has none of its own (it then reads the zoo's AE input, resized to ``input_size``)."""
    if spec.resize_size is None:
        return None
    return Preprocessing(crop_size=spec.input_size, resize_size=spec.resize_size, interpolation=spec.interpolation)


def published_accuracy(spec: ClassifierSpec) -> tuple[float, float] | None:
    """torchvision's published ImageNet-1K (top-1, top-5) in % for ``spec``'s weights (their metadata), or
    ``None`` when there are none (own networks, other data)."""
    b = spec.builder
    if spec.weights is None or not (isinstance(b, functools.partial) and b.func is _build_torchvision):
        return None
    metrics = _resolve_weights(b.args[0], spec.weights).meta.get("_metrics", {}).get("ImageNet-1K", {})
    if "acc@1" not in metrics:
        return None
    return float(metrics["acc@1"]), float(metrics.get("acc@5", float("nan")))


def build(name: str, *, weights: str | None = None, num_classes: int | None = None) -> nn.Module:
    """The raw network of ``name`` (expects normalised input at ``get_spec(name).input_size``).

    ``weights=None`` initialises randomly; ``"DEFAULT"`` or a tag (``"IMAGENET1K_V1"``) loads torchvision
    weights (see the module doc for when that may download); ``num_classes`` defaults to the spec's.
    """
    spec = get_spec(name)
    n = spec.num_classes if num_classes is None else int(num_classes)
    if n < 1:
        raise ConfigError(f"num_classes must be at least 1, got {num_classes}")
    return spec.builder(num_classes=n, weights=weights)


class Classifier(nn.Module):
    """A network plus its preprocessing: ``forward(x01)`` with ``x01`` of shape ``(B, 3, H, W)`` in [0, 1], any
    H and W, returns logits ``(B, num_classes)``. The input is resized bilinearly (differentiably, no antialias)
    to ``spec.input_size`` when its size differs, then normalised with ``spec.mean``/``spec.std`` (Sec. 3.3).
    Construct as ``Classifier(spec, net)`` or :meth:`from_name`; the state dict holds only ``net.*``."""

    def __init__(self, spec: ClassifierSpec, net: nn.Module) -> None:
        super().__init__()
        self.spec = spec
        self.net = net
        self.register_buffer("mean", torch.tensor(spec.mean, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(spec.std, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def input_size(self) -> int:
        return self.spec.input_size

    @property
    def classes(self) -> ClassNames | None:
        """Class names of the logits in label order (None when unknown, e.g. randomly initialised)."""
        return self.spec.classes

    @classmethod
    def from_name(cls, name: str, weights: str | None = None, num_classes: int | None = None) -> Classifier:
        """Build registry entry ``name`` (see :func:`build`) with the preprocessing its weights expect."""
        spec = spec_for_weights(name, weights)
        if weights is None:  # randomly initialised: the protocol of the family, but no published accuracy
            spec = replace(spec, weights=None, origin="random")
        net = build(name, weights=weights, num_classes=num_classes)
        if num_classes is not None:
            spec = replace(spec, num_classes=int(num_classes))
        if weights is None and spec.classes is not None:
            spec = replace(spec, classes=None)  # random weights: the labels mean nothing yet
        return cls(spec, net)

    def preprocess(self, x01: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` in [0, 1] -> ``(B, 3, S, S)`` normalised, ``S = spec.input_size`` (differentiable)."""
        if x01.dim() != 4 or x01.shape[1] != 3:
            raise ConfigError(f"classifier {self.name!r} takes images shaped (B, 3, H, W), got {tuple(x01.shape)}")
        size = self.spec.input_size
        if x01.shape[-2:] != (size, size):
            x01 = F.interpolate(x01, size=(size, size), mode="bilinear", align_corners=False, antialias=False)
        return (x01 - self.mean.to(x01.dtype)) / self.std.to(x01.dtype)

    def forward(self, x01: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` in [0, 1] -> logits ``(B, num_classes)``; auxiliary heads are never returned."""
        out = self.net(self.preprocess(x01))
        if not isinstance(out, torch.Tensor) and hasattr(out, "logits"):  # InceptionOutputs / GoogLeNetOutputs
            out = out.logits
        return out


# --------------------------------------------------------------------------------------------- torchvision


@functools.cache
def _torchvision_names() -> frozenset[str]:
    return frozenset(torchvision.models.list_models(module=torchvision.models))


def _resolve_weights(tv_name: str, weights: str):
    """The torchvision weights enum member for ``"DEFAULT"``, a tag, or ``"Enum.TAG"``."""
    enum = torchvision.models.get_model_weights(tv_name)
    tag = str(weights).split(".")[-1]
    try:
        return enum[tag]
    except KeyError:
        tags = ["DEFAULT", *(w.name for w in enum)]
        raise ConfigError(f"{tv_name} has no weights {weights!r}: use one of {', '.join(tags)}") from None


def _transform_params(w) -> dict:
    """Spec fields of a weights' eval transforms: ``input_size`` (crop), ``mean``, ``std``, ``resize_size``,
    ``interpolation``, ``weights`` (ImageNet defaults where a field is missing). Builds the transforms object
    from the enum's metadata only: nothing is downloaded."""
    t = w.transforms()
    crop = getattr(t, "crop_size", [224])
    resize = getattr(t, "resize_size", None)
    interpolation = getattr(t, "interpolation", None)
    return {"input_size": int(crop[0]), "mean": tuple(getattr(t, "mean", IMAGENET_MEAN)),
            "std": tuple(getattr(t, "std", IMAGENET_STD)),
            "resize_size": int(resize[0]) if resize else None,
            "interpolation": getattr(interpolation, "value", "bilinear"), "weights": w.name}


def hub_weights_path(w) -> Path:
    """Where torch hub keeps the file of torchvision weights ``w``: ``torch.hub.get_dir()/checkpoints/<file>``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(w.url).path)


@contextlib.contextmanager
def _weights_only_loads() -> Iterator[None]:
    """torch.hub reads cached files with ``weights_only=False`` unless told otherwise; force safe loading for
    the duration of a torchvision builder call (never unpickle arbitrary objects)."""
    with _LOAD_LOCK:
        old = os.environ.get("TORCH_FORCE_WEIGHTS_ONLY_LOAD")
        os.environ["TORCH_FORCE_WEIGHTS_ONLY_LOAD"] = "1"
        try:
            yield
        finally:
            if old is None:
                os.environ.pop("TORCH_FORCE_WEIGHTS_ONLY_LOAD", None)
            else:
                os.environ["TORCH_FORCE_WEIGHTS_ONLY_LOAD"] = old


def _strip_aux(net: nn.Module) -> nn.Module:
    """Drop GoogLeNet / Inception v3 auxiliary classifiers so that forward returns main logits in train mode too."""
    if hasattr(net, "AuxLogits"):
        net.aux_logits, net.AuxLogits = False, None
    if hasattr(net, "aux1"):
        net.aux_logits, net.aux1, net.aux2 = False, None, None
    return net


def _build_torchvision(tv_name: str, *, num_classes: int, weights: str | None, input_size: int) -> nn.Module:
    """Build torchvision model ``tv_name``; pre-trained weights only from the hub cache or with downloads allowed."""
    kwargs: dict = {}
    if tv_name in ("inception_v3", "googlenet"):
        # torchvision sets transform_input=True with weights; keep it for random init too, so a state dict
        # saved from either rebuilds the same function. Aux heads are dropped (s2s uses main logits only).
        kwargs["transform_input"] = True
    if weights is None:
        kwargs["num_classes"] = num_classes
        if tv_name in ("inception_v3", "googlenet"):
            kwargs.update(aux_logits=False, init_weights=True)
        if tv_name.startswith("vit_"):
            kwargs["image_size"] = input_size
        return torchvision.models.get_model(tv_name, weights=None, **kwargs)
    w = _resolve_weights(tv_name, weights)
    n_pretrained = len(w.meta.get("categories") or []) or num_classes
    if num_classes != n_pretrained:
        raise ConfigError(f"{tv_name} weights {w.name} have {n_pretrained} classes, not {num_classes}: use "
                          f"weights=None to train from scratch, or num_classes={n_pretrained}")
    path = hub_weights_path(w)
    if not path.is_file() and not settings.allow_download():
        raise WeightsUnavailableError(_missing_weights_message(tv_name, w, path))
    try:
        with _weights_only_loads():
            net = torchvision.models.get_model(tv_name, weights=w, **kwargs)
    except OSError as exc:  # includes urllib's URLError
        raise WeightsUnavailableError(f"could not download {w.url} to {path}: {exc}; put the file there by hand") from exc
    except (RuntimeError, ValueError, EOFError) as exc:
        raise CheckpointError(f"the cached weights file {path} could not be loaded into {tv_name} ({exc}): "
                              f"delete it and fetch it again") from exc
    return _strip_aux(net)


def _torchvision_builder(tv_name: str, input_size: int) -> Callable[..., nn.Module]:
    return functools.partial(_build_torchvision, tv_name, input_size=input_size)


@functools.cache
def _torchvision_spec(tv_name: str, family: str = "", description: str = "") -> ClassifierSpec:
    """Spec of a torchvision model: preprocessing from its DEFAULT weights' transforms (ImageNet defaults if none)."""
    params: dict = {"input_size": 224, "mean": IMAGENET_MEAN, "std": IMAGENET_STD}
    with contextlib.suppress(ValueError, AttributeError):  # a model without a weights enum
        params = _transform_params(torchvision.models.get_model_weights(tv_name).DEFAULT)
    module = torchvision.models.get_model_builder(tv_name).__module__.rsplit(".", 1)[-1]
    size = params["input_size"]
    return ClassifierSpec(
        name=tv_name, builder=_torchvision_builder(tv_name, size), num_classes=1000, default_weights="DEFAULT",
        family=family or module, description=description or f"torchvision {tv_name} ({size} px)", **params)


# ----------------------------------------------------------------------------------------- own networks


def _no_pretrained(name: str, make: Callable[[int], nn.Module]) -> Callable[..., nn.Module]:
    def builder(*, num_classes: int, weights: str | None = None) -> nn.Module:
        if weights is not None:
            raise ConfigError(f"no pre-trained weights exist for {name}: give a trained classifier unit instead, "
                              "or ask for random weights explicitly (--classifier-weights none, weights=None)")
        return make(num_classes)
    return builder


# ------------------------------------------------------------------------------------- user checkpoints


def load_weights_into(net: nn.Module, state_dict: Mapping[str, torch.Tensor], source: str) -> nn.Module:
    """Load ``state_dict`` into ``net`` strictly (:func:`s2s_core.weights.load_into`), after removing ``module.`` /
    ``_orig_mod.`` / ``net.`` prefixes and unused auxiliary-head keys."""
    return load_into(net, state_dict, source, prefixes=(*WRAPPER_PREFIXES, "net."), ignore=_AUX_PREFIXES,
                     hint="Check arch and num_classes")


def from_checkpoint(path: str | Path, arch: str, num_classes: int, *, input_size: int | None = None,
                    mean: Sequence[float] | None = None, std: Sequence[float] | None = None,
                    name: str | None = None, classes: ClassNames | Sequence[str] | None = None,
                    resize_size: int | None = None) -> Classifier:
    """A Classifier of architecture ``arch`` (a registry name) with ``num_classes`` outputs, its parameters read
    from a ``.safetensors`` (or weights-only ``.pth``) state-dict file. Size and normalisation default to
    ``arch``'s; the native resize (``resize_size``) only when given: a checkpoint's own protocol is not known.
    ``classes``: its class names in label order (needed to fine-tune or evaluate it on an ImageFolder)."""
    base = get_spec(arch)
    net = load_weights_into(build(arch, num_classes=num_classes), read_state_dict(path), f"checkpoint {path}")
    spec = replace(base, name=name or arch, num_classes=int(num_classes),
                   input_size=int(input_size or base.input_size), mean=tuple(mean or base.mean),
                   std=tuple(std or base.std), default_weights=None, weights=None,
                   resize_size=None if resize_size is None else int(resize_size), origin="trained",
                   classes=_checked_classes(classes, num_classes, f"checkpoint {path}"))
    return Classifier(spec, net)


def _checked_classes(classes: ClassNames | Sequence[str] | None, num_classes: int, where: str) -> ClassNames | None:
    if classes is None:
        return None
    names = ClassNames.of(classes)
    if len(names) != int(num_classes):
        raise ConfigError(f"{where}: {len(names)} class names for {num_classes} outputs")
    return names


def register_checkpoint(name: str, path: str | Path, arch: str, num_classes: int, input_size: int,
                        mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD,
                        family: str = "", description: str = "",
                        classes: ClassNames | Sequence[str] | None = None) -> ClassifierSpec:
    """Register a user's classifier: architecture ``arch`` with parameters from the state-dict file ``path``.
    ``build(name)`` initialises randomly; ``build(name, weights="DEFAULT")`` loads the file. ``classes``: its
    class names in label order (``Classifier.from_name(name, weights="DEFAULT")`` carries them)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint file {path} does not exist: give the path of a .safetensors state dict")
    arch_spec = get_spec(arch)

    def builder(*, num_classes: int, weights: str | None = None) -> nn.Module:
        net = arch_spec.builder(num_classes=num_classes, weights=None)
        if weights is None:
            return net
        if weights not in ("DEFAULT", "checkpoint"):
            raise ConfigError(f"{name} has only its checkpoint as weights: use weights='DEFAULT' or None")
        return load_weights_into(net, read_state_dict(path), f"checkpoint {path}")

    return register(ClassifierSpec(
        name=name, builder=builder, input_size=int(input_size), mean=tuple(mean), std=tuple(std),
        num_classes=int(num_classes), default_weights="DEFAULT", family=family or arch_spec.family,
        description=description or f"{arch} from {path}",
        classes=_checked_classes(classes, num_classes, f"classifier {name}")))


# ---------------------------------------------------------------------------------------------- entries

register(ClassifierSpec(
    name="lenet5", builder=_no_pretrained("lenet5", lambda n: LeNet5(num_classes=n)), input_size=224,
    mean=IMAGENET_MEAN, std=IMAGENET_STD, family="LeNet",
    description="LeNet-5 adapted to 224 px (Sec. 3.3): conv5x5-pool x 2, adaptive pool 5x5, FC 120-84"))
for _tv, _family in (("alexnet", "AlexNet"), ("vgg16_bn", "VGG"), ("resnet50", "ResNet"), ("inception_v3", "Inception")):
    register(_torchvision_spec(_tv, family=_family, description=f"torchvision {_tv}, ImageNet (Sec. 3.3)"))
for _name, (_make, _family, _description) in DEMO_ENTRIES.items():
    register(ClassifierSpec(
        name=_name, builder=_no_pretrained(_name, _make), input_size=DEMO_INPUT_SIZE, mean=IMAGENET_MEAN,
        std=IMAGENET_STD, num_classes=DEMO_NUM_CLASSES, family=_family, description=_description))
