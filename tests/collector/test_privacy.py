"""What we never store: raw IPs and email addresses, in any column of any table (or the spool,
or the logs). Visitors can be forgotten; Do-Not-Track / GPC are honoured where a site says so."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable
from pathlib import Path

import pytest

from collector.settings import Settings
from collector.store import Store
from intent.cli import main
from tests.collector.enrich import mmdbs
from tests.conftest import LiveServer, SettingsFactory, wait_until

# Known addresses, from the test databases' corporate, cable, cellular and university networks.
ADDRESSES = ("198.51.100.77", "203.0.113.78", "192.0.2.79", "2001:db8:ac::77", "2001:db8:ed::7:78")
EMAIL = "jane.doe.4711@initech.example"

STRING_COLUMNS = """
SELECT c.table, c.name FROM system.columns AS c
JOIN system.tables AS t ON t.database = c.database AND t.name = c.table
WHERE c.database = currentDatabase() AND c.type LIKE '%String%' AND t.engine NOT LIKE '%View%'
ORDER BY c.table, c.name
"""


def forms(address: str) -> set[str]:
    ip = ipaddress.ip_address(address)
    return {str(ip), ip.exploded}


def tables_containing(store: Store, needles: list[str]) -> list[str]:
    """Every (table.column) holding any needle in any row: every String column of every table."""
    found = []
    columns = store.query(STRING_COLUMNS)
    assert len(columns) > 20  # the whole schema was searched, not an empty database
    for table, column in columns:
        sql = f"SELECT count() FROM `{table}` WHERE multiSearchAnyCaseInsensitive(toString(`{column}`), {{needles:Array(String)}})"
        if store.scalar(sql, {"needles": needles}):
            found.append(f"{table}.{column}")
    return found


@pytest.fixture
def private_server(
    site: str, make_settings: SettingsFactory, serve: Callable[..., LiveServer], tmp_path: Path
) -> Callable[..., LiveServer]:
    def start(toml_extra: str = "", **env: str) -> LiveServer:
        enterprise = mmdbs.enterprise(tmp_path / "enterprise.mmdb")
        toml = f'[sites."{site}"]\ndomains = ["example.com"]\n{toml_extra}'
        settings: Settings = make_settings(
            site,
            toml=toml,
            INTENT_GEOIP_PATHS=str(enterprise),
            INTENT_TRUSTED_PROXIES="127.0.0.0/8",
            **env,
        )
        return serve(settings)

    return start


def page(site: str, path: str = "/pricing") -> dict[str, str]:
    return {"site": site, "type": "pageview", "url": f"https://example.com{path}"}


def test_no_table_spool_or_log_holds_a_visitors_ip_or_email(
    private_server: Callable[..., LiveServer],
    store: Store,
    site: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    live = private_server()
    for address in ADDRESSES:
        r = live.post(page(site), **{"X-Forwarded-For": address})
        assert r.status_code == 202 and r.json()["accepted"] == 1, r.text
    r = live.post(
        {"site": site, "type": "identify", "email": EMAIL}, **{"X-Forwarded-For": ADDRESSES[0]}
    )
    assert r.status_code == 202 and r.json()["accepted"] == 1
    live.flush()
    sql = "SELECT company_domain FROM identities WHERE site = {site:String}"
    assert wait_until(lambda: store.query(sql, {"site": site}) == [("initech.example",)])
    assert (
        store.scalar("SELECT count() FROM events WHERE site = {site:String}", {"site": site}) == 6
    )

    needles = sorted({f for a in ADDRESSES for f in forms(a)} | {EMAIL, "jane.doe.4711"})
    assert tables_containing(store, needles) == []
    spool = live.collector.settings.spool_dir
    for file in spool.rglob("*"):
        if file.is_file():
            data = file.read_bytes().decode("utf-8", "replace").lower()
            assert not [n for n in needles if n.lower() in data], file
    logged = "\n".join(r.getMessage() for r in caplog.records).lower()
    assert not [n for n in needles if n.lower() in logged]


def test_only_the_network_prefix_is_stored_when_the_deployment_opts_in(
    private_server: Callable[..., LiveServer], store: Store, site: str
) -> None:
    live = private_server(INTENT_STORE_IP_PREFIX="true")
    for address in ("198.51.100.91", "2001:db8:ac:5::91"):
        assert live.post(page(site), **{"X-Forwarded-For": address}).status_code == 202
    live.flush()
    rows = store.query(
        "SELECT ip_prefix FROM events WHERE site = {site:String} ORDER BY ip_prefix", {"site": site}
    )
    assert rows == [("198.51.100.0/24",), ("2001:db8:ac::/48",)]
    assert tables_containing(store, ["198.51.100.91", "2001:db8:ac:5::91"]) == []


def test_dnt_and_gpc_are_dropped_with_a_reason_when_the_site_honours_them(
    private_server: Callable[..., LiveServer], store: Store, site: str
) -> None:
    live = private_server("respect_dnt = true\n")
    for header in ({"DNT": "1"}, {"Sec-GPC": "1"}):
        r = live.post(page(site), **header)
        assert (r.status_code, r.json()["dropped"], r.headers["X-Intent-Dropped"]) == (
            202,
            {"dnt": 1},
            "dnt",
        )
    assert live.post(page(site)).json()["accepted"] == 1
    live.flush()
    assert (
        store.scalar("SELECT count() FROM events WHERE site = {site:String}", {"site": site}) == 1
    )
    dropped = "SELECT sum(count) FROM dropped_events WHERE site = {site:String} AND reason = 'dnt'"
    assert wait_until(lambda: store.scalar(dropped, {"site": site}) == 2)


def test_forget_deletes_one_visitors_events_activity_and_identities(
    private_server: Callable[..., LiveServer], store: Store, site: str,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    live = private_server()
    jane, other = {"X-Forwarded-For": "198.51.100.93"}, {"X-Forwarded-For": "203.0.113.94"}
    live.post([page(site, "/pricing"), page(site, "/demo")], **jane)
    live.post({"site": site, "type": "identify", "email": "jane@initech.example"}, **jane)
    live.post(page(site, "/blog"), **other)
    live.flush()
    by_visitor = """SELECT visitor_id, count() FROM events WHERE site = {site:String}
                    GROUP BY visitor_id ORDER BY count() DESC"""
    (visitor, n), (kept, _) = store.query(by_visitor, {"site": site})
    assert n == 3
    has_identity = (
        "SELECT count() FROM identities WHERE site = {site:String} AND visitor_id = {v:String}"
    )
    assert wait_until(lambda: store.scalar(has_identity, {"site": site, "v": visitor}) == 1)

    monkeypatch.setenv("INTENT_CONFIG", str(live.collector.settings.config_path))
    monkeypatch.setenv("INTENT_CLICKHOUSE_URL", live.collector.settings.clickhouse_url)
    assert main(["forget", "--site", site, "--visitor", visitor]) == 0
    out = capsys.readouterr().out
    assert "3 events row(s)" in out and "1 identities row(s)" in out
    for table in ("events", "daily_activity", "identities"):
        left = f"SELECT visitor_id FROM {table} WHERE site = {{site:String}} GROUP BY visitor_id"
        assert {v for (v,) in store.query(left, {"site": site})} <= {kept}, table
    assert (
        store.scalar("SELECT count() FROM events WHERE site = {site:String}", {"site": site}) == 1
    )
