from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import jsonschema_rs
import orjson
import pytest
from standardwebhooks import Webhook

from collector.settings import Settings
from collector.site_settings import SiteConfig, WebhookConfig
from collector.store import Store
from intent import cli, ssrf_guard, webhooks
from intent.accounts.fields import parse_update
from intent.accounts.table import upsert
from intent.alerts import claims
from intent.scoring import CompanyScore
from tests.conftest import LiveServer, SettingsFactory, wait_until

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
FAST = (0, 0.2, 0.2, 0.2)


@dataclass
class Receiver:
    """A CRM's webhook endpoint on loopback: answers from a script, records what it got."""

    answers: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    got: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    url: str = ""

    def handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                receiver.got.append((self.path, dict(self.headers.items()), body))
                status, headers = receiver.answers.pop(0) if receiver.answers else (200, {})
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        return Handler


@pytest.fixture
def settings(make_settings: SettingsFactory, site: str, receiver: Receiver) -> Settings:
    """The test site with one webhook, to the receiver."""
    return make_settings(toml=hook_toml(site, receiver.url))


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), r.handler())
    r.url = f"http://127.0.0.1:{httpd.server_address[1]}/hooks/intent"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield r
    httpd.shutdown()
    httpd.server_close()


def hook_toml(site: str, url: str, allow_private: bool = True, events: str = "") -> str:
    return (f'[sites."{site}"]\ndomains = ["example.com"]\n[[sites."{site}".webhooks]]\n'
            f'url = "{url}"\nsecret = "{SECRET}"\nallow_private = {str(allow_private).lower()}\n{events}')  # fmt: skip


def hot(site: str, key: str = "acme.com", transition: str = "newly_hot") -> CompanyScore:
    return CompanyScore(site=site, day=date.today(), company_key=key, company_name="Acme", company_domain=key,
                        country="DE", score=82.5, tier="hot", previous_tier="warm", previous_score=41.0,
                        transition=transition, reasons=["read pricing 3 times", "2 visitors"])  # fmt: skip


def deliveries(store: Store, site: str) -> list[dict[str, Any]]:
    return store.query_dicts(
        "SELECT company_key, event, status, attempts, last_status, last_error FROM webhook_deliveries FINAL "
        "WHERE site = {s:String} ORDER BY company_key", {"s": site})  # fmt: skip


def test_server_delivers_signed_messages_the_receiver_verifies(
    make_settings: SettingsFactory, serve: Callable[[Settings], LiveServer], store: Store, site: str,
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    settings = make_settings(
        toml=hook_toml(
            site, receiver.url, events='events = ["company.became_hot", "company.cooled"]\n'
        )
    )
    live = serve(settings)
    assert live.collector.deliverer is not None
    scores = [hot(site), hot(site, "globex.com", "newly_warm"), hot(site, "initech.com", "still_hot"),
              hot(site, "umbrella.com", "cooling")]  # fmt: skip
    assert webhooks.enqueue(store, settings.sites[site], scores) == 2  # warm is not subscribed
    assert wait_until(lambda: len(receiver.got) == 2)
    by_type = {}
    for path, headers, body in receiver.got:
        assert path == "/hooks/intent"
        assert headers["Content-Type"] == "application/json"
        message = Webhook(SECRET).verify(body, headers)  # raises if the signature is wrong
        by_type[message["type"]] = message
    assert by_type["company.became_hot"]["data"]["company"] == {
        "key": "acme.com", "name": "Acme", "domain": "acme.com", "country": "DE", "score": 82.5, "tier": "hot",
        "previous_tier": "warm", "previous_score": 41.0, "transition": "newly_hot",
        "reasons": ["read pricing 3 times", "2 visitors"], "account": None, "fit": None,
        "fit_reasons": []}  # fmt: skip
    # The API's transition values, and its one timestamp format.
    assert by_type["company.cooled"]["data"]["company"]["transition"] == "cooling"
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", by_type["company.cooled"]["timestamp"]
    )
    assert by_type["company.cooled"]["data"]["site"] == site
    # A tampered body fails verification.
    _, headers, body = receiver.got[0]
    with pytest.raises(Exception, match="signature"):
        Webhook(SECRET).verify(
            body.replace(b"acme", b"evil").replace(b"umbrella", b"evil"), headers
        )
    assert wait_until(
        lambda: [d["status"] for d in deliveries(store, site)] == ["delivered", "delivered"]
    )
    assert (
        'intent_webhook_attempts_total{outcome="delivered"} 2.0'
        in httpx.get(live.url + "/metrics").text
    )
    # Rescoring the same day never sends the same news twice.
    assert webhooks.enqueue(store, settings.sites[site], scores) == 0

    monkeypatch.setenv("INTENT_CONFIG", str(settings.config_path))
    monkeypatch.setenv("INTENT_CLICKHOUSE_URL", settings.clickhouse_url)
    assert cli.main(["webhooks", "log", "--site", site]) == 0
    out = capsys.readouterr().out
    assert "company.became_hot  acme.com  delivered  attempts=1" in out
    assert "company.cooled  umbrella.com  delivered" in out


