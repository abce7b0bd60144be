"""The Attacks page in the browser (issue 28: one attack on one image answers in ≤ 2 s): Debian's chromium
driven by Playwright against ``streamlit run app.py`` on the demo zoo, from a press on the ε slider (or a click
on "white-box") until the screen is complete: the rerun finished, every image loaded, the figures drawn and the
caption saying the new max |δ| (tests/browser_harness.py's "what the person waits for").

* ``browser_attack_gray_ms`` / ``browser_attack_white_ms``: median over new ε values, PGD-10 (the page's default) against the first
  classifier, crafted on i (gray) or on i∘A_i (white); every one a cache miss.

    python benchmarks/bench_attacks_page.py
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_browser import DEMO_ZOO, _open, _timed  # noqa: E402
from browser_harness import CHROMIUM, CHROMIUM_ARGS, IDLE, done_js, serve  # noqa: E402


def _caption(eps: int, rerun: bool = True) -> str:
    return done_js(text=f"max |δ| = {eps:.1f}/255", plotly=True, images=True, need_rerun=rerun)


def measure(url: str) -> dict[str, float]:
    from playwright.sync_api import sync_playwright

    out: dict[str, float] = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        page.goto(url)
        page.wait_for_selector(IDLE, timeout=120_000)
        _open(page, "Attacks", "attacks")
        page.wait_for_function(_caption(4, rerun=False), timeout=120_000)
        slider = page.get_by_role("slider").first  # the attack's ε (the transfer's comes below)
        gray, white = [], []
        slider.focus()
        for eps in (8, 16):
            gray.append(_timed(page, lambda: page.keyboard.press("ArrowRight"), _caption(eps)))
        white.append(_timed(page, lambda: page.get_by_text("i∘A_i (white-box)").click(), _caption(16)))
        slider.focus()
        for eps in (8, 4, 2, 1):
            white.append(_timed(page, lambda: page.keyboard.press("ArrowLeft"), _caption(eps)))
        browser.close()
    print(f"gray ms {[round(t) for t in gray]}, white ms {[round(t) for t in white]}", file=sys.stderr)
    out["browser_attack_gray_ms"] = statistics.median(gray)
    out["browser_attack_white_ms"] = statistics.median(white)
    return out


def run() -> dict[str, float]:
    if not CHROMIUM.exists() or not (DEMO_ZOO / "zoo.json").is_file():
        print("bench_attacks_page: needs /usr/bin/chromium and checkpoints/demo; skipped", file=sys.stderr)
        return {}
    with tempfile.TemporaryDirectory() as tmp:
        env = {"S2S_ZOO": str(DEMO_ZOO), "S2S_RUNS_DIR": str(Path(tmp) / "runs"), "S2S_THREADS": "1"}
        with serve(env, Path(tmp) / "streamlit.log") as (url, _proc):
            return measure(url)


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    for key, value in run().items():
        print(f"{key}: {value:.0f}")
