"""Real fixtures: one embedded ClickHouse (chDB) per test session, real uvicorn servers on
loopback ports, settings parsed from real TOML files.

chDB opens one database path per process, so every test shares the session database and keeps
to its own site name (the `site` fixture); nothing here is a mock of our own code.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from playwright.sync_api import Browser, sync_playwright

from bench.servers import free_port  # the tests import it from here too
from collector.settings import Settings
from collector.state import Collector
from collector.store import Store, connect
from collector.transport import UVICORN_OPTIONS
from intent.migrate import migrate
from intent.server import create_app
from intent.settings import load_settings

CHROME_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)
_sites = itertools.count(1)
TEST_SECRET = "test-secret-of-the-session-database"
# Debian's Chromium, never a downloaded browser. The browser-wide user agent, not only
# Playwright's per-page override: a keepalive beacon sent while a page is being navigated away
# goes out with the browser's own agent, and a headless one says HeadlessChrome, which the
# collector drops as a bot.
CHROMIUM_ARGS = [
    f"--user-agent={CHROME_UA}",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def ch_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return "chdb://" + str(tmp_path_factory.mktemp("clickhouse"))


@pytest.fixture(scope="session")
def store(ch_url: str) -> Store:
    s = connect(ch_url)
    migrate(s, Settings(config_path=Path("unused.toml"), clickhouse_url=ch_url))
    return s


@pytest.fixture
def site() -> str:
    """A site name of this test's own, so tests sharing the session database never collide."""
    return f"site{next(_sites)}-{os.getpid()}"


SettingsFactory = Callable[..., Settings]


@pytest.fixture
def make_settings(tmp_path: Path, ch_url: str, store: Store) -> SettingsFactory:
    """Settings from a real intent.toml and INTENT_* values. `toml` replaces the config;
    `env` adds variables. The default config has one site named by the `site` argument."""

    def factory(site: str = "localhost", toml: str | None = None, **env: str) -> Settings:
        config = tmp_path / f"intent-{next(_sites)}.toml"
        if toml is None:
            toml = f'[sites."{site}"]\ndomains = ["localhost", "127.0.0.1", "example.com"]\n'
        config.write_text(toml, encoding="utf-8")
        values = {
            "INTENT_CONFIG": str(config),
            "INTENT_CLICKHOUSE_URL": ch_url,
            "INTENT_SPOOL_DIR": str(tmp_path / f"spool-{next(_sites)}"),
            "INTENT_WRITER_INTERVAL_MS": "200",
            "INTENT_SECRET": TEST_SECRET,  # one for the session's database, as replicas share one
            # Reverse DNS would ask the system resolver about visitors' addresses: tests turn it
            # on with a loopback DNS server of their own (tests/collector/enrich/dnsserver.py).
            "INTENT_RDNS": "false",
            **env,
        }
        return load_settings(values)

    return factory


@dataclass
class LiveServer:
    """A real uvicorn serving the real app on a loopback port, in a thread of this process."""

    url: str
    app: Any
    server: uvicorn.Server
    thread: threading.Thread

    @property
    def collector(self) -> Collector:
        c: Collector = self.app.state.collector
        return c

    def flush(self) -> None:
        """Send everything accepted so far to ClickHouse now."""
        assert self.collector.writer is not None
        assert self.collector.writer.flush(), self.collector.writer.last_error

    def post(self, body: Any, ua: str = CHROME_UA, **headers: str) -> httpx.Response:
        content = (
            body if isinstance(body, bytes | str) else httpx.Request("POST", "/", json=body).content
        )
        return httpx.post(
            self.url + "/api/event",
            content=content,
            headers={"User-Agent": ua, "Content-Type": "text/plain", **headers},
            timeout=10,
        )

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)


def start_server(
    app: Any, port: int | None = None, host: str = "127.0.0.1", **options: Any
) -> LiveServer:
    """The app under a real uvicorn in a thread; `options` override the collector's own."""
    port = port or free_port()
    config = uvicorn.Config(
        app, host=host, port=port, lifespan="on", **{**UVICORN_OPTIONS, **options}
    )
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]

    def run() -> None:
        asyncio.run(server.serve())

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("test server did not start")
        time.sleep(0.02)
    return LiveServer(f"http://127.0.0.1:{port}", app, server, thread)


@pytest.fixture
def serve() -> Iterator[Callable[[Settings], LiveServer]]:
    """Start the real app for some settings; every server started is stopped afterwards."""
    started: list[LiveServer] = []

    def factory(settings: Settings, enricher: Any = None) -> LiveServer:
        live = start_server(create_app(settings, enricher))
        started.append(live)
        return live

    yield factory
    for live in started:
        live.stop()


@pytest.fixture
def server(
    site: str, make_settings: SettingsFactory, serve: Callable[[Settings], LiveServer]
) -> LiveServer:
    """The real app for this test's own site."""
    return serve(make_settings(site))


def wait_until(check: Callable[[], bool], timeout: float = 15.0) -> bool:
    """Poll until `check()` is true; a correctness wait, never a speed assertion."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """The one headless Chromium of the test session. Keep it the only one: a second sync
    Playwright started while this one runs fails ("Sync API inside the asyncio loop")."""
    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail(
            "Debian's chromium is not installed: run `make browser` (apt-get install chromium)"
        )
    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield instance
        instance.close()
