"""A Playwright browser (Debian chromium) on the live formsvc of tests/conftest.py."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


# per module: an open sync_playwright keeps an event loop running in the main thread, which
# would make asyncio.run() (pyHanko) fail in every later, non-browser test module
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser, live_server: str) -> Iterator[Page]:
    context = browser.new_context(
        base_url=live_server,
        accept_downloads=True,
        viewport={"width": 1280, "height": 900},
        locale="sv-SE",
    )
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    context.close()


@pytest.fixture
def config(config: dict[str, Any]) -> dict[str, Any]:
    # the real browser posts real CSRF tokens
    return {**config, "WTF_CSRF_ENABLED": True}
