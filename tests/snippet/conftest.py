"""Browser fixtures: Debian's Chromium driven by Playwright (no browser download), a test site on
its own loopback port, and fresh browser contexts that record what they send.

Playwright runs the browser with `navigator.webdriver` true and, headless, a `HeadlessChrome`
user agent that the collector drops as a bot; the test pages therefore carry
`data-allow-automation` and every context uses an ordinary desktop Chrome user agent.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, sync_playwright

from tests.conftest import CHROME_UA
from tests.snippet.browsing import CHROMIUM_ARGS, Recorder, Site, Visit, serve_site


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail(
            "Debian's chromium is not installed: run `make browser` (apt-get install chromium)"
        )
    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def website() -> Iterator[Site]:
    """The test site's pages, served on a loopback port of their own."""
    with serve_site() as site:
        yield site


@pytest.fixture
def visit(browser: Browser) -> Iterator[Callable[..., Visit]]:
    """A fresh browser context (no cookies, no storage) recording beacons and console errors."""
    opened: list[BrowserContext] = []

    def factory(**options: Any) -> Visit:
        context = browser.new_context(user_agent=CHROME_UA, **options)
        opened.append(context)
        seen = Recorder()
        context.on("request", seen.request)
        context.on("console", seen.console)
        context.on("weberror", lambda e: seen.errors.append(str(e.error)))
        return Visit(context, seen)

    yield factory
    for context in opened:
        context.close()
