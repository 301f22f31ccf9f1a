"""Client IP: the socket peer, or X-Forwarded-For only from trusted proxies (rightmost untrusted
hop). Checked on the pure function and over HTTP, where the chosen address is observable as the
stored /24 prefix (INTENT_STORE_IP_PREFIX), the site's exclude_cidrs drop, and the visitor id."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from collector.clientip import client_ip
from collector.settings import Settings
from collector.site_settings import parse_cidrs
from collector.store import Store
from tests.conftest import LiveServer, SettingsFactory

PROXIES = parse_cidrs(["127.0.0.0/8", "10.0.0.0/8", "::1/128"])


@pytest.mark.parametrize(
    ("peer", "xff", "proxies", "expected"),
    [
        ("198.51.100.1", None, PROXIES, "198.51.100.1"),
        ("198.51.100.1", "203.0.113.7", PROXIES, "198.51.100.1"),  # untrusted peer: XFF ignored
        ("198.51.100.1", "203.0.113.7", (), "198.51.100.1"),
        ("127.0.0.1", "203.0.113.7", (), "127.0.0.1"),  # no proxies configured
        ("127.0.0.1", "203.0.113.7", PROXIES, "203.0.113.7"),
        ("127.0.0.1", "1.1.1.1, 203.0.113.7", PROXIES, "203.0.113.7"),  # client-written left part
        ("127.0.0.1", "203.0.113.7, 10.1.2.3", PROXIES, "203.0.113.7"),  # two proxy hops
        ("127.0.0.1", "10.9.9.9, 10.1.2.3", PROXIES, "10.9.9.9"),  # all trusted: the leftmost
        ("127.0.0.1", "garbage, 203.0.113.7", PROXIES, "203.0.113.7"),
        ("127.0.0.1", "203.0.113.7, garbage", PROXIES, "127.0.0.1"),  # unparseable hop: stop
        ("127.0.0.1", "[2001:db8::7]", PROXIES, "2001:db8::7"),
        ("::ffff:127.0.0.1", "203.0.113.7", PROXIES, "203.0.113.7"),  # v4-mapped peer
        ("::1", "2001:db8::1", PROXIES, "2001:db8::1"),
        (None, "203.0.113.7", PROXIES, None),
    ],
)
def test_client_ip(peer: str | None, xff: str | None, proxies: tuple, expected: str | None) -> None:  # type: ignore[type-arg]
    ip = client_ip(peer, xff, proxies)
    assert (str(ip) if ip is not None else None) == expected


TOML = """
[sites."{site}"]
domains = ["example.com"]
exclude_cidrs = ["203.0.113.0/24"]
"""


def prefixes(store: Store, site: str) -> list[str]:
    rows = store.query(
        "SELECT ip_prefix FROM events WHERE site = {s:String} ORDER BY path", {"s": site}
    )
    return [r[0] for r in rows]


def post(server: LiveServer, site: str, path: str, xff: str) -> tuple[int, str]:
    r = server.post(
        {"site": site, "url": f"https://example.com/{path}"}, **{"X-Forwarded-For": xff}
    )
    return r.status_code, r.headers.get("x-intent-dropped", "")


def test_spoofed_forwarded_for_from_an_untrusted_peer_is_ignored(
    make_settings: SettingsFactory, serve: Callable[[Settings], LiveServer], store: Store, site: str
) -> None:
    server = serve(make_settings(site, toml=TOML.format(site=site), INTENT_STORE_IP_PREFIX="true"))
    assert post(server, site, "a", "203.0.113.7") == (202, "")  # would be excluded if believed
    assert post(server, site, "b", "198.51.100.9") == (202, "")
    server.flush()
    assert prefixes(store, site) == ["127.0.0.0/24", "127.0.0.0/24"]
    visitors = store.scalar(
        "SELECT uniqExact(visitor_id) FROM events WHERE site = {s:String}", {"s": site}
    )
    assert visitors == 1  # same peer, same agent: one visitor whatever the header says


def test_forwarded_for_from_a_trusted_proxy_is_used(
    make_settings: SettingsFactory, serve: Callable[[Settings], LiveServer], store: Store, site: str
) -> None:
    server = serve(make_settings(site, toml=TOML.format(site=site), INTENT_STORE_IP_PREFIX="true",
                                 INTENT_TRUSTED_PROXIES="127.0.0.0/8, ::1/128"))  # fmt: skip
    assert post(server, site, "a", "203.0.113.7") == (202, "excluded:cidr")
    assert post(server, site, "b", "203.0.113.7, 198.51.100.9") == (202, "")  # rightmost untrusted
    assert post(server, site, "c", "198.51.100.9, 203.0.113.7") == (202, "excluded:cidr")
    assert post(server, site, "d", "192.0.2.44, 127.0.0.9") == (202, "")  # trusted hop skipped
    server.flush()
    assert prefixes(store, site) == ["198.51.100.0/24", "192.0.2.0/24"]
    visitors = store.scalar(
        "SELECT uniqExact(visitor_id) FROM events WHERE site = {s:String}", {"s": site}
    )
    assert visitors == 2
    dropped = store.scalar(
        "SELECT sum(count) FROM dropped_events WHERE site = {s:String} AND reason = 'excluded:cidr'",
        {"s": site},
    )
    assert dropped == 2


def test_parsed_addresses_are_ipaddress_objects_that_hash_once() -> None:
    """Addresses are parsed once and keep their hash (a request probes several dictionaries by
    address): they must still equal, hash like and behave like ipaddress's own objects."""
    import ipaddress

    from collector.clientip import parse_ip as _addr

    for text, plain in (
        ("203.0.113.9", "203.0.113.9"),
        ("::ffff:203.0.113.9", "203.0.113.9"),
        ("[2001:db8::7]", "2001:db8::7"),
        ("fe80::1%eth0", "fe80::1%eth0"),
    ):
        ip, expected = _addr(text), ipaddress.ip_address(plain)
        assert ip is not None and isinstance(ip, type(expected))
        assert ip == expected and hash(ip) == hash(expected) and str(ip) == plain
        assert {expected: "found"}[ip] == "found"
        assert ip in ipaddress.ip_network(f"{expected}/{expected.max_prefixlen - 8}", strict=False)
