"""The zoo's unit format: safetensors weights + a JSON manifest, written atomically, read without pickle.

A *unit* is a directory holding ``manifest.json`` and ``*.safetensors`` files (docs/ARCHITECTURE.md):

- ``kind="ae"``: ``encoder.safetensors`` + ``decoder.safetensors``; ``args`` = ``SegNet.config`` (A_S, Sec. 3.2).
- ``kind="decoder"``: a fine-tuned AE A_i (Sec. 3.3): ``decoder.safetensors`` (+ ``encoder.safetensors`` if
  the encoder was trained too) and ``"base"``: the base ``ae`` unit, relative to this unit's directory.
- ``kind="classifier"``: ``model.safetensors``; ``arch`` = classifier registry name; ``args`` = ``{"num_classes": N}``;
  ``classes`` = the N class names in label order (+ ``class_ids``, e.g. WordNet ids, where known).
- ``kind="channels"``: ``weights.safetensors`` (``W`` (P, K), ``intercept`` (K,)): the relevant channels of a
  classifier (:mod:`s2s_core.lenses.channels.store`); ``args`` = the layers read and the number of classes.

``tensors`` passed to :func:`save_unit` and returned by :func:`read_unit` are keyed by file stem
(``"encoder"`` -> ``encoder.safetensors``); each holds module-local keys (``conv11.weight``, ...).
Writes go to a temporary directory beside the target, are fsync'ed and then swapped in, so a reader
sees either the old unit or the new one. Reads verify every file's sha256 and never unpickle.
"""

from __future__ import annotations

import ctypes
import dataclasses
import hashlib
import json
import os
import re
import secrets
import shutil
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from safetensors.torch import save_file
from torch import Tensor, nn

from s2s_core import __version__
from s2s_core.data.class_names import ClassNames, class_meta
from s2s_core.errors import CheckpointError, ConfigError
from s2s_core.models import classifiers
from s2s_core.models.segnet import SegNet, SegNetDecoder, SegNetEncoder
from s2s_core.weights import load_into, read_safetensors

FORMAT = "s2s/1"
KINDS = ("ae", "decoder", "classifier", "channels")
MANIFEST = "manifest.json"
_RESERVED = ("format", "kind", "arch", "args", "files", "code_version", "created")


# ---------------------------------------------------------------------------------------------- writing
def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:  # some filesystems refuse fsync on directories
        pass
    finally:
        os.close(fd)


def _write_safetensors(path: Path, state: Mapping[str, Tensor]) -> None:
    plain = {k: v.detach().to("cpu").contiguous().clone() for k, v in state.items()}
    save_file(plain, str(path))
    _fsync_path(path)


def _write_json(path: Path, data: dict) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2, sort_keys=False)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())


def temp_beside(path: Path, kind: str, *, directory: bool = False) -> Path:
    """A new, empty file (or directory) ``.<name>.<kind>-<random>`` beside ``path``, created with the mode
    the user's umask gives (0644 / 0755 under umask 022), not ``tempfile``'s private 0600 / 0700: what is
    renamed into place (zoo.json, sidecars, units) must be as readable as any file the user writes."""
    for _ in range(100):
        tmp = path.parent / f".{path.name}.{kind}-{secrets.token_hex(6)}"
        try:
            if directory:
                os.mkdir(tmp, 0o777)
            else:
                os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            continue
        return tmp
    raise CheckpointError(f"cannot create a temporary {'directory' if directory else 'file'} beside {path}")