def test_failing_receiver_is_retried_with_backoff(
    settings: Settings, store: Store, site: str, receiver: Receiver
) -> None:
    receiver.answers = [(500, {}), (503, {})]
    deliverer = webhooks.Deliverer(store, settings, schedule=FAST, poll_seconds=0.05)
    deliverer.start()
    try:
        webhooks.enqueue(store, settings.sites[site], [hot(site)])
        assert wait_until(lambda: [d["status"] for d in deliveries(store, site)] == ["delivered"])
    finally:
        deliverer.stop()
    assert [d["attempts"] for d in deliveries(store, site)] == [3]
    assert len({h["webhook-id"] for _, h, _ in receiver.got}) == 1  # the same message each time
    attempts = store.query(
        "SELECT attempt, status_code FROM webhook_attempts WHERE site = {s:String} ORDER BY attempt",
        {"s": site},
    )
    assert attempts == [(1, 500), (2, 503), (3, 200)]


def test_gives_up_after_the_schedule(
    settings: Settings, store: Store, site: str, receiver: Receiver
) -> None:
    receiver.answers = [(500, {})] * 10
    deliverer = webhooks.Deliverer(store, settings, schedule=FAST, poll_seconds=0.05)
    webhooks.enqueue(store, settings.sites[site], [hot(site)])
    for _ in range(len(FAST)):
        assert wait_until(lambda: deliverer.run_once() == 1)
    assert deliveries(store, site)[0] | {"last_error": ""} == {
        "company_key": "acme.com", "event": "company.became_hot", "status": "failed", "attempts": 4,
        "last_status": 500, "last_error": ""}  # fmt: skip
    assert deliverer.run_once() == 0


def test_default_schedule_retries_for_more_than_a_day() -> None:
    assert sum(webhooks.RETRY_SCHEDULE) >= 24 * 3600
    assert list(webhooks.RETRY_SCHEDULE) == sorted(webhooks.RETRY_SCHEDULE)


def test_a_restart_mid_queue_still_delivers(
    settings: Settings,
    serve: Callable[[Settings], LiveServer],
    store: Store,
    site: str,
    receiver: Receiver,
) -> None:
    receiver.answers = [(503, {})]
    first = serve(settings)
    webhooks.enqueue(store, settings.sites[site], [hot(site)])
    assert wait_until(lambda: deliveries(store, site)[0]["attempts"] == 1)
    first.stop()  # the server goes away with the message still queued
    assert deliveries(store, site)[0]["status"] == "pending"
    second = serve(settings)  # a new app on the same database picks the queue up (retry at +5 s)
    assert second.collector.deliverer is not None
    assert wait_until(lambda: deliveries(store, site)[0]["status"] == "delivered", timeout=30)
    ids = [h["webhook-id"] for _, h, _ in receiver.got]
    assert len(ids) == 2 and ids[0] == ids[1]


def test_private_targets_are_refused_by_default(
    make_settings: SettingsFactory, store: Store, site: str, receiver: Receiver
) -> None:
    local = receiver.url.replace("127.0.0.1", "localhost")
    toml = hook_toml(site, receiver.url, allow_private=False) + (
        f'[[sites."{site}".webhooks]]\nurl = "{local}"\nsecret = "{SECRET}"\n'
    )
    settings = make_settings(toml=toml)
    deliverer = webhooks.Deliverer(store, settings, schedule=FAST)
    assert webhooks.enqueue(store, settings.sites[site], [hot(site)]) == 2
    assert deliverer.run_once() == 2
    rows = deliveries(store, site)
    assert [r["status"] for r in rows] == ["refused", "refused"]
    assert all("non-public address" in r["last_error"] for r in rows)
    assert receiver.got == []
    assert deliverer.run_once() == 0  # refused is final


