"""``s2s zoo create``: assemble a zoo (``zoo.json``) from units trained with ``s2s pretrain``/``s2s finetune``.

Nothing is copied: ``zoo.json`` refers to the units by paths relative to the zoo directory, so the units
stay where training wrote them. Each fine-tuned AE must be based on the zoo's base AE.
"""

from __future__ import annotations

import os
from pathlib import Path

from s2s_core.checkpoints import classifier_weights_sha256, read_finetuned, read_manifest
from s2s_core.data.class_names import ClassNames
from s2s_core.errors import ConfigError
from s2s_core.models.classifiers import check_weights_available
from s2s_core.models.segnet import check_input_size
from s2s_core.zoo import ZooInfo, check_member_name, write_zoo_manifest


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


def check_pairing(key: str, ae_unit: str | Path, classifier: str) -> None:
    """Refuse ``--ae KEY=ae_unit`` beside ``--classifier KEY=classifier`` when the AE was fine-tuned through
    another classifier, by what its manifest records: ``classifier_sha256`` (the weights file's sha256 that the
    classifier unit's manifest holds) for units, ``classifier_source``/``classifier_weights`` for torchvision
    weights. An AE that records neither (older s2s, the demo builder) is not checked."""
    manifest = read_manifest(ae_unit)
    want, source = manifest.get("classifier_sha256"), manifest.get("classifier_source")
    if (Path(classifier) / "manifest.json").is_file():
        have = classifier_weights_sha256(classifier)
        if want and have and want != have:
            raise ConfigError(f"--ae {key}: {ae_unit} was fine-tuned through another classifier ({source}, weights "
                              f"sha256 {want[:12]}), not through --classifier {key}={classifier} (sha256 "
                              f"{have[:12]}); pair each A_i with the classifier it was fine-tuned through")
        return
    if want or source is None:  # fine-tuned through a unit, paired with torchvision weights; or nothing recorded
        if want:
            raise ConfigError(f"--ae {key}: {ae_unit} was fine-tuned through the classifier unit {source}, not "
                              f"through {classifier}")
        return
    model, _, weights = classifier.removeprefix("torchvision:").partition(":")
    recorded = str(manifest.get("classifier_weights") or "DEFAULT")
    if model != str(source).removeprefix("torchvision:") or (weights or "DEFAULT") != recorded:
        raise ConfigError(f"--ae {key}: {ae_unit} was fine-tuned through {source} ({recorded} weights), not through "
                          f"--classifier {key}={classifier}")


def create_zoo(out: Path, *, base: Path, aes: dict[str, str], classifiers: dict[str, str],
               input_size: int | None = None, name: str | None = None, classes_from: Path | None = None,
               test: Path | None = None) -> Path:
    """Write ``out/zoo.json`` naming ``base``, the fine-tuned decoder units ``aes`` and their ``classifiers``.

    Everything is checked before anything is written, so a refused zoo leaves nothing behind: the units' kinds
    and bases, that each A_i was fine-tuned through the classifier it is paired with (:func:`check_pairing`),
    the classifiers' weights, one number of classes and one class order for every classifier (the
    zoo records it), one input size (from the units; ``input_size`` only where they record none), and, with
    ``classes_from`` or ``test``, that every class folder of that ImageFolder is a class of the classifiers.
    ``test``: the zoo's labelled test images (recorded in ``zoo.json``; the pages browse them and
    ``s2s evaluate ZOO --data`` takes them).
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
        check_pairing(key, unit, classifiers[key])
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
    for flag, folder in (("--classes-from", classes_from), ("--test", test)):
        if folder is None:
            continue
        if not Path(folder).is_dir():
            raise ConfigError(f"{flag}: {folder} is not a directory")
        folders = [p.name for p in Path(folder).iterdir() if p.is_dir() and not p.name.startswith(".")]
        if not folders:
            raise ConfigError(f"{flag}: {folder} has no class folders (expected {folder}/<class>/<image>)")
        classes.label_map(folders, f"classifier {first}")
    data = {"test": os.path.relpath(Path(test).resolve(), out.resolve())} if test is not None else None
    created = not out.exists()
    try:
        return write_zoo_manifest(
            out, name=name or out.name, input_size=size, num_classes=len(classes),
            base=os.path.relpath(base.resolve(), out.resolve()), classifiers=entries,
            aes={k: os.path.relpath(Path(v).resolve(), out.resolve()) for k, v in aes.items()}, classes=classes,
            data=data)
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
        "--classifier V=torchvision:vgg16_bn --test /data/imagenet/val. The class names and their order "
        "come from the classifiers (units record them; torchvision weights carry them), and all must agree; "
        "the input size comes from the units. Each A_i must have been fine-tuned through the classifier it is "
        "paired with (checked by the weights hash the units record).")
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
    c.add_argument("--test", type=Path, default=None, metavar="DIR",
                   help="the zoo's labelled test images (DIR/<class>/<image>): recorded in zoo.json (by a path "
                        "relative to the zoo), browsed by the dashboard's pages and the folder to give "
                        "`s2s evaluate ZOO --data`; checked like --classes-from (default: ZOO/data/test if present)")
    c.set_defaults(func=_create)


def _create(args) -> int:
    path = create_zoo(args.out, base=args.base, aes=_pairs(args.ae, "--ae"),
                      classifiers=_pairs(args.classifier, "--classifier"), input_size=args.input_size,
                      name=args.name, classes_from=args.classes_from, test=args.test)
    print(f"wrote {path}")
    test = ZooInfo.read(args.out).test_dir
    print(f"test images: {test} (evaluate with: s2s evaluate {args.out} --data {test})" if test else
          f"no test images: give --test DIR, or put them at {args.out}/data/test/<class>/<image>")
    return 0
