"""Follow-up through the real server: claims over the API (write key; 201, 200, 409, release),
the companies list's `claimed` filter, the signed `company.claimed` webhook, response times and
each owner's median on the server's clock, escalation of a hot company nobody claimed (once),
and the dashboard's claim button (CSRF-checked form, and in Chromium)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext
from standardwebhooks import Webhook

from collector import keys
from collector.settings import Settings
from collector.store import Store
from intent.alerts import claims, outbox
from intent.server import Server
from tests.conftest import LiveServer, SettingsFactory, wait_until
from tests.intent.dashboard_data import make_user, sign_in
from tests.intent.test_alerts import COMPANY, alerts_toml, owned_by_ann, settings_for, statuses
from tests.intent.test_delivery import FakeSlack, Inbox, slack  # noqa: F401
from tests.intent.test_incremental import hot_company, warm_company
from tests.intent.test_webhooks import SECRET, Receiver, receiver  # noqa: F401

Serve = Callable[[Settings], LiveServer]


@pytest.fixture
def hot(
    make_settings: SettingsFactory, serve: Serve, store: Store, site: str,
    smtp: tuple[Inbox, int], slack: tuple[FakeSlack, str], receiver: Receiver,  # noqa: F811
) -> Iterator[tuple[LiveServer, Server, Inbox, Receiver]]:  # fmt: skip
    """A server whose company turned hot and whose owner, Ann, was alerted."""
    inbox, port = smtp
    _fake, slack_url = slack
    owned_by_ann(store, site)
    toml = alerts_toml(
        site, slack_url, receiver.url, 'on = ["became_hot"]\nescalate_after_hours = 4\n'
    )
    live = serve(settings_for(make_settings, site, port, toml))
    assert isinstance(live.collector, Server)
    warm_company(live, site, COMPANY)
    hot_company(live, site, COMPANY)
    assert wait_until(lambda: ("became_hot", "sent", "sent", "sent") in statuses(store, site))
    yield live, live.collector, inbox, receiver


def api(live: LiveServer, token: str, method: str, path: str, **kw: Any) -> httpx.Response:
    return httpx.request(method, live.url + path, headers={"Authorization": f"Bearer {token}"},
                         timeout=10, **kw)  # fmt: skip


def test_claims_over_the_api_with_response_time_filter_and_webhook(
    hot: tuple[LiveServer, Server, Inbox, Receiver], store: Store, site: str
) -> None:
    live, server, _inbox, hooks = hot
    token, _ = keys.create(store, [site], "write")
    reader, _ = keys.create(store, [site], "read")
    path = f"/api/v1/sites/{site}/companies/{COMPANY}/claim"
    server.clock.advance(minutes=30)  # half an hour after Ann was told
    assert api(live, reader, "POST", path, json={"who": "Ann Smith"}).status_code == 403
    bad = api(live, token, "POST", path, json={"who": "", "note": 3})
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "who"
    missing = api(
        live, token, "POST", f"/api/v1/sites/{site}/companies/nobody.com/claim", json={"who": "Ann"}
    )
    assert missing.status_code == 404

    made = api(live, token, "POST", path, json={"who": "Ann Smith", "note": "called, demo Tuesday"})
    assert made.status_code == 201, made.text
    claim = made.json()
    assert (claim["claimed_by"], claim["note"], claim["claimed"]) == (
        "Ann Smith",
        "called, demo Tuesday",
        True,
    )
    assert 1800 <= claim["response_seconds"] < 1800 + 60
    assert api(live, token, "POST", path, json={"who": "Ann Smith"}).status_code == 200
    taken = api(live, token, "POST", path, json={"who": "Bob Jones"})
    assert (
        taken.status_code == 409
        and "already claimed by Ann Smith" in taken.json()["error"]["message"]
    )

    listed = api(
        live, reader, "GET", f"/api/v1/sites/{site}/companies", params={"claimed": "true"}
    ).json()
    assert [(c["key"], c["claimed_by"]) for c in listed["data"]] == [(COMPANY, "Ann Smith")]
    assert (
        api(
            live, reader, "GET", f"/api/v1/sites/{site}/companies", params={"claimed": "false"}
        ).json()["data"]
        == []
    )
    assert (
        api(
            live, reader, "GET", f"/api/v1/sites/{site}/companies", params={"claimed": "maybe"}
        ).status_code
        == 400
    )
    profile = api(live, reader, "GET", f"/api/v1/sites/{site}/companies/{COMPANY}").json()
    assert profile["claimed_by"] == "Ann Smith" and profile["claimed_at"]

    def claimed_hooks() -> list[dict[str, Any]]:
        got = [Webhook(SECRET).verify(body, headers) for _, headers, body in hooks.got]
        return [m for m in got if m["type"] == "company.claimed"]

    assert wait_until(lambda: len(claimed_hooks()) == 1)
    [message] = claimed_hooks()
    assert message["data"]["company"]["key"] == COMPANY
    account = message["data"]["company"]["account"]  # the CRM account, like every company payload
    assert (account["name"], account["owner"], account["match"]) == (
        "Wayne Enterprises", "Ann Smith", "domain")  # fmt: skip
    assert message["data"]["claim"]["claimed_by"] == "Ann Smith"

    # Each owner's median over 30 days: Ann's one claim, half an hour.
    [median] = claims.medians(store, site, server.clock.now())
    assert (median["owner"], median["claims"]) == ("Ann Smith", 1)
    assert 1800 <= median["median_s"] < 1860

    released = api(live, token, "DELETE", path)
    assert released.status_code == 200 and released.json() == {"company": COMPANY, "claimed": False}
    assert [c["key"] for c in api(live, reader, "GET", f"/api/v1/sites/{site}/companies",
                                   params={"claimed": "false"}).json()["data"]] == [COMPANY]  # fmt: skip
    again = api(live, token, "POST", path, json={"who": "Bob Jones"})
    assert (
        again.status_code == 201 and again.json()["response_seconds"] is None
    )  # not a first answer
    assert len(claims.medians(store, site, server.clock.now())) == 1


def escalations_after(server: Server, store: Store, site: str, hours: float) -> int:
    """Move the alert clock `hours` on and have the sender check for escalations and send what is
    due now; the escalations written so far."""
    server.clock.advance(hours=hours)
    assert server.alert_sender is not None
    server.alert_sender.escalated_at = None
    server.alert_sender.run_once()
    return [a["kind"] for a in outbox.of_site(store, site)].count("escalation")


def test_a_hot_company_nobody_claims_is_escalated_to_the_site_recipients_once(
    hot: tuple[LiveServer, Server, Inbox, Receiver], store: Store, site: str
) -> None:
    _live, server, inbox, _receiver = hot
    sender = server.alert_sender
    assert sender is not None and [e.rcpt_tos for e in inbox.received] == [["ann@ourco.example"]]
    server.clock.advance(hours=3)
    sender.escalated_at = None
    sender.wake()
    assert wait_until(lambda: sender.escalated_at is not None)
    assert sender.run_once() == 0  # three hours: not yet
    server.clock.advance(hours=2)
    sender.escalated_at = None
    sender.wake()
    assert wait_until(lambda: len(inbox.received) == 2)
    escalation = inbox.message(1)
    assert inbox.received[1].rcpt_tos == ["sales@ourco.example"]
    assert escalation["Subject"] == f"{COMPANY} is hot and nobody has claimed it"
    text = escalation.get_body(("plain",))
    assert text is not None and "Told: 5 h ago, nobody has claimed it" in text.get_content()
    assert "Owner: Ann Smith" in text.get_content()
    assert escalations_after(server, store, site, hours=2) == 1  # once
    assert len(inbox.received) == 2


def test_a_claimed_company_is_not_escalated(
    hot: tuple[LiveServer, Server, Inbox, Receiver], store: Store, site: str
) -> None:
    _live, server, inbox, _receiver = hot
    claims.claim(
        store, server.settings.sites[site], COMPANY, "Ann Smith", "", server.clock.now(), "api"
    )
    assert escalations_after(server, store, site, hours=6) == 0
    assert len(inbox.received) == 1


def test_the_dashboard_claim_form_needs_its_csrf_token_and_our_origin(
    hot: tuple[LiveServer, Server, Inbox, Receiver], store: Store, site: str
) -> None:
    live, _server, _inbox, _receiver = hot
    client = sign_in(live.url, make_user(store, site))
    page = client.get(f"/dashboard/sites/{site}/companies/{COMPANY}")
    assert page.status_code == 200 and "Hot for" in page.text and 'action="' in page.text
    csrf = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    action = f"/dashboard/sites/{site}/companies/{COMPANY}/claim"
    assert client.post(action, data={"csrf": "forged", "who": "Ann Smith"}).status_code == 403
    evil = client.post(
        action, data={"csrf": csrf, "who": "Ann Smith"}, headers={"Origin": "https://evil.example"}
    )
    assert evil.status_code == 403
    assert claims.current(store, site, COMPANY) is None
    done = client.post(
        action,
        data={"csrf": csrf, "who": "Ann Smith", "note": "emailed"},
        headers={"Origin": live.url},
    )
    assert done.status_code == 303
    held = claims.current(store, site, COMPANY)
    assert held is not None and (held.who, held.note) == ("Ann Smith", "emailed")
    follow_up = client.get(f"/dashboard/sites/{site}/follow-up")
    assert "Every hot company has been claimed." in follow_up.text and "Ann Smith" in follow_up.text


@pytest.mark.browser
def test_claim_in_chromium(
    hot: tuple[LiveServer, Server, Inbox, Receiver], store: Store, site: str, browser: Browser
) -> None:
    live, server, _inbox, _receiver = hot
    email = make_user(store, site)
    context: BrowserContext = browser.new_context()
    try:
        page = context.new_page()
        problems: list[str] = []
        page.on("console", lambda m: m.type == "error" and problems.append(m.text))
        page.goto(live.url + f"/dashboard/sites/{site}/follow-up")
        page.fill("#email", email)
        page.fill("#password", "correct horse battery staple")
        page.click("text=Sign in >> nth=1")
        page.wait_for_load_state()
        assert COMPANY in page.locator("table.companies").inner_text()
        server.clock.advance(minutes=12)
        page.click(f"text={COMPANY}")
        page.wait_for_load_state()
        assert page.locator(".claim .unclaimed").inner_text().startswith("Hot for")
        assert page.input_value("input[name=who]") == "Ann Smith"  # the owner, filled in
        page.fill("input[name=note]", "booked a call")
        page.click(".claim-form button[type=submit]")
        page.wait_for_load_state()
        claimed = page.locator(".claim .claimed").inner_text()
        assert (
            claimed.startswith("Claimed by Ann Smith")
            and "answered 12 min after it became hot" in claimed
        )
        assert page.locator(".claim .note").inner_text() == "booked a call"
        page.click("text=Release the claim")
        page.wait_for_load_state()
        assert page.locator(".claim .unclaimed").count() == 1
        assert problems == []
    finally:
        context.close()
    assert claims.current(store, site, COMPANY) is None
