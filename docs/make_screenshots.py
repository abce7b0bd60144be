"""The README's pictures, made from the real app in Debian's chromium on the demo zoo (refresh them after a
change to the pages): ``python docs/make_screenshots.py`` writes ``docs/img/lenses.png`` (the Lenses page: S2S
and the relevant channels of every classifier on one test image, its ground-truth outline drawn) and
its second tab's ground-truth and zeroing sections (``lenses_ground_truth.png``, ``lenses_zeroing.png``: tables
with their plots), ``docs/img/reconstructions.png`` and ``docs/img/overview.png`` (Table 1 beside its plot). Needs /usr/bin/chromium and Playwright (``pip install -e '.[test]'``)."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from browser_harness import CHROMIUM, CHROMIUM_ARGS, IDLE, serve  # noqa: E402

OUT = ROOT / "docs" / "img"
#: (page path, tab to open or None, file, the text that says the view is complete, the text the picture starts at)
SHOTS = [("lenses", None, "lenses.png", "gradient of the class score", "What A_i(x) keeps of x"),
         ("lenses", "Across the test set", "lenses_ground_truth.png", "Ground truth: every lens", "Metric"),
         ("lenses", "Across the test set", "lenses_zeroing.png", "Zeroing the relevant channels",
          "Per test image, the drop"),
         ("reconstructions", None, "reconstructions.png", "Test images", "True class:"),
         ("", None, "overview.png", "Table 1: top-1 with 95 % intervals", "Computed on")]
SCROLL_JS = """(text) => {
  const main = document.querySelector('[data-testid="stMain"]');
  const el = [...main.querySelectorAll('p')].find(e => e.innerText && e.innerText.startsWith(text));
  if (el) main.scrollTo(0, el.getBoundingClientRect().top + main.scrollTop - 60);
}"""
VIEWPORT = {"width": 1400, "height": 900}


def main() -> None:
    from playwright.sync_api import sync_playwright

    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        env = {"S2S_ZOO": str(ROOT / "checkpoints" / "demo"), "S2S_RUNS_DIR": str(Path(tmp) / "runs"),
               "S2S_THREADS": "1"}
        with serve(env, Path(tmp) / "streamlit.log", app=ROOT / "app.py") as (url, _), sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            page = browser.new_page(viewport=VIEWPORT, device_scale_factor=1)
            for path, tab, name, done, start in SHOTS:
                page.goto(f"{url}/{path}")
                page.wait_for_selector(IDLE, timeout=300_000)
                if tab is not None:
                    page.wait_for_selector(f"text={SHOTS[0][3]}", timeout=300_000)
                    page.get_by_role("tab", name=tab).click()
                page.wait_for_selector(f"text={done}", timeout=300_000)
                page.wait_for_timeout(500)
                page.wait_for_selector(IDLE, timeout=300_000)
                page.wait_for_function("() => [...document.querySelectorAll('[data-testid=stMain] img')]"
                                       ".every(i => i.complete && i.naturalWidth > 0)", timeout=300_000)
                page.evaluate(SCROLL_JS, start)
                page.wait_for_timeout(1000)
                page.screenshot(path=str(OUT / name))
                print(OUT / name)
            browser.close()


if __name__ == "__main__":
    main()
