"""The ``s2s`` sub-commands, one module per group; :mod:`s2s_core.cli` assembles them.

Each module exposes ``register(subparsers) -> None``, which adds its parsers and sets ``func`` (called with the
parsed namespace, returning an exit code or ``None``). They hold the command line's glue only (arguments,
printing); what a command does lives in the library below them, which never imports this package.
"""
