"""Run every benchmark in this folder and write one JSON object.

Each ``bench_*.py`` module exposes ``run() -> dict[str, float]``: named figures, measured as ratios of
two things timed side by side in the same run (these machines are noisy, so absolute times mean
little). The merged object is printed and written to ``benchmarks/results.json``.

    python benchmarks/run.py [--only NAME ... [--merge]] [--threads N]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _load(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="run only these bench_*.py files (by stem, without bench_)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--out", type=Path, default=HERE / "results.json")
    parser.add_argument("--merge", action="store_true",
                        help="with --only: update just these figures in --out (their run is noted in _meta.merged)")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    sys.path.insert(0, str(HERE.parent))
    sys.path.insert(0, str(HERE))  # the shared timing helpers
    results: dict[str, object] = {
        "_meta": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "threads": args.threads,
            "machine": platform.machine(),
            "date": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }
    }
    for path in sorted(HERE.glob("bench_*.py")):
        name = path.stem.removeprefix("bench_")
        if args.only and name not in args.only:
            continue
        start = time.perf_counter()
        figures = _load(path).run()
        print(f"[{name}] {time.perf_counter() - start:.1f}s: {json.dumps(figures)}", file=sys.stderr)
        results.update(figures)
    text = json.dumps(results, indent=2, sort_keys=True)
    print(text)
    if not args.only:
        args.out.write_text(text + "\n")
    elif args.merge:
        old = json.loads(args.out.read_text()) if args.out.is_file() else {"_meta": {}}
        meta = results.pop("_meta")
        old.setdefault("_meta", {}).setdefault("merged", {})[",".join(args.only)] = meta
        old.update(results)
        args.out.write_text(json.dumps(old, indent=2, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
