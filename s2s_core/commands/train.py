"""``s2s pretrain``, ``s2s finetune`` (Sec. 3.2 and 3.3) and ``s2s train-classifier``.

Settings: defaults < ``--config FILE.yaml`` < ``--set key=value`` (repeatable) < explicit flags. With
``--resume`` the run dir's saved ``config.json`` is the starting point instead of the defaults, and a setting
that would change what the checkpoint means (anything but steps, device, threads, workers, logging and
checkpoint intervals, compile/amp/channels_last) is refused with one line naming it. Exit codes: 0 when
finished; 75 (``EXIT_STOPPED``) when stopped by SIGTERM/SIGINT after saving a checkpoint (the last progress
event is then ``{"event": "done", "status": "stopped", ...}``; continue with ``--resume``); 1 on an error (bad
configuration, NaN/inf loss: the last good checkpoint stays in ``RUN/ckpt``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from s2s_core.data.images import ALPHA_POLICY
from s2s_core.errors import EXIT_STOPPED, ConfigError
from s2s_core.train.config import (
    CLASSIFIER_OPTIMIZERS,
    CLASSIFIER_PRESETS,
    SCHEDULES,
    ClassifierConfig,
    FinetuneConfig,
    PretrainConfig,
    parse_set,
    read_config_file,
    read_saved_config,
    resolve_config,
)

_COMMON_HELP = "Settings come from --config, then --set key=value, then the flags below. Run dir: RUN/config.json, RUN/progress.jsonl, RUN/ckpt/, RUN/model/."


def _run_flags(p: argparse.ArgumentParser) -> None:
    """Flags of every training command."""
    p.add_argument("--config", type=Path, help="YAML file of settings (see configs/*.yaml)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override one setting (YAML value syntax); repeatable")
    p.add_argument("--out", help="run dir (config.json, progress.jsonl, ckpt/, model/)")
    p.add_argument("--batch-size", dest="batch_size", type=int, help="images per step and per process")
    p.add_argument("--lr", type=float, help="initial (peak) learning rate")
    p.add_argument("--seed", type=int, help="random seed (data order, crops, initialisation)")
    p.add_argument("--ckpt-every", dest="ckpt_every", type=int, help="checkpoint every K steps")
    p.add_argument("--log-every", dest="log_every", type=int, help="a progress event every N steps")
    p.add_argument("--num-workers", dest="num_workers", type=int, help="DataLoader worker processes")
    p.add_argument("--device", help="auto (default), cpu, cuda, cuda:N")
    p.add_argument("--threads", type=int, help="torch threads")
    p.add_argument("--compile", action="store_const", const=True, default=None, help="torch.compile the model")
    p.add_argument("--no-amp", dest="amp", action="store_const", const=False, default=None, help="no bf16 autocast on CUDA")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.add_argument("--no-progress-bar", dest="bar", action="store_const", const=False, default=None,
                   help="no terminal progress bar (progress.jsonl is written anyway)")


def _common(p: argparse.ArgumentParser) -> None:
    """Flags of the two autoencoder commands."""
    _run_flags(p)
    p.add_argument("--data", nargs="+", help=f"image folder, ImageFolder tree, or .tar shards ({ALPHA_POLICY})")
    p.add_argument("--steps", type=int, help="optimiser steps in total")
    p.add_argument("--size", type=int, help="input size in pixels, a multiple of 2**stages of the AE (32 for five "
                                            "stages, 8 for three; finetune default: the size the base AE was "
                                            "trained at)")
    p.add_argument("--optimizer", choices=("sgd", "adam"), help="pretrain default sgd (paper), finetune default adam")


_FLAG_KEYS = ("out", "data", "steps", "batch_size", "size", "lr", "seed", "ckpt_every", "log_every", "num_workers",
              "device", "threads", "compile", "amp", "widths", "depths", "init_encoder", "heldout", "heldout_images",
              "eval_every_images", "base", "classifier", "classifier_weights", "classifier_name", "train", "optimizer",
              "recon_weight", "arch", "name", "val", "epochs", "num_classes", "schedule", "preset")


def config_from_args(cls: type, args: argparse.Namespace) -> Any:
    """Resolve the configuration of a parsed command line (see the module docstring for precedence)."""
    flags = {k: getattr(args, k) for k in _FLAG_KEYS if getattr(args, k, None) is not None}
    saved = None
    if args.resume:
        out = flags.get("out") or (read_config_file(args.config).get("out") if args.config else None)
        if not out:
            raise ConfigError("--resume needs the run dir: pass --out RUN")
        cfg_path = Path(out) / "config.json"
        if not cfg_path.is_file():
            raise ConfigError(f"--resume: {out} has no config.json; is it a run dir?")
        saved = read_saved_config(cfg_path)
        if saved.get("classifier_weights", "") is None:  # written before random weights needed asking for
            saved.pop("classifier_weights")
    file_layer = read_config_file(args.config) if args.config else None
    return resolve_config(cls, saved, file_layer, parse_set(args.overrides), flags)


def _report(result: dict[str, Any], out: str) -> int:
    if os.environ.get("RANK", "0") != "0":  # under torchrun only rank 0 reports
        return 0
    if result.get("stopped"):
        print(f"stopped at step {result['steps']}; resume with --resume --out {out}", file=sys.stderr)
        return EXIT_STOPPED
    keys = ("steps", "images_seen", "final_train_loss", "final_heldout_loss", "final_psnr", "seconds")
    print(json.dumps({"model": str(Path(out) / "model"), **{k: result[k] for k in keys if k in result}}))
    return 0


def _pretrain(args: argparse.Namespace) -> int:
    from s2s_core.train.pretrain import pretrain

    cfg = config_from_args(PretrainConfig, args)
    return _report(pretrain(cfg, resume=args.resume, bar=args.bar), cfg.out)


def _finetune(args: argparse.Namespace) -> int:
    from s2s_core.train.finetune import finetune

    cfg = config_from_args(FinetuneConfig, args)
    return _report(finetune(cfg, resume=args.resume, bar=args.bar), cfg.out)


def _train_classifier(args: argparse.Namespace) -> int:
    from s2s_core.train.classify import train_classifier

    cfg = config_from_args(ClassifierConfig, args)
    result = train_classifier(cfg, resume=args.resume, bar=args.bar)
    if os.environ.get("RANK", "0") != "0":
        return 0
    if result.get("stopped"):
        print(f"stopped at step {result['steps']}; resume with --resume --out {cfg.out}", file=sys.stderr)
        return 0
    keys = ("steps", "images_seen", "final_train_loss", "val_top1", "val_top5", "val_chance", "seconds")
    print(json.dumps({"model": str(Path(cfg.out) / "model"), **{k: result[k] for k in keys}}))
    return 0


def _preset_text(name: str) -> str:
    """``key value, ...`` of one preset, for help texts (``%`` doubled for argparse)."""
    return ", ".join(f"{k} {v}" for k, v in CLASSIFIER_PRESETS[name].items()).replace("%", "%%")


def _int_list(text: str) -> list[int]:
    try:
        return [int(v) for v in text.replace("[", "").replace("]", "").split(",") if v.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from exc


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("pretrain", help="train the SegNet autoencoder A_S (Sec. 3.2)",
                              description="Train the SegNet AE with MSE, SGD momentum 0.9, lr x0.2 on held-out plateaus "
                                          "(Sec. 3.2). " + _COMMON_HELP)
    _common(p)
    p.add_argument("--widths", type=_int_list, help="one width per SegNet stage, 1 to 9 stages (default "
                                                     "64,128,256,512,512, VGG16's five; e.g. 16,32,64 for 32 px images)")
    p.add_argument("--depths", type=_int_list, help="convolutions per stage, as many as --widths (default 2,2,3,3,3)")
    p.add_argument("--init-encoder", dest="init_encoder", help="vgg16_bn, or a .safetensors/.pth weights file")
    p.add_argument("--heldout", nargs="+", help="held-out images (default: --heldout-images of --data, a sample drawn with --seed, "
                                             "stratified over its class folders)")
    p.add_argument("--heldout-images", dest="heldout_images", type=int, help="images in each held-out check")
    p.add_argument("--eval-every-images", dest="eval_every_images", type=int,
                   help="held-out check every N images (paper: 1000000)")
    p.set_defaults(func=_pretrain)

    f = subparsers.add_parser("finetune", help="fine-tune A_S's decoder through a frozen classifier (Sec. 3.3)",
                              description="Copy a pre-trained AE and fine-tune it with the cross-entropy of a frozen "
                                          "classifier on labelled data (Sec. 3.3). " + _COMMON_HELP)
    _common(f)
    f.add_argument("--base", help="the pre-trained 'ae' unit (e.g. RUN/model of s2s pretrain)")
    f.add_argument("--classifier", help="a classifier unit dir, or a registry / torchvision name")
    f.add_argument("--classifier-weights", dest="classifier_weights", metavar="TAG",
                   help="for a registry name: DEFAULT (its published weights, from the torch cache; the default), "
                        "a torchvision weights tag, or none (randomly initialised; recorded in the manifest)")
    f.add_argument("--classifier-name", dest="classifier_name", metavar="NAME",
                   help="the classifier's short name in the run's zoo (default: the name the unit records, e.g. "
                        "train-classifier's --name or architecture, else its directory name; or the registry name)")
    f.add_argument("--train", choices=("decoder", "encoder", "both"), help="which half of the AE trains (default decoder)")
    f.add_argument("--recon-weight", dest="recon_weight", type=float, help="weight of an extra MSE term (default 0)")
    f.set_defaults(func=_finetune)

    c = subparsers.add_parser(
        "train-classifier", help="train a registry classifier from scratch on an ImageFolder tree (e.g. LeNet-5, Sec. 3.3)",
        description="Train a classifier of the registry (lenet5 at 224 px on ImageNet, as in the paper, or any other) "
                    "with the torchvision reference recipe (--preset imagenet, the default): SGD momentum 0.9, lr 0.1, "
                    "x0.1 every 30 epochs, RandomResizedCrop of 8-100 %% of the area + horizontal flips. On a small "
                    "data set (a few thousand images: digits, shapes) that recipe stays at chance; use --preset "
                    "small: " + _preset_text("small") + ". Top-1/top-5 on --val (resize + centre crop) after every "
                    "epoch; a final top-1 within noise of chance (1/classes + 3 binomial standard errors) is "
                    "printed as a warning and recorded in the unit (val_chance, warnings). The result, RUN/model, "
                    "is a classifier unit for s2s finetune and s2s zoo create. " + _COMMON_HELP)
    _run_flags(c)
    c.add_argument("--preset", choices=tuple(CLASSIFIER_PRESETS),
                   help="defaults for the recipe, beneath --config, --set and flags: imagenet (torchvision's "
                        "reference, the default) or small (" + _preset_text("small") + ")")
    c.add_argument("--arch", help="classifier registry name (default lenet5)")
    c.add_argument("--name", help="name recorded in the unit (default: --arch)")
    c.add_argument("--data", nargs=1, help=f"the labelled training ImageFolder: root/<class>/<image> ({ALPHA_POLICY})")
    c.add_argument("--val", help="a labelled validation ImageFolder with the same class folders")
    c.add_argument("--epochs", type=int, help="passes over --data (default 90)")
    c.add_argument("--size", type=int, help="training crop and validation size (default: the architecture's)")
    c.add_argument("--num-classes", dest="num_classes", type=int, help="outputs (default: the class folders)")
    c.add_argument("--optimizer", choices=CLASSIFIER_OPTIMIZERS, help="default sgd (momentum 0.9)")
    c.add_argument("--schedule", choices=SCHEDULES, help="per-step lr schedule (default step: x0.1 every 30 epochs)")
    c.set_defaults(func=_train_classifier)
