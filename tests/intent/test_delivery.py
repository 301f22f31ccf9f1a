"""Sending the digest to a real SMTP server (aiosmtpd, in-process) and a fake Slack endpoint
(a Starlette app under a real uvicorn), both on loopback."""

from __future__ import annotations

import email
import email.policy
import json
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from collector.store import Store
from intent import cli
from intent.delivery import post_slack, send_digest
from intent.digest import build_digest
from intent.digest_render import render_slack
from tests.conftest import free_port, start_server
from tests.intent.test_digest import DAY, SCRIPT, insert, sample, score_row


@dataclass
class Inbox:
    """An SMTP handler keeping what arrived; `fail_first` DATA commands answer 451."""

    fail_first: int = 0
    received: list[Envelope] = field(default_factory=list)
    tries: int = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Envelope) -> str:
        self.tries += 1
        if self.tries <= self.fail_first:
            return "451 4.3.0 try again later"
        self.received.append(envelope)
        return "250 OK"

    def message(self, i: int = 0) -> EmailMessage:
        raw = self.received[i].original_content
        assert isinstance(raw, bytes)
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        return msg


@dataclass
class FakeSlack:
    """Records every payload; answers `status` to the first `fail_first` posts, then 'ok'."""

    fail_first: int = 0
    status: int = 500
    received: list[Any] = field(default_factory=list)

    async def hook(self, request: Request) -> PlainTextResponse:
        self.received.append(json.loads(await request.body()))
        if len(self.received) <= self.fail_first:
            return PlainTextResponse("no_service" if self.status < 500 else "boom", self.status)
        return PlainTextResponse("ok")


@pytest.fixture
def slack() -> Iterator[tuple[FakeSlack, str]]:
    fake = FakeSlack()
    live = start_server(
        Starlette(routes=[Route("/services/T0/B0/secret", fake.hook, methods=["POST"])])
    )
    yield fake, live.url + "/services/T0/B0/secret"
    live.stop()


def site_toml(
    site: str, recipients: list[str], webhook: str = "", allow_private: bool = True
) -> str:
    """The fake Slack listens on loopback: opted in like a webhook's allow_private."""
    return (
        f'[sites."{site}"]\ndomains = ["example.com"]\ntimezone = "Europe/Berlin"\n'
        f"digest_recipients = {json.dumps(recipients)}\n"
        + (f'slack_webhook = "{webhook}"\n' if webhook else "")
        + ("slack_allow_private = true\n" if webhook and allow_private else "")
    )


def assert_block_kit(payload: Any) -> None:
    """What Slack's incoming webhooks accept: https://api.slack.com/reference/block-kit."""
    assert isinstance(payload, dict) and set(payload) <= {"text", "blocks"}
    assert isinstance(payload["text"], str) and payload["text"]
    blocks = payload["blocks"]
    assert isinstance(blocks, list) and 0 < len(blocks) <= 50
    for block in blocks:
        kind = block["type"]
        assert kind in ("header", "section", "divider", "context"), kind
        if kind == "header":
            assert block["text"]["type"] == "plain_text" and 0 < len(block["text"]["text"]) <= 150
        elif kind == "section":
            assert set(block) == {"type", "text"}
            assert block["text"]["type"] == "mrkdwn" and 0 < len(block["text"]["text"]) <= 3000
        elif kind == "context":
            assert 0 < len(block["elements"]) <= 10
            assert all(e["type"] == "mrkdwn" and e["text"] for e in block["elements"])
        else:
            assert block == {"type": "divider"}


