"""Drive the dashboard in Debian's chromium (the recipe of TESTING.md), shared by the browser tests and the
browser benchmarks (``benchmarks/bench_browser.py``, ``benchmarks/bench_load.py``).

* :func:`serve` starts ``streamlit run app.py`` on a free loopback port and stops that process by its handle.
* :data:`CHROMIUM_ARGS` launch chromium headless without network side traffic.
* "What the person waits for": :data:`ARM_JS` starts watching the app's script state before an interaction;
  :func:`done_js` is the condition that the rerun it caused has finished AND every image in the main area
  has loaded AND (optionally) a plotly figure is drawn, a Graphviz SVG is drawn and a text is on screen.
  The strings work with the sync and the async Playwright API alike.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'

#: Call before an interaction: from now on, any change of the app's script state counts as "a rerun ran";
#: ``window.__s2sIdleAt - window.__s2sArmAt`` is then the time until the script run ended (:data:`SPLIT_JS`).
ARM_JS = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  window.__s2sRan = false;
  window.__s2sArmAt = performance.now();
  window.__s2sIdleAt = null;
  if (window.__s2sObs) window.__s2sObs.disconnect();
  window.__s2sObs = new MutationObserver(() => {
    window.__s2sRan = true;
    if (app.getAttribute('data-test-script-state') === 'notRunning') window.__s2sIdleAt = performance.now();
  });
  window.__s2sObs.observe(app, {attributes: true, attributeFilter: ['data-test-script-state']});
}"""


#: Milliseconds from arming to the end of the script run (server work and messages), or null.
SPLIT_JS = "() => window.__s2sIdleAt === null ? null : window.__s2sIdleAt - window.__s2sArmAt"


def done_js(*, plotly: bool = False, drawn: str | None = None, text: str | None = None,
            changed_from: str | None = None, need_rerun: bool = True, images: bool = False) -> str:
    """A JS predicate: the armed rerun finished, every ``stMain`` image is loaded, plus the options:
    a plotly figure drawn, the element ``drawn`` (a CSS selector) present with an ``svg`` inside (and, with
    ``changed_from``, its markup differs from that), ``text`` present in the main area."""
    checks = ["document.querySelector('" + IDLE.replace("'", "\\'") + "') !== null",
              "[...document.querySelectorAll('[data-testid=stMain] img')].every(i => i.complete && i.naturalWidth > 0)",
              "document.querySelectorAll('[data-stale=\"true\"]').length === 0"]
    if need_rerun:
        checks.insert(0, "window.__s2sRan === true")
    if plotly:
        checks.append("document.querySelectorAll('[data-testid=stMain] .js-plotly-plot .main-svg').length > 0")
    if images:  # at least one image: "every image loaded" alone also holds before any has arrived
        checks.append("document.querySelectorAll('[data-testid=stMain] [data-testid=stImage] img').length > 0")
    if drawn is not None:
        checks.append(f"(() => {{ const s = document.querySelector({json.dumps(drawn)});"
                      " return s !== null && s.querySelector('svg') !== null"
                      + (f" && s.innerHTML !== {json.dumps(changed_from)}" if changed_from is not None else "")
                      + "; })()")
    if text is not None:
        checks.append(f"document.querySelector('[data-testid=stMain]').innerText.includes({json.dumps(text)})")
    return "() => " + " && ".join(f"({c})" for c in checks)


def upload_done_js(name: str) -> str:
    """:func:`done_js` for the Upload page after a file named ``name`` was given to its uploader: the panel's
    caption ``name (… KiB)``, which only the server's rerun writes (the uploader itself shows the name at
    once), is on screen, the script is idle, every image loaded and a plotly figure drawn.

    Not ``need_rerun``: under load the browser can take the "running" and "not running" messages of a whole
    rerun in one batch, React renders them as one update and the script-state attribute is never seen to
    change (a page complete and consistent, ``window.__s2sRan`` still false: seen in the three-session test,
    about one upload in 20)."""
    return done_js(plotly=True, images=True, text=f"{name} (", need_rerun=False)


