"""The ``s2s`` command.

Each sub-command lives beside the code it drives, in a module that exposes
``register(subparsers) -> None``; that function adds its parser and sets ``func`` (called with the parsed
namespace, returning an exit code or ``None``). This module only assembles them and turns
:class:`~s2s_core.errors.S2SError` into one plain line on stderr and a non-zero exit code.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from s2s_core import __version__
from s2s_core.errors import S2SError

#: Modules that contribute sub-commands, in the order they appear in ``s2s --help``.
COMMAND_MODULES: tuple[str, ...] = (
    "s2s_core.models.commands",  # reconstruct, import-pth
    "s2s_core.train.commands",  # pretrain, finetune, train-classifier
    "s2s_core.analysis.commands",  # evaluate, signal-order
    "s2s_core.channels.commands",  # channels fit, channels show
    "s2s_core.inversion.commands",  # layers, invert
    "s2s_core.lenses.commands",  # lenses
    "s2s_core.zoo_commands",  # zoo create
    "s2s_core.demo.commands",  # demo
    "s2s_core.demo.report",  # report
    "s2s_core.demo.masks",  # demo-masks
    "s2s_core.jobs.commands",  # jobs
    "s2s_core.reproduce.commands",  # reproduce, run-stage
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="s2s",
        description="Which part of its input does an image classifier use? (Palacio et al., CVPR 2018)",
    )
    parser.add_argument("--version", action="version", version=f"s2s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        code = args.func(args)
    except S2SError as exc:
        print(f"s2s {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"s2s {args.command}: interrupted", file=sys.stderr)
        return 130
    return int(code or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
