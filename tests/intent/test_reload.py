"""The running server reads intent.toml again: on `intent reload` (the real CLI, through the
server's authenticated CLI endpoint), when the file's mtime changes, and on SIGHUP (a real
`intent serve` process). An invalid file is refused naming the setting; the old one stays."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from collector.store import Store
from tests.conftest import CHROME_UA, free_port, wait_until
from tests.intent.conftest import HoldFactory
from tests.intent.test_delivery import Inbox
from tests.intent.test_forwarded import intent, one_line_error, site_toml, smtp_env

BAD_RULES = '[sites."{site}".rules]\nwarm = 90\nhot = 50\n'  # warm above hot


def test_intent_reload_swaps_the_configuration_the_server_runs_with(
    hold: HoldFactory, site: str, smtp: tuple[Inbox, int], store: Store
) -> None:
    inbox, port = smtp
    live, settings, env = hold(site_toml(site, ["old@example.com"]), **smtp_env(port))
    server = live.collector
    settings.config_path.write_text(site_toml(site, ["new@example.com"]), encoding="utf-8")
    done = intent(env, "reload")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() in (
        f"reloaded {settings.config_path}: {site} (changed)",
        f"{settings.config_path} is unchanged since the server read it",  # the poll was first
    )
    # Every part that sends or scores reads the new recipients, the env settings stay.
    for part in (server, server.schedule, server.rescorer, server.outbox):  # type: ignore[attr-defined]
        assert part.settings.sites[site].digest_recipients == ("new@example.com",)
        assert part.settings.smtp_port == port
    again = intent(env, "reload")
    assert again.returncode == 0 and "unchanged" in again.stdout, again.stderr

    sent = intent(env, "digest", "--site", site, "--send", "--send-empty")
    assert sent.returncode == 0, sent.stderr
    assert [e.rcpt_tos for e in inbox.received] == [["new@example.com"]]


def test_an_invalid_edit_keeps_the_old_configuration(
    hold: HoldFactory, site: str, caplog: pytest.LogCaptureFixture
) -> None:
    live, settings, env = hold(site_toml(site, ["old@example.com"]))
    before = live.collector.settings
    bad = site_toml(site, ["new@example.com"]) + BAD_RULES.format(site=site)
    settings.config_path.write_text(bad, encoding="utf-8")
    with caplog.at_level(logging.ERROR, logger="intent.reload"):
        line = one_line_error(intent(env, "reload"), "reload")
    assert line == (
        f"intent reload: {settings.config_path} not reloaded: sites.{site}.rules.warm: must not "
        "be above hot (50); the server keeps its previous configuration"
    )
    assert live.collector.settings is before
    assert live.collector.settings.sites[site].digest_recipients == ("old@example.com",)
    logged = [r.getMessage() for r in caplog.records if r.name == "intent.reload"]
    assert logged and all(
        m == f"{settings.config_path} not reloaded, the previous configuration stays: "
        f"sites.{site}.rules.warm: must not be above hot (50)"
        for m in logged
    )


def test_the_server_reloads_intent_toml_when_it_changes(hold: HoldFactory, site: str) -> None:
    """No command, no signal: the mtime poll sees the edit within seconds."""
    live, settings, _ = hold(site_toml(site, ["old@example.com"]))
    settings.config_path.write_text(site_toml(site, ["new@example.com"]), encoding="utf-8")

    def reloaded() -> bool:
        return live.collector.settings.sites[site].digest_recipients == ("new@example.com",)

    assert wait_until(reloaded, timeout=30)


def test_reload_without_a_server_says_there_is_none(tmp_path: Path) -> None:
    config = tmp_path / "intent.toml"
    config.write_text('[sites.shop]\ndomains = ["shop.example"]\n', encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTENT_")}
    env.update({"INTENT_CONFIG": str(config), "INTENT_SPOOL_DIR": str(tmp_path / "spool"),
                "INTENT_CLICKHOUSE_URL": f"chdb://{tmp_path / 'ch'}"})  # fmt: skip
    line = one_line_error(intent(env, "reload"), "reload")
    assert line == (
        f"intent reload: no running server recorded in {tmp_path / 'spool' / 'server.json'}: "
        "nothing to reload (a server reads intent.toml when it starts)"
    )


def accepted(url: str, origin: str) -> bool:
    """Whether the server takes a browser event from `origin` (a site's domains decide)."""
    r = httpx.post(url + "/api/event", json={"site": "shop", "url": f"{origin}/pricing"},
                   headers={"User-Agent": CHROME_UA, "Origin": origin}, timeout=10)  # fmt: skip
    assert r.status_code in (202, 403), r.text
    return r.status_code == 202


def shop(domain: str) -> str:
    return f'[sites.shop]\ndomains = ["{domain}"]\n'


@pytest.mark.slow
def test_sighup_reloads_a_real_intent_serve(tmp_path: Path) -> None:
    """`intent serve --port P` in its own process: SIGHUP reads the file even when its mtime and
    size did not change; `intent reload` from a CLI with another INTENT_PORT reaches it; an
    invalid edit is one line in its log and the sites it had stay."""
    config = tmp_path / "intent.toml"
    config.write_text(shop("aaa.example"), encoding="utf-8")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTENT_")}
    env.update({"INTENT_CONFIG": str(config), "INTENT_CLICKHOUSE_URL": f"chdb://{tmp_path / 'ch'}",
                "INTENT_SPOOL_DIR": str(tmp_path / "spool"), "INTENT_RDNS": "false"})  # fmt: skip
    log = (tmp_path / "serve.log").open("w+")
    proc = subprocess.Popen([sys.executable, "-m", "intent", "serve", "--port", str(port)],
                            env=env, cwd=tmp_path, stdout=log, stderr=log)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:

        def up() -> bool:
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                return httpx.get(url + "/healthz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        assert wait_until(up, timeout=120), "intent serve did not start"
        assert accepted(url, "https://aaa.example")
        assert not accepted(url, "https://bbb.example")

        # Same size, same mtime (put in place at once): only SIGHUP makes the server read it.
        stat = config.stat()
        edited = tmp_path / "edited.toml"
        edited.write_text(shop("bbb.example"), encoding="utf-8")
        os.utime(edited, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        edited.replace(config)
        proc.send_signal(signal.SIGHUP)
        assert wait_until(lambda: accepted(url, "https://bbb.example"), timeout=30)
        assert proc.poll() is None  # SIGHUP did not end it

        config.write_text(shop("bbb.example") + "colour = 'red'\n", encoding="utf-8")
        line = one_line_error(intent(env, "reload", INTENT_PORT=str(free_port())), "reload")
        assert line.startswith(f"intent reload: {config} not reloaded: sites.shop.colour: unknown")
        assert line.endswith("; the server keeps its previous configuration")
        assert accepted(url, "https://bbb.example")
        refused = [x for x in log_lines(tmp_path) if "not reloaded" in x]
        assert refused and all("sites.shop.colour: unknown setting" in x for x in refused)

        config.write_text(shop("ccc.example"), encoding="utf-8")  # the poll, alone
        assert wait_until(lambda: accepted(url, "https://ccc.example"), timeout=30)
        assert any(f"reloaded {config}: shop (changed)" in x for x in log_lines(tmp_path))
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
        log.close()


def log_lines(tmp_path: Path) -> list[str]:
    return (tmp_path / "serve.log").read_text().splitlines()
