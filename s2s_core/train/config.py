"""Training configuration: YAML file + command-line overrides, validated, with unknown keys refused.

Two flat dataclasses, :class:`PretrainConfig` (Sec. 3.2: the SegNet AE trained to reconstruct) and
:class:`FinetuneConfig` (Sec. 3.3: its decoder fine-tuned through a frozen classifier). Values come, in
order of precedence, from explicit flags / ``--set key=value``, then the YAML file, then the defaults
below. ``resolve_config`` returns the validated dataclass; ``config.to_dict()`` is what gets written to
``RUN/config.json``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

from s2s_core.errors import ConfigError

C = TypeVar("C", bound="_Run")
DEFAULT_WEIGHTS = "DEFAULT"
#: Where pre-training takes its MSE (:class:`PretrainConfig` ``loss_space``, :func:`s2s_core.train.pretrain.reconstruction_loss`).
LOSS_SPACES = ("pixel", "normalized")


@dataclass
class _Run:
    """Settings of every training command (run dir, device, checkpoints, logging)."""

    out: str = "runs/train"  #: the run dir (``config.json``, ``progress.jsonl``, ``ckpt/``, ``model/``)
    batch_size: int = 16  #: images per step and per process
    seed: int = 0
    ckpt_every: int = 500  #: write the training state every K steps (and on SIGTERM/SIGINT)
    log_every: int = 10  #: progress event every N steps
    num_workers: int = 0  #: DataLoader worker processes
    device: str = "auto"  #: auto | cpu | cuda | cuda:N
    threads: int | None = None  #: torch threads (None: S2S_THREADS or torch's default)
    compile: bool = False  #: torch.compile the model
    amp: bool = True  #: bf16 autocast on CUDA (no effect on the CPU)
    channels_last: bool = True  #: channels_last memory format on CUDA (no effect on the CPU)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def keys(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    def validate(self) -> None:
        _positive(self, "batch_size", "ckpt_every", "log_every")
        if self.num_workers < 0:
            raise ConfigError(f"num_workers: must be 0 or more, got {self.num_workers}")
        if self.threads is not None and self.threads < 1:
            raise ConfigError(f"threads: must be at least 1, got {self.threads}")


@dataclass
class _Base(_Run):
    """Settings shared by the two autoencoder commands (Sec. 3.2-3.3): step count, SegNet input size, augmentation."""

    steps: int = 1000  #: optimiser steps in total (each of ``batch_size`` images per process)
    size: int = 256  #: input size (square crops, a multiple of 2**stages: 32 for the default five-stage SegNet)
    augment: dict[str, Any] | bool = True  #: Sec. 3.2 augmentations: True, False or AugmentConfig fields

    def validate(self) -> None:
        super().validate()
        _positive(self, "steps")
        if self.size is not None and self.size < 1:  # the multiple of 2**stages: where the AE's layout is known
            raise ConfigError(f"size: must be positive, got {self.size}")
        if not isinstance(self.augment, bool | dict):
            raise ConfigError(f"augment: expected true, false or a mapping of augmentation settings, got {self.augment!r}")
        if isinstance(self.augment, dict):
            from s2s_core.data.augment import AugmentConfig

            try:
                AugmentConfig.from_dict(self.augment)
            except ConfigError as exc:
                raise ConfigError(f"augment: {exc}") from exc


@dataclass
class PretrainConfig(_Base):
    """``s2s pretrain``: the SegNet AE of Sec. 3.1 trained with MSE (Sec. 3.2).

    Paper: 256 px, SGD momentum 0.9, lr 0.01, held-out check every 1 million images, lr x0.2 after two
    consecutive checks without improvement.
    """

    data: list[str] = field(default_factory=list)  #: ImageFolder tree, flat folder, or .tar shards
    #: held-out images ([]: ``heldout_images`` of ``data``, a seeded sample stratified over its class folders)
    heldout: list[str] = field(default_factory=list)
    heldout_images: int = 256  #: how many held-out images each check uses
    eval_every_images: int = 1_000_000  #: check the held-out loss every N training images (all processes)
    optimizer: str = "sgd"  #: sgd (the paper's, with ``momentum``) | adam (not in the paper; faster on tiny demos)
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 0.0
    lr_factor: float = 0.2  #: lr multiplier on a plateau
    lr_patience: int = 2  #: consecutive checks without improvement before the lr is multiplied
    widths: list[int] = field(default_factory=lambda: [64, 128, 256, 512, 512])
    depths: list[int] = field(default_factory=lambda: [2, 2, 3, 3, 3])
    init_encoder: str | None = None  #: None, "vgg16_bn" (torchvision weights) or a .safetensors/.pth file
    #: where the MSE is taken: "pixel" (A(x) and x in [0, 1]) or "normalized" (both ImageNet-normalised, as the
    #: authors' network maps normalised input to normalised output: each channel weighted by 1/std², about 20x
    #: the pixel loss and its gradient at the same lr). Default "pixel": what the shipped demo zoo was trained with.
    loss_space: str = "pixel"

    def validate(self) -> None:
        super().validate()
        _positive(self, "heldout_images", "eval_every_images", "lr", "lr_patience")
        if self.loss_space not in LOSS_SPACES:
            raise ConfigError(f"loss_space: must be one of {', '.join(LOSS_SPACES)}, got {self.loss_space!r}")
        if self.optimizer not in ("sgd", "adam"):
            raise ConfigError(f"optimizer: must be sgd or adam, got {self.optimizer!r}")
        if not 0 < self.lr_factor < 1:
            raise ConfigError(f"lr_factor: must be between 0 and 1, got {self.lr_factor}")
        if not 0 <= self.momentum < 1:
            raise ConfigError(f"momentum: must be in [0, 1), got {self.momentum}")
        if self.weight_decay < 0:
            raise ConfigError(f"weight_decay: must be 0 or more, got {self.weight_decay}")
        from s2s_core.models.segnet import check_input_size, check_layout

        try:
            check_layout(self.widths, self.depths)
        except ConfigError as exc:
            raise ConfigError(f"widths/depths: {exc}") from exc
        check_input_size(self.size, len(self.widths))
        _existing_paths("data", self.data, required=True)
        _existing_paths("heldout", self.heldout, required=False)
        if self.init_encoder not in (None, "vgg16_bn") and not Path(self.init_encoder).is_file():
            raise ConfigError(f"init_encoder: {self.init_encoder!r} is neither 'vgg16_bn' nor an existing weights file")


@dataclass
class FinetuneConfig(_Base):
    """``s2s finetune``: a copy of the pre-trained AE fine-tuned through a frozen classifier (Sec. 3.3).

    The paper gives no fine-tuning optimiser; we default to Adam with a small lr (1e-4) because
    cross-entropy alone quickly pulls the decoder away from A_S (see docs/DEMO_ZOO_NOTES).
    """

    base: str = ""  #: the pre-trained ``ae`` unit (A_S)
    classifier: str = ""  #: a classifier unit dir, or a registry / torchvision name
    #: for a registry name: DEFAULT or a torchvision tag (published weights, from the torch cache), or
    #: ``none`` for a randomly initialised classifier (only on request; recorded in the manifest)
    classifier_weights: str = DEFAULT_WEIGHTS
    classifier_name: str | None = None  #: name recorded in the manifest (default: derived from ``classifier``)
    #: class names in the classifier's label order, only for a classifier unit that records none (older units)
    classes: list[str] | None = None
    data: list[str] = field(default_factory=list)  #: labelled ImageFolder tree(s)
    size: int | None = None  #: AE input size; None: the base AE's training size (its manifest's ``size``)
    train: str = "decoder"  #: decoder | encoder | both (the paper found decoder-only best)
    optimizer: str = "adam"  #: adam | sgd
    lr: float = 1e-4
    momentum: float = 0.9  #: SGD only
    weight_decay: float = 0.0
    recon_weight: float = 0.0  #: weight of an extra MSE(reconstruction, input) term; the paper uses 0
    augment: dict[str, Any] | bool = False
    ckpt_every: int = 200

    def validate(self) -> None:
        super().validate()
        _positive(self, "lr")
        if self.train not in ("decoder", "encoder", "both"):
            raise ConfigError(f"train: must be decoder, encoder or both, got {self.train!r}")
        if self.optimizer not in ("adam", "sgd"):
            raise ConfigError(f"optimizer: must be adam or sgd, got {self.optimizer!r}")
        if self.recon_weight < 0:
            raise ConfigError(f"recon_weight: must be 0 or more, got {self.recon_weight}")
        if not 0 <= self.momentum < 1:
            raise ConfigError(f"momentum: must be in [0, 1), got {self.momentum}")
        if not self.base:
            raise ConfigError("base: the pre-trained AE unit is required (s2s pretrain writes it to RUN/model)")
        if not (Path(self.base) / "manifest.json").is_file():
            raise ConfigError(f"base: {self.base!r} is not an AE unit (no manifest.json there)")
        if not self.classifier:
            raise ConfigError("classifier: a classifier unit dir or registry name is required")


#: Learning-rate schedules of ``s2s train-classifier`` (stepped once per optimiser step).
SCHEDULES = ("step", "cosine", "onecycle", "constant")
CLASSIFIER_OPTIMIZERS = ("sgd", "adam", "adamw")
#: ``s2s train-classifier --preset``: starting values that lie beneath the config file, ``--set`` and flags.
#: ``imagenet`` is torchvision's reference recipe (the dataclass defaults). ``small`` is for a few thousand
#: images (digits, shapes): SGD at lr 0.1 with 8-100 % crops and flips stays at chance for epochs there, and
#: flips are wrong for digits; Adam at 1e-3 with a cosine decay, crops of 85-100 % of the area and no flips
#: learns in a few epochs.
CLASSIFIER_PRESETS: dict[str, dict[str, Any]] = {
    "imagenet": {},
    "small": {"optimizer": "adam", "lr": 1e-3, "weight_decay": 0.0, "schedule": "cosine", "epochs": 30,
              "flip": False, "crop_scale": [0.85, 1.0]},
}


@dataclass
class ClassifierConfig(_Run):
    """``s2s train-classifier``: a registry classifier trained from scratch on an ImageFolder tree.

    The recipe follows torchvision's reference scripts (``references/classification``): SGD with momentum
    0.9, lr 0.1, weight decay 1e-4, the lr x0.1 every 30 epochs (``schedule: step``) or a cosine decay,
    RandomResizedCrop (area 8-100 %) and horizontal flips for training, resize + centre crop (224/256 of the
    resized side) for validation, no label smoothing. The paper trains LeNet-5 on ImageNet at 224 px (Sec. 3.3).
    """

    #: a named set of defaults (:data:`CLASSIFIER_PRESETS`); settings given anywhere else win over it
    preset: str = "imagenet"
    arch: str = "lenet5"  #: classifier registry name (``s2s_core.models.classifiers``)
    name: str | None = None  #: name recorded in the unit (default: ``arch``)
    data: list[str] = field(default_factory=list)  #: the labelled training ImageFolder tree: root/<class>/<image>
    val: str | None = None  #: a labelled validation ImageFolder (same class folders); None: no validation
    num_classes: int | None = None  #: None: the number of class folders of ``data``
    size: int | None = None  #: training crop / validation size; None: the architecture's input size
    val_resize: int | None = None  #: validation resize of the shorter side before the centre crop; None: size / 0.875
    epochs: int = 90
    batch_size: int = 32
    optimizer: str = "sgd"  #: sgd (with ``momentum``) | adam | adamw
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 1e-4
    schedule: str = "step"  #: step | cosine | onecycle | constant
    lr_step_epochs: int = 30  #: ``step``: multiply the lr by ``lr_gamma`` every this many epochs
    lr_gamma: float = 0.1
    warmup_epochs: int = 0  #: linear warm-up from 1 % of ``lr`` (step and cosine)
    label_smoothing: float = 0.0
    crop_scale: list[float] = field(default_factory=lambda: [0.08, 1.0])  #: RandomResizedCrop area fraction range
    flip: bool = True  #: random horizontal flips (p = 0.5)
    ckpt_every: int = 1000

    def validate(self) -> None:
        super().validate()
        _check_preset(self.preset)
        _positive(self, "epochs", "lr", "lr_step_epochs")
        if self.optimizer not in CLASSIFIER_OPTIMIZERS:
            raise ConfigError(f"optimizer: must be one of {', '.join(CLASSIFIER_OPTIMIZERS)}, got {self.optimizer!r}")
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"schedule: must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}")
        if not 0 <= self.momentum < 1:
            raise ConfigError(f"momentum: must be in [0, 1), got {self.momentum}")
        if self.weight_decay < 0 or self.warmup_epochs < 0:
            raise ConfigError("weight_decay and warmup_epochs: must be 0 or more")
        if not 0 < self.lr_gamma <= 1:
            raise ConfigError(f"lr_gamma: must be in (0, 1], got {self.lr_gamma}")
        if not 0 <= self.label_smoothing < 1:
            raise ConfigError(f"label_smoothing: must be in [0, 1), got {self.label_smoothing}")
        if len(self.crop_scale) != 2 or not 0 < self.crop_scale[0] <= self.crop_scale[1] <= 1:
            raise ConfigError(f"crop_scale: need [low, high] with 0 < low <= high <= 1, got {self.crop_scale}")
        for key in ("num_classes", "size", "val_resize"):
            if getattr(self, key) is not None and getattr(self, key) < 1:
                raise ConfigError(f"{key}: must be positive, got {getattr(self, key)}")
        if len(self.data) != 1:
            raise ConfigError(f"data: give one labelled ImageFolder tree (root/<class>/<image>), got {self.data or 'none'}")
        _existing_paths("data", self.data, required=True)
        if self.val is not None and not Path(self.val).is_dir():
            raise ConfigError(f"val: {self.val!r} is not a directory")
        from s2s_core.models.classifiers import get_spec

        get_spec(self.arch)  # unknown names are refused with the closest known ones


def _check_preset(name: str) -> None:
    if name not in CLASSIFIER_PRESETS:
        raise ConfigError(f"preset: must be one of {', '.join(CLASSIFIER_PRESETS)}, got {name!r}")


def _positive(cfg: _Run, *names: str) -> None:
    for name in names:
        value = getattr(cfg, name)
        if not value > 0:
            raise ConfigError(f"{name}: must be positive, got {value}")


def _existing_paths(name: str, paths: Sequence[str], *, required: bool) -> None:
    if required and not paths:
        raise ConfigError(f"{name}: no data given; pass a folder of images or a list of .tar shards")
    for p in paths:
        if not Path(p).exists():
            raise ConfigError(f"{name}: {p!r} does not exist")


#: Integer settings whose default is None (the type cannot be read from the default).
_OPTIONAL_INTS = ("threads", "num_classes", "size", "val_resize")


def _coerce(cls: type[_Run], key: str, value: Any) -> Any:
    """Turn a YAML / command-line value into the field's type (strings from ``--set`` are YAML-parsed)."""
    default = {f.name: f for f in dataclasses.fields(cls)}[key]
    if isinstance(value, str) and key not in ("out", "base", "classifier", "device"):
        with contextlib.suppress(yaml.YAMLError):
            value = yaml.safe_load(value) if value.strip() else value
    proto = default.default if default.default is not dataclasses.MISSING else default.default_factory()
    if key == "classes":
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if value is None or (isinstance(value, list) and all(isinstance(v, str) and v for v in value)):
            return value or None
        raise ConfigError(f"classes: expected a list of class names, got {value!r}")
    if key == "classifier_weights" and isinstance(value, str) and value.lower() == "none":
        return "none"
    if key in ("data", "heldout"):
        if isinstance(value, str | Path):
            return [str(value)]
        if isinstance(value, list) and all(isinstance(v, str | Path) for v in value):
            return [str(v) for v in value]
        raise ConfigError(f"{key}: expected a path or a list of paths, got {value!r}")
    if value is None:
        if proto is None or key in ("threads", "init_encoder", "classifier_name"):
            return None
        if key == "classifier_weights":
            raise ConfigError("classifier_weights: give DEFAULT, a torchvision weights tag, or none (a randomly "
                              "initialised classifier)")
        raise ConfigError(f"{key}: a value is required")
    try:
        if isinstance(proto, bool) and key != "augment":
            if isinstance(value, bool):
                return value
            raise ValueError
        if key == "augment":
            if isinstance(value, bool | dict):
                return value
            raise ValueError
        if isinstance(proto, int) or key in _OPTIONAL_INTS:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            return int(value)
        if isinstance(proto, float):
            if isinstance(value, bool):
                raise ValueError
            return float(value)
        if isinstance(proto, list):
            if not isinstance(value, list):
                raise ValueError
            kind = float if proto and isinstance(proto[0], float) else int
            return [kind(v) for v in value]
        return str(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{key}: invalid value {value!r} (expected {type(proto).__name__})") from exc


def parse_set(items: Sequence[str]) -> dict[str, str]:
    """``["lr=0.1", "widths=[8,16,16,32,32]"]`` -> ``{"lr": "0.1", ...}`` (values parsed later)."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {item!r}: expected key=value")
        out[key.strip()] = value
    return out


def resolve_config(cls: type[C], *layers: Mapping[str, Any] | None, validate: bool = True) -> C:
    """Merge layers of settings (later ones win) onto the defaults of ``cls`` and validate.

    Unknown keys raise :class:`ConfigError` naming the key and listing the valid ones. A class with a
    ``preset`` setting gets that preset's values (:data:`CLASSIFIER_PRESETS`) for every key no layer sets.
    """
    valid = cls.keys()
    values: dict[str, Any] = {}
    for layer in layers:
        for key, value in (layer or {}).items():
            if key not in valid:
                raise ConfigError(f"unknown configuration key {key!r}; valid keys: {', '.join(sorted(valid))}")
            values[key] = _coerce(cls, key, value)
    if "preset" in valid:
        preset = values.get("preset", "imagenet")
        _check_preset(preset)
        for key, value in CLASSIFIER_PRESETS[preset].items():
            values.setdefault(key, _coerce(cls, key, value))
    cfg = cls(**values)
    if validate:
        cfg.validate()
    return cfg


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Read a YAML (or JSON) mapping of settings."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file {str(p)!r} does not exist")
    try:
        data = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {str(p)!r} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"config file {str(p)!r} must hold a mapping of key: value")
    return data


#: Settings a resumed run may change: they do not alter what the saved training state means.
RESUME_MAY_CHANGE = frozenset({"out", "steps", "device", "threads", "num_workers", "ckpt_every", "log_every",
                               "compile", "amp", "channels_last", "epochs"})


def resume_mismatch(saved: dict[str, Any], cfg: _Run) -> str | None:
    """None when ``cfg`` may resume a run saved with ``saved`` settings, else a sentence naming the first
    setting (in field order) that differs and is not in :data:`RESUME_MAY_CHANGE`."""
    now = cfg.to_dict()
    for key, value in now.items():
        if key in RESUME_MAY_CHANGE or key not in saved:
            continue
        if saved[key] != value:
            return (f"--resume: setting {key!r} was {saved[key]!r} when the run started but is {value!r} now; "
                    f"resume without changing it, or start a new run with another --out")
    return None


def write_config(cfg: _Run, path: Path) -> None:
    """Save the resolved configuration (``RUN/config.json``)."""
    path.write_text(json.dumps({"kind": type(cfg).__name__, **cfg.to_dict()}, indent=2) + "\n")


def read_saved_config(path: Path) -> dict[str, Any]:
    """The settings saved by :func:`write_config`, without the ``kind`` tag."""
    data = json.loads(path.read_text())
    data.pop("kind", None)
    return data