def write_json_atomic(path: str | Path, data: dict) -> Path:
    """Write ``data`` as JSON to ``path`` via a temporary file beside it, fsync and ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_beside(path, "tmp")
    try:
        _write_json(Path(tmp), data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_path(path.parent)
    return path


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths with Linux ``renameat2(RENAME_EXCHANGE)``; False where unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    at_fdcwd, rename_exchange = -100, 2
    return fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0


def _swap_in(tmp: Path, target: Path) -> None:
    """Put the finished directory ``tmp`` at ``target``, replacing an existing unit there."""
    if not target.exists():
        os.replace(tmp, target)
        return
    if not target.is_dir() or target.is_symlink():
        raise CheckpointError(f"{target} exists and is not a unit directory; remove it or choose another path")
    if any(target.iterdir()) and not (target / MANIFEST).is_file():
        raise CheckpointError(f"{target} is a non-empty directory without {MANIFEST}; refusing to replace it "
                              "with a unit (choose an empty or new directory)")
    if _exchange(tmp, target):  # tmp now holds the old unit
        shutil.rmtree(tmp, ignore_errors=True)
        return
    old = temp_beside(target, "old", directory=True)
    os.replace(target, old / "unit")
    try:
        os.replace(tmp, target)
    except BaseException:
        os.replace(old / "unit", target)  # put the old unit back
        raise
    finally:
        shutil.rmtree(old, ignore_errors=True)


def _file_name(stem: str) -> str:
    name = stem if stem.endswith(".safetensors") else f"{stem}.safetensors"
    if "/" in name or "\\" in name or name.startswith("."):
        raise ConfigError(f"unit file names must be plain names, got {stem!r}")
    return name


def save_unit(path: str | Path, kind: str, arch: str, args: dict, tensors: Mapping[str, Mapping[str, Tensor]],
              meta: dict | None = None) -> Path:
    """Write a unit directory atomically and return its path.

    ``tensors``: file stem -> state dict (``{"encoder": {...}, "decoder": {...}}``). ``meta``: free JSON
    metadata (data, steps, seed, classifier, base, ...), stored at the manifest's top level.
    """
    if kind not in KINDS:
        raise ConfigError(f"unknown unit kind {kind!r}; use one of {', '.join(KINDS)}")
    meta = dict(meta or {})
    clash = [k for k in meta if k in _RESERVED]
    if clash:
        raise ConfigError(f"metadata may not set the manifest fields {clash}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_beside(path, "tmp", directory=True)
    try:
        files: dict[str, str] = {}
        for stem, state in tensors.items():
            name = _file_name(stem)
            _write_safetensors(tmp / name, state)
            files[name] = sha256_file(tmp / name)
        manifest = {"format": FORMAT, "kind": kind, "arch": arch, "args": args, "files": files,
                    "code_version": __version__, "created": datetime.now(UTC).isoformat(timespec="seconds"),
                    **meta}
        _write_json(tmp / MANIFEST, manifest)
        _fsync_path(tmp)
        _swap_in(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _fsync_path(path.parent)
    return path


# ---------------------------------------------------------------------------------------------- reading
def read_format_json(path: Path, expected: str) -> dict:
    """A JSON object whose ``format`` key is ``expected`` (unit manifests, ``zoo.json``); else CheckpointError."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{path} is not valid JSON ({exc}); rewrite it") from exc
    if not isinstance(data, dict) or data.get("format") != expected:
        found = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise CheckpointError(f"{path}: unknown format {found!r} (expected {expected!r}); "
                              "it was written by another program or version")
    return data


def read_manifest(path: str | Path) -> dict:
    """Read and validate a unit's ``manifest.json`` (no weights are read)."""
    path = Path(path)
    if not path.is_dir():
        raise CheckpointError(f"no unit directory at {path}; give the directory that holds {MANIFEST}")
    mpath = path / MANIFEST
    if not mpath.is_file():
        raise CheckpointError(f"{path} has no {MANIFEST}, so it is not an s2s unit; give a unit directory "
                              "(import an authors' .pth with `s2s import-pth`)")
    manifest = read_format_json(mpath, FORMAT)
    if manifest.get("kind") not in KINDS:
        raise CheckpointError(f"{mpath}: unknown kind {manifest.get('kind')!r} (expected one of {', '.join(KINDS)})")
    files = manifest.get("files")
    if (not isinstance(files, dict) or not isinstance(manifest.get("arch"), str)
            or not isinstance(manifest.get("args", {}), dict)):
        raise CheckpointError(f"{mpath}: 'files' must map file names to sha256, 'arch' be a string, 'args' an object")
    for name, digest in files.items():
        if (not isinstance(digest, str) or Path(name).name != name or name.startswith(".")
                or not name.endswith(".safetensors")):
            raise CheckpointError(f"{mpath}: bad file entry {name!r}; entries are plain *.safetensors names")
    return manifest


def read_unit(path: str | Path) -> tuple[dict, dict[str, dict[str, Tensor]]]:
    """Read a unit: (manifest, {file stem: state dict}); verifies each file's sha256 before loading it."""
    path = Path(path)
    manifest = read_manifest(path)
    tensors: dict[str, dict[str, Tensor]] = {}
    for name, digest in manifest["files"].items():
        fpath = path / name
        if not fpath.is_file():
            raise CheckpointError(f"{path}: file {name} listed in the manifest is missing; copy the whole unit directory")
        if sha256_file(fpath) != digest:
            raise CheckpointError(f"{path}: hash mismatch for {name}: the file was changed or corrupted "
                                  "after the unit was written; restore or re-create it")
        tensors[name.removesuffix(".safetensors")] = read_safetensors(fpath)
    return manifest, tensors


