"""Every flag of every s2s command has help, and no help text shows raw reST markup (issue 12, item 6)."""

from __future__ import annotations

import argparse

from s2s_core.cli import build_parser


def _parsers(parser: argparse.ArgumentParser, path: str = "s2s"):
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, f"{path} {name}")


def test_every_flag_has_help_and_no_markup() -> None:
    missing, markup = [], []
    for path, parser in _parsers(build_parser()):
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction | argparse._SubParsersAction):
                continue
            if not action.help or action.help == argparse.SUPPRESS:
                missing.append(f"{path} {'/'.join(action.option_strings) or action.dest}")
        text = parser.format_help()
        if "``" in text or ":class:" in text or ":func:" in text:
            markup.append(path)
    assert not missing, missing
    assert not markup, markup
