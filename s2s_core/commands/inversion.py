"""``s2s layers`` and ``s2s invert``: list a classifier's layers; invert one image's representation at a layer.

    s2s layers --zoo ZOO --classifier NAME [--json]        (or --classifier REGISTRY_NAME without --zoo)
    s2s invert --zoo ZOO --classifier NAME [--layer LAYER] --image IN --out OUT.png [--steps N] [--seed S] ...

``s2s invert`` writes the inversion as an image and, beside it, ``OUT.json`` with the settings (every default
resolved), the normalised reconstruction error per layer and classifier i's top-5 on x and on the inversion.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm

from s2s_core import __version__
from s2s_core.checkpoints import write_json_atomic
from s2s_core.data.images import ALPHA_POLICY, load_image_tensor, tensor_to_image
from s2s_core.errors import ConfigError
from s2s_core.lenses.inversion.invert import LEARNING_RATE, STEPS, InversionSettings, invert
from s2s_core.lenses.inversion.priors import tv_weight
from s2s_core.lenses.predictions import predictions
from s2s_core.models.classifiers import Classifier
from s2s_core.models.layers import block_layers, default_layer, list_layers, resolve_layers
from s2s_core.runtime import configure_threads, select_device
from s2s_core.zoo import ZooInfo, load_zoo_classifier

SIDECAR_FORMAT = "s2s-inversion/1"


def _classifier(args) -> tuple[torch.nn.Module, str, ZooInfo | None]:
    if args.zoo is None:
        return Classifier.from_name(args.classifier).eval(), f"{args.classifier} (random weights)", None
    info = ZooInfo.read(args.zoo)
    return load_zoo_classifier(info, args.classifier), f"{args.classifier} of zoo {info.name}", info


def _layers(args) -> int:
    clf, label, info = _classifier(args)
    size = args.size or (info.input_size if info else None)
    infos = list_layers(clf, size)
    default, blocks = default_layer(clf, infos).name, {i.name for i in block_layers(clf, infos)}
    if args.json:
        print(json.dumps([{"name": i.name, "kind": i.kind, "shape": list(i.shape), "depth": round(i.depth, 6),
                           "calls": i.calls, "leaf": i.leaf, "lambda_tv": tv_weight(i.depth),
                           "stage_output": i.name in blocks, "default": i.name == default} for i in infos]))
        return 0
    width = max(len(i.name) for i in infos)
    print(f"Layers of {label} on {size or clf.spec.input_size} px images (module path, type, output shape, depth, "
          "default λ_TV; + a stage's output, as sweeps invert, * the layer inverted by default):")
    for i in infos:
        note = f"  (runs {i.calls}x: the last output; NAME#K the K-th)" if i.calls > 1 else ""
        mark = "*" if i.name == default else "+" if i.name in blocks else " "
        print(f"{mark} {i.name:<{width}}  {i.kind:<18} "
              f"{'×'.join(map(str, i.shape)):<14} {i.depth:5.2f}  {tv_weight(i.depth):g}"
              f"{'' if i.leaf else '  [block]'}{note}")
    return 0


def _split(values: list[str]) -> list[str]:
    return [v.strip() for text in values for v in text.split(",") if v.strip()]


def _invert(args) -> int:
    configure_threads(args.threads)
    out = Path(args.out)
    if out.suffix.lower() not in (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"):
        raise ConfigError(f"--out must name an image file (.png), got {out}")
    if args.size is not None and args.size < 8:
        raise ConfigError(f"--size must be at least 8 pixels, got {args.size}")
    info = ZooInfo.read(args.zoo)
    clf = load_zoo_classifier(info, args.classifier).to(select_device(args.device))
    notes: list[str] = []  # transparency and resizing, printed with the result
    x = load_image_tensor(args.image, size=args.size or info.input_size, notes=notes).unsqueeze(0)
    settings = InversionSettings(steps=args.steps, lr=args.lr, seed=args.seed, jitter=args.jitter,
                                 lambda_tv=args.lambda_tv, lambda_alpha=args.lambda_alpha).check()
    infos = list_layers(clf, x.shape[-1])
    layers = _split(args.layer) if args.layer else [default_layer(clf, infos).name]
    resolve_layers(clf, layers, label=f"classifier {args.classifier} ({clf.spec.name})", infos=infos)
    start = time.perf_counter()
    with tqdm(total=settings.steps, unit="step", desc="invert", disable=args.quiet) as bar:
        result = invert(clf, x, layers, settings, layer_infos=infos,
                        progress=lambda done, _total: bar.update(done - bar.n))
    seconds = time.perf_counter() - start
    classes = list(info.classes or [])
    with torch.no_grad():
        device = next(clf.parameters()).device
        on_x, on_inv = predictions(clf(torch.cat([x.to(device), result.images])), classes)
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        tensor_to_image(result.images[0].cpu()).save(out)
    except (ValueError, KeyError, OSError) as exc:
        raise ConfigError(f"cannot write {out}: {exc}") from exc
    top = lambda p: [{"class": c, "probability": round(q, 6)} for c, q in zip(p.labels, p.probs, strict=True)]  # noqa: E731
    sidecar = {
        "format": SIDECAR_FORMAT, "method": "feature inversion (Mahendran & Vedaldi, CVPR 2015)",
        "zoo": str(info.path), "classifier": args.classifier, "network": getattr(clf.spec, "name", ""),
        "image": str(args.image), "size": list(x.shape[-2:]), "output": out.name,
        "layers": [{"name": i.name, "kind": i.kind, "shape": list(i.shape), "depth": round(i.depth, 6)}
                   for i in result.layers],
        "settings": result.settings.as_dict(),
        "error": {n: float(e[0]) for n, e in result.errors.items()}, "error_mean": float(result.error[0]),
        "error_definition": "||Phi(x*) - Phi(x0)|| / ||Phi(x0)|| at each layer",
        "objective": {"first": float(result.objective[0, 0]), "last": float(result.objective[-1, 0])},
        "top5_original": top(on_x), "top5_inversion": top(on_inv),
        "seconds": round(seconds, 3), "code_version": __version__,
    }
    side = out.with_suffix(".json")
    write_json_atomic(side, sidecar)
    errs = ", ".join(f"{n}: {float(e[0]):.3f}" for n, e in result.errors.items())
    print(f"Inverted {args.classifier} at {' + '.join(layers)} in {seconds:.1f} s; normalised error {errs}; "
          f"top-1 on x: {on_x.text(1)}, on the inversion: {on_inv.text(1)}")
    print(f"Wrote {out} and {side}")
    for note in notes:
        print(f"note: {note}")
    return 0


def _number(kind, what: str):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what}, got {text!r}") from None
        if value < 0:
            raise argparse.ArgumentTypeError(f"{what}, got {text!r}")
        return value
    return parse


def register(sub) -> None:
    """Add ``s2s layers`` and ``s2s invert``."""
    p = sub.add_parser("layers", help="list a classifier's layers (module paths) with their output shapes",
                       description="List every layer of a zoo's classifier (or of a registered network with random "
                       "weights, without --zoo): its module path (what --layer takes), type, output shape, depth "
                       "in the network (0-1] and the default TV weight of feature inversion at that depth.")
    p.add_argument("--zoo", type=Path, default=None, help="zoo directory (with zoo.json)")
    p.add_argument("--classifier", required=True, help="the classifier's short name in the zoo (or a registry name)")
    p.add_argument("--size", type=int, default=None, help="image side (default: the zoo's or the network's input size)")
    p.add_argument("--json", action="store_true", help="print one JSON list")
    p.set_defaults(func=_layers)

    p = sub.add_parser("invert", help="feature inversion: the image a classifier's layer cannot tell from the input",
                       description="Invert the representation of an image at a layer of a zoo's classifier "
                       "(Mahendran & Vedaldi, CVPR 2015): from a random start, momentum gradient descent with a "
                       "decaying step on ||Φ(x) − Φ(x0)||²/||Φ(x0)||² + λ_α R_α + λ_TV R_TV^β. Writes the image and, "
                       "beside it, a JSON sidecar named like OUT with .json for its suffix (inv.png -> inv.json: "
                       "settings, normalised error, top-5 on x and on the inversion).")
    p.add_argument("--zoo", type=Path, required=True, help="zoo directory (with zoo.json)")
    p.add_argument("--classifier", required=True, help="the classifier's short name in the zoo")
    p.add_argument("--layer", action="append", default=None, metavar="LAYER",
                   help="module path (`s2s layers` lists them); repeat or comma-separate to invert layers jointly "
                        "(default: the block output nearest mid-depth, starred in `s2s layers`)")
    p.add_argument("--image", type=Path, required=True,
                   help=f"input image (shorter side resized, centre-cropped; {ALPHA_POLICY})")
    p.add_argument("--out", type=Path, required=True,
                   help="output image (.png); the sidecar is OUT with .json for its suffix (inv.png -> inv.json)")
    p.add_argument("--steps", type=_number(int, "steps must be a positive integer"), default=STEPS,
                   help=f"gradient steps (default {STEPS})")
    p.add_argument("--seed", type=int, default=0, help="seed of the random start and the jitter")
    p.add_argument("--lr", type=float, default=LEARNING_RATE, help="initial step size (decays 10x twice)")
    p.add_argument("--lambda-tv", type=_number(float, "must be a number >= 0"), default=None,
                   help="weight of the TV prior (default by depth: 0.5, 5 or 50)")
    p.add_argument("--lambda-alpha", type=_number(float, "must be a number >= 0"), default=None,
                   help="weight of the α-norm prior (default σ^α / (H W B^α))")
    p.add_argument("--jitter", type=_number(int, "must be a number of pixels >= 0"), default=0,
                   help="random shift of up to J pixels per step")
    p.add_argument("--size", type=int, default=None, help="image side (default: the zoo's input size)")
    p.add_argument("--device", default="cpu", help="cpu, auto, cuda or cuda:N")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: S2S_THREADS or torch's)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_invert)
