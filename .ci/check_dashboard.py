"""Open a running dashboard in chromium and check that its first page and the zoo picker work (for .ci/check-install).

    python .ci/check_dashboard.py http://127.0.0.1:PORT
"""

from __future__ import annotations

import sys
import time
import urllib.error
import urllib.request

from playwright.sync_api import sync_playwright

IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


def main(url: str) -> int:
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.read().strip() == b"ok":
                    break
        except (urllib.error.URLError, ConnectionError):
            pass
        if time.monotonic() > deadline:
            print("check_dashboard: the server never answered", file=sys.stderr)
            return 1
        time.sleep(0.5)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        page = browser.new_page()
        page.goto(url, timeout=120_000)
        page.wait_for_selector(IDLE, timeout=120_000)
        page.wait_for_selector("text=Table 1", timeout=120_000)  # the overview of the shipped demo zoo
        errors = page.locator('[data-testid="stException"]').count()
        main_text = page.locator('[data-testid="stMain"]').inner_text()
        browser.close()
    if errors or "Zoo “demo”" not in main_text:
        print(f"check_dashboard: {errors} exception(s); page: {main_text[:300]!r}", file=sys.stderr)
        return 1
    print("check_dashboard: the overview of the shipped demo zoo rendered with its Table 1")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