def on_page_js(path: str) -> str:
    """A JS predicate: the address is page ``path`` (a page file's stem; ``""`` for the default page), the
    script is idle and nothing stale is left on screen. Waiting for this after a click in the sidebar avoids
    acting on the previous page while the new one has not started yet."""
    return ("() => location.pathname.replace(/\\/$/, '').split('/').pop() === " + json.dumps(path)
            + " && document.querySelector('" + IDLE.replace("'", "\\'") + "') !== null"
            + " && document.querySelectorAll('[data-stale=\"true\"]').length === 0")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve(env: Mapping[str, str], log_path: Path, *, address: str = "127.0.0.1", timeout: float = 240.0,
          app: Path = ROOT / "app.py") -> Iterator[tuple[str, subprocess.Popen]]:
    """``streamlit run app.py`` with ``env`` added to this environment; yields ``(url, process)``."""
    port = free_port()
    full_env = {**os.environ, "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false", **env}
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(app), "--server.headless", "true",
             "--server.port", str(port), "--server.address", address, "--server.fileWatcherType", "none"],
            cwd=Path(app).parent, env=full_env, stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                        if r.status == 200:
                            break
                except OSError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"streamlit did not start: {Path(log_path).read_text()[-2000:]}")
                time.sleep(0.3)
            yield url, proc
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def rss_mb(pid: int) -> float:
    """Resident memory of process ``pid`` in MiB (Linux ``/proc``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def photo_jpeg(path: Path, variant: int = 0, size: int = 512) -> Path:
    """A ``size``×``size`` JPEG of a natural photo shipped with scikit-image; ``variant`` picks the photo and
    a flip, so that every variant has different bytes (no cache hit between them)."""
    from PIL import Image
    from skimage import data

    photos = (data.astronaut, data.chelsea, data.coffee, data.rocket, data.immunohistochemistry)
    img = Image.fromarray(photos[variant % len(photos)]()[..., :3])
    side = min(img.size)
    img = img.crop(((img.width - side) // 2, (img.height - side) // 2,
                    (img.width - side) // 2 + side, (img.height - side) // 2 + side)).resize((size, size))
    arr = np.asarray(img)
    k = variant // len(photos)
    if k % 2:
        arr = arr[:, ::-1]
    if (k // 2) % 2:
        arr = arr[::-1]
    if k >= 4:
        arr = np.rot90(arr, k // 4)
    Image.fromarray(np.ascontiguousarray(arr)).save(path, format="JPEG", quality=90)
    return path


# ------------------------------------------------------------------------------------ many sessions at once
def _signature(image) -> np.ndarray:
    """A 16×16 colour thumbnail (area average) of a PIL image, float."""
    return np.asarray(image.convert("RGB").resize((16, 16), resample=3), dtype=np.float64)


#: KiB of every picture the main area shows (the server keeps these media files for the session).
PANEL_KB_JS = """async () => {
    let n = 0;
    for (const img of document.querySelectorAll('[data-testid=stMain] img')) {
        n += (await (await fetch(img.src)).arrayBuffer()).byteLength; }
    return n / 1024; }"""


#: ``[the threshold slider's value, the t of the lattice the server drew last]`` on the Signal order page.
SLIDER_JS = """() => {
    const s = document.querySelector('[data-testid=stMain] input[type=range][aria-label="RRC threshold t"]');
    const m = document.querySelector('[data-testid=stMain]').innerText.match(/concept lattice at t = ([0-9.]+)/);
    return [s === null ? null : Math.round(parseFloat(s.value) * 100) / 100,
            m === null ? null : parseFloat(m[1])]; }"""


async def _panel_original(page):
    """The original's picture of the Upload panel (the first image of the main area), top square only."""
    import base64
    import io

    from PIL import Image

    data = await page.evaluate("""async () => {
        const img = document.querySelector('[data-testid=stMain] [data-testid=stImage] img');
        const r = await fetch(img.src); const b = new Uint8Array(await r.arrayBuffer());
        let s = ''; for (const x of b) s += String.fromCharCode(x); return btoa(s); }""")
    image = Image.open(io.BytesIO(base64.b64decode(data)))
    return image.crop((0, 0, image.width, image.width))