# --------------------------------------------------------------------------------------------- models
def save_ae(path: str | Path, ae: SegNet, meta: dict | None = None) -> Path:
    """Save a SegNet as an ``ae`` unit (A_S)."""
    return save_unit(path, "ae", "segnet", ae.config,
                     {"encoder": ae.encoder.state_dict(), "decoder": ae.decoder.state_dict()}, meta)


def _segnet_from_manifest(manifest: dict, path: Path) -> SegNet:
    if manifest["arch"] != "segnet":
        raise CheckpointError(f"{path}: unknown architecture {manifest['arch']!r} for an autoencoder (expected 'segnet')")
    try:
        return SegNet(**manifest.get("args", {}))
    except (TypeError, ConfigError) as exc:
        raise CheckpointError(f"{path}: 'args' do not describe a SegNet ({exc})") from exc


def _need(tensors: dict, stem: str, path: Path) -> dict[str, Tensor]:
    if stem not in tensors:
        raise CheckpointError(f"{path}: the manifest lists no {stem}.safetensors; the unit is incomplete")
    return tensors[stem]


def load_ae(path: str | Path) -> SegNet:
    """Load an ``ae`` unit as a SegNet in eval mode."""
    path = Path(path)
    manifest, tensors = read_unit(path)
    if manifest["kind"] != "ae":
        raise CheckpointError(f"{path} is a {manifest['kind']!r} unit, not an 'ae' unit"
                              + ("; use load_finetuned / load_autoencoder" if manifest["kind"] == "decoder" else ""))
    ae = _segnet_from_manifest(manifest, path)
    load_into(ae.encoder, _need(tensors, "encoder", path), f"{path} (encoder)")
    load_into(ae.decoder, _need(tensors, "decoder", path), f"{path} (decoder)")
    return ae.eval()


def save_finetuned(path: str | Path, ae: SegNet, base_path: str | Path, classifier: str,
                   trained: str = "decoder", meta: dict | None = None) -> Path:
    """Save a fine-tuned AE A_i (Sec. 3.3) as a ``decoder`` unit referencing its base ``ae`` unit."""
    if trained not in ("decoder", "encoder", "both"):
        raise ConfigError(f"trained must be 'decoder', 'encoder' or 'both', got {trained!r}")
    path, base_path = Path(path), Path(base_path)
    base_manifest = read_manifest(base_path)
    if base_manifest["kind"] != "ae":
        raise CheckpointError(f"the base {base_path} is a {base_manifest['kind']!r} unit; it must be an 'ae' unit")
    if base_manifest.get("args") != ae.config:
        raise CheckpointError(f"the base {base_path} has a different SegNet configuration than the fine-tuned AE")
    tensors: dict[str, Mapping[str, Tensor]] = {"decoder": ae.decoder.state_dict()}
    if trained != "decoder":
        tensors["encoder"] = ae.encoder.state_dict()
    rel = os.path.relpath(base_path.resolve(), path.resolve())
    extra = {**(meta or {}), "base": Path(rel).as_posix(), "classifier": classifier, "trained": trained}
    return save_unit(path, "decoder", "segnet", ae.config, tensors, extra)


def read_finetuned(path: str | Path) -> tuple[dict, Path, SegNetDecoder, SegNetEncoder | None]:
    """Read a ``decoder`` unit: (manifest, resolved base path, decoder, own encoder or None). Eval mode."""
    path = Path(path)
    manifest, tensors = read_unit(path)
    if manifest["kind"] != "decoder":
        raise CheckpointError(f"{path} is a {manifest['kind']!r} unit, not a fine-tuned 'decoder' unit")
    if not isinstance(manifest.get("base"), str):
        raise CheckpointError(f"{path}: the manifest has no 'base' reference to the pre-trained AE unit")
    ae = _segnet_from_manifest(manifest, path)
    load_into(ae.decoder, _need(tensors, "decoder", path), f"{path} (decoder)")
    encoder = None
    if "encoder" in tensors:
        load_into(ae.encoder, tensors["encoder"], f"{path} (encoder)")
        encoder = ae.encoder.eval()
    return manifest, (path / manifest["base"]).resolve(), ae.decoder.eval(), encoder


