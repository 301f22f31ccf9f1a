"""End to end through the real server: MaxMind files from INTENT_GEOIP_PATHS (one broken),
the owner's ranges, identify, and what `intent coverage` / `intent geoip check` say about it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from collector.enrich.coverage import coverage
from collector.enrich.ranges import import_csv
from collector.store import Store
from intent.cli import main
from tests.conftest import LiveServer, SettingsFactory, wait_until

COLUMNS = "SELECT path, traffic_class, company_key, company_source, confidence, country FROM events WHERE site = {site:String} ORDER BY path"


def page(site: str, path: str) -> dict[str, str]:
    return {"site": site, "type": "pageview", "url": f"https://example.com{path}"}


@pytest.fixture
def live(
    site: str, make_settings: SettingsFactory, serve: Callable[..., LiveServer],
    mmdb: dict[str, Path], caplog: pytest.LogCaptureFixture,
) -> LiveServer:  # fmt: skip
    caplog.set_level(logging.WARNING)
    paths = ",".join(
        str(mmdb[n]) for n in ("enterprise", "asn", "anonymous_ip", "corrupt", "missing")
    )
    settings = make_settings(site, INTENT_GEOIP_PATHS=paths, INTENT_TRUSTED_PROXIES="127.0.0.0/8")
    return serve(settings)


def test_a_broken_database_at_start_up_is_a_warning_and_the_server_is_ready(
    live: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    assert httpx.get(live.url + "/readyz", timeout=10).status_code == 200
    warned = [r.getMessage() for r in caplog.get_records("setup") if r.levelname == "WARNING"]
    assert any("corrupt.mmdb skipped" in m for m in warned)
    assert any("missing.mmdb skipped: file not found" in m for m in warned)
    assert [d.kind for d in live.collector.enricher.geoip.databases] == [
        "enterprise",
        "asn",
        "anonymous_ip",
    ]


def test_visits_are_classified_and_identified_end_to_end(
    live: LiveServer, store: Store, site: str
) -> None:
    visits = {
        "/corporate": "198.51.100.20", "/cable": "203.0.113.20", "/cellular": "2001:db8:ce11::20",
        "/cloud": "100.64.0.20", "/university": "2001:db8:ed::20", "/own-as": "198.18.20.20",
    }  # fmt: skip
    dropped = {}
    for path, address in visits.items():
        r = live.post(page(site, path), **{"X-Forwarded-For": address})
        assert r.status_code == 202
        dropped[path] = r.headers.get("X-Intent-Dropped", "")
    assert dropped["/cloud"] == "bot:hosting" and not dropped["/corporate"]
    live.flush()
    rows = store.query(COLUMNS, {"site": site})
    assert rows == [
        ("/cable", "isp", "", "", 0.0, "DE"),
        ("/cellular", "mobile", "", "", 0.0, "GB"),
        ("/corporate", "business", "acme-widgets.example", "maxmind", pytest.approx(0.8), "DE"),
        ("/own-as", "unknown", "initech-networks", "asn", pytest.approx(0.3), "US"),
        ("/university", "education", "cam.ac.uk", "maxmind", pytest.approx(0.8), "GB"),
    ]
    hosting = "SELECT sum(count) FROM dropped_events WHERE site = {site:String} AND reason = 'bot:hosting'"
    assert wait_until(lambda: store.scalar(hosting, {"site": site}) == 1)


def test_owner_ranges_win_over_maxmind_and_reach_a_new_server(
    site: str, make_settings: SettingsFactory, serve: Callable[..., LiveServer],
    mmdb: dict[str, Path], store: Store, tmp_path: Path,
) -> None:  # fmt: skip
    csv = tmp_path / "ranges.csv"
    # Inside Acme's office /48 in MaxMind, one /64 is a client we know from our CRM.
    csv.write_text(
        "cidr,domain,name\n2001:db8:ac:64::/64,hooli.example,Hooli\n100.64.200.0/24,,Pied Piper\n"
    )
    assert import_csv(store, csv).imported == 2
    live = serve(make_settings(site, INTENT_GEOIP_PATHS=str(mmdb["enterprise"]),
                               INTENT_TRUSTED_PROXIES="127.0.0.0/8"))  # fmt: skip
    live.post(page(site, "/a"), **{"X-Forwarded-For": "2001:db8:ac:64::70"})
    live.post(page(site, "/b"), **{"X-Forwarded-For": "2001:db8:ac:65::10"})
    r = live.post(
        page(site, "/c"), **{"X-Forwarded-For": "100.64.200.9"}
    )  # cloud, but the owner's range
    assert r.json()["accepted"] == 1
    live.flush()
    assert [r[:5] for r in store.query(COLUMNS, {"site": site})] == [
        ("/a", "business", "hooli.example", "ranges", pytest.approx(0.95)),
        ("/b", "business", "acme-widgets.example", "maxmind", pytest.approx(0.8)),
        ("/c", "business", "pied-piper", "ranges", pytest.approx(0.95)),
    ]


def test_identify_links_the_visitor_and_coverage_reports_the_match_rate(
    live: LiveServer, store: Store, site: str, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    home = {"X-Forwarded-For": "203.0.113.40"}
    live.post([page(site, "/"), page(site, "/pricing")], **home)  # a home line: no company yet
    live.post({"site": site, "type": "identify", "email": "sam@initech.example"}, **home)
    live.post(page(site, "/careers"), **{"X-Forwarded-For": "198.51.100.41"})  # Acme's office
    live.post(page(site, "/blog"), **{"X-Forwarded-For": "192.0.2.42"})  # mobile
    live.post(page(site, "/x"), **{"X-Forwarded-For": "100.64.9.9"})  # cloud: dropped
    live.flush()
    linked = """SELECT count() FROM events WHERE site = {site:String} AND type = 'pageview'
                AND visitor_id IN (SELECT visitor_id FROM identities WHERE site = {site:String}
                                   AND company_domain = 'initech.example')"""
    assert wait_until(lambda: store.scalar(linked, {"site": site}) == 2)  # the earlier visits

    c = coverage(store, site, 7)
    assert c.page_views == 4 and c.visitors == 3 and c.identified_visitors == 2
    assert c.by_class == {"isp": 2, "business": 1, "mobile": 1}
    assert c.by_source == {"identify (earlier visit)": 2, "maxmind": 1, "none": 1}
    assert c.match_rate == pytest.approx(0.75)
    assert wait_until(lambda: coverage(store, site, 7).dropped == {"bot:hosting": 1})

    monkeypatch.setenv("INTENT_CONFIG", str(live.collector.settings.config_path))
    monkeypatch.setenv("INTENT_CLICKHOUSE_URL", live.collector.settings.clickhouse_url)
    assert main(["coverage", "--site", site, "--days", "7"]) == 0
    out = capsys.readouterr().out
    assert "identified: 75.0% of page views, 66.7% of visitors" in out
    assert "by traffic class: isp 50.0% (2), business 25.0% (1), mobile 25.0% (1)" in out
    assert "dropped (not counted above): bot:hosting 1" in out
    assert main(["coverage", "--site", "no-such-site"]) == 1


def test_geoip_check_prints_each_file_or_why_it_failed(
    mmdb: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("INTENT_CONFIG", str(tmp_path / "absent.toml"))
    monkeypatch.setenv(
        "INTENT_GEOIP_PATHS", ",".join(str(mmdb[n]) for n in ("enterprise", "asn", "corrupt"))
    )
    assert main(["geoip", "check"]) == 1  # one file failed
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"{mmdb['enterprise']}: GeoIP2-Enterprise (enterprise), built 20")
    assert "nodes, IPv6" in out[0]
    assert out[1].startswith("  ") and "->" in out[1] and "class " in out[1]
    assert out[2].startswith(f"{mmdb['asn']}: GeoLite2-ASN (asn)")
    assert (
        out[4]
        == f"{mmdb['corrupt']}: FAILED, not a valid MaxMind database (truncated download, or not an .mmdb file)"
    )

    monkeypatch.setenv("INTENT_GEOIP_PATHS", str(mmdb["enterprise"]))
    assert main(["geoip", "check", "--ip", "198.51.100.7"]) == 0
    sample = capsys.readouterr().out.splitlines()[1]
    assert sample.startswith(
        "  198.51.100.7 -> country DE, region Berlin region, city Berlin, asn 3320"
    )
    assert "organization Acme Widgets GmbH" in sample and sample.endswith("class business")

    monkeypatch.delenv("INTENT_GEOIP_PATHS")
    assert main(["geoip", "check"]) == 1
    assert "set INTENT_GEOIP_PATHS" in capsys.readouterr().err
