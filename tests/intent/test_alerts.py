"""Alerts through the real server: a company turning hot reaches its owner by email (aiosmtpd),
the site's Slack (a fake endpoint) with the owner @-mentioned, and the webhook receiver (which
verifies the Standard Webhooks signature), each once; a restart between the event and the alert
loses nothing and repeats nothing; quiet hours are driven by the server's clock."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from standardwebhooks import Webhook

from collector.settings import Settings
from collector.site_settings import site_today
from collector.store import Store
from intent.accounts.fields import parse_update
from intent.accounts.table import upsert
from intent.alerts import outbox
from intent.schedule import score_and_notify
from intent.server import Server
from tests.conftest import LiveServer, SettingsFactory, wait_until
from tests.intent.test_delivery import FakeSlack, Inbox, slack  # noqa: F401
from tests.intent.test_incremental import hot_company, warm_company
from tests.intent.test_webhooks import SECRET, Receiver, receiver  # noqa: F401

Serve = Callable[[Settings], LiveServer]
COMPANY = "wayne-enterprises.com"


def alerts_toml(site: str, slack_url: str, hook_url: str, alerts: str = "") -> str:
    return (
        f'[sites."{site}"]\ndomains = ["example.com"]\ntimezone = "Europe/Berlin"\n'
        f'crm_url = "https://app.hubspot.com/contacts/123/company/{{crm_id}}"\n'
        f'digest_recipients = ["sales@ourco.example"]\nslack_webhook = "{slack_url}"\nslack_allow_private = true\n'
        f'[[sites."{site}".webhooks]]\nurl = "{hook_url}"\nsecret = "{SECRET}"\nallow_private = true\n'
        f'[sites."{site}".owners]\n"Ann Smith" = {{ email = "ann@ourco.example", slack = "U024BE7LH" }}\n'
        f'[sites."{site}".alerts]\n' + (alerts or 'on = ["became_hot", "demo_request"]\n')
    )


def settings_for(make_settings: SettingsFactory, site: str, port: int, toml: str) -> Settings:
    return make_settings(toml=toml, INTENT_SMTP_HOST="127.0.0.1", INTENT_SMTP_PORT=str(port),
                         INTENT_SMTP_STARTTLS="false", INTENT_SMTP_FROM="intent@ourco.example",
                         INTENT_PUBLIC_URL="https://intent.ourco.example/")  # fmt: skip


def owned_by_ann(store: Store, site: str) -> None:
    upsert(store, site, [parse_update({"domain": COMPANY, "name": "Wayne Enterprises",
                                       "owner": "Ann Smith", "stage": "Lead", "crm_id": "9001"})])  # fmt: skip


def hot_hooks(r: Receiver) -> list[dict[str, Any]]:
    got = [Webhook(SECRET).verify(body, headers) for _, headers, body in r.got]
    return [m for m in got if m["type"] == "company.became_hot"]


def statuses(store: Store, site: str) -> list[tuple[str, str, str, str]]:
    return [(a["kind"], a["status"], a["email_status"], a["slack_status"])
            for a in outbox.of_site(store, site)]  # fmt: skip


@dataclass
class Channels:
    """Where the test site's alerts go: an SMTP server, a fake Slack and a webhook receiver."""

    inbox: Inbox
    slack: FakeSlack
    receiver: Receiver
    settings: Callable[..., Settings]  # (the [alerts] table's body, '' for the default)


@pytest.fixture
def channels(
    make_settings: SettingsFactory, site: str,
    smtp: tuple[Inbox, int], slack: tuple[FakeSlack, str], receiver: Receiver,  # noqa: F811
) -> Channels:  # fmt: skip
    def settings(alerts: str = "") -> Settings:
        toml = alerts_toml(site, slack[1], receiver.url, alerts)
        return settings_for(make_settings, site, smtp[1], toml)

    return Channels(smtp[0], slack[0], receiver, settings)


def assert_sent_once(live: LiveServer, inbox: Inbox, fake_slack: FakeSlack, r: Receiver) -> None:
    """The sender finds nothing due now, and one email, one Slack message and one became_hot
    webhook went out in all."""
    assert isinstance(live.collector, Server) and live.collector.alert_sender is not None
    assert live.collector.alert_sender.run_once() == 0
    assert len(inbox.received) == 1 and len(fake_slack.received) == 1
    assert len(hot_hooks(r)) == 1


