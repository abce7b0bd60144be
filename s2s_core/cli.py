"""The ``s2s`` command: the top of the package.

Each sub-command group is a module of :mod:`s2s_core.commands` that exposes ``register(subparsers) -> None``;
that function adds its parser and sets ``func`` (called with the parsed namespace, returning an exit code or
``None``). This module only assembles them and turns :class:`~s2s_core.errors.S2SError` into one plain line on
stderr and a non-zero exit code. The namespace also carries ``s2s``, this module's :func:`main`, for the one
command that runs another (``run-stage``): nothing below the CLI imports it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from types import ModuleType

from s2s_core import __version__
from s2s_core.commands import (
    attack,
    channels,
    dashboard,
    demo,
    evaluate,
    inversion,
    jobs,
    lenses,
    models,
    report,
    reproduce,
    signal_order,
    train,
    zoo,
)
from s2s_core.errors import S2SError

#: The sub-command groups, in the order they appear in ``s2s --help``.
COMMAND_MODULES: tuple[ModuleType, ...] = (
    models,  # reconstruct, import-pth
    train,  # pretrain, finetune, train-classifier
    signal_order,  # signal-order
    evaluate,  # evaluate
    attack,  # attack
    channels,  # channels fit, channels show
    inversion,  # layers, invert
    lenses,  # lenses
    zoo,  # zoo create
    demo,  # demo, demo-masks
    report,  # report
    jobs,  # jobs
    reproduce,  # reproduce, run-stage
    dashboard,  # dashboard
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="s2s",
        description="Which part of its input does an image classifier use? (Palacio et al., CVPR 2018)",
    )
    parser.add_argument("--version", action="version", version=f"s2s {__version__}")
    parser.set_defaults(s2s=main)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and not getattr(args, "passthrough", False):
        parser.parse_args(argv)  # the usual one-line refusal of the unknown arguments, exit 2
    args.extra = extra
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
