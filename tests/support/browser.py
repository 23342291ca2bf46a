"""Headless Chromium for the browser suites: Debian's chromium (`make browser-deps`) driven by Python's
playwright, no browser downloaded; screenshots land in tests/artifacts/."""
from __future__ import annotations

import importlib.util
import os
import shutil
import time

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


def wait_for(predicate, what: str, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def log_in_by_keyboard(page, base: str):
    page.goto(base + "/admin/")
    assert "/admin/login" in page.url  # pages need a session
    page.get_by_label("Email").focus()
    page.keyboard.type("admin@test.com")
    page.keyboard.press("Tab")
    page.keyboard.type("password123")
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="Dashboard").wait_for(timeout=TIMEOUT_MS)
    cookie = next(c for c in page.context.cookies() if c["name"] == "billing_admin")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
