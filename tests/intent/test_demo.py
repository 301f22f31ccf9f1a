"""`intent demo` in-process against the session chDB (its own site, a fixed seed), and the
command's refusal when another process holds the database."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from collector.store import Store
from intent.demo import DEMO_SITE_TOML, demo_enricher, run_demo
from intent.demo_traffic import (
    DEMO_HOST,
    HOSTING_NET,
    ISP_NET,
    MOBILE_NET,
    companies,
    rdns_companies,
)
from intent.digest import build_digest
from intent.digest_owners import owner_digests
from intent.digest_render import render

COMPANY_TIERS = """
SELECT company_name, country, tier, transition, is_customer, visitors, reasons FROM company_scores FINAL
WHERE site = {site:String} AND day = {day:Date}
"""


def test_demo_produces_hot_warm_cooling_and_lists_customers_apart(
    store: Store, site: str, make_settings: Any
) -> None:
    # The site as `intent demo` writes it into intent.toml: owners and fit for the CRM export.
    config = make_settings(toml=DEMO_SITE_TOML.format(name=site, host=DEMO_HOST)).sites[site]
    now = datetime.now(UTC)
    result = run_demo(store, config, seed=7, now=now)
    assert result.tiers["hot"] >= 1 and result.tiers["warm"] >= 1
    assert result.days_scored == 30
    assert {"bot:crawler", "bot:http-client", "bot:hosting"} <= set(result.dropped), result.dropped

    today = {
        r["company_name"]: r
        for r in store.query_dicts(COMPANY_TIERS, {"site": site, "day": now.date()})
    }
    profiles = {c.name: c.profile for c in companies()}
    for name, profile in profiles.items():
        if profile == "hot":
            assert today[name]["tier"] == "hot", name
        if profile == "warm":
            assert today[name]["tier"] == "warm", (name, today[name])
        if profile in ("careers", "was_hot"):
            assert today[name]["tier"] == "cold", name
        if profile == "customer":  # one person logging in every other day is not a committee
            assert today[name]["is_customer"] == 1
            assert today[name]["visitors"] == 1 and today[name]["reasons"][0] == "1 person a day"
    assert today["Stark Analytics"]["transition"] == "cooling"  # hot until its buying went stale

    digest = build_digest(store, site, now.date())
    listed = {c.name for s in digest.sections[:-1] for c in s.companies}  # the prospects
    assert {"Globex Logistics", "Initech Software", "Stark Analytics"} <= listed
    assert "Weyland Freight" not in listed  # the customer: in its own section only
    assert [c.name for c in digest.sections[-1].companies] == ["Weyland Freight"]
    for fmt in ("text", "markdown"):
        body = render(digest, fmt)[0].lower()
        assert "weyland freight" in body.split("customers — expansion interest")[1]
        assert "weyland freight" not in body.split("customers — expansion interest")[0]
    # its CRM export's Record IDs fill the site's crm_url: a rep opens the record from the digest
    linked = build_digest(store, site, now.date(), config=config)
    globex = next(c for s in linked.sections for c in s.companies if c.name == "Globex Logistics")
    assert globex.links.crm == "https://crm.demo-saas.example/companies/5123002"
    assert globex.links.website == "https://globex-logistics.example"

    # The same pipeline as real events: agents parsed, companies from the owner ranges, no IPs.
    stored = store.query_dicts(
        "SELECT countIf(company_source = 'ranges') AS from_ranges, countIf(company_key = '') AS anonymous,"
        " countIf(browser = '') AS no_browser, countIf(ip_prefix != '') AS with_ip, count() AS events"
        " FROM events WHERE site = {site:String}", {"site": site},
    )[0]  # fmt: skip
    assert stored["events"] == result.events and stored["from_ranges"] > 0
    assert stored["anonymous"] > 0 and stored["no_browser"] == 0 and stored["with_ip"] == 0
    classes = dict(store.query(
        "SELECT traffic_class, uniqExact(company_key) FROM events WHERE site = {site:String} "
        "GROUP BY traffic_class", {"site": site},
    ))  # fmt: skip
    assert set(classes) == {"business", "isp", "mobile", "ai-agent"}
    assert classes["isp"] == classes["ai-agent"] == 1  # only '': never a company
    countries = {r["company_name"]: r["country"] for r in today.values()}
    assert countries["Globex Logistics"] == "US" and countries["Initech Software"] == "GB"
    dropped = store.scalar(
        "SELECT sum(count) FROM dropped_events WHERE site = {site:String}", {"site": site}
    )
    assert dropped == sum(result.dropped.values())

    # Reverse DNS names the companies no range covers, through the resolver's code path.
    rdns = dict(store.query(
        "SELECT company_domain, count() FROM events WHERE site = {site:String} "
        "AND company_source = 'rdns' GROUP BY company_domain", {"site": site},
    ))  # fmt: skip
    assert set(rdns) == {c.domain for c in rdns_companies()}
    contoso = store.query_dicts(
        "SELECT company_source, tier FROM company_scores FINAL WHERE site = {site:String} "
        "AND day = {day:Date} AND company_key = 'contoso-pharma.example'",
        {"site": site, "day": now.date()},
    )
    assert contoso == [{"company_source": "rdns", "tier": "hot"}]  # newly hot today

    # The CRM export: accounts with owners, two bad rows reported and skipped.
    assert result.accounts == 18
    routed = build_digest(store, site, now.date(), config=config)
    owners = {o.name: o for o in owner_digests(routed)}
    assert set(owners) <= {"Maya Chen", "Tom Becker", "Priya Nair"} and "Maya Chen" in owners
    maya = [c for sec in owners["Maya Chen"].digest.sections for c in sec.companies]
    assert {c.domain for c in maya} >= {"northwind-robotics.example", "contoso-pharma.example"}
    assert all(c.account and c.account["owner"] == "Maya Chen" for c in maya)
    northwind = next(c for c in maya if c.domain == "northwind-robotics.example")
    assert northwind.fit == "A" and northwind.account["match"] == "domain"  # type: ignore[index]
    if "Tom Becker" in owners:
        assert owners["Tom Becker"].slack == "U0DEMOTOM1"
    assert [b.split(":")[0] for b in result.bad_rows] == ["line 20", "line 21"]

    again = run_demo(store, config, seed=7, now=now)  # replaces, never doubles, the demo
    count = store.scalar("SELECT count() FROM events WHERE site = {site:String}", {"site": site})
    assert again.events == result.events == count


def test_demo_refuses_while_another_process_holds_the_database(
    store: Store, ch_url: str, tmp_path: Path
) -> None:
    config = tmp_path / "intent.toml"
    env = {**os.environ, "INTENT_CONFIG": str(config), "INTENT_CLICKHOUSE_URL": ch_url}
    done = subprocess.run([sys.executable, "-m", "intent", "demo"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.startswith("intent demo: the database is held by a running `intent serve`")
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert not config.exists()  # nothing was changed


def test_shipped_network_database_matches_the_companies() -> None:
    """geo.mmdb is built by tests/intent/demo_geo.py from companies.csv and ranges.csv."""
    enricher = demo_enricher()
    for company in companies() + rdns_companies():
        for network in company.networks:
            info = enricher.network(network.network_address + 7)
            assert (info.country, info.city, info.traffic_class) == (
                company.country, company.city, "business"), company.name  # fmt: skip
    assert enricher.network(ISP_NET.network_address + 9).traffic_class == "isp"
    assert enricher.network(MOBILE_NET.network_address + 9).traffic_class == "mobile"
    assert enricher.network(HOSTING_NET.network_address + 9).traffic_class == "hosting"
