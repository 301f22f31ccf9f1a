"""`intent keys ...` while the server holds the embedded database: a real CLI subprocess (which
cannot open chDB, held by this test process) runs its command through the real server."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from collector import keys
from collector.settings import Settings
from collector.store import Store
from intent import forward
from intent.server import create_app
from tests.conftest import LiveServer, SettingsFactory, free_port, start_server


def assert_refused(done: subprocess.CompletedProcess[str], message: str) -> None:
    """The CLI said no: exit 1, the reason on stderr, no traceback."""
    assert done.returncode == 1 and message in done.stderr and "Traceback" not in done.stderr


def cli_env(settings: Settings, port: int) -> dict[str, str]:
    """The environment of a CLI run on `settings` with the server's port `port` (none of the
    test process's own INTENT_* settings)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTENT_")}
    env.update({"INTENT_CONFIG": str(settings.config_path), "INTENT_CLICKHOUSE_URL": settings.clickhouse_url,
                "INTENT_SPOOL_DIR": str(settings.spool_dir), "INTENT_PORT": str(port)})  # fmt: skip
    return env


def holding(settings: Settings, port: int) -> Iterator[tuple[LiveServer, Settings, dict[str, str]]]:
    """A fixture's body: a server holding the database on `port`, with a CLI's environment."""
    live = start_server(create_app(settings), port=port)
    yield live, settings, cli_env(settings, port)
    live.stop()


@pytest.fixture
def held(
    make_settings: SettingsFactory, site: str
) -> Iterator[tuple[LiveServer, Settings, dict[str, str]]]:
    port = free_port()
    yield from holding(make_settings(site, INTENT_PORT=str(port)), port)


def post_cli(
    held: tuple[LiveServer, Settings, dict[str, str]], argv: list[str], token: str = "",
    **headers: str,
) -> httpx.Response:  # fmt: skip
    """POST /api/cli as the CLI does, with the server's token unless given another."""
    live, settings, _ = held
    token = token or cli_token(settings)
    return httpx.post(f"{live.url}/api/cli", json={"argv": argv},
                      headers={"Authorization": "Bearer " + token, **headers})  # fmt: skip


def cli_token(settings: Settings) -> str:
    record = forward.read_record(settings)
    assert record is not None
    return record.token


def intent(env: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "intent", *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_keys_commands_run_through_the_server_holding_the_database(
    held: tuple[LiveServer, Settings, dict[str, str]], store: Store, site: str
) -> None:
    live, settings, env = held
    assert stat.S_IMODE(forward.record_path(settings).stat().st_mode) == 0o600
    created = intent(env, "keys", "create", "--site", site, "--name", "crm")
    assert created.returncode == 0, created.stderr
    token = created.stdout.splitlines()[0]
    assert keys.verify(store, token) is not None
    r = httpx.get(
        f"{live.url}/api/v1/sites/{site}/companies", headers={"Authorization": f"Bearer {token}"}
    )
    assert r.status_code == 200

    prefix = token.split("_")[1]
    assert prefix in intent(env, "keys", "list").stdout
    revoked = intent(env, "keys", "revoke", prefix)
    assert revoked.returncode == 0, revoked.stderr
    # Revoked inside the server process: refused at once, not after the cache time.
    r = httpx.get(
        f"{live.url}/api/v1/sites/{site}/companies", headers={"Authorization": f"Bearer {token}"}
    )
    assert r.status_code == 401
    again = intent(env, "keys", "revoke", prefix)
    assert_refused(again, "no active key")


def test_the_cli_endpoint_wants_the_token_and_refuses_serve(
    held: tuple[LiveServer, Settings, dict[str, str]],
) -> None:
    live, settings, _ = held
    token = cli_token(settings)
    assert httpx.post(f"{live.url}/api/cli", json={"argv": ["keys", "list"]}).status_code == 401
    assert post_cli(held, ["keys", "list"], token[:-1]).status_code == 401
    assert post_cli(held, ["serve"]).status_code == 400
    r = post_cli(held, ["keys", "frobnicate"])
    assert r.status_code == 200 and r.json()["code"] == 2 and "invalid choice" in r.json()["stderr"]


def test_without_a_server_the_cli_says_the_database_is_in_use(
    make_settings: SettingsFactory, store: Store, site: str
) -> None:
    r = intent(cli_env(make_settings(site), free_port()), "keys", "list")
    assert_refused(r, "in use by another process")


def test_the_cli_endpoint_is_not_served_through_a_proxy(
    held: tuple[LiveServer, Settings, dict[str, str]],
) -> None:
    r = post_cli(held, ["keys", "list"], **{"X-Forwarded-For": "198.51.100.7"})
    assert r.status_code == 404
