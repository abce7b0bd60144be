"""Timing helpers shared by the benchmarks (``run.py`` puts this folder on ``sys.path``)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def timings(fn: Callable[[], object], reps: int, warmup: int = 1) -> list[float]:
    """Wall-clock seconds of ``reps`` calls of ``fn`` after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def median_seconds(fn: Callable[[], object], reps: int, warmup: int = 1) -> float:
    return statistics.median(timings(fn, reps, warmup))


def best_seconds(fn: Callable[[], object], reps: int = 3, warmup: int = 0) -> float:
    return min(timings(fn, reps, warmup))
