"""A zoo: the pre-trained AE A_S, the fine-tuned AEs A_i and the classifiers i (Sec. 3.2-3.3).

A zoo is a directory with ``zoo.json`` (docs/ARCHITECTURE.md)::

    {"format": "s2s-zoo/1", "name": "demo", "input_size": 64, "num_classes": 10, "seed": 0,
     "base": "base", "classifiers": {"L": "classifiers/L", ...}, "aes": {"L": "aes/L", ...},
     "data": {...}, "recipe": {...}, "results": "results"}

Paths are relative to the zoo directory. A classifier entry may also be ``{"torchvision": NAME, "weights": TAG}``.
:meth:`Zoo.reconstruct_all` runs the base encoder once and every decoder once, so A_S and all A_i
reconstruct the same code (the decoders of A_i were fine-tuned on the frozen encoder of A_S).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
from torch import Tensor, nn

from s2s_core.checkpoints import (
    load_ae,
    load_classifier,
    read_finetuned,
    read_format_json,
    weights_origin,
    write_json_atomic,
)
from s2s_core.data.class_names import ClassNames
from s2s_core.data.gallery import find_test_split
from s2s_core.data.preprocess import zoo_preprocessing
from s2s_core.errors import CheckpointError, ConfigError
from s2s_core.models import classifiers
from s2s_core.models.segnet import Code, SegNet, SegNetDecoder
from s2s_core.views import AE_PREFIX, BASE_KEY, BASE_NAME, ae_key, ae_name

ZOO_FORMAT = "s2s-zoo/1"
ZOO_FILE = "zoo.json"


@dataclass
class ZooInfo:
    """``zoo.json`` read without loading any weights (cheap; for pickers and listings)."""

    path: Path
    name: str
    input_size: int
    num_classes: int
    seed: int | None
    base: str
    classifiers: dict[str, str | dict]
    aes: dict[str, str]
    data: dict = field(default_factory=dict)
    recipe: dict = field(default_factory=dict)
    results: str = "results"
    classes: list[str] | None = None
    class_ids: list[str] | None = None
    preprocessing: dict = field(default_factory=dict)  #: the AE's evaluation crop (s2s_core.data.preprocess)
    #: S2S controls: name of A_i -> a ``decoder`` unit of A_S's decoder fine-tuned, with A_i's recipe, through a
    #: randomly initialised copy of i's architecture (issue 26; :mod:`s2s_core.demo.controls`)
    controls: dict[str, str] = field(default_factory=dict)

    @property
    def class_names(self) -> ClassNames | None:
        """``classes`` (+ ``class_ids``) as :class:`ClassNames`, or None when ``zoo.json`` records none."""
        return ClassNames(tuple(self.classes), tuple(self.class_ids) if self.class_ids else None) if self.classes else None

    @classmethod
    def read(cls, path: str | Path) -> ZooInfo:

        path = Path(path)
        zfile = path / ZOO_FILE
        if not zfile.is_file():
            raise CheckpointError(f"{path} has no {ZOO_FILE}, so it is not a zoo; build one with `s2s demo` "
                                  "or give the zoo's directory")
        raw = read_format_json(zfile, ZOO_FORMAT)
        try:
            info = cls(path=path, name=str(raw.get("name", path.name)), input_size=int(raw["input_size"]),
                       num_classes=int(raw["num_classes"]), seed=raw.get("seed"), base=str(raw["base"]),
                       classifiers=dict(raw.get("classifiers", {})), aes=dict(raw.get("aes", {})),
                       data=dict(raw.get("data") or {}), recipe=dict(raw.get("recipe") or {}),
                       results=str(raw.get("results", "results")),
                       classes=[str(c) for c in raw["classes"]] if raw.get("classes") else None,
                       class_ids=[str(c) for c in raw["class_ids"]] if raw.get("class_ids") else None,
                       preprocessing=dict(raw.get("preprocessing") or {}),
                       controls={str(k): str(v) for k, v in dict(raw.get("controls") or {}).items()})
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"{zfile}: missing or invalid field ({exc}); needs input_size, num_classes, "
                                  "base") from exc
        for name in [*info.classifiers, *info.aes]:
            try:
                check_member_name(name)
            except ConfigError as exc:
                raise CheckpointError(f"{zfile}: {exc}") from exc
        stray = sorted(set(info.controls) - set(info.aes))
        if stray:
            raise CheckpointError(f"{zfile}: controls {stray} have no fine-tuned AE of the same name")
        try:
            zoo_preprocessing(info.input_size, info.preprocessing)
        except (ConfigError, TypeError, ValueError) as exc:
            raise CheckpointError(f"{zfile}: bad preprocessing ({exc})") from exc
        return info

    @property
    def results_dir(self) -> Path:
        return self.path / self.results

    @property
    def data_dir(self) -> Path:
        """``data["dir"]`` relative to the zoo (default ``data``)."""
        return self.path / str(self.data.get("dir", "data"))

    @property
    def test_dir(self) -> Path | None:
        """The zoo's labelled test images (``<class>/<image>``): ``data["test"]`` (relative to the zoo, or
        absolute; ``s2s zoo create --test DIR`` records it), else ``data/test`` (or ``val``) or ``data`` itself
        when it holds class folders (:func:`~s2s_core.data.gallery.find_test_split`); ``None`` when there is none."""
        given = self.data.get("test")
        if given:
            path = Path(os.path.normpath(self.path / str(given)))  # an absolute path stays absolute
            return path if path.is_dir() else None
        return find_test_split(self.data_dir)

    def ae_names(self) -> list[str]:
        return list(self.aes)

    def random_weight_classifiers(self) -> list[str]:
        """Classifiers whose weights were randomly initialised on request (``classifier_weights: none``), as
        their unit manifests record (:func:`~s2s_core.checkpoints.weights_origin`); the dashboard warns about
        them. Reads JSON only."""
        import json

        out = []
        for name, entry in self.classifiers.items():
            if isinstance(entry, str):
                try:
                    manifest = json.loads((self.path / entry / "manifest.json").read_text(encoding="utf-8"))
                except (OSError, ValueError):
                    continue
                if isinstance(manifest, dict) and weights_origin(manifest) == "random":
                    out.append(name)
        return out


def check_member_name(name: str) -> str:
    """Refuse classifier names that would collide with A_S or with another AE's view name."""
    if not name or name == BASE_NAME or name.startswith(AE_PREFIX) or "/" in name:
        raise ConfigError(f"classifier name {name!r} is reserved or invalid in a zoo: 'S' and names starting with "
                          "'A_' would collide with the pre-trained AE A_S or an AE's name; choose another short name")
    return name


