"""Open a static HTML file in Debian's headless Chromium, driven by Playwright, collecting console errors.

Also a script: ``python tests/html_browser.py PAGE.html SHOT.png`` saves a full-page screenshot (how
docs/leaderboard-html.png is made). Playwright comes from the ``test`` extra; the browser is the
system's Chromium (``apt-get install -y chromium``; .ci/run installs it), never a downloaded one.
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

# Without the networking flags Chromium tries to reach Google's hosts at start, and this machine's
# closed network refuses them; --no-sandbox because CI runs as root.
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]


def chromium_path() -> str:
    for candidate in (os.environ.get("HARNESS_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"),
                      shutil.which("chromium-browser")):
        if candidate and Path(candidate).is_file():
            return candidate
    raise RuntimeError("no Chromium found: apt-get install -y chromium (or set HARNESS_CHROMIUM to its path)")


@contextmanager
def open_page(path: Path, width: int = 1280, height: int = 900) -> Iterator[tuple[object, list[str]]]:
    """(page, errors): errors collects console errors, uncaught exceptions and failed requests."""
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    with tempfile.TemporaryDirectory(prefix="harness-chromium-") as profile, sync_playwright() as pw:
        # A fresh profile per launch: nothing cached or remembered between runs.
        context = pw.chromium.launch_persistent_context(profile, executable_path=chromium_path(), headless=True,
                                                        args=FLAGS, viewport={"width": width, "height": height})
        try:
            page = context.new_page()
            page.on("console", lambda m: m.type == "error" and errors.append(f"console.error: {m.text}"))
            page.on("pageerror", lambda e: errors.append(f"uncaught: {e}"))
            page.on("requestfailed", lambda r: errors.append(f"request failed: {r.url}"))
            page.goto(Path(path).resolve().as_uri(), wait_until="load")
            yield page, errors
        finally:
            context.close()


def screenshot(page_path: Path, out: Path) -> list[str]:
    with open_page(page_path) as (page, errors):
        page.screenshot(path=str(out), full_page=True)
    return errors


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python tests/html_browser.py PAGE.html SHOT.png")
    problems = screenshot(Path(sys.argv[1]), Path(sys.argv[2]))
    print("\n".join(problems) or f"saved {sys.argv[2]}")
    sys.exit(1 if problems else 0)
