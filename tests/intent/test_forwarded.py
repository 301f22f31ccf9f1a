"""CLI commands forwarded to the running server (which holds the embedded database) run with the
server's configuration and environment: a real server on loopback, the real CLI in a
subprocess, a real SMTP server (aiosmtpd). Their errors name the real cause and the fix."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson

from collector.store import Store
from intent import forward, remote
from tests.conftest import SettingsFactory, free_port
from tests.intent.conftest import HoldFactory
from tests.intent.test_delivery import Inbox


def site_toml(site: str, recipients: list[str]) -> str:
    listed = ", ".join(f'"{r}"' for r in recipients)
    return f'[sites."{site}"]\ndomains = ["example.com"]\ndigest_recipients = [{listed}]\n'


def intent(env: dict[str, str], *argv: str, **more: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "intent", *argv], env={**env, **more},
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def one_line_error(done: subprocess.CompletedProcess[str], command: str) -> str:
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"intent {command}: ")
    return lines[0]


def smtp_env(port: int) -> dict[str, str]:
    return {"INTENT_SMTP_HOST": "127.0.0.1", "INTENT_SMTP_PORT": str(port),
            "INTENT_SMTP_STARTTLS": "false", "INTENT_SMTP_FROM": "intent@example.com"}  # fmt: skip


def test_an_edited_intent_toml_is_what_a_forwarded_digest_uses(
    hold: HoldFactory, site: str, smtp: tuple[Inbox, int], store: Store
) -> None:
    """Recipients added to intent.toml after the server started: the digest goes to them (the
    server read the file again), it does not say the file has none."""
    inbox, port = smtp
    live, settings, env = hold(site_toml(site, []), **smtp_env(port))
    settings.config_path.write_text(site_toml(site, ["sales@example.com"]), encoding="utf-8")
    done = intent(env, "digest", "--site", site, "--send", "--send-empty")
    assert done.returncode == 0, done.stderr
    assert [e.rcpt_tos for e in inbox.received] == [["sales@example.com"]]
    assert live.collector.settings.sites[site].digest_recipients == ("sales@example.com",)


def test_an_smtp_host_set_only_for_the_cli_is_named_as_the_cause(
    hold: HoldFactory, site: str, smtp: tuple[Inbox, int]
) -> None:
    """The server runs the command with its own environment, which has no SMTP: the error says
    so, names the setting, and says where to set it."""
    inbox, port = smtp
    live, _, env = hold(site_toml(site, ["sales@example.com"]))
    done = intent(env, "digest", "--site", site, "--send", "--send-empty", **smtp_env(port))
    line = one_line_error(done, "digest")
    assert "INTENT_SMTP_HOST is not set" in line  # what the server found...
    assert f"(pid {os.getpid()})" in line and live.url.removeprefix("http://") in line
    assert "INTENT_SMTP_HOST, INTENT_SMTP_PORT" in line  # ...and why: the CLI's are not its own
    assert "where the server starts and restart it" in line
    assert inbox.received == []


def test_a_setting_the_server_does_not_share_is_noted_after_a_success(
    hold: HoldFactory, site: str
) -> None:
    _, _, env = hold(site_toml(site, []), INTENT_RETENTION_DAYS="30")
    same = intent(env, "stats", "--site", site, INTENT_RETENTION_DAYS="30")
    assert same.returncode == 0 and same.stderr == "", same.stderr
    other = intent(env, "stats", "--site", site, INTENT_RETENTION_DAYS="90")
    assert other.returncode == 0, other.stderr
    note = other.stderr.strip().splitlines()
    assert len(note) == 1 and note[0].startswith("intent stats: note: it ran in the server on")
    assert "INTENT_RETENTION_DAYS set here is not the server's" in note[0]


def test_a_cli_with_another_intent_port_reaches_the_server_holding_the_database(
    hold: HoldFactory, site: str
) -> None:
    """The server records where it listens beside its data; INTENT_PORT is `serve`'s setting."""
    _, settings, env = hold(site_toml(site, []))
    done = intent(env, "stats", "--site", site, INTENT_PORT=str(free_port()))
    assert done.returncode == 0, done.stderr
    assert "in use" not in done.stderr and done.stderr == ""
    assert "no events in the last 30 days" in done.stdout
    record = orjson.loads(forward.record_path(settings).read_bytes())
    assert record["pid"] == os.getpid() and record["port"] == settings.port


def test_a_recorded_server_that_does_not_answer_is_named(
    make_settings: SettingsFactory, site: str, store: Store, tmp_path: Path
) -> None:
    """This process holds the database; its record names a port where nothing listens."""
    dead_port = free_port()
    settings = make_settings(site, INTENT_PORT=str(dead_port))
    remote.publish_record(settings)
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTENT_")}
    env.update({"INTENT_CONFIG": str(settings.config_path), "INTENT_CLICKHOUSE_URL": settings.clickhouse_url,
                "INTENT_SPOOL_DIR": str(settings.spool_dir)})  # fmt: skip
    line = one_line_error(intent(env, "stats"), "stats")
    assert f"held by the server on 127.0.0.1:{dead_port} (pid {os.getpid()})" in line
    assert "did not answer (connection refused)" in line