def read_zoo_info(path: str | Path) -> ZooInfo:
    """Shorthand for :meth:`ZooInfo.read`."""
    return ZooInfo.read(path)


def list_zoos(root: str | Path) -> list[Path]:
    """Directories at or below ``root`` that contain ``zoo.json`` (hidden directories skipped), sorted."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = [p.parent for p in root.rglob(ZOO_FILE)
             if not any(part.startswith(".") for part in p.relative_to(root).parts[:-1])]
    return sorted(found)


def write_zoo_manifest(path: str | Path, *, name: str, input_size: int, num_classes: int, base: str,
                       classifiers: dict[str, str | dict], aes: dict[str, str], seed: int | None = None,
                       data: dict | None = None, recipe: dict | None = None, results: str = "results",
                       classes: ClassNames | Sequence[str] | None = None,
                       preprocessing: dict | None = None, controls: dict[str, str] | None = None) -> Path:
    """Write ``zoo.json`` atomically into directory ``path``; every A_i name must be a classifier name.

    ``classes``: class names in the classifiers' label order (index i = logit i), with their ids if known.
    ``preprocessing``: the AE's evaluation crop, e.g. ``{"resize_size": 256, "interpolation": "bilinear"}``
    (default: the shorter side resized to ``input_size``, bicubic; :mod:`s2s_core.data.preprocess`).
    """
    for member in [*classifiers, *aes]:
        check_member_name(member)
    unknown = sorted(set(aes) - set(classifiers))
    if unknown:
        raise ConfigError(f"fine-tuned AEs {unknown} have no classifier of the same name in the zoo")
    stray = sorted(set(controls or {}) - set(aes))
    if stray:
        raise ConfigError(f"controls {stray} have no fine-tuned AE of the same name in the zoo")
    return write_json_atomic(Path(path) / ZOO_FILE, {
        "format": ZOO_FORMAT, "name": name, "input_size": int(input_size), "num_classes": int(num_classes),
        "seed": seed, "base": base, "classifiers": classifiers, "aes": aes, "data": data or {},
        "recipe": recipe or {}, "results": results, **(ClassNames.of(classes).to_meta() if classes else {}),
        **({"preprocessing": dict(preprocessing)} if preprocessing else {}),
        **({"controls": dict(controls)} if controls else {})})


def torchvision_entry_weights(entry: dict) -> tuple[str, str]:
    """(model name, weights tag) of a ``{"torchvision": NAME, "weights": TAG}`` classifier entry.

    A missing tag means ``DEFAULT`` (the published weights). Random weights are refused: they would differ at
    every load, so a randomly initialised classifier belongs in a unit (``s2s finetune`` saves one).
    """
    name, weights = entry.get("torchvision"), entry.get("weights", "DEFAULT")
    if not isinstance(name, str):
        raise CheckpointError(f"bad classifier entry {entry!r} in {ZOO_FILE}: expected a unit directory or "
                              '{"torchvision": NAME, "weights": TAG}')
    if weights is None or str(weights).lower() == "none":
        raise CheckpointError(f"classifier entry {entry!r} in {ZOO_FILE} asks for random weights, which would differ "
                              "at every load; save the classifier as a unit and refer to its directory")
    return name, str(weights)


def _build_torchvision_classifier(entry: dict) -> nn.Module:
    name, weights = torchvision_entry_weights(entry)
    return classifiers.Classifier.from_name(name, weights=weights).eval()


def _reconcile_classes(info: ZooInfo, clfs: dict[str, nn.Module]) -> None:
    """Every classifier of a zoo must name the same classes in the same order (and agree with ``zoo.json``).

    A classifier unit written before units recorded class names takes ``zoo.json``'s (the documented fallback
    for legacy units); when ``zoo.json`` has none, the classifiers' names become the zoo's.
    """
    reference, source = info.class_names, f"{ZOO_FILE}"
    for name, clf in clfs.items():
        mine = getattr(clf, "classes", None)
        if mine is None:
            continue
        if reference is None:
            reference, source = mine, f"classifier {name}"
            continue
        diff = reference.first_difference(mine)
        if diff:
            raise CheckpointError(f"zoo {info.path}: classifier {name} and {source} order their classes differently "
                                  f"({diff}); a zoo's classifiers must share one label order")
    if reference is None:
        return
    for clf in clfs.values():
        if getattr(clf, "classes", None) is None and hasattr(clf, "spec"):
            clf.spec = replace(clf.spec, classes=reference)
    if info.classes is None:
        info.classes, info.class_ids = list(reference.names), list(reference.ids) if reference.ids else None


def load_zoo_classifier(info: ZooInfo, name: str) -> nn.Module:
    """Classifier ``name`` of a zoo alone (eval mode, CPU), without its AEs; an unknown name -> ConfigError."""
    if name not in info.classifiers:
        raise ConfigError(f"zoo {info.name!r} has no classifier {name!r}; known: {', '.join(info.classifiers)}")
    entry = info.classifiers[name]
    return (_build_torchvision_classifier(entry) if isinstance(entry, dict) else load_classifier(info.path / entry)).eval()


class Zoo:
    """A loaded zoo: ``base`` (A_S), ``decoders`` (name -> decoder of A_name), ``classifiers`` (name -> Classifier).

    A fine-tuned unit that also trained its encoder is also kept whole in ``own_encoders`` (name -> SegNet)
    and :meth:`reconstruct_all` runs it on its own encoder. All models are in eval mode.
    """

    def __init__(self, info: ZooInfo, base: SegNet, decoders: dict[str, SegNetDecoder],
                 classifiers: dict[str, nn.Module], own_encoders: dict[str, SegNet] | None = None,
                 controls: dict[str, SegNetDecoder] | None = None) -> None:
        self.info, self.path = info, info.path
        self.base, self.decoders, self.classifiers = base, decoders, classifiers
        self.own_encoders = own_encoders or {}
        #: S2S controls by A_i's name: decoders tuned through a random copy of i (:attr:`ZooInfo.controls`)
        self.controls = controls or {}

    @classmethod
    def load(cls, path: str | Path, *, load_classifiers: bool = True, device: str | torch.device = "cpu") -> Zoo:
        """Load the zoo in directory ``path`` (the one holding ``zoo.json``): A_S, every A_i's decoder and every
        classifier, all in eval mode on ``device``.

        Every weights file is checked against its sha256 and read without pickle. The classifiers must share
        one class order (:attr:`classes`); a torchvision entry loads its published weights from the torch
        cache or raises :class:`~s2s_core.errors.WeightsUnavailableError`. ``load_classifiers=False`` skips
        the classifiers (reconstruction only). Any problem is a :class:`~s2s_core.errors.CheckpointError`.
        """
        info = ZooInfo.read(path)
        base_path = (info.path / info.base).resolve()
        base = load_ae(base_path)
        decoders: dict[str, SegNetDecoder] = {}
        own: dict[str, SegNet] = {}
        for name, rel in info.aes.items():
            unit = info.path / rel
            manifest, ref, decoder, encoder = read_finetuned(unit)
            if ref != base_path:
                raise CheckpointError(f"fine-tuned AE {name!r} ({unit}) refers to base {manifest['base']!r}, "
                                      f"which is not this zoo's base {info.base!r}; re-save it against this base")
            if manifest.get("args") != base.config:
                raise CheckpointError(f"fine-tuned AE {name!r} has a different SegNet configuration than the base")
            decoders[name] = decoder
            if encoder is not None:
                whole = SegNet(**base.config)
                whole.encoder, whole.decoder = encoder, decoder
                own[name] = whole.eval()
        controls: dict[str, SegNetDecoder] = {}
        for name, rel in info.controls.items():
            manifest, ref, decoder, encoder = read_finetuned(info.path / rel)
            if ref != base_path or manifest.get("args") != base.config or encoder is not None:
                raise CheckpointError(f"control {name!r} ({info.path / rel}) is not a decoder of this zoo's base "
                                      f"{info.base!r}")
            controls[name] = decoder
        clfs: dict[str, nn.Module] = {}
        if load_classifiers:
            for name in info.classifiers:
                clfs[name] = load_zoo_classifier(info, name)
            _reconcile_classes(info, clfs)
        return cls(info, base, decoders, clfs, own, controls).to(device)

    def to(self, device: str | torch.device) -> Zoo:
        modules = (self.base, *self.decoders.values(), *self.own_encoders.values(), *self.classifiers.values(),
                   *self.controls.values())
        for module in modules:
            module.to(device).eval()
        return self

    @property
    def names(self) -> list[str]:
        """Short names of the fine-tuned AEs (``"L"``, ``"A"``, ...), in zoo.json order."""
        return [n for n in self.info.aes if n in self.decoders]

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def input_size(self) -> int:
        return self.info.input_size

    @property
    def num_classes(self) -> int:
        return self.info.num_classes

    @property
    def classes(self) -> list[str] | None:
        """Class names in the classifiers' label order (None when neither zoo.json nor a classifier names them)."""
        return self.info.classes

    @property
    def class_names(self) -> ClassNames | None:
        """:attr:`classes` with their ids (e.g. WordNet ids), for mapping data folders to labels."""
        return self.info.class_names

    def folder_classes(self, data_dir: str | Path) -> ClassNames:
        """:attr:`class_names` for labelling the class folders of ``data_dir`` by name; a zoo whose classifiers
        record no class names -> ConfigError (the folders could not be matched to their outputs)."""
        if self.class_names is None:
            raise ConfigError(f"zoo {self.path} and its classifiers record no class names, so the folders of "
                              f"{data_dir} cannot be matched to the classifiers' outputs; re-create the zoo with "
                              "s2s zoo create from units that record them")
        return self.class_names

    @property
    def results_dir(self) -> Path:
        return self.info.results_dir

    @property
    def data_dir(self) -> Path:
        return self.info.data_dir

    def encode(self, x01: Tensor) -> Code:
        """The base encoder's code for (B, 3, H, W) images in [0, 1]."""
        return self.base.encode(x01)

    def decode_with(self, name: str, code: Code) -> Tensor:
        """Decode ``code`` with A_name's decoder (``"S"``/``"A_S"``: the base); (B, 3, H, W) in [0, 1] space."""
        key = ae_name(name)
        if key == BASE_NAME:
            return self.base.decode(code)
        if key in self.own_encoders:
            raise ConfigError(f"{ae_key(key)} has its own encoder; reconstruct it with reconstruct_all or its SegNet")
        if key not in self.decoders:
            raise ConfigError(f"no fine-tuned AE {name!r} in zoo {self.info.name!r}; known: {', '.join(self.names)}")
        return self.base.decode(code, self.decoders[key])

    def reconstruct_all(self, x01: Tensor, names: Iterable[str] | None = None, *,
                        inference: bool = True, code: Code | None = None) -> dict[str, Tensor]:
        """Reconstructions of (B, 3, H, W) images in [0, 1]: ``{"A_S": ..., "A_<name>": ...}`` (unclamped).

        One encoder pass feeds A_S and every selected A_i's decoder (Sec. 3.3). ``names`` selects A_i
        (default: all); ``inference=False`` keeps autograd (e.g. for gradients through the AEs). ``code``: the
        base encoder's code of ``x01`` when the caller has it already (:meth:`encode`), so it is not computed twice.
        """
        selected = self.names if names is None else [ae_name(n) for n in names]
        missing = [n for n in selected if n not in self.names]
        if missing:
            raise ConfigError(f"no fine-tuned AE named {missing} in zoo {self.info.name!r}; known: {', '.join(self.names)}")
        with torch.inference_mode() if inference else nullcontext():
            code = self.base.encode(x01) if code is None else code
            out = {BASE_KEY: self.base.decode(code)}
            for name in selected:
                if name in self.own_encoders:
                    out[ae_key(name)] = self.own_encoders[name](x01)
                else:
                    out[ae_key(name)] = self.base.decode(code, self.decoders[name])
        return out
