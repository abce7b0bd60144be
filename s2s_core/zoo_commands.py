"""``s2s zoo create``: assemble a zoo (``zoo.json``) from units trained with ``s2s pretrain``/``s2s finetune``.

Nothing is copied: ``zoo.json`` refers to the units by paths relative to the zoo directory, so the units
stay where training wrote them. Each fine-tuned AE must be based on the zoo's base AE.
"""

from __future__ import annotations

import os
from pathlib import Path

from s2s_core.checkpoints import read_finetuned, read_manifest
from s2s_core.errors import ConfigError
from s2s_core.models.class_names import ClassNames
from s2s_core.models.classifiers import check_weights_available
from s2s_core.models.segnet import check_input_size
from s2s_core.zoo import check_member_name, write_zoo_manifest


def _pairs(values: list[str], flag: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not sep or not name or not value:
            raise ConfigError(f"{flag} expects NAME=VALUE, got {item!r}")
        if name in out:
            raise ConfigError(f"{flag}: {name!r} given twice")
        out[name] = value
    return out


def _classifier_entry(value: str, zoo: Path) -> tuple[str | dict, ClassNames | None, int]:
    """(zoo.json entry, class names, number of classes) of a unit directory or ``torchvision:NAME[:WEIGHTS]``.

    A torchvision classifier whose weights are not available here is refused now, not at ``evaluate``.
    """
    path = Path(value)
    if (path / "manifest.json").is_file():
        manifest = read_manifest(path)
        if manifest["kind"] != "classifier":
            raise ConfigError(f"--classifier {value}: a {manifest['kind']!r} unit, not a classifier unit")
        return (os.path.relpath(path.resolve(), zoo.resolve()), ClassNames.from_meta(manifest),
                int(manifest.get("args", {}).get("num_classes", 0)))
    name = value.removeprefix("torchvision:")
    model, _, weights = name.partition(":")
    if weights.lower() == "none":
        raise ConfigError(f"--classifier {value}: random weights would differ at every load; fine-tune with "
                          "classifier_weights: none and use the classifier unit that run saves")
    spec = check_weights_available(model, weights or "DEFAULT")
    return {"torchvision": model, "weights": weights or "DEFAULT"}, spec.classes, int(spec.num_classes)


def _input_size(base: Path, aes: dict[str, str], given: int | None) -> int:
    """The image size the zoo's AEs were trained at: the ``size`` the units record (all equal), or ``given``."""
    sizes = {"--base": read_manifest(base).get("size")}
    sizes.update({f"--ae {k}": read_manifest(v).get("size") for k, v in aes.items()})
    recorded = [(k, int(v)) for k, v in sizes.items() if v is not None]
    size = recorded[0][1] if recorded else None
    for key, other in recorded:
        if other != size:
            raise ConfigError(f"units of different sizes: {recorded[0][0]} was trained at {size} px, {key} at "
                              f"{other} px; a zoo's AEs share one input size")
    if given is not None and size is not None and given != size:
        raise ConfigError(f"--input-size {given} differs from the {size} px the units were trained at")
    size = given if size is None else size
    if size is None:
        raise ConfigError("the units record no training size; give --input-size")
    check_input_size(size, len(read_manifest(base)["args"]["widths"]), what="--input-size")
    return size


def create_zoo(out: Path, *, base: Path, aes: dict[str, str], classifiers: dict[str, str],
               input_size: int | None = None, name: str | None = None, classes_from: Path | None = None) -> Path:
    """Write ``out/zoo.json`` naming ``base``, the fine-tuned decoder units ``aes`` and their ``classifiers``.

    Everything is checked before anything is written, so a refused zoo leaves nothing behind: the units' kinds
    and bases, the classifiers' weights, one number of classes and one class order for every classifier (the
    zoo records it), one input size (from the units; ``input_size`` only where they record none), and, with
    ``classes_from``, that every class folder of that ImageFolder is a class of the classifiers.
    """
    out = Path(out)
    if (out / "zoo.json").exists():
        raise ConfigError(f"{out} already holds a zoo.json; choose another directory or remove it")
    if read_manifest(base)["kind"] != "ae":
        raise ConfigError(f"--base: {base} is not an 'ae' unit (the output of s2s pretrain is RUN/model)")
    missing = sorted(set(aes) - set(classifiers))
    if missing:
        raise ConfigError(f"--ae {missing}: give each fine-tuned AE its classifier with --classifier NAME=...")
    for key in [*classifiers, *aes]:
        check_member_name(key)
    for key, unit in aes.items():
        _, unit_base, _, _ = read_finetuned(unit)
        if unit_base.resolve() != base.resolve():
            raise ConfigError(f"--ae {key}: {unit} was fine-tuned from {unit_base}, not from --base {base}")
    size = _input_size(base, aes, input_size)
    entries: dict[str, str | dict] = {}
    classes: ClassNames | None = None
    counts: dict[str, int] = {}
    first = ""
    for key, value in classifiers.items():
        entries[key], names, counts[key] = _classifier_entry(value, out)
        if names is None:
            raise ConfigError(f"--classifier {key}: {value} records no class names (written by an older s2s); "
                              "record them with s2s_core.checkpoints.set_unit_classes(unit, names_in_label_order)")
        if classes is None:
            classes, first = names, key
        elif diff := classes.first_difference(names):
            raise ConfigError(f"--classifier {key} and --classifier {first} order their classes differently ({diff}); "
                              "a zoo's classifiers must share one label order")
    if len(set(counts.values())) > 1:
        raise ConfigError(f"the classifiers disagree on the number of classes: {counts}")
    if classes_from is not None:
        if not Path(classes_from).is_dir():
            raise ConfigError(f"--classes-from: {classes_from} is not a directory")
        folders = [p.name for p in Path(classes_from).iterdir() if p.is_dir() and not p.name.startswith(".")]
        classes.label_map(folders, f"classifier {first}")
    created = not out.exists()
    try:
        return write_zoo_manifest(
            out, name=name or out.name, input_size=size, num_classes=len(classes),
            base=os.path.relpath(base.resolve(), out.resolve()), classifiers=entries,
            aes={k: os.path.relpath(Path(v).resolve(), out.resolve()) for k, v in aes.items()}, classes=classes)
    except BaseException:
        if created and out.is_dir() and not any(out.iterdir()):
            out.rmdir()
        raise


def register(sub) -> None:
    p = sub.add_parser("zoo", help="assemble a zoo from trained units (for the dashboard and s2s evaluate)")
    zs = p.add_subparsers(dest="zoo_command", metavar="ACTION", required=True)
    c = zs.add_parser(
        "create", help="write ZOO/zoo.json naming a base AE, fine-tuned AEs and their classifiers",
        description="Example: s2s zoo create zoos/imagenet --base runs/pretrain/model "
        "--ae A=runs/ft-alexnet/model --classifier A=torchvision:alexnet --ae V=runs/ft-vgg/model "
        "--classifier V=torchvision:vgg16_bn --classes-from /data/imagenet/val. The class names and their order "
        "come from the classifiers (units record them; torchvision weights carry them), and all must agree; "
        "the input size comes from the units.")
    c.add_argument("out", type=Path, help="zoo directory to write zoo.json into")
    c.add_argument("--base", type=Path, required=True, help="the pre-trained AE unit (A_S)")
    c.add_argument("--ae", action="append", default=[], metavar="NAME=UNIT", help="a fine-tuned AE A_NAME")
    c.add_argument("--classifier", action="append", default=[], metavar="NAME=SOURCE",
                   help="classifier NAME: a classifier unit dir, or torchvision:MODEL[:WEIGHTS]")
    c.add_argument("--input-size", type=int, default=None,
                   help="image size the AEs see (default: the size the units were trained at; needed only for "
                        "units that record none)")
    c.add_argument("--name", default=None, help="the zoo's display name (default: the directory name)")
    c.add_argument("--classes-from", type=Path, default=None,
                   help="an ImageFolder to check: each class folder must name a class of the classifiers "
                        "(by name or WordNet id)")
    c.set_defaults(func=_create)


def _create(args) -> int:
    path = create_zoo(args.out, base=args.base, aes=_pairs(args.ae, "--ae"),
                      classifiers=_pairs(args.classifier, "--classifier"), input_size=args.input_size,
                      name=args.name, classes_from=args.classes_from)
    print(f"wrote {path}")
    return 0