@pytest.mark.parametrize("address", [
    "127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.100.100.200", "0.0.0.0",
    "::1", "fe80::1", "fd00:ec2::254", "::ffff:127.0.0.1", "::ffff:169.254.169.254", "224.0.0.1",
])  # fmt: skip
def test_non_public_addresses(address: str) -> None:
    assert ssrf_guard.not_public(address)


# IPv6 forms that carry an IPv4 address a packet may be delivered to: the IPv4 rules apply.
@pytest.mark.parametrize("address", [
    "64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe", "64:ff9b::10.0.0.1",  # NAT64 (RFC 6052)
    "64:ff9b:1::7f00:1", "64:ff9b:1::808:808",  # local-use NAT64 (RFC 8215): never public
    "2002:7f00:1::1", "2002:a9fe:a9fe::1", "2002:c0a8:101::1",  # 6to4 of 127/8, 169.254/16, 192.168/16
    "::127.0.0.1", "::169.254.169.254", "::ffff:7f00:1",  # IPv4-compatible, mapped in hex
    "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo, client 127.0.0.1
    "2001:0:4136:e378:8000:63bf:f7f7:f7f7",  # Teredo (2001::/32) is refused whatever it carries
])  # fmt: skip
def test_ipv6_forms_embedding_a_non_public_ipv4_are_refused(address: str) -> None:
    assert ssrf_guard.not_public(address)


@pytest.mark.parametrize("address", [
    "93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946", "8.8.8.8",
    "64:ff9b::808:808", "2002:808:808::1", "::ffff:8.8.8.8",  # public IPv4 behind NAT64, 6to4
])  # fmt: skip
def test_public_addresses(address: str) -> None:
    assert not ssrf_guard.not_public(address)


def test_the_embedded_ipv4_is_extracted() -> None:
    from ipaddress import IPv4Address, IPv6Address

    assert ssrf_guard.embedded_ipv4(IPv6Address("64:ff9b::a9fe:a9fe")) == [
        IPv4Address("169.254.169.254")
    ]
    assert ssrf_guard.embedded_ipv4(IPv6Address("2002:7f00:1::1")) == [IPv4Address("127.0.0.1")]
    assert ssrf_guard.embedded_ipv4(IPv6Address("::127.0.0.1")) == [IPv4Address("127.0.0.1")]
    assert IPv4Address("127.0.0.1") in ssrf_guard.embedded_ipv4(
        IPv6Address("2001:0:4136:e378:8000:63bf:80ff:fffe")
    )
    assert ssrf_guard.embedded_ipv4(IPv6Address("2606:2800:220:1:248:1893:25c8:1946")) == []


def test_redirects_are_not_followed(
    settings: Settings, store: Store, site: str, receiver: Receiver
) -> None:
    elsewhere = receiver.url.replace("/hooks/intent", "/elsewhere")
    receiver.answers = [(302, {"Location": elsewhere}), (307, {"Location": elsewhere})]
    deliverer = webhooks.Deliverer(store, settings, schedule=(0, 60))
    webhooks.enqueue(store, settings.sites[site], [hot(site)])
    assert deliverer.run_once() == 1
    assert [path for path, _, _ in receiver.got] == ["/hooks/intent"]
    row = deliveries(store, site)[0]
    assert (row["status"], row["last_status"]) == ("pending", 302)
    assert "redirects are not followed" in row["last_error"]


def test_plain_string_secrets_sign_with_their_bytes(
    store: Store, site: str, receiver: Receiver, tmp_path: Path
) -> None:
    secret = "a-plain-secret-of-some-length"
    hook = WebhookConfig(receiver.url, secret, allow_private=True)
    config = SiteConfig(name=site, domains=("example.com",), webhooks=(hook,))
    settings = Settings(config_path=tmp_path / "x.toml", sites={site: config})
    webhooks.enqueue(store, config, [hot(site)])
    deliverer = webhooks.Deliverer(store, settings)
    assert deliverer.run_once() == 1
    deliverer.stop()
    _, headers, body = receiver.got[0]
    assert Webhook(secret.encode()).verify(body, headers)["type"] == "company.became_hot"
    assert datetime.now(UTC).timestamp() - int(headers["webhook-timestamp"]) < 300


