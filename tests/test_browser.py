"""The dashboard in a real browser: `streamlit run app.py` on a free port against the tiny zoo, driven by
Playwright with Debian's chromium (see /work/shared/TESTING.md). Screenshots go to tests/artifacts/."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from browser_harness import CHROMIUM, CHROMIUM_ARGS, IDLE, on_page_js, photo_jpeg, run_sessions, serve
from needs import system_dependency
from PIL import Image
from tiny_zoo import build_tiny_zoo

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
LATTICE = ".st-key-lattice"  # the Signal order page's Fig. 7 (a plotly chart)
T = 180_000  # ms: an upper bound for any one wait (the machine is shared and can be very busy), not a speed check
PAGES = {"overview": "Overview", "reconstructions": "Reconstructions", "upload": "Upload", "noise": "Noise",
         "signal_order": "Signal order", "compare": "Compare two", "information": "Information",
         "patterns": "AE patterns", "lenses": "Lenses", "jobs": "Training jobs"}

system_dependency(CHROMIUM.exists(), "Debian's chromium is not installed at /usr/bin/chromium "
                  "(apt-get install -y chromium)", module_level=True)
try:
    from playwright import sync_api as playwright_api
except ImportError:
    system_dependency(False, "playwright (python) is not installed: pip install -e '.[test]'", module_level=True)


@dataclass(frozen=True)
class Server:
    url: str
    log: Path


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("browser")
    zoo = build_tiny_zoo(tmp / "tiny")
    env = {"S2S_ZOO": str(zoo), "S2S_RUNS_DIR": str(tmp / "runs"), "S2S_THREADS": "1"}
    with serve(env, tmp / "streamlit.log") as (url, _proc):
        yield Server(url, tmp / "streamlit.log")


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


def _idle(page, timeout: float = T) -> None:
    page.wait_for_selector(IDLE, timeout=timeout)
    page.wait_for_timeout(300)  # let the last deltas render
    page.wait_for_selector(IDLE, timeout=timeout)


def _shot(page, name: str) -> None:
    """Screenshot of the whole page: Streamlit scrolls inside its main container, so grow the viewport."""
    height = page.evaluate("() => document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
    page.set_viewport_size({"width": 1600, "height": min(max(int(height), 1000), 8000)})
    page.wait_for_timeout(400)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))
    page.set_viewport_size({"width": 1600, "height": 1000})


def _open(page, title: str) -> None:
    page.locator('[data-testid="stSidebarNav"] a').filter(has_text=title).first.click()
    path = "" if title == PAGES["overview"] else next(n for n, t in PAGES.items() if t == title)
    page.wait_for_function(on_page_js(path), timeout=T)
    _idle(page)


def _png_file(path: Path) -> Path:
    try:
        from skimage import data

        img = data.astronaut()  # a 512×512 photo that ships with scikit-image
    except Exception:  # pragma: no cover - skimage data missing
        img = np.random.default_rng(0).integers(0, 255, (512, 512, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG")
    path.write_bytes(buf.getvalue())
    return path


def test_every_page_lattice_slider_and_upload(server: Server, browser, tmp_path: Path) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1600, "height": 1000})
    console: list[str] = []
    page.on("console", lambda m: console.append(f"{m.text} {m.location.get('url', '')}") if m.type == "error" else None)
    page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))

    page.goto(server.url)
    _idle(page, timeout=240_000)  # the first run of a fresh server imports torch and loads the zoo (slow when busy)
    for name, title in PAGES.items():  # through the sidebar's navigation, in one session, as a user would
        _open(page, title)
        page.wait_for_selector("h1", timeout=T)
        assert page.locator('[data-testid="stException"]').count() == 0, name
        if name in ("reconstructions", "noise", "compare"):
            page.wait_for_selector('[data-testid="stImage"] img', timeout=T)
        if name in ("reconstructions", "noise"):
            page.wait_for_selector(".js-plotly-plot", timeout=T)
        if name == "lenses":  # the fast lenses at once; the inversion (200 steps) when asked for, then drawn
            page.wait_for_selector("text=S2S: A_L(x)", timeout=T)
            page.get_by_role("button", name="Invert this image").click()
            page.wait_for_selector("text=feature error at", timeout=T)
            assert page.locator('[data-testid="stException"]').count() == 0, name
            # the second tab runs only when opened: the checks across the test set, none of the image's lenses.
            # Wait for the inversion's run to end first: a click during a run stops it, and the browser may still
            # be fetching pictures of the stopped run that the server has dropped (404s in the console).
            _idle(page)
            page.get_by_role("tab", name="Across the test set").click()
            page.wait_for_selector("text=Ground truth: every lens against the masks", timeout=T)
            _idle(page)
            assert page.locator('[data-testid="stException"]').count() == 0, name
            assert page.get_by_text("S2S: A_L(x)").count() == 0
            _shot(page, "lenses_test_set")
            page.get_by_role("tab", name="This image").click()
            page.wait_for_selector("text=S2S: A_L(x)", timeout=T)
            _idle(page)
        if name == "overview":
            page.wait_for_selector('[data-testid="stGraphVizChart"] svg', timeout=T)  # the pipeline
            assert page.get_by_text("Table 1").count() >= 1
        _shot(page, name)

    # Signal order: the paper's Table 2, then move the threshold with the keyboard and see the lattice change.
    _open(page, PAGES["signal_order"])
    page.get_by_role("button", name="Load the paper's Table 2 as an example").click()
    _idle(page)
    svg = page.locator(f"{LATTICE} .js-plotly-plot").first
    svg.wait_for(timeout=T)
    before = svg.inner_html()
    slider = page.get_by_role("slider", name="RRC threshold t")
    slider.focus()
    for _ in range(5):  # 0.50 -> 0.55 crosses RRC(I∘A_L) ≈ 0.525 and RRC ≈ 0.539
        page.keyboard.press("ArrowRight")
    page.wait_for_function(
        f"(before) => {{ const s = document.querySelector('{LATTICE} .js-plotly-plot');"
        " return s && s.innerHTML !== before; }", arg=before, timeout=T)
    _idle(page)
    after = page.locator(f"{LATTICE} .js-plotly-plot").first.inner_html()
    assert after != before
    assert page.get_by_text("concept lattice at t = 0.55").count() == 1
    _shot(page, "signal_order_paper")

    # Downloads are built on click: the lattice through Graphviz, a plotly figure through kaleido.
    for button, magic in (("lattice_dl_svg", b"<svg"), ("bars_fig_svg", b"<svg"), ("rrc_csv", b",L,A,V,I,R")):
        with page.expect_download(timeout=T) as info:
            page.locator(f".st-key-{button} button").first.click()
        body = Path(info.value.path()).read_bytes()
        assert magic in body[:2000], (button, body[:200])

    # Upload a photo: the panel with every reconstruction appears.
    _open(page, PAGES["upload"])
    page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(
        str(_png_file(tmp_path / "astronaut.png")))
    page.wait_for_selector('[data-testid="stDataFrame"]', timeout=T)
    _idle(page)
    _shot(page, "upload")
    assert page.locator('[data-testid="stImage"]').count() >= 5, page.locator('[data-testid="stMain"]').inner_text()[:3000]
    assert page.locator('[data-testid="stException"]').count() == 0
    assert page.get_by_text("fine-tuned through V").count() == 1
    _shot(page, "upload")

    # A file that is not an image: a plain message, and the app keeps running.
    bad = tmp_path / "notes.txt"
    bad.write_text("not an image")
    page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(str(bad))
    page.wait_for_selector('[data-testid="stAlertContentError"]', timeout=T)
    _idle(page)
    assert "not an image file" in page.locator('[data-testid="stAlertContentError"]').first.inner_text()
    assert page.locator('[data-testid="stException"]').count() == 0
    _shot(page, "upload_error")

    errors = [m for m in console if "material" not in m.lower() and "font" not in m.lower()]  # icon font fetch
    assert not errors, "\n".join(errors)
    page.close()


def _press(page, label: str, times: int, key: str = "ArrowRight") -> None:
    slider = page.get_by_role("slider", name=label)
    slider.focus()
    for _ in range(times):
        page.keyboard.press(key)
    _idle(page)


def test_a_copied_link_restores_the_view_in_a_fresh_browser(server: Server, browser) -> None:
    """Signal order (paper's table, t) and Noise (s, image, zoom): the address bar of one browser, opened in
    another browser context (no shared cookies or storage), shows the same view."""
    first = browser.new_context(viewport={"width": 1600, "height": 1000})
    page = first.new_page()
    page.goto(server.url)
    _idle(page)
    _open(page, PAGES["signal_order"])
    page.get_by_role("button", name="Load the paper's Table 2 as an example").click()
    _idle(page)
    _press(page, "RRC threshold t", 7)  # 0.50 -> 0.57
    page.wait_for_function("() => location.search.includes('t=0.57')", timeout=T)
    so_link = page.url
    assert "/signal_order?" in so_link and "src=paper" in so_link

    _open(page, PAGES["noise"])
    page.wait_for_selector('[data-testid="stImage"] img', timeout=T)
    _press(page, "noise strength s", 3)  # 0.2 -> 0.35
    _press(page, "zoom centre x (%)", 10, "ArrowLeft")  # 50 -> 40
    page.wait_for_function("() => location.search.includes('s=0.35') && location.search.includes('zx=40')",
                           timeout=T)
    noise_link = page.url
    first.close()

    fresh = browser.new_context(viewport={"width": 1600, "height": 1000})
    page = fresh.new_page()
    page.goto(so_link)
    page.wait_for_selector(f"{LATTICE} .main-svg", timeout=T)
    _idle(page)
    assert page.get_by_role("slider", name="RRC threshold t").input_value() == "0.57"
    assert page.get_by_text("concept lattice at t = 0.57").count() == 1
    assert page.get_by_text("Showing the paper's Table 2").count() == 1
    page.goto(noise_link)
    page.wait_for_selector('[data-testid="stImage"] img', timeout=T)
    _idle(page)
    assert page.get_by_role("slider", name="noise strength s").input_value() == "0.35"
    assert page.get_by_role("slider", name="zoom centre x (%)").input_value() == "40"
    assert page.get_by_text("x + U(−0.35, 0.35)").count() >= 1
    assert page.locator('[data-testid="stException"]').count() == 0
    _shot(page, "restored_from_link")
    fresh.close()


def test_the_printed_token_url_unlocks_jobs_and_leaves_the_address_bar(server: Server, browser) -> None:
    found = re.search(r"Training jobs: open (http://\S+\?token=(\S+))", server.log.read_text())
    assert found, "the server printed no launch URL"
    url, token = found.groups()
    ctx = browser.new_context(viewport={"width": 1600, "height": 1000})
    page = ctx.new_page()
    page.goto(server.url.rstrip("/") + "/jobs?token=" + token)  # the printed URL, on the jobs page
    _idle(page)
    page.get_by_role("button", name="Submit job").wait_for(timeout=T)
    assert "token" not in page.url
    ctx.close()
    ctx = browser.new_context()  # without the token: locked
    page = ctx.new_page()
    page.goto(server.url.rstrip("/") + "/jobs?token=wrong")
    _idle(page)
    page.get_by_text("the token in the link was wrong").first.wait_for(timeout=T)
    assert page.get_by_role("button", name="Submit job").count() == 0 and "token" not in page.url
    ctx.close()
    assert server.log.read_text().count(token) == 1  # written once: the start-up line


def test_three_sessions_at_once_see_only_their_own_image_and_threshold(server: Server, tmp_path: Path) -> None:
    """The load benchmark's scenario (benchmarks/bench_load.py) with 3 sessions: no exception, no leak."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    photos = [[photo_jpeg(tmp_path / f"s{k}.jpg", variant=k)] for k in range(3)]
    with ThreadPoolExecutor(1) as pool:  # the sync Playwright of the other tests holds this thread's event loop
        result = pool.submit(asyncio.run, run_sessions(server.url, photos, timeout_ms=T * 2)).result()
    assert result["exceptions"] == 0 and not result["page_errors"], result["page_errors"]
    assert result["leaks"] == [], result["leaks"]
    assert len(result["upload_ms"]) == 3 and len(result["slider_ms"]) == 3