def load_finetuned(path: str | Path) -> SegNet:
    """Load a fine-tuned AE: its base's encoder (or its own, if trained) and its decoder; eval mode."""
    path = Path(path)
    manifest, base_path, decoder, encoder = read_finetuned(path)
    if not base_path.is_dir():
        raise CheckpointError(f"{path}: its base AE unit {manifest['base']!r} (resolved to {base_path}) is missing; "
                              "keep the zoo's directory layout when copying units")
    ae = load_ae(base_path)
    if ae.config != manifest.get("args"):
        raise CheckpointError(f"{path}: its base {base_path} has a different SegNet configuration")
    ae.decoder = decoder
    if encoder is not None:
        ae.encoder = encoder
    return ae.eval()


def load_autoencoder(path: str | Path) -> SegNet:
    """Load either an ``ae`` unit (A_S) or a ``decoder`` unit (A_i) as a SegNet."""
    kind = read_manifest(path)["kind"]
    if kind == "classifier":
        raise CheckpointError(f"{path} is a classifier unit; give an autoencoder ('ae' or 'decoder' unit)")
    return load_ae(path) if kind == "ae" else load_finetuned(path)


#: Where a classifier unit's weights came from: torchvision's published weights (the only ones that have published
#: accuracies), trained here (``s2s train-classifier``, the demo builder), or randomly initialised.
WEIGHTS_ORIGINS = ("published", "trained", "random")


def save_classifier(path: str | Path, clf: nn.Module, meta: dict | None = None, *,
                    classes: ClassNames | Sequence[str] | None = None, origin: str | None = None) -> Path:
    """Save a :class:`s2s_core.models.classifiers.Classifier` as a ``classifier`` unit.

    The unit records the classifier's class names in label order (``classes``, default ``clf.classes``, else
    ``meta["classes"]``; see :func:`s2s_core.data.class_names.class_meta`); every command that writes
    classifier units (``s2s train-classifier``, the demo builder, ``s2s finetune`` with random weights) goes
    through here. A classifier whose labels have no names is refused,
    because nothing could later tell which data folder is which logit.

    ``origin`` (one of :data:`WEIGHTS_ORIGINS`; default ``"published"`` when ``clf.spec.weights`` names
    torchvision weights, else ``"trained"``: a network built randomly and then trained is saved trained, so
    a writer of untrained weights says ``origin="random"``) is recorded as ``weights_origin``; the ``weights`` tag only for
    published weights. The native protocol (``resize_size``, ``interpolation``) is the spec's: for a unit
    trained here, the validation crop it was trained with.
    """
    spec = clf.spec
    origin = origin or ("published" if spec.weights is not None else "trained")
    if origin not in WEIGHTS_ORIGINS:
        raise ConfigError(f"{path}: weights origin must be one of {', '.join(WEIGHTS_ORIGINS)}, got {origin!r}")
    names = classes if classes is not None else getattr(clf, "classes", None)
    if names is None and isinstance((meta or {}).get("classes"), list):
        names = meta["classes"]
    if names is None:
        raise ConfigError(f"{path}: a classifier unit must record its class names in label order; pass "
                          "classes=[...] (e.g. the training data's class names in the order of its labels)")
    extra = {**(meta or {}), **class_meta(names, spec.num_classes, str(path)), "input_size": int(spec.input_size),
             "mean": [float(m) for m in spec.mean], "std": [float(s) for s in spec.std], "weights_origin": origin}
    extra.pop("weights", None)
    if spec.resize_size is not None:  # the native centre-crop protocol (Table 1)
        extra.update(resize_size=int(spec.resize_size), interpolation=spec.interpolation)
    if origin == "published":
        if spec.weights is None:
            raise ConfigError(f"{path}: published weights must name their torchvision tag (spec.weights)")
        extra["weights"] = spec.weights
    return save_unit(path, "classifier", spec.name, {"num_classes": int(spec.num_classes)},
                     {"model": clf.net.state_dict()}, extra)


def classifier_weights_sha256(path: str | Path) -> str | None:
    """The sha256 of a classifier unit's weights file, as its manifest records it (``None`` when it records
    none). ``s2s finetune`` stores it in the fine-tuned AE (``classifier_sha256``) and ``s2s zoo create``
    checks that each A_i is paired with the very classifier it was fine-tuned through."""
    return read_manifest(path).get("files", {}).get("model.safetensors")