def test_a_scoring_run_that_makes_a_company_hot_sends_a_webhook(
    settings: Settings,
    serve: Callable[[Settings], LiveServer],
    store: Store,
    site: str,
    receiver: Receiver,
) -> None:
    from intent.schedule import score_and_notify
    from tests.intent.activity import event

    live = serve(settings)
    today = datetime.now(UTC).date()
    rows = []
    for v in ("g1", "g2", "g3"):  # three people from Globex on pricing and demo pages today
        rows += [
            event(site, today, "globex.com", v, "/pricing", hour=0),
            event(site, today, "globex.com", v, "/demo", hour=0),
        ]
    store.insert_rows("events", rows)
    scores = score_and_notify(store, settings.sites[site], today)
    assert [(s.company_key, s.transition) for s in scores] == [("globex.com", "newly_hot")]
    assert wait_until(lambda: len(receiver.got) == 1)
    _, headers, body = receiver.got[0]
    message = Webhook(SECRET).verify(body, headers)
    assert (message["type"], message["data"]["company"]["key"], message["data"]["company"]["tier"]) == (
        "company.became_hot", "globex.com", "hot")  # fmt: skip
    assert live.collector.deliverer is not None
    # The next hourly run finds the company still hot: no second message.
    score_and_notify(store, settings.sites[site], today)
    assert deliveries(store, site)[0]["status"] == "delivered" and len(receiver.got) == 1


def test_a_message_for_a_webhook_removed_from_the_config_is_dropped(
    make_settings: SettingsFactory, store: Store, site: str, receiver: Receiver
) -> None:
    before = make_settings(toml=hook_toml(site, receiver.url))
    after = make_settings(toml=hook_toml(site, receiver.url.replace("/hooks/intent", "/hooks/v2")))
    webhooks.enqueue(store, before.sites[site], [hot(site)])
    deliverer = webhooks.Deliverer(store, after)
    assert deliverer.run_once() == 1
    deliverer.stop()
    assert deliveries(store, site)[0]["status"] == "dropped"
    assert receiver.got == []


def second_hook(site: str, url: str, allow_private: bool = True) -> str:
    return (f'[[sites."{site}".webhooks]]\nurl = "{url}"\nsecret = "{SECRET}"\n'
            f"allow_private = {str(allow_private).lower()}\n")  # fmt: skip


def test_a_webhook_added_later_gets_only_the_news_noticed_after_it(
    make_settings: SettingsFactory, store: Store, site: str, receiver: Receiver
) -> None:
    first = make_settings(toml=hook_toml(site, receiver.url))
    assert webhooks.enqueue(store, first.sites[site], [hot(site, "acme.com")]) == 1
    later = receiver.url.replace("/hooks/intent", "/hooks/second")
    both = make_settings(toml=hook_toml(site, receiver.url) + second_hook(site, later))
    # The next hourly run: acme is still newly hot today (old news), globex has just become hot.
    scores = [hot(site, "acme.com"), hot(site, "globex.com")]
    assert webhooks.enqueue(store, both.sites[site], scores) == 2
    assert sorted((r["url"], r["company_key"]) for r in store.query_dicts(
        "SELECT url, company_key FROM webhook_deliveries FINAL WHERE site = {s:String}", {"s": site})) == [
        (receiver.url, "acme.com"), (receiver.url, "globex.com"), (later, "globex.com")]  # fmt: skip
    # News noticed while a site has no webhook at all is not sent to its first one either.
    other = site + "-b"
    quiet = make_settings(toml=f'[sites."{other}"]\ndomains = ["example.com"]\n')
    assert webhooks.enqueue(store, quiet.sites[other], [hot(other, "acme.com")]) == 0
    first_hook = make_settings(toml=hook_toml(other, receiver.url))
    assert webhooks.enqueue(store, first_hook.sites[other], [hot(other, "acme.com")]) == 0
    assert webhooks.enqueue(store, first_hook.sites[other], [hot(other, "initech.com")]) == 1


