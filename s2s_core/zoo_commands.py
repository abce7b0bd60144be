"""``s2s zoo create``: assemble a zoo (``zoo.json``) from units trained with ``s2s pretrain``/``s2s finetune``.

Nothing is copied: ``zoo.json`` refers to the units by paths relative to the zoo directory, so the units
stay where training wrote them. Each fine-tuned AE must be based on the zoo's base AE.
"""

from __future__ import annotations

import os
from pathlib import Path

from s2s_core.checkpoints import read_finetuned, read_manifest
from s2s_core.errors import ConfigError
from s2s_core.models.classifiers import get_spec
from s2s_core.zoo import write_zoo_manifest


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


def _classifier_entry(value: str, zoo: Path) -> str | dict:
    """A unit directory (relative path) or ``torchvision:NAME[:WEIGHTS]`` / a registry name."""
    path = Path(value)
    if (path / "manifest.json").is_file():
        return os.path.relpath(path.resolve(), zoo.resolve())
    name = value.removeprefix("torchvision:")
    model, _, weights = name.partition(":")

    get_spec(model)  # unknown names are refused here, with close matches
    return {"torchvision": model, "weights": weights or "DEFAULT"}


def create_zoo(out: Path, *, base: Path, aes: dict[str, str], classifiers: dict[str, str], input_size: int,
               name: str | None = None, classes_from: Path | None = None) -> Path:
    """Write ``out/zoo.json`` naming ``base``, the fine-tuned decoder units ``aes`` and their ``classifiers``."""

    out.mkdir(parents=True, exist_ok=True)
    if read_manifest(base)["kind"] != "ae":
        raise ConfigError(f"--base: {base} is not an 'ae' unit (the output of s2s pretrain is RUN/model)")
    missing = sorted(set(aes) - set(classifiers))
    if missing:
        raise ConfigError(f"--ae {missing}: give each fine-tuned AE its classifier with --classifier NAME=...")
    for key, unit in aes.items():
        _, unit_base, _, _ = read_finetuned(unit)
        if unit_base.resolve() != base.resolve():
            raise ConfigError(f"--ae {key}: {unit} was fine-tuned from {unit_base}, not from --base {base}")
    entries = {k: _classifier_entry(v, out) for k, v in classifiers.items()}
    num_classes = set()
    for entry in entries.values():
        if isinstance(entry, dict):
            num_classes.add(get_spec(entry["torchvision"]).num_classes)
        else:
            num_classes.add(int(read_manifest(out / entry)["args"]["num_classes"]))
    if len(num_classes) != 1:
        raise ConfigError(f"the classifiers disagree on the number of classes: {sorted(num_classes)}")
    classes = sorted(p.name for p in classes_from.iterdir() if p.is_dir()) if classes_from else None
    if input_size % 32:
        raise ConfigError(f"--input-size must be a multiple of 32, got {input_size}")
    return write_zoo_manifest(
        out, name=name or out.name, input_size=input_size, num_classes=num_classes.pop(),
        base=os.path.relpath(base.resolve(), out.resolve()), classifiers=entries,
        aes={k: os.path.relpath(Path(v).resolve(), out.resolve()) for k, v in aes.items()}, classes=classes)


def register(sub) -> None:
    p = sub.add_parser("zoo", help="assemble a zoo from trained units (for the dashboard and s2s evaluate)")
    zs = p.add_subparsers(dest="zoo_command", metavar="ACTION", required=True)
    c = zs.add_parser(
        "create", help="write ZOO/zoo.json naming a base AE, fine-tuned AEs and their classifiers",
        description="Example: s2s zoo create zoos/imagenet --base runs/pretrain/model "
        "--ae A=runs/ft-alexnet/model --classifier A=torchvision:alexnet --ae V=runs/ft-vgg/model "
        "--classifier V=torchvision:vgg16_bn --input-size 224 --classes-from /data/imagenet/val")
    c.add_argument("out", type=Path, help="zoo directory to write zoo.json into")
    c.add_argument("--base", type=Path, required=True, help="the pre-trained AE unit (A_S)")
    c.add_argument("--ae", action="append", default=[], metavar="NAME=UNIT", help="a fine-tuned AE A_NAME")
    c.add_argument("--classifier", action="append", default=[], metavar="NAME=SOURCE",
                   help="classifier NAME: a classifier unit dir, or torchvision:MODEL[:WEIGHTS]")
    c.add_argument("--input-size", type=int, default=224, help="image size the AEs see (multiple of 32)")
    c.add_argument("--name", default=None)
    c.add_argument("--classes-from", type=Path, default=None,
                   help="an ImageFolder whose sorted class folders give the class names")
    c.set_defaults(func=_create)


def _create(args) -> int:
    path = create_zoo(args.out, base=args.base, aes=_pairs(args.ae, "--ae"),
                      classifiers=_pairs(args.classifier, "--classifier"), input_size=args.input_size,
                      name=args.name, classes_from=args.classes_from)
    print(f"wrote {path}")
    return 0
