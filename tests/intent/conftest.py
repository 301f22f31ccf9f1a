"""Fixtures of the tests of CLI commands forwarded to the running server (test_forwarded.py,
test_reload.py): a server holding the session database and a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest
from aiosmtpd.controller import Controller

from collector.settings import Settings
from intent.server import create_app
from tests.conftest import LiveServer, SettingsFactory, free_port, start_server
from tests.intent.test_delivery import Inbox

Held = tuple[LiveServer, Settings, dict[str, str]]
HoldFactory = Callable[..., Held]


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield inbox, controller.port
    controller.stop()


@pytest.fixture
def hold(make_settings: SettingsFactory, site: str) -> Iterator[HoldFactory]:
    """A server holding the session database, and the environment a CLI beside it runs with:
    the same database, spool directory, intent.toml and port, none of the server's other
    settings."""
    started: list[LiveServer] = []

    def factory(toml: str, **env: str) -> Held:
        port = free_port()
        settings = make_settings(site, toml=toml, INTENT_PORT=str(port), **env)
        live = start_server(create_app(settings), port=port)
        started.append(live)
        cli_env = {k: v for k, v in os.environ.items() if not k.startswith("INTENT_")}
        cli_env.update({"INTENT_CONFIG": str(settings.config_path),
                        "INTENT_CLICKHOUSE_URL": settings.clickhouse_url,
                        "INTENT_SPOOL_DIR": str(settings.spool_dir), "INTENT_PORT": str(port)})  # fmt: skip
        return live, settings, cli_env

    yield factory
    for live in started:
        live.stop()
