"""A company found for a visit after it was stored (a reverse-DNS answer that arrives later, an
`identify` that names an earlier visit's company) has a profile: its name and the country the
visit came from, in the API's list and profile, as a company found at once has. Through the real
collector (GeoLite2-City written with mmdb-writer, a loopback DNS server), rollups and API."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from collector import keys
from collector.enrich import Enricher
from collector.enrich.geoip import open_databases
from collector.store import Store
from intent.scoring import score_site
from tests.collector.enrich import mmdbs
from tests.collector.enrich.dnsserver import Zone
from tests.collector.enrich.mmdbs import Net
from tests.collector.enrich.test_rdns import ATTRIBUTIONS, hold_answer, visit, zone  # noqa: F401
from tests.collector.test_privacy import tables_containing
from tests.conftest import LiveServer, SettingsFactory, wait_until

LATE = "81.2.69.170"  # a global address (MaxMind's test block), so reverse DNS asks about it
LONDON = Net(("81.2.69.0/24",), "GB", "London")  # location only: no organisation, no AS


def geo_enricher(tmp_path: Path) -> Enricher:
    databases, failed = open_databases((mmdbs.city(tmp_path / "city.mmdb", (LONDON,)),))
    assert not failed
    return Enricher(databases, failed)


def api_get(live: LiveServer, token: str, path: str, **params: Any) -> Any:
    answer = httpx.get(f"{live.url}/api/v1{path}", params=params,
                       headers={"Authorization": f"Bearer {token}"}, timeout=10)  # fmt: skip
    assert answer.status_code == 200, answer.text
    return answer.json()


@pytest.fixture
def geo_rdns_server(
    site: str, make_settings: SettingsFactory, serve: Callable[..., LiveServer],
    zone: tuple[Zone, str], tmp_path: Path,  # noqa: F811
) -> LiveServer:  # fmt: skip
    settings = make_settings(site, INTENT_RDNS="true", INTENT_DNS_SERVERS=zone[1],
                             INTENT_TRUSTED_PROXIES="127.0.0.0/8")  # fmt: skip
    return serve(settings, geo_enricher(tmp_path))


def test_a_later_dns_answer_gives_the_company_its_name_and_country(
    geo_rdns_server: LiveServer,
    zone: tuple[Zone, str],  # noqa: F811
    store: Store,
    site: str,
) -> None:
    live, dns, gate = hold_answer(geo_rdns_server, zone, LATE, "www.hooli-systems.com")
    visit(live, site, "/pricing", LATE, 1)
    visit(live, site, "/demo", LATE, 2)
    assert wait_until(lambda: dns.asked("PTR", LATE))
    live.flush()
    stored = store.query(
        "SELECT company_key, country FROM events WHERE site = {site:String}", {"site": site}
    )
    assert stored == [("", "GB"), ("", "GB")]  # stored before the answer: no company yet
    gate.set()
    assert wait_until(lambda: len(store.query(ATTRIBUTIONS, {"site": site})) == 2)

    today = datetime.now(UTC).date()
    scores = {
        c.company_key: c for c in score_site(store, live.collector.settings.sites[site], today)
    }
    hooli = scores["hooli-systems.com"]
    assert (hooli.company_name, hooli.company_domain, hooli.country) == (
        "hooli-systems.com", "hooli-systems.com", "GB",
    )  # fmt: skip
    token, _ = keys.create(store, [site], "read")
    listed = api_get(live, token, f"/sites/{site}/companies", country="GB")["data"]
    assert [(c["key"], c["name"], c["domain"], c["country"], c["source"]) for c in listed] == [
        ("hooli-systems.com", "hooli-systems.com", "hooli-systems.com", "GB", "rdns")
    ]
    profile = api_get(live, token, f"/sites/{site}/companies/hooli-systems.com")
    assert (profile["name"], profile["country"], profile["source"], profile["visitors"]) == (
        "hooli-systems.com", "GB", "rdns", 2,
    )  # fmt: skip
    # The profile holds the domain and the country: neither the address nor the host name.
    assert tables_containing(store, [LATE, "www.hooli-systems.com"]) == []


def test_an_identify_without_the_visitors_address_keeps_the_country_of_their_visits(
    make_settings: SettingsFactory, serve: Callable[..., LiveServer], store: Store, site: str,
    tmp_path: Path,
) -> None:  # fmt: skip
    """A site's backend reports a form (a write key, the site's own visitor id, no address):
    the identify has no location, the visitor's earlier visit has one."""
    toml = (f'[sites."{site}"]\ndomains = ["localhost", "127.0.0.1", "example.com"]\n'
            "allow_visitor_id = true\n")  # fmt: skip
    settings = make_settings(site, toml, INTENT_TRUSTED_PROXIES="127.0.0.0/8")
    live = serve(settings, geo_enricher(tmp_path))
    seen = {"site": site, "type": "pageview", "url": "https://example.com/pricing", "visitor": "u1"}
    assert live.post(seen, **{"X-Forwarded-For": LATE}).status_code == 202
    token, _ = keys.create(store, [site], "write")
    form = {"site": site, "type": "identify", "domain": "globex-corp.com", "visitor": "u1",
            "url": "https://example.com/demo"}  # fmt: skip
    assert live.post(form, Authorization=f"Bearer {token}").status_code == 202
    live.flush()
    stored = store.query(
        "SELECT type, company_key, country FROM events WHERE site = {site:String} ORDER BY ts",
        {"site": site},
    )
    assert stored == [("pageview", "", "GB"), ("identify", "globex-corp.com", "")]

    today = datetime.now(UTC).date()
    [globex] = score_site(store, live.collector.settings.sites[site], today)
    assert (globex.company_key, globex.company_name, globex.country, globex.company_source) == (
        "globex-corp.com", "globex-corp.com", "GB", "identify",
    )  # fmt: skip
    profile = api_get(live, token, f"/sites/{site}/companies/globex-corp.com")
    assert (profile["name"], profile["country"]) == ("globex-corp.com", "GB")
