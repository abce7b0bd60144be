"""``s2s report``: print a zoo's account (:mod:`s2s_core.demo.report`), or write it (and its short summary) into
marked blocks of markdown files."""

from __future__ import annotations

from pathlib import Path

from s2s_core.demo.report import BEGIN, END, SUMMARY_BEGIN, SUMMARY_END, report, summary, write_into


def register(sub) -> None:
    """Add ``s2s report`` to the CLI."""
    p = sub.add_parser("report", help="markdown account of a zoo's results (Tables 1-2, AE quality, nMI, noise)",
                       description="Print the account of a zoo generated from its results/ files, or write it "
                       f"into a file between the markers {BEGIN} and {END} (the demo's: docs/DEMO_RESULTS.md), and "
                       f"its few-line summary between {SUMMARY_BEGIN} and {SUMMARY_END} (the demo's: README.md).")
    p.add_argument("zoo", type=Path, nargs="?", default=Path("checkpoints/demo"), help="zoo directory")
    p.add_argument("--readme", type=Path, default=None,
                   help="write the whole account into this file's marked block (e.g. docs/DEMO_RESULTS.md)")
    p.add_argument("--summary", type=Path, default=None,
                   help="write the summary into this file's marked block (e.g. README.md)")
    p.add_argument("--allow-mixed", action="store_true",
                   help="print the account even when its tables come from different data (with a warning); "
                        "by default that is refused")
    p.set_defaults(func=_main)


def _main(args) -> int:
    text = report(args.zoo, allow_mixed=args.allow_mixed)
    if args.readme is None and args.summary is None:
        print(text, end="")
    if args.readme is not None:
        changed = write_into(args.readme, text)
        print(f"{args.readme}: {'updated' if changed else 'already up to date'}")
    if args.summary is not None:
        changed = write_into(args.summary, summary(args.zoo), (SUMMARY_BEGIN, SUMMARY_END))
        print(f"{args.summary}: {'updated' if changed else 'already up to date'}")
    return 0