async def _dump(page, k: int, what: str) -> None:
    """On a timeout: what the stuck page shows (script state, focus, slider value, the main area's text) on
    stderr and a screenshot in ``$S2S_BROWSER_DUMPS`` (if set), so that the cause can be seen."""
    info = await page.evaluate("""() => ({
        state: document.querySelector('[data-testid=stApp]')?.getAttribute('data-test-script-state'),
        ran: window.__s2sRan, stale: document.querySelectorAll('[data-stale="true"]').length,
        focus: document.activeElement?.outerHTML.slice(0, 200),
        slider: [...document.querySelectorAll('[role=slider]')].map(s => s.getAttribute('aria-valuenow')),
        images: [...document.querySelectorAll('[data-testid=stMain] img')].map(
            i => [i.src.slice(-60), i.complete, i.naturalWidth]),
        plotly: document.querySelectorAll('[data-testid=stMain] .js-plotly-plot .main-svg').length,
        path: location.pathname,
        text: document.querySelector('[data-testid=stMain]')?.innerText.slice(0, 3000)})""")
    print(f"session {k} stuck at {what}: {json.dumps(info)}", file=sys.stderr)
    folder = os.environ.get("S2S_BROWSER_DUMPS")
    if folder:
        await page.screenshot(path=str(Path(folder) / f"stuck_session{k}.png"), full_page=True)


