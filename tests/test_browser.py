"""The dashboard in a real browser: `streamlit run app.py` on a free port against the tiny zoo, driven by
Playwright with Debian's chromium (see /work/shared/TESTING.md). Screenshots go to tests/artifacts/."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from needs import system_dependency
from PIL import Image
from tiny_zoo import build_tiny_zoo

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
PAGES = {"overview": "Overview", "reconstructions": "Reconstructions", "upload": "Upload", "noise": "Noise",
         "signal_order": "Signal order", "information": "Information", "lenses": "Lenses", "jobs": "Training jobs"}

system_dependency(CHROMIUM.exists(), "Debian's chromium is not installed at /usr/bin/chromium "
                  "(apt-get install -y chromium)", module_level=True)
try:
    from playwright import sync_api as playwright_api
except ImportError:
    system_dependency(False, "playwright (python) is not installed: pip install -e '.[test]'", module_level=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("browser")
    zoo = build_tiny_zoo(tmp / "tiny")
    port = _free_port()
    env = {**os.environ, "S2S_ZOO": str(zoo), "S2S_RUNS_DIR": str(tmp / "runs"), "S2S_THREADS": "1",
           "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"}
    log = open(tmp / "streamlit.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1", "--server.fileWatcherType", "none"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"streamlit did not start: {(tmp / 'streamlit.log').read_text()[-2000:]}")
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=[
            "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        yield b
        b.close()


def _idle(page, timeout: float = 60_000) -> None:
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


def test_every_page_lattice_slider_and_upload(server: str, browser, tmp_path: Path) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1600, "height": 1000})
    console: list[str] = []
    page.on("console", lambda m: console.append(f"{m.text} {m.location.get('url', '')}") if m.type == "error" else None)
    page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))

    page.goto(server)
    _idle(page)
    for name, title in PAGES.items():  # through the sidebar's navigation, in one session, as a user would
        _open(page, title)
        page.wait_for_selector("h1", timeout=30_000)
        assert page.locator('[data-testid="stException"]').count() == 0, name
        if name in ("reconstructions", "noise"):
            page.wait_for_selector('[data-testid="stImage"] img', timeout=30_000)
            page.wait_for_selector(".js-plotly-plot", timeout=30_000)
        if name == "lenses":  # the first classifier's inversion has run (200 steps) and is drawn
            page.wait_for_selector("text=feature error at", timeout=120_000)
            assert page.locator('[data-testid="stException"]').count() == 0, name
        if name == "overview":
            page.wait_for_selector('[data-testid="stGraphVizChart"] svg', timeout=30_000)
            assert page.get_by_text("Table 1").count() >= 1
        _shot(page, name)

    # Signal order: the paper's Table 2, then move the threshold with the keyboard and see the lattice change.
    _open(page, PAGES["signal_order"])
    page.get_by_role("button", name="Load the paper's Table 2 as an example").click()
    _idle(page)
    svg = page.locator('[data-testid="stGraphVizChart"] svg').first
    svg.wait_for(timeout=30_000)
    before = svg.inner_html()
    slider = page.get_by_role("slider", name="RRC threshold t")
    slider.focus()
    for _ in range(5):  # 0.50 -> 0.55 crosses RRC(I∘A_L) ≈ 0.525 and RRC ≈ 0.539
        page.keyboard.press("ArrowRight")
    page.wait_for_function(
        "(before) => { const s = document.querySelector('[data-testid=\"stGraphVizChart\"] svg');"
        " return s && s.innerHTML !== before; }", arg=before, timeout=30_000)
    _idle(page)
    after = page.locator('[data-testid="stGraphVizChart"] svg').first.inner_html()
    assert after != before
    assert page.get_by_text("concept lattice at t = 0.55").count() == 1
    _shot(page, "signal_order_paper")

    # Downloads are built on click: the lattice through Graphviz, a plotly figure through kaleido.
    for button, magic in (("lattice_dl_svg", b"<svg"), ("bars_fig_svg", b"<svg"), ("rrc_csv", b",L,A,V,I,R")):
        with page.expect_download(timeout=60_000) as info:
            page.locator(f".st-key-{button} button").first.click()
        body = Path(info.value.path()).read_bytes()
        assert magic in body[:2000], (button, body[:200])

    # Upload a photo: the panel with every reconstruction appears.
    _open(page, PAGES["upload"])
    page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(
        str(_png_file(tmp_path / "astronaut.png")))
    page.wait_for_selector('[data-testid="stDataFrame"]', timeout=60_000)
    _idle(page)
    assert page.locator('[data-testid="stImage"]').count() >= 5 * 3
    assert page.locator('[data-testid="stException"]').count() == 0
    assert page.get_by_text("fine-tuned through V").count() == 1
    _shot(page, "upload")

    # A file that is not an image: a plain message, and the app keeps running.
    bad = tmp_path / "notes.txt"
    bad.write_text("not an image")
    page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(str(bad))
    page.wait_for_selector('[data-testid="stAlertContentError"]', timeout=30_000)
    _idle(page)
    assert "not an image file" in page.locator('[data-testid="stAlertContentError"]').first.inner_text()
    assert page.locator('[data-testid="stException"]').count() == 0
    _shot(page, "upload_error")

    errors = [m for m in console if "material" not in m.lower() and "font" not in m.lower()]  # icon font fetch
    assert not errors, "\n".join(errors)
    page.close()
