"""Debian's Chromium driven by Playwright, for the dashboard's browser tests and screenshots.

Playwright is told where the system's Chromium is (``/usr/bin/chromium``, installed by
`make test` with apt-get); it never downloads a browser of its own (no ``playwright
install``). Without that binary the browser tests are skipped locally and fail in CI.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, ViewportSize

CHROMIUM = Path("/usr/bin/chromium")
"""Debian's ``chromium`` package (`make test` installs it)."""
CHROMIUM_ARGS = (
    "--no-sandbox",  # root in a container has no user namespace for the sandbox
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",  # the tests talk to loopback only
    "--disable-component-update",
    "--disable-sync",
)
VIEWPORT: ViewportSize = {"width": 1280, "height": 900}


def require_chromium() -> None:
    """Skip the calling test when Chromium is missing; fail instead in CI."""
    if CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK):
        return
    reason = f"{CHROMIUM} not found (apt-get install chromium)"
    if os.environ.get("CI"):
        pytest.fail(f"CI must run the browser tests, but {reason}", pytrace=False)
    pytest.skip(f"browser tests skipped: {reason}")


@contextmanager
def chromium() -> Iterator[BrowserContext]:
    """A headless Chromium with a new empty profile (a temporary folder), closed at the end."""
    from playwright.sync_api import sync_playwright

    with (
        tempfile.TemporaryDirectory(prefix="mercato-chromium-") as profile,
        sync_playwright() as playwright,
    ):
        context = playwright.chromium.launch_persistent_context(
            profile,
            executable_path=str(CHROMIUM),
            headless=True,
            args=list(CHROMIUM_ARGS),
            viewport=VIEWPORT,
        )
        try:
            yield context
        finally:
            context.close()