def test_webhooks_test_sends_a_signed_test_event_to_each_webhook(
    make_settings: SettingsFactory, site: str, receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    private = receiver.url.replace("127.0.0.1", "localhost")
    settings = make_settings(toml=hook_toml(site, receiver.url) + second_hook(site, private, False))
    monkeypatch.setenv("INTENT_CONFIG", str(settings.config_path))
    monkeypatch.setenv("INTENT_CLICKHOUSE_URL", settings.clickhouse_url)
    receiver.answers = [(204, {})]
    assert cli.main(["webhooks", "test", "--site", site]) == 1
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert re.fullmatch(rf"{re.escape(receiver.url)}: HTTP 204 \(\d+ ms\)", lines[0]), lines
    assert lines[1].startswith(f"{private}: refused: localhost resolves to non-public address ")
    assert lines[1].endswith("(set allow_private to allow it)")
    assert err == "intent webhooks: 1 of 2 webhooks did not answer 2xx\n"
    [(path, headers, body)] = receiver.got
    assert path == "/hooks/intent"
    message = Webhook(SECRET).verify(body, headers)
    assert message["type"] == "webhook.test" and message["data"] == {"site": site, "test": True}
    assert headers["webhook-id"].startswith("msg_test_")


def test_redeliver_queues_a_message_again_with_its_id(
    settings: Settings, store: Store, site: str, receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    receiver.answers = [(500, {})]
    deliverer = webhooks.Deliverer(store, settings, schedule=(0,))
    webhooks.enqueue(store, settings.sites[site], [hot(site)])
    assert deliverer.run_once() == 1
    [row] = deliveries(store, site)
    assert row["status"] == "failed"
    [(mid,)] = store.query(
        "SELECT DISTINCT id FROM webhook_deliveries WHERE site = {s:String}", {"s": site}
    )
    monkeypatch.setenv("INTENT_CONFIG", str(settings.config_path))
    monkeypatch.setenv("INTENT_CLICKHOUSE_URL", settings.clickhouse_url)
    assert cli.main(["webhooks", "redeliver", mid]) == 0
    assert capsys.readouterr().out == f"{mid}: queued again for {receiver.url} (was failed)\n"
    assert deliveries(store, site)[0]["status"] == "pending"
    assert deliverer.run_once() == 1
    assert [d["status"] for d in deliveries(store, site)] == ["delivered"]
    assert len({h["webhook-id"] for _, h, _ in receiver.got}) == 1 and len(receiver.got) == 2
    assert cli.main(["webhooks", "redeliver", "msg_nope"]) == 1
    assert capsys.readouterr().err == "intent webhooks: no webhook message 'msg_nope'\n"


@pytest.mark.parametrize("host", ["[64:ff9b::a9fe:a9fe]", "[2002:7f00:1::1]", "[::127.0.0.1]"])
def test_a_url_naming_an_embedding_ipv6_address_is_refused(host: str) -> None:
    with pytest.raises(ssrf_guard.Refused, match="non-public address"):
        ssrf_guard.resolve_target(f"http://{host}:8080/hooks", allow_private=False)


def test_a_company_message_carries_its_crm_account(
    make_settings: SettingsFactory, store: Store, site: str, receiver: Receiver
) -> None:
    toml = hook_toml(site, receiver.url) + (
        f'[sites."{site}".owners]\n"Ann Smith" = "ann@ourco.example"\n'
        f'[sites."{site}".fit]\ncountries = ["DE"]\n'
    )
    config = make_settings(toml=toml).sites[site]
    upsert(store, site, [parse_update({"domain": "acme.com", "name": "Acme, Inc.",
                                       "owner": "Ann Smith", "stage": "Opportunity",
                                       "country": "DE", "crm_id": "001A"})])  # fmt: skip
    newco = replace(hot(site, "newco.example"), company_name="Newco")
    webhooks.enqueue(store, config, [hot(site, "www.acme.com"), newco])
    rows = store.query_dicts(
        "SELECT company_key, payload FROM webhook_deliveries FINAL WHERE site = {s:String}",
        {"s": site},
    )
    company = {r["company_key"]: orjson.loads(r["payload"])["data"]["company"] for r in rows}
    assert company["www.acme.com"]["account"] == {
        "crm_id": "001A", "name": "Acme, Inc.", "domain": "acme.com", "owner": "Ann Smith",
        "owner_email": "ann@ourco.example", "stage": "opportunity", "crm_stage": "Opportunity",
        "fit": "A", "fit_reasons": ["DE ✓"], "match": "domain",
    }  # fmt: skip
    assert company["www.acme.com"]["fit"] == "A"
    # No account: null, and the fit graded from the country identification found.
    newco = company["newco.example"]
    assert (newco["account"], newco["fit"], newco["fit_reasons"]) == (None, "A", ["DE ✓"])


def test_every_message_is_what_the_openapi_webhooks_section_says(
    make_settings: SettingsFactory, serve: Callable[[Settings], LiveServer], store: Store, site: str,
    receiver: Receiver,
) -> None:  # fmt: skip
    """Real messages (became hot with a trigger and a CRM account, became warm with none,
    cooled, claimed, the test event), as a receiver gets them, against the served document."""
    toml = hook_toml(site, receiver.url) + (
        f'[sites."{site}".owners]\n"Ann Smith" = "ann@ourco.example"\n'
        f'[sites."{site}".fit]\ncountries = ["DE"]\nemployees = [50, 5000]\n'
    )
    settings = make_settings(toml=toml)
    live = serve(settings)
    config = settings.sites[site]
    upsert(store, site, [parse_update({"domain": "acme.com", "name": "Acme, Inc.", "owner": "Ann Smith",
                                       "stage": "Opportunity", "country": "DE", "crm_id": "001A"})])  # fmt: skip
    now = datetime.now(UTC)
    triggered = replace(
        hot(site), evidence_event="demo_request", evidence_path="/demo", evidence_at=now
    )
    scores = [
        triggered,
        hot(site, "globex.com", "newly_warm"),
        hot(site, "umbrella.com", "cooling"),
    ]
    assert webhooks.enqueue(store, config, scores) == 3
    assert wait_until(lambda: len(receiver.got) == 3)
    claims.claim(store, config, "acme.com", "Ann Smith", "calling them", now, "api")
    assert wait_until(lambda: len(receiver.got) == 4)
    _test_id, test_body = webhooks.make_test_event(site)

    doc = httpx.get(live.url + "/api/v1/openapi.json", timeout=10).json()
    assert set(doc["webhooks"]) == {
        *webhooks.EVENT_OF_TRANSITION.values(),
        "company.claimed",
        "webhook.test",
    }

    def validator(event: str) -> jsonschema_rs.Draft202012Validator:
        hook = doc["webhooks"][event]["post"]
        assert {p["name"] for p in hook["parameters"] if p["in"] == "header"} >= {
            "webhook-id", "webhook-timestamp", "webhook-signature"}  # fmt: skip
        body = hook["requestBody"]["content"]["application/json"]["schema"]
        return jsonschema_rs.Draft202012Validator({**doc, **body}, validate_formats=True)

    messages = [Webhook(SECRET).verify(body, headers) for _, headers, body in receiver.got]
    messages.append(orjson.loads(test_body))
    for message in messages:
        errors = [e.message for e in validator(message["type"]).iter_errors(message)]
        assert errors == [], message["type"]
    by_type = {m["type"]: m for m in messages}
    assert len(by_type) == 5  # hot, warm, cooled, claimed, test: each checked
    became_hot = by_type["company.became_hot"]["data"]
    assert became_hot["trigger"]["event"] == "demo_request"  # the optional parts were there
    assert became_hot["company"]["account"]["match"] == "domain"
    assert by_type["company.claimed"]["data"]["claim"]["claimed_by"] == "Ann Smith"
    # The schema is strict enough to catch a payload that drifts from it.
    broken = orjson.loads(orjson.dumps(by_type["company.became_hot"]))
    del broken["data"]["company"]["account"]["match"]
    broken["data"]["trigger"]["at"] = "yesterday"
    wrong = {
        "/".join(map(str, e.instance_path))
        for e in validator("company.became_hot").iter_errors(broken)
    }
    assert wrong == {"data/company/account", "data/trigger/at"}
