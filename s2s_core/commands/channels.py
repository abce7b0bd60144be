"""``s2s channels fit`` and ``s2s channels show``: the relevant-channels lens from the command line (seed 004).

    s2s channels fit --zoo ZOO --data DIR [--classifier L,A] [--layers features.1,...] [--mu MU]
    s2s channels fit --zoo checkpoints/demo --demo-split val        # the demo's fixed validation images
    s2s channels show --zoo ZOO --classifier L --image IMG [--k 3] [--out heatmaps.png]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from s2s_core.data.images import ALPHA_POLICY, load_image_tensor
from s2s_core.errors import ConfigError
from s2s_core.lenses.channels.fit import chosen_classifiers, fit_zoo
from s2s_core.lenses.channels.lens import DEFAULT_K, ChannelLens
from s2s_core.lenses.channels.store import load_channel_weights
from s2s_core.runtime import configure_threads
from s2s_core.zoo import Zoo


def register(sub) -> None:
    """Add ``s2s channels fit|show`` to the CLI."""
    p = sub.add_parser("channels", help="relevant channels of each classifier (Oramas et al.): fit W, show an image's",
                       description="The relevant-channels lens: a sparse W (mu-lasso) from pooled channel responses to "
                       "class labels, and per image the top-k channels of the predicted class.")
    cmds = p.add_subparsers(dest="channels_command", metavar="ACTION", required=True)
    f = cmds.add_parser("fit", help="fit W for the zoo's classifiers and save it into the zoo (channels/<name>/)")
    f.add_argument("--zoo", type=Path, required=True, help="zoo directory (with zoo.json); W is saved into it")
    src = f.add_mutually_exclusive_group(required=True)
    src.add_argument("--data", type=Path, help="labelled images (one sub-folder per class); not the test split")
    src.add_argument("--demo-split", choices=("val",), help="the demo zoo's fixed validation images, generated")
    f.add_argument("--classifier", default=None, help="comma-separated short names (default: every classifier)")
    f.add_argument("--layers", default=None, help="comma-separated layers as `s2s layers` names them, NAME#K "
                   "for the K-th call of a module run several times (default: every post-ReLU response)")
    f.add_argument("--mu", type=float, default=None, help="L1 bound of each class's weights (default: chosen by "
                   "5-fold cross-validation with the one-standard-error rule)")
    f.add_argument("--limit", type=int, default=None, help="use at most N images")
    f.add_argument("--batch-size", type=int, default=100, help="images per forward pass (default 100)")
    f.add_argument("--threads", type=int, default=None, help="torch threads (default: S2S_THREADS or torch's)")
    f.set_defaults(func=_fit)
    s = cmds.add_parser("show", help="the top-k relevant channels of one image (and their heatmaps as a PNG)")
    s.add_argument("--zoo", type=Path, required=True, help="zoo directory (with zoo.json and fitted W)")
    s.add_argument("--classifier", required=True, help="the classifier's short name in the zoo")
    s.add_argument("--image", type=Path, required=True, help=f"input image (shorter side resized, centre-cropped; {ALPHA_POLICY})")
    s.add_argument("--k", type=int, default=DEFAULT_K, help=f"relevant channels to show (default {DEFAULT_K})")
    s.add_argument("--out", type=Path, default=None, help="write the image and each channel's DeconvNet heatmap here")
    s.set_defaults(func=_show)


def _fit(args) -> int:
    configure_threads(args.threads)
    layers = [t.strip() for t in args.layers.split(",") if t.strip()] if args.layers else None
    fitted = fit_zoo(args.zoo, data=args.data, demo_split=args.demo_split, classifiers=args.classifier,
                         layers=layers, mu=args.mu, batch_size=args.batch_size, limit=args.limit)
    failed = {name: r["error"] for name, r in fitted.items() if "error" in r}
    for name, r in fitted.items():
        if name in failed:
            print(f"{name}: not fitted: {failed[name]}")
            continue
        sp = r["sparsity"]
        print(f"{name}: mu = {r['mu']:.4g}; {sp['nonzero']} non-zero weights "
              f"({sp['fraction_nonzero']:.1%} of W), {sp['per_class_mean']:.1f} channels per class "
              f"({sp['per_class_min']}-{sp['per_class_max']}), {sp['channels_used']} channels used; wrote {r['path']}")
    rules = [r["rule"] for r in fitted.values() if "error" not in r]
    if rules:
        print(f"mu rule: {rules[0]}")
    if failed:
        print(f"{len(failed)} of {len(fitted)} classifier(s) not fitted ({', '.join(failed)}); the others were saved",
              file=sys.stderr)
        return 1
    return 0


def _show(args) -> int:
    if args.k < 1:
        raise ConfigError(f"--k must be at least 1, got {args.k}")
    zoo = Zoo.load(args.zoo)
    name = chosen_classifiers(zoo, args.classifier)[0]
    lens = ChannelLens(zoo.classifiers[name], load_channel_weights(args.zoo, name), input_size=zoo.input_size)
    notes: list[str] = []
    x = load_image_tensor(args.image, size=zoo.input_size, notes=notes).unsqueeze(0)
    for note in notes:
        print(f"note: {note}")
    rel = lens.relevant(x, args.k)
    classes = zoo.classes or [str(i) for i in range(zoo.num_classes)]
    print(f"{name} predicts {classes[int(rel.predicted[0])]}; its top-{rel.k} relevant channels:")
    print("rank  layer                          channel    weight  response")
    for r, ((layer, channel), w, s) in enumerate(zip(rel.names[0], rel.weights[0].tolist(), rel.responses[0].tolist(),
                                                     strict=True), start=1):
        print(f"{r:>4}  {layer:<30} {channel:>7} {w:>9.3f} {s:>9.4f}")
    if args.out is not None:
        maps = lens.backproject(x, rel, "deconvnet")[0]
        maps = (maps / maps.flatten(1).amax(1).clamp_min(1e-12)[:, None, None] * 255).round().to(torch.uint8)
        tiles = [(x[0].permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()]
        tiles += [np.repeat(m.numpy()[:, :, None], 3, axis=2) for m in maps]
        Image.fromarray(np.concatenate(tiles, axis=1)).save(args.out)
        print(f"wrote {args.out} (the image, then each channel's DeconvNet heatmap)")
    return 0
