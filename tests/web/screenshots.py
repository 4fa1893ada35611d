"""The README's screenshots of the dashboard: ``make screenshots``.

Runs ``mercato demo --serve --port 0`` (the whole demo on its own anvil, then the dashboard
over its five markets), opens the pages below in Debian's Chromium (tests/web/browser.py) and
saves each as a PNG in the folder given (``docs/screenshots`` by default); then stops the demo.

    python -m tests.web.screenshots [FOLDER]
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from tests.web.browser import CHROMIUM, chromium

if TYPE_CHECKING:
    from playwright.sync_api import FloatRect

FOLDER = Path("docs/screenshots")
PAGES = {
    "overview": "/",
    "auction": "/auction/1",
    "training": "/training/1",
    "apimarket": "/apimarket/1",
}
"""Each screenshot's name and the dashboard path it shows."""
DEMO_WAIT_S = 900
"""How long the demo may take before it serves (minutes on a slow machine)."""
STOP_WAIT_S = 60
PAGE_WAIT_MS = 60_000
MAX_HEIGHT = 1600
"""Pixels of a page kept: its facts, tables and plots; a long timeline is cut."""
ADDRESS = re.compile(r"^dashboard at (http://\S+)/ ")


def mercato_binary() -> str:
    beside = Path(sys.executable).with_name("mercato")
    found = str(beside) if beside.is_file() else shutil.which("mercato")
    if not found:
        raise SystemExit("error: the mercato command is not installed (make test installs it)")
    return found


@contextmanager
def serving_demo() -> Iterator[str]:
    """``mercato demo --serve`` running; the dashboard's address (without a trailing /)."""
    process = subprocess.Popen(
        [mercato_binary(), "demo", "--serve", "--port", "0", "--json"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    lines: list[str] = []
    found = threading.Event()

    def read(stream: Iterator[str]) -> None:  # the whole stream, so the pipe never fills
        for line in stream:
            lines.append(line)
            if ADDRESS.match(line):
                found.set()
        found.set()

    threading.Thread(target=read, args=(process.stderr,), daemon=True).start()
    try:
        found.wait(DEMO_WAIT_S)
        address = next((m.group(1) for m in map(ADDRESS.match, lines) if m), None)
        if address is None:
            raise SystemExit(f"error: mercato demo --serve did not serve: {''.join(lines)[-500:]}")
        yield address
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(STOP_WAIT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def take(folder: Path) -> list[Path]:
    """Serve the demo and save a screenshot of each of :data:`PAGES` in ``folder``."""
    if not CHROMIUM.is_file():
        raise SystemExit(f"error: {CHROMIUM} not found (apt-get install chromium)")
    folder.mkdir(parents=True, exist_ok=True)
    saved = []
    with serving_demo() as address, chromium() as browser:
        page = browser.new_page()
        page.set_default_timeout(PAGE_WAIT_MS)
        for name, path in PAGES.items():
            answer = page.goto(address + path, wait_until="load")
            if answer is None or answer.status != 200:
                raise SystemExit(f"error: {path} answered {answer.status if answer else None}")
            target = folder / f"{name}.png"
            height = min(page.evaluate("document.documentElement.scrollHeight"), MAX_HEIGHT)
            width = page.viewport_size["width"] if page.viewport_size else 1280
            clip: FloatRect = {"x": 0, "y": 0, "width": width, "height": height}
            page.screenshot(path=target, full_page=True, clip=clip)
            saved.append(target)
    return saved


def main(argv: list[str]) -> None:
    folder = Path(argv[0]) if argv else FOLDER
    for path in take(folder):
        print(path)


if __name__ == "__main__":
    main(sys.argv[1:])
