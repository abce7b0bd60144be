"""``s2s lenses``: every lens of the registry (:mod:`s2s_core.lenses.registry`) with its heatmaps, flags and paper."""

from __future__ import annotations

import json

from s2s_core.lenses.registry import LENSES


def lens_rows() -> list[dict]:
    """One row per lens: key, title, what it shows, paper, flags and its heatmaps (key: label)."""
    return [{"key": lens.key, "title": lens.title, "summary": lens.summary, "paper": lens.paper,
             "class_conditional": lens.class_conditional, "needs_model": lens.needs_model,
             "default": lens.default, "heatmaps": {h.key: h.label for h in lens.heatmaps}}
            for lens in LENSES.values()]


def register(sub) -> None:
    p = sub.add_parser("lenses", help="list the lenses: their heatmaps, flags and papers",
                       description="Every lens s2s knows (the registry that the ground-truth table, the Lenses page "
                       "and these commands read), in table order, with the heatmaps it gives (their keys are the "
                       "rows of ground_truth.csv) and its flags: class-conditional (takes a target class), needs a "
                       "model (False for model-free baselines), on by default (False: scored only when asked for).")
    p.add_argument("--json", action="store_true", help="print one JSON list instead of text")
    p.set_defaults(func=_main)


def _main(args) -> int:
    rows = lens_rows()
    if args.json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return 0
    for r in rows:
        flags = ", ".join(f for f, on in (("class-conditional", r["class_conditional"]),
                                          ("model-free", not r["needs_model"]), ("opt-in", not r["default"])) if on)
        print(f"{r['key']}: {r['title']}{f' ({flags})' if flags else ''}: {r['summary']}. {r['paper']}.")
        for key, label in r["heatmaps"].items():
            print(f"    {key}: {label}")
    return 0