def test_a_hot_company_reaches_its_owner_by_email_slack_and_webhook_once(
    serve: Serve, store: Store, site: str, channels: Channels
) -> None:
    inbox, fake_slack, hooks = channels.inbox, channels.slack, channels.receiver
    owned_by_ann(store, site)
    live = serve(channels.settings())
    warm_company(live, site, COMPANY)
    hot_company(live, site, COMPANY)
    assert wait_until(lambda: len(inbox.received) == 1 and len(fake_slack.received) == 1)
    assert wait_until(lambda: len(hot_hooks(hooks)) == 1)

    [envelope] = inbox.received
    assert envelope.rcpt_tos == ["ann@ourco.example"]
    msg = inbox.message()
    assert msg["Subject"] == f"{COMPANY} is hot"
    text = msg.get_body(("plain",))
    assert text is not None
    lines = text.get_content()
    assert "Score: 60, hot" in lines
    assert (
        "Why: 2 people (+5); demo_request today (+20); pricing ×2 (+20); demo today (+15)" in lines
    )
    assert "Trigger: demo_request on /demo, " in lines and " s ago" in lines
    assert "Owner: Ann Smith" in lines
    page = f"https://intent.ourco.example/dashboard/sites/{site}/companies/{COMPANY}"
    assert f"Open: {page}" in lines
    # where a rep acts: the website, LinkedIn, the CRM record (the site's crm_url), the dashboard
    crm = "https://app.hubspot.com/contacts/123/company/9001"
    linkedin = "https://www.linkedin.com/search/results/companies/?keywords=wayne-enterprises.com"
    assert f"Website: https://{COMPANY}\r\nLinkedIn: {linkedin}\r\nCRM: {crm}\r\n" in lines
    html = msg.get_body(("html",))
    assert html is not None
    for url, label in ((f"https://{COMPANY}", "Website"), (linkedin, "LinkedIn"), (crm, "CRM"),
                       (page, "Open in intent")):  # fmt: skip
        assert f'<a href="{url}">{label}</a>' in html.get_content()
    [payload] = fake_slack.received
    assert payload["text"].startswith("<@U024BE7LH> ")
    slack_text = "".join(b["text"]["text"] for b in payload["blocks"])
    assert "demo_request on /demo" in slack_text
    assert (
        f"<https://{COMPANY}|Website> · <{linkedin}|LinkedIn> · <{crm}|CRM> · <{page}|Open in intent>"
        in slack_text
    )
    # One piece of news for the pass that saw both the demo request and the tier change.
    assert wait_until(lambda: ("became_hot", "sent", "sent", "sent") in statuses(store, site))
    assert sorted(statuses(store, site)) == [
        ("became_hot", "sent", "sent", "sent"), ("event", "merged", "", "")]  # fmt: skip
    # Later passes and the hourly run find the news already written.
    assert isinstance(live.collector, Server) and live.collector.schedule is not None
    score_and_notify(store, live.collector.settings.sites[site], site_today(live.collector.settings.sites[site]),
                     live.collector.schedule.after)  # fmt: skip
    assert_sent_once(live, inbox, fake_slack, hooks)


def test_a_restart_between_the_event_and_the_alert_loses_nothing_and_repeats_nothing(
    serve: Serve, store: Store, site: str, channels: Channels
) -> None:
    inbox, fake_slack, hooks = channels.inbox, channels.slack, channels.receiver
    owned_by_ann(store, site)
    settings = channels.settings()
    # ClickHouse refuses the events: they wait in the spool, the marks only in memory.
    store.command("DETACH TABLE events")
    try:
        first = serve(settings)
        warm_company(first, site, COMPANY)
        hot_company(first, site, COMPANY)
        first.stop()  # the server goes away before anything was scored
    finally:
        store.command("ATTACH TABLE events")
    assert statuses(store, site) == [] and inbox.received == [] and hooks.got == []
    second = serve(settings)  # replays the spool, rebuilds the marks, scores, alerts
    assert wait_until(lambda: len(inbox.received) == 1 and len(fake_slack.received) == 1, 30)
    assert wait_until(lambda: len(hot_hooks(hooks)) == 1)
    assert wait_until(lambda: ("became_hot", "sent", "sent", "sent") in statuses(store, site))
    second.stop()
    third = serve(settings)  # rebuilds the same marks: the news is found, not sent again
    assert isinstance(third.collector, Server) and third.collector.rescorer is not None
    rescorer = third.collector.rescorer
    assert wait_until(lambda: rescorer.passes >= 1, 30)
    assert_sent_once(third, inbox, fake_slack, hooks)


def test_quiet_hours_hold_email_and_slack_until_they_end_but_not_the_webhook(
    serve: Serve, store: Store, site: str, channels: Channels
) -> None:
    inbox, fake_slack, hooks = channels.inbox, channels.slack, channels.receiver
    alerts = 'on = ["became_hot"]\nquiet_hours = ["20:00", "07:00"]\n'
    live = serve(channels.settings(alerts))
    assert isinstance(live.collector, Server) and live.collector.alert_sender is not None
    sender, clock = live.collector.alert_sender, live.collector.clock
    evening = datetime.now(UTC).replace(
        hour=20, minute=30, second=0, microsecond=0
    )  # 21:30 or 22:30 in Berlin
    clock.set(evening)
    warm_company(live, site, COMPANY)
    hot_company(live, site, COMPANY)
    assert wait_until(lambda: len(hot_hooks(hooks)) == 1)  # a webhook is never held
    assert wait_until(
        lambda: ("became_hot", "pending", "pending", "pending") in statuses(store, site)
    )
    [alert] = [a for a in outbox.of_site(store, site) if a["kind"] == "became_hot"]
    morning = alert["not_before"].replace(tzinfo=UTC)
    assert morning.astimezone(outbox.ZoneInfo("Europe/Berlin")).strftime("%H:%M") == "07:00"
    assert timedelta(hours=8) < morning - evening < timedelta(hours=11)
    assert sender.run_once() == 0 and inbox.received == [] and fake_slack.received == []
    clock.set(morning + timedelta(minutes=1))  # the quiet hours end: sent once
    sender.wake()
    assert wait_until(lambda: len(inbox.received) == 1 and len(fake_slack.received) == 1)
    assert wait_until(lambda: ("became_hot", "sent", "sent", "sent") in statuses(store, site))
    body = inbox.message().get_body(("plain",))
    assert body is not None
    assert re.search(r"Trigger: demo_request on /demo, \d+ h ago", body.get_content())
