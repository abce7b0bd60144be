"""``s2s reconstruct`` and ``s2s import-pth``: run one autoencoder on one image; import the authors' SegNet."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from s2s_core.authors_import import import_pth
from s2s_core.checkpoints import load_ae, load_autoencoder, load_finetuned, read_manifest
from s2s_core.data.images import ALPHA_POLICY, load_image_tensor, tensor_to_image
from s2s_core.errors import ConfigError, ImageLoadError
from s2s_core.models.segnet import SegNet
from s2s_core.runtime import select_device
from s2s_core.views import ae_key, ae_name
from s2s_core.zoo import ZOO_FILE, ZooInfo


def resolve_autoencoder(spec: str) -> tuple[SegNet, str]:
    """Load the AE named by ``spec``: an ``ae``/``decoder`` unit directory, or ``ZOO_DIR:NAME``.

    ``NAME`` is ``S`` (or ``A_S``) for the zoo's base, or a fine-tuned AE's short name (``L``, ``A_L``).
    Returns (model in eval mode, a label for messages).
    """

    path = Path(spec)
    if path.is_dir() and (path / ZOO_FILE).is_file() and not (path / "manifest.json").exists():
        raise ConfigError(f"{spec} is a zoo; name one of its AEs as {spec}:S (the base) or {spec}:NAME")
    if not path.exists() and ":" in spec:
        zoo_dir, name = spec.rsplit(":", 1)
        info = ZooInfo.read(zoo_dir)
        key = ae_name(name)
        if key == "S":
            return load_ae(info.path / info.base), f"A_S of zoo {info.name}"
        if key not in info.aes:
            raise ConfigError(f"zoo {info.name!r} has no AE {name!r}; known: S, {', '.join(info.aes)}")
        ae = load_finetuned(info.path / info.aes[key])
        return ae, f"{ae_key(key)} of zoo {info.name}"
    return load_autoencoder(path), str(path)


def _reconstruct(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if not out.parent.is_dir():  # never create directories the user did not ask for
        raise ConfigError(f"cannot write {out}: the directory {out.parent} does not exist (s2s does not create it); "
                          "create it first or choose another path")
    device = select_device(args.device)
    ae, label = resolve_autoencoder(args.ae)
    if args.size is not None and (args.size < ae.multiple or args.size % ae.multiple):
        raise ConfigError(f"--size must be a positive multiple of {ae.multiple}, got {args.size}")
    notes: list[str] = []  # transparency and resizing, said out loud
    x = load_image_tensor(args.image, args.size, multiple_of=None if args.size else ae.multiple, notes=notes)
    ae.to(device)
    with torch.inference_mode():
        y = ae(x.unsqueeze(0).to(device))[0].cpu()
    try:
        tensor_to_image(y).save(out)
    except (ValueError, KeyError) as exc:
        raise ConfigError(f"cannot write {out}: unknown image type {out.suffix!r}; use .png") from exc
    except OSError as exc:
        raise ImageLoadError(f"cannot write {out} ({exc})") from exc
    print(f"{label}: {args.image} ({x.shape[2]}x{x.shape[1]} px) -> {out}")
    for note in notes:
        print(f"note: {note}")
    return 0


def _import_pth(args: argparse.Namespace) -> int:
    out = import_pth(args.pth, args.out_dir)

    config = read_manifest(out)["args"]
    print(f"imported {args.pth} -> {out} (ae unit, widths {config['widths']}, depths {config['depths']})")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("reconstruct", help="reconstruct one image with an autoencoder (A_S or A_i)",
                              description="Pass an image through a SegNet AE and save the reconstruction.")
    p.add_argument("--ae", required=True, metavar="AE_DIR",
                   help="an 'ae' or 'decoder' unit directory, or ZOO_DIR:NAME (NAME = S or a classifier's short name)")
    p.add_argument("--image", required=True, help=f"input image file ({ALPHA_POLICY})")
    p.add_argument("--out", required=True, help="output image file (.png)")
    p.add_argument("--size", type=int, default=None,
                   help="resize the shorter side to N and centre-crop N x N (N a multiple of 2**stages of the AE, "
                        "32 for five stages); default: each side to its nearest multiple, the aspect ratio kept "
                        "(one uniform scale, the overhang centre-cropped); what was done is printed")
    p.add_argument("--device", default="cpu", help="auto, cpu, cuda or cuda:N (default cpu)")
    p.set_defaults(func=_reconstruct)

    q = subparsers.add_parser("import-pth", help="import the authors' SegNet .pth checkpoint as an 'ae' unit",
                              description="Convert an authors' SegNet state dict (read without pickle) to an s2s unit.")
    q.add_argument("pth", metavar="IN.pth", help="the authors' SegNet checkpoint (read with weights_only=True)")
    q.add_argument("out_dir", metavar="OUT_DIR", help="where to write the 'ae' unit")
    q.set_defaults(func=_import_pth)