async def run_sessions(url: str, photos: list[list[Path]], *, chromium_args=CHROMIUM_ARGS,
                       timeout_ms: float = 300_000) -> dict:
    """``len(photos)`` browser sessions at once against one server (one chromium, one context each). Session
    ``k`` uploads its photos ``photos[k]`` one after the other and, after each, moves the Signal order page's
    threshold to its own value ``0.50 + 0.01 (k + 1)``. After every step it checks that the screen shows its
    own image (nearest of all sessions' photos) and its own threshold. Returns the upload and slider
    latencies (ms) with each upload's step (0: the session's first), the KiB of the panel's pictures after each upload, the number of exceptions on screen or in
    the page, and the leaks seen."""
    import asyncio

    from PIL import Image
    from playwright.async_api import async_playwright

    expected = {p.name: _signature(Image.open(p)) for ps in photos for p in ps}
    result = {"upload_ms": [], "upload_step": [], "slider_ms": [], "panel_kb": [], "exceptions": 0, "leaks": [], "page_errors": []}

    async def one(browser, k: int) -> None:
        ctx = await browser.new_context(viewport={"width": 1400, "height": 900})
        page = await ctx.new_page()
        page.on("pageerror", lambda e: result["page_errors"].append(f"session {k}: {e}"))
        await page.goto(url)
        await page.wait_for_selector(IDLE, timeout=timeout_ms)

        async def open_page(title: str, path: str) -> None:
            await page.locator('[data-testid="stSidebarNav"] a').filter(has_text=title).first.click()
            await page.wait_for_function(on_page_js(path), timeout=timeout_ms)
            await page.wait_for_timeout(300)
            await page.wait_for_function(on_page_js(path), timeout=timeout_ms)

        async def exceptions() -> int:
            return await page.locator('[data-testid="stException"]').count()

        for step, photo in enumerate(photos[k]):
            await open_page("Upload", "upload")
            await page.evaluate(ARM_JS)
            start = time.perf_counter()
            await page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(str(photo))
            try:
                await page.wait_for_function(upload_done_js(photo.name), timeout=timeout_ms, polling="raf")
            except Exception:
                await _dump(page, k, f"upload of {photo.name}")
                raise
            result["upload_ms"].append(1000 * (time.perf_counter() - start))
            result["upload_step"].append(step)
            result["exceptions"] += await exceptions()
            result["panel_kb"].append(await page.evaluate(PANEL_KB_JS))
            shown = _signature(await _panel_original(page))
            dist = {name: float(np.abs(shown - sig).mean()) for name, sig in expected.items()}
            if min(dist, key=dist.get) != photo.name:
                result["leaks"].append(f"session {k} step {step}: shows {min(dist, key=dist.get)}, not {photo.name}")
            others = [p.name for j, ps in enumerate(photos) if j != k for p in ps]
            text = await page.locator('[data-testid="stMain"]').inner_text()
            result["leaks"] += [f"session {k}: shows the name {n}" for n in others if n in text]

            await open_page("Signal order", "signal_order")
            if step == 0:
                await page.get_by_role("button", name="Load the paper's Table 2 as an example").click()
                await page.wait_for_timeout(300)
                await page.wait_for_selector(IDLE, timeout=timeout_ms)
            slider = page.get_by_role("slider", name="RRC threshold t")
            await slider.focus()
            await page.keyboard.press("Home")  # 0.00, then up to this session's own value
            await page.wait_for_selector(IDLE, timeout=timeout_ms)
            target = round(0.50 + 0.01 * (k + 1), 2)
            for _ in range(round(target * 100)):
                await page.keyboard.press("ArrowRight")
            await page.wait_for_timeout(300)
            await page.wait_for_selector(IDLE, timeout=timeout_ms)
            # Step until the server has drawn this session's value, then time one step. The slider's own value
            # is not enough: Streamlit commits a keyboard change only after a short delay, and a change that
            # brings the slider back to the value last committed causes no rerun at all. On a saturated
            # machine the last ArrowRight can still be uncommitted here; the timed ArrowLeft would then undo
            # it, no rerun would come and the wait below would never end. So compare with what was drawn.
            pending = 0
            for _ in range(200):
                await page.wait_for_timeout(150)
                await page.wait_for_selector(IDLE, timeout=timeout_ms)
                value, drawn = await page.evaluate(SLIDER_JS)
                if value == drawn == target:
                    break
                pending = pending + 1 if value != drawn else 0
                if value == drawn or pending > 20:  # nothing in flight (or a press was lost): one step closer
                    pending = 0
                    await slider.focus()
                    await page.keyboard.press("ArrowRight" if value < target else "ArrowLeft")
            else:
                raise RuntimeError(f"session {k}: the threshold did not reach {target} (slider {value}, "
                                   f"lattice drawn at {drawn})")
            await slider.focus()
            await page.evaluate(ARM_JS)
            start = time.perf_counter()
            await page.keyboard.press("ArrowLeft")  # one timed step: t -> t - 0.01, a new lattice drawn
            target = round(target - 0.01, 2)
            # Not need_rerun: the server's lattice title going from the t checked above to this one is the proof
            # that the rerun ran. A short fragment rerun can start and end within one render of the page (its
            # two messages arrive together when chromium is busy), so the script-state attribute that ARM_JS
            # watches may never change; waiting for that change hung here with the new lattice on screen.
            try:
                await page.wait_for_function(done_js(text=f"concept lattice at t = {target:.2f}", need_rerun=False),
                                             timeout=timeout_ms, polling="raf")
            except Exception:
                await _dump(page, k, f"slider step to t = {target:.2f}")
                raise
            result["slider_ms"].append(1000 * (time.perf_counter() - start))
            result["exceptions"] += await exceptions()
            if abs(float(await slider.input_value()) - target) > 1e-9:
                result["leaks"].append(f"session {k}: slider at {await slider.input_value()}, not {target}")
            if await page.get_by_text(f"concept lattice at t = {target:.2f}").count() != 1:
                result["leaks"].append(f"session {k}: the lattice is not at its own t = {target:.2f}")
        await ctx.close()

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=str(CHROMIUM), args=chromium_args)
        await asyncio.gather(*(one(browser, k) for k in range(len(photos))))
        await browser.close()
    return result