def weights_origin(manifest: Mapping) -> str:
    """The :data:`WEIGHTS_ORIGINS` entry of a classifier unit's manifest. Units written before it was recorded:
    ``random`` when marked random (``random_init`` or weights ``"none"``), ``published`` when they name a
    weights tag, else ``trained`` (never the registry's default weights: a unit holds its own)."""
    origin = manifest.get("weights_origin")
    if origin in WEIGHTS_ORIGINS:
        return origin
    if manifest.get("random_init") or str(manifest.get("weights", "")).lower() == "none":
        return "random"
    return "published" if manifest.get("weights") else "trained"


_VAL_CROP = re.compile(r"resize (\d+), centre crop (\d+)")


def native_protocol(manifest: Mapping) -> dict:
    """The spec fields of a classifier unit's own evaluation protocol (Table 1's centre crop): ``resize_size``
    and ``interpolation`` as recorded; for units that ``s2s train-classifier`` wrote before they were recorded,
    read from the recipe's ``val_crop`` (``"resize 37, centre crop 32"``: bicubic, as its loader); else
    ``resize_size=None`` (the unit reads the zoo's AE input)."""
    if "resize_size" in manifest:
        return {"resize_size": int(manifest["resize_size"]),
                "interpolation": manifest.get("interpolation", "bilinear")}
    recipe = manifest.get("recipe")
    m = _VAL_CROP.fullmatch(str(recipe.get("val_crop", ""))) if isinstance(recipe, Mapping) else None
    if m and int(m.group(2)) == int(manifest.get("input_size", -1)):
        return {"resize_size": int(m.group(1)), "interpolation": "bicubic"}
    return {"resize_size": None}


def set_unit_classes(path: str | Path, classes: ClassNames | Sequence[str]) -> Path:
    """Record class names (label order) in an existing classifier unit written without them (older s2s).

    Only ``manifest.json`` is rewritten (atomically); the weights and their sha256 entries stay as they are.
    A unit that already records different names is refused.
    """
    path = Path(path)
    manifest = read_manifest(path)
    if manifest["kind"] != "classifier":
        raise CheckpointError(f"{path} is a {manifest['kind']!r} unit, not a 'classifier' unit")
    new = class_meta(classes, int(manifest.get("args", {}).get("num_classes", len(classes))), str(path))
    old = ClassNames.from_meta(manifest)
    if old is not None:
        diff = old.first_difference(ClassNames.from_meta(new))
        if diff:
            raise CheckpointError(f"{path} already records other class names ({diff})")
    write_json_atomic(path / MANIFEST, {**manifest, **new})
    return path


def load_classifier(path: str | Path) -> nn.Module:
    """Load a ``classifier`` unit as a ``Classifier`` (registry build + stored input size/normalisation and class
    names); eval mode. A unit written before class names were recorded loads with ``classes=None``."""
    path = Path(path)
    manifest, tensors = read_unit(path)
    if manifest["kind"] != "classifier":
        raise CheckpointError(f"{path} is a {manifest['kind']!r} unit, not a 'classifier' unit")
    arch, num_classes = manifest["arch"], manifest.get("args", {}).get("num_classes")
    try:
        spec = classifiers.get_spec(arch)
        net = classifiers.build(arch, num_classes=num_classes)
    except (ConfigError, KeyError, ValueError) as exc:
        raise CheckpointError(f"{path}: unknown classifier architecture {arch!r} ({exc})") from exc
    load_into(net, _need(tensors, "model", path), f"{path} ({arch})")
    origin = weights_origin(manifest)
    overrides = {k: manifest[k] for k in ("input_size",) if k in manifest}
    overrides.update(native_protocol(manifest), weights=manifest.get("weights") if origin == "published" else None,
                     origin=origin)
    overrides.update({k: tuple(manifest[k]) for k in ("mean", "std") if k in manifest})
    if num_classes is not None:
        overrides["num_classes"] = int(num_classes)
    try:
        overrides["classes"] = ClassNames.from_meta(manifest)
    except ConfigError as exc:
        raise CheckpointError(f"{path}: {exc}") from exc
    if overrides["classes"] is not None and num_classes is not None and len(overrides["classes"]) != int(num_classes):
        raise CheckpointError(f"{path}: {len(overrides['classes'])} class names for {num_classes} outputs")
    spec = dataclasses.replace(spec, **overrides)
    return classifiers.Classifier(spec, net).eval()
