"""Many users at once (project issue 15): N browser sessions (one chromium, one context each) against one
``streamlit run app.py`` on the demo zoo. Each session uploads its own 512 px photos and moves the Signal order
threshold to its own value, checking after every step that it sees its own image (nearest of all sessions'
photos) and its own threshold (tests/browser_harness.py: ``run_sessions``).

Figures: upload and slider latency p50/p95 (ms, wall clock while all sessions run; uploads also split into
each session's first, which starts together with all the others in a fresh browser tab, and the later ones),
exceptions seen, leaks seen (a session showing another's image or threshold), the server's resident memory
after one warm-up session and after all N, and the growth per session beside the size of what a session
holds (its uploads' bytes and its panel's pictures as the browser fetched them). Chromium and the server
share this machine's two cores, so latencies here are those of a saturated machine, not of N users on N
machines.

    python benchmarks/run.py --only load      or      python benchmarks/bench_load.py [N]
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from browser_harness import CHROMIUM, photo_jpeg, rss_mb, run_sessions, serve  # noqa: E402

DEMO_ZOO = ROOT / "checkpoints" / "demo"
SESSIONS = int(os.environ.get("S2S_BENCH_SESSIONS", "8"))
STEPS = 2  # uploads (each followed by a threshold move) per session


def _pct(values: list[float], q: float) -> float:
    return float(statistics.quantiles(values, n=100, method="inclusive")[q - 1]) if len(values) > 1 else values[0]


def run(sessions: int = SESSIONS) -> dict[str, float]:
    if not CHROMIUM.exists() or not (DEMO_ZOO / "zoo.json").is_file():
        print("bench_load: needs /usr/bin/chromium and checkpoints/demo; skipped", file=sys.stderr)
        return {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        env = {"S2S_ZOO": str(DEMO_ZOO), "S2S_RUNS_DIR": str(tmp / "runs"), "S2S_THREADS": "1"}
        warm = [[photo_jpeg(tmp / "warm.jpg", variant=99)]]
        photos = [[photo_jpeg(tmp / f"s{k}_{step}.jpg", variant=k * STEPS + step) for step in range(STEPS)]
                  for k in range(sessions)]
        with serve(env, tmp / "streamlit.log") as (url, proc):
            asyncio.run(run_sessions(url, warm))  # models loaded, caches warm: the baseline
            before = rss_mb(proc.pid)
            result = asyncio.run(run_sessions(url, photos))
            after = rss_mb(proc.pid)
        per_session_kb = sum(p.stat().st_size for ps in photos for p in ps) / sessions / 1024  # before tmp goes
    first = [ms for ms, step in zip(result["upload_ms"], result["upload_step"], strict=True) if step == 0]
    later = [ms for ms, step in zip(result["upload_ms"], result["upload_step"], strict=True) if step > 0]
    out = {
        "load_sessions": sessions,
        "load_upload_p50_ms": _pct(result["upload_ms"], 50), "load_upload_p95_ms": _pct(result["upload_ms"], 95),
        "load_upload_first_p50_ms": _pct(first, 50), "load_upload_later_p50_ms": _pct(later, 50),
        "load_slider_p50_ms": _pct(result["slider_ms"], 50), "load_slider_p95_ms": _pct(result["slider_ms"], 95),
        "load_exceptions": result["exceptions"] + len(result["page_errors"]), "load_leaks": len(result["leaks"]),
        "load_server_rss_before_mb": before, "load_server_rss_after_mb": after,
        "load_rss_growth_per_session_mb": (after - before) / sessions,
        "load_upload_bytes_per_session_kb": per_session_kb,
        "load_panel_bytes_per_session_kb": statistics.fmean(result["panel_kb"]),
    }
    for line in result["leaks"] + result["page_errors"]:
        print(line, file=sys.stderr)
    return out


if __name__ == "__main__":
    for key, value in run(int(sys.argv[1]) if len(sys.argv) > 1 else SESSIONS).items():
        print(f"{key}: {value:.1f}")
