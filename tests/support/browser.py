"""Headless Chromium for the browser suites: Debian's chromium (`make browser-deps`) driven by Python's
playwright, no browser downloaded; screenshots land in tests/artifacts/."""
from __future__ import annotations

import importlib.util
import os
import shutil

import pytest

from tests.support.live import ARTIFACTS

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TIMEOUT_MS = 20_000


def chromium_path() -> str | None:
    return CHROMIUM if os.path.exists(CHROMIUM) else shutil.which("chromium")


def skip_module_without_chromium() -> None:
    """Called at the top of a browser test module: without chromium its tests are not collected."""
    if chromium_path() is None:
        pytest.skip(f"chromium not found at {CHROMIUM}: run `make browser-deps` (apt-get install chromium)",
                    allow_module_level=True)
    if importlib.util.find_spec("playwright") is None:
        pytest.skip("playwright not installed: pip install -r requirements-dev.txt", allow_module_level=True)


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")  # optional: only the browser suites need it
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


def shot(page, name: str) -> str:
    path = os.path.join(ARTIFACTS, f"{name}.png")
    page.screenshot(path=path, full_page=False)
    return path
