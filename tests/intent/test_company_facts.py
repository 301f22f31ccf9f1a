"""A company's profile (country, name, domain) is the latest *known* value: newer events that
carry none (server-side events sent with a write key, a visit from a line without location)
never wipe it. Through the real collector, pipeline, rollups and API."""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta

import httpx
import orjson
import pytest

from collector import beacon, keys, pipeline
from collector.enrich import ranges as owner_ranges
from collector.site_settings import SiteConfig
from collector.store import Store
from intent.demo import demo_enricher
from intent.demo_traffic import companies, data_file
from intent.scoring import compute_scores, rules_of, score_site
from tests.conftest import CHROME_UA, LiveServer, SettingsFactory

MONARCH = "monarch-energy.example"  # a demo company on a business line in Tokyo (geo.mmdb)


def monarch_ip() -> str:
    [monarch] = [c for c in companies() if c.domain == MONARCH]
    network = next(n for n in monarch.networks if n.version == 4)
    return str(network.network_address + 7)


@pytest.fixture
def demo_ranges(store: Store) -> None:
    """The demo's owner ranges (company_ranges is shared by every site: added, never replaced)."""
    owner_ranges.import_csv(store, data_file("ranges.csv"))


def test_server_side_events_without_geo_keep_the_country_of_the_visit(
    demo_ranges: None,
    make_settings: SettingsFactory,
    serve: Callable[..., LiveServer],
    store: Store,
    site: str,
) -> None:
    live = serve(make_settings(site), demo_enricher())
    token, _ = keys.create(store, [site], "write")
    auth = {"Authorization": f"Bearer {token}"}
    # Server-side tracking of a visit, passing the visitor's address: Tokyo, on Monarch's line.
    visit = {"site": site, "type": "pageview", "url": "https://example.com/pricing"}
    assert live.post({**visit, "ip": monarch_ip()}, **auth).status_code == 202
    live.flush()
    # Then the site's backend reports the form it received: a write key and no visitor address,
    # so the event has the company (identify) but no country and no name.
    form = {"site": site, "type": "identify", "domain": MONARCH, "url": "https://example.com/demo"}
    assert live.post(form, **auth).status_code == 202
    live.flush()
    rows = store.query_dicts(
        "SELECT country, company_name FROM events WHERE site = {site:String} ORDER BY ts",
        {"site": site},
    )
    assert [(r["country"], r["company_name"]) for r in rows] == [("JP", "Monarch Energy"), ("", "")]
    store.command("OPTIMIZE TABLE daily_companies FINAL")  # what background merges do anyway

    today = datetime.now(UTC).date()
    [monarch] = score_site(store, live.collector.settings.sites[site], today)
    assert (monarch.company_key, monarch.country, monarch.company_name) == (
        MONARCH, "JP", "Monarch Energy",
    )  # fmt: skip
    found = httpx.get(f"{live.url}/api/v1/sites/{site}/companies", params={"country": "JP"},
                      headers=auth, timeout=10).json()["data"]  # fmt: skip
    assert [(c["key"], c["country"], c["name"]) for c in found] == [
        (MONARCH, "JP", "Monarch Energy")
    ]


def test_a_later_day_without_location_keeps_the_earlier_country(
    demo_ranges: None, store: Store, site: str
) -> None:
    enricher = demo_enricher()
    enricher.load_ranges(store)
    ctx = pipeline.Context(enricher=enricher)
    config = SiteConfig(name=site, domains=("example.com",))
    today = datetime.now(UTC).date()

    def ingest(body: dict[str, str], ip: str, days_ago: int) -> dict[str, object]:
        ts = datetime.combine(today - timedelta(days=days_ago), time(9), UTC)
        address = ipaddress.ip_address(ip)
        event = pipeline.Event(
            beacon.validate({"site": site, **body}), config, address, CHROME_UA, ts
        )
        out = pipeline.run(event, ctx)
        assert not isinstance(out, pipeline.Drop), out
        store.insert_json("events", orjson.dumps(out.row) + b"\n", uuid.uuid4().hex)
        return out.row

    seen = ingest({"type": "pageview", "url": "https://example.com/pricing"}, monarch_ip(), 1)
    assert (seen["company_key"], seen["country"]) == (MONARCH, "JP")
    form = ingest({"type": "identify", "domain": MONARCH, "url": "https://example.com/demo"},
                  "127.0.0.1", 0)  # fmt: skip
    assert (form["company_key"], form["country"], form["company_name"]) == (MONARCH, "", "")

    [monarch] = compute_scores(store, site, rules_of(config), today)
    assert (monarch.country, monarch.company_name, monarch.company_domain) == (
        "JP", "Monarch Energy", MONARCH,
    )  # fmt: skip