def test_email_arrives_with_text_and_html_to_the_recipients(
    store: Store, site: str, make_settings: Any, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    recipients = ["sales@example.com", "ceo@example.com"]
    settings = make_settings(toml=site_toml(site, recipients), INTENT_SMTP_HOST="127.0.0.1",
                             INTENT_SMTP_PORT=str(port), INTENT_SMTP_STARTTLS="false",
                             INTENT_SMTP_FROM="intent@example.com",
                             INTENT_PUBLIC_URL="https://intent.example.com")  # fmt: skip
    insert(store, sample(site))
    results = send_digest(settings, store, site, DAY)
    assert [(r.channel, r.ok, r.attempts) for r in results] == [("email", True, 1)]
    assert str(results[0]) == "email to 2 recipients: sent (1 attempt)"
    [envelope] = inbox.received
    assert envelope.mail_from == "intent@example.com"
    assert sorted(envelope.rcpt_tos) == sorted(recipients)
    msg = inbox.message()
    assert msg.get_content_type() == "multipart/alternative"
    assert (
        msg["Subject"]
        == f"intent digest · {site} · Fri 20 Nov 2026: 1 newly hot, 1 hot, 1 newly warm, 2 cooling, "
        "1 customer showing interest"
    )
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg["Date"].endswith(" +0000")  # the real offset; -0000 means "unknown"
    assert msg["Message-ID"].endswith("@example.com>")
    text = msg.get_body(("plain",))
    html = msg.get_body(("html",))
    assert text is not None and html is not None
    assert "Acme Robotics (acme.example · DE) · hot · score 54" in text.get_content()
    assert "last seen 2026-11-20 10:30 CET" in text.get_content()
    assert "Acme Robotics" in html.get_content() and "<table" in html.get_content()
    # each company links back to its dashboard page under INTENT_PUBLIC_URL
    page = f"https://intent.example.com/dashboard/sites/{site}/companies/acme"
    assert (
        f'<a href="{page}" style="color:#1c5fc4;text-decoration:none;">Open in intent</a>'
        in html.get_content()
    )
    assert f"Open in intent: {page}" in text.get_content()


def test_email_with_starttls_and_auth(
    store: Store, site: str, make_settings: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # the client trusts this test CA only
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    logins: list[tuple[bytes, bytes]] = []

    def authenticator(
        server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        logins.append((data.login, data.password))
        return AuthResult(success=data.password == b"s3cret", handled=False)  # False: answer 535

    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port(), tls_context=server_tls,
                            require_starttls=True, authenticator=authenticator,
                            auth_require_tls=True)  # fmt: skip
    controller.start()
    try:
        env = {"INTENT_SMTP_HOST": "127.0.0.1", "INTENT_SMTP_PORT": str(controller.port),
               "INTENT_SMTP_USER": "intent", "INTENT_SMTP_PASSWORD": "s3cret"}  # fmt: skip
        settings = make_settings(toml=site_toml(site, ["sales@example.com"]), **env)
        insert(store, sample(site))
        [ok] = send_digest(settings, store, site, DAY, backoff_s=0.01)
        assert ok.ok, ok.error
        assert logins == [(b"intent", b"s3cret")] and len(inbox.received) == 1
        wrong = make_settings(toml=site_toml(site, ["sales@example.com"]),
                              **{**env, "INTENT_SMTP_PASSWORD": "wrong"})  # fmt: skip
        [refused] = send_digest(wrong, store, site, DAY, backoff_s=0.01)
        assert not refused.ok and refused.attempts == 1  # bad credentials are not retried
        assert refused.error == "SMTP login refused (535)" and len(inbox.received) == 1
    finally:
        controller.stop()


def test_a_transient_smtp_failure_is_retried(
    store: Store, site: str, make_settings: Any, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    inbox.fail_first = 2
    settings = make_settings(toml=site_toml(site, ["sales@example.com"]),
                             INTENT_SMTP_HOST="127.0.0.1", INTENT_SMTP_PORT=str(port),
                             INTENT_SMTP_STARTTLS="false")  # fmt: skip
    insert(store, sample(site))
    [result] = send_digest(settings, store, site, DAY, backoff_s=0.01)
    assert result.ok and result.attempts == 3 and inbox.tries == 3 and len(inbox.received) == 1


def test_an_unreachable_smtp_server_is_reported(
    store: Store, site: str, make_settings: Any
) -> None:
    settings = make_settings(toml=site_toml(site, ["sales@example.com"]),
                             INTENT_SMTP_HOST="127.0.0.1", INTENT_SMTP_PORT=str(free_port()))  # fmt: skip
    insert(store, sample(site))
    [result] = send_digest(settings, store, site, DAY, backoff_s=0.01)
    assert not result.ok and result.attempts == 3
    assert "refused" in result.error.lower()
    assert str(result).startswith("email to 1 recipient: failed after 3 attempts: ")


def test_slack_gets_valid_block_kit(
    store: Store, site: str, make_settings: Any, slack: tuple[FakeSlack, str]
) -> None:
    fake, url = slack
    insert(store, sample(site))
    settings = make_settings(toml=site_toml(site, [], url))
    [result] = send_digest(settings, store, site, DAY)
    assert result.ok and str(result) == "slack to 127.0.0.1: sent (1 attempt)"
    [payload] = fake.received
    assert_block_kit(payload)
    texts = [b["text"]["text"] for b in payload["blocks"] if b["type"] == "section"]
    assert "*Newly hot* (1)" in texts
    assert any(t.startswith("*Acme Robotics* (acme.example · DE) · hot · score 54") for t in texts)
    acme = next(t for t in texts if t.startswith("*Acme Robotics*"))
    assert (
        "<https://acme.example|acme.example> · <https://www.linkedin.com/search/results/companies/?keywords=Acme+Robotics|LinkedIn>"
        in acme
    )
    assert (
        "Open in intent" not in acme
    )  # INTENT_PUBLIC_URL is unset: the server has no address to give


def test_slack_stays_within_block_kit_limits_and_escapes(store: Store, site: str) -> None:
    insert(store, [score_row(site, f"c{i:03d}", "hot", 100 - i % 90,
                             company_name=SCRIPT + " <!channel> " + "x" * 4000) for i in range(120)])  # fmt: skip
    payload = render_slack(build_digest(store, site, DAY))
    assert_block_kit(payload)
    blob = json.dumps(payload)
    assert "<script>" not in blob and "<!channel>" not in blob and "&lt;!channel&gt;" in blob
    assert payload["blocks"][-1]["elements"][0]["text"] == "… and 112 more"


def test_slack_5xx_is_retried_and_4xx_is_not(
    store: Store, site: str, slack: tuple[FakeSlack, str]
) -> None:
    fake, url = slack
    insert(store, sample(site))
    payload = render_slack(build_digest(store, site, DAY))
    fake.fail_first, fake.status = 2, 503
    result = post_slack(url, payload, backoff_s=0.01, allow_private=True)
    assert result.ok and result.attempts == 3 and len(fake.received) == 3
    fake.received.clear()
    fake.fail_first = 10
    result = post_slack(url, payload, backoff_s=0.01, allow_private=True)
    assert not result.ok and result.attempts == 3 and result.error == "HTTP 503 boom"
    fake.received.clear()
    fake.status = 404
    result = post_slack(url, payload, backoff_s=0.01, allow_private=True)
    assert not result.ok and result.attempts == 1 and result.error == "HTTP 404 no_service"
    assert "secret" not in str(result)  # the webhook path is a credential


def test_cli_send_reports_each_channel_and_fails_loudly(
    store: Store, site: str, make_settings: Any, smtp: tuple[Inbox, int],
    slack: tuple[FakeSlack, str], monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    inbox, port = smtp
    fake, url = slack
    settings = make_settings(toml=site_toml(site, ["sales@example.com"], url))
    monkeypatch.setenv("INTENT_CONFIG", str(settings.config_path))
    monkeypatch.setenv("INTENT_CLICKHOUSE_URL", settings.clickhouse_url)
    monkeypatch.setenv("INTENT_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("INTENT_SMTP_PORT", str(port))
    monkeypatch.setenv("INTENT_SMTP_STARTTLS", "false")
    insert(store, sample(site))
    argv = ["digest", "--site", site, "--date", DAY.isoformat(), "--send"]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [f"{site} 2026-11-20: email to 1 recipient: sent (1 attempt)",
                   f"{site} 2026-11-20: slack to 127.0.0.1: sent (1 attempt)"]  # fmt: skip
    assert len(inbox.received) == 1 and len(fake.received) == 1

    # The same day again is refused, saying when it went and how to repeat it.
    assert cli.main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"intent digest: the {site} digest for 2026-11-20 was already sent at ")
    assert err.endswith(" UTC; add --force to send it again\n") and err.count("\n") == 1
    assert len(inbox.received) == 1 and len(fake.received) == 1

    argv.append("--force")
    fake.fail_first, fake.status = 10, 404
    assert cli.main(argv) == 1
    captured = capsys.readouterr()
    assert captured.err == (
        "intent digest: slack to 127.0.0.1: failed after 1 attempt: HTTP 404 no_service\n"
    )
    assert "email to 1 recipient: sent" in captured.out and len(inbox.received) == 2

    quiet = ["digest", "--site", site, "--date", "2026-11-01", "--send"]
    assert cli.main(quiet) == 0
    assert "nothing to send" in capsys.readouterr().out and len(inbox.received) == 2


def test_nothing_configured_sends_nothing_and_the_cli_says_why(
    store: Store, site: str, make_settings: Any, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    settings = make_settings(site)  # no recipients, no webhook: the scheduler must not fail
    insert(store, sample(site))
    assert send_digest(settings, store, site, DAY) == []
    monkeypatch.setenv("INTENT_CONFIG", str(settings.config_path))
    monkeypatch.setenv("INTENT_CLICKHOUSE_URL", settings.clickhouse_url)
    assert cli.main(["digest", "--site", site, "--date", DAY.isoformat(), "--send"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(
        f"intent digest: site {site} has no digest_recipients, slack_webhook or CRM"
    )
    assert err.count("\n") == 1


def test_a_loopback_slack_url_needs_the_same_opt_in_as_a_webhook(
    store: Store, site: str, make_settings: Any, slack: tuple[FakeSlack, str]
) -> None:
    fake, url = slack
    insert(store, sample(site))
    refused = make_settings(toml=site_toml(site, [], url, allow_private=False))
    [result] = send_digest(refused, store, site, DAY, backoff_s=0.01)
    assert not result.ok and result.attempts == 1 and fake.received == []
    assert result.error == (
        "127.0.0.1 resolves to non-public address 127.0.0.1 (set slack_allow_private to allow it)"
    )
    allowed = make_settings(toml=site_toml(site, [], url))
    assert send_digest(allowed, store, site, DAY, backoff_s=0.01)[0].ok and len(fake.received) == 1
