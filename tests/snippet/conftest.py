"""Browser fixtures (the one `browser` is in tests/conftest.py): a test site on
its own loopback port, and fresh browser contexts that record what they send.

Playwright runs the browser with `navigator.webdriver` true and, headless, a `HeadlessChrome`
user agent that the collector drops as a bot; the test pages therefore carry
`data-allow-automation` and every context uses an ordinary desktop Chrome user agent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext

from tests.conftest import CHROME_UA
from tests.snippet.browsing import Recorder, Site, Visit, serve_site


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
