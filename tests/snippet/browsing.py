"""What the browser tests share: a test site on its own loopback port (so every beacon crosses
origins and meets the collector's real Origin check), the install tag, a recorder of what the
browser sent, and a wait for rows in ClickHouse."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from playwright.sync_api import BrowserContext, ConsoleMessage, Request

from collector.store import Store
from tests.conftest import LiveServer, wait_until

BUILD = Path(__file__).resolve().parents[2] / "collector" / "static" / "intent.js"

EVENTS = """
SELECT type, url, path, title, referrer, name, props, engaged_ms, scroll, company_domain, browser
FROM events WHERE site = {site:String} ORDER BY ts, type
"""


@dataclass
class Site:
    """Pages of a test site on a loopback port: `add(path, html)` and open `url + path`."""

    url: str
    pages: dict[str, bytes] = field(default_factory=dict)

    def add(self, path: str, html: str) -> str:
        self.pages[path] = html.encode()
        return self.url + path


class _Handler(BaseHTTPRequestHandler):
    server: SiteServer

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        body = self.server.site.pages.get(path)
        if path.endswith(".js"):
            body, kind = BUILD.read_bytes(), "application/javascript"
        else:
            kind = "text/html; charset=utf-8"
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class SiteServer(ThreadingHTTPServer):
    daemon_threads = True
    site: Site


@contextmanager
def serve_site() -> Iterator[Site]:
    httpd = SiteServer(("127.0.0.1", 0), _Handler)
    httpd.site = Site(f"http://127.0.0.1:{httpd.server_address[1]}")
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd.site
    finally:
        httpd.shutdown()
        httpd.server_close()


def tag(collector: str, site: str, *attrs: str, src: str | None = None) -> str:
    """The install tag; tests add `data-allow-automation` because Playwright sets webdriver."""
    extra = "".join(" " + a for a in attrs)
    return f'<script defer data-site="{site}"{extra} src="{src or collector + "/js/intent.js"}"></script>'


def html(title: str, head: str = "", body: str = "") -> str:
    return f"<!doctype html><html><head><meta charset=utf-8><link rel=icon href='data:,'><title>{title}</title>{head}</head><body>{body}</body></html>"


@dataclass
class Recorder:
    """Every beacon the browser sends, and every console error or uncaught page error."""

    beacons: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def request(self, request: Request) -> None:
        if request.url.endswith("/api/event") and request.method == "POST":
            self.beacons.append(json.loads(request.post_data or "null"))

    def console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(message.text)

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [b for b in self.beacons if b.get("type") == kind]


@dataclass
class Visit:
    context: BrowserContext
    seen: Recorder

    def wait(self, check: Callable[[], bool], timeout: float = 15.0) -> bool:
        """Poll `check` while letting Playwright deliver its events: the sync API dispatches
        request and route callbacks only while Python is inside one of its calls."""
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                return False
            open_pages = self.context.pages
            if open_pages:
                open_pages[0].wait_for_timeout(50)
            else:
                self.context.cookies()  # any round trip delivers the pending events
                time.sleep(0.05)
        return True


def events(store: Store, server: LiveServer, site: str, count: int) -> list[dict[str, Any]]:
    """The site's rows once at least `count` have landed in ClickHouse."""
    rows: list[dict[str, Any]] = []

    def landed() -> bool:
        server.flush()
        rows[:] = store.query_dicts(EVENTS, {"site": site})
        return len(rows) >= count

    assert wait_until(landed), f"expected {count} rows, got {rows}"
    return rows


def assert_clean(v: Visit) -> None:
    """No cookies, no storage written, and nothing logged as an error."""
    assert v.context.cookies() == []
    for page in v.context.pages:
        assert page.evaluate("[localStorage.length, sessionStorage.length]") == [0, 0]
    assert v.seen.errors == []
