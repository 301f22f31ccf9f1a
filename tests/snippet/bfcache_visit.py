"""Run as `python -m tests.snippet.bfcache_visit URL`: open URL in a Chromium with its
back/forward cache on, follow the link `#go`, press back, and print whether the page was restored
from the cache (JSON). A process of its own, because Playwright turns that cache off by default
and the test session's shared browser must keep its own flags."""

from __future__ import annotations

import json
import shutil
import sys

from playwright.sync_api import sync_playwright

from tests.conftest import CHROME_UA, CHROMIUM_ARGS


def main(url: str) -> None:
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=shutil.which("chromium"),
            args=CHROMIUM_ARGS,
            ignore_default_args=["--disable-back-forward-cache"],
        )
        page = browser.new_context(user_agent=CHROME_UA).new_page()
        page.goto(url)
        page.evaluate("window.marker = 'kept'")  # survives only a restore from the cache
        page.click("#go")
        page.wait_for_load_state()
        page.go_back(wait_until="commit")  # a restore fires pageshow, not load
        page.wait_for_url(url, wait_until="commit")
        restored = page.evaluate("window.marker === 'kept'")
        page.wait_for_timeout(500)  # let the restored page's beacon leave before closing
        browser.close()
    print(json.dumps({"restored": restored}))


if __name__ == "__main__":
    main(sys.argv[1])
