"""Visitor ids and INTENT_SECRET: what the database holds (the `salts` table) is not enough to
recompute an id from an IP; replicas with one secret agree; the secret comes from the setting or
an owner-only file, and a ClickHouse server without one is refused at start-up."""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import stat
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from collector import pipeline
from collector.beacon import parse
from collector.secret import secret_path, server_secret
from collector.settings_error import SettingsError
from collector.site_settings import SiteConfig
from collector.store import Store
from collector.writer import SALT_QUERY, Salts, visitor_key
from tests.conftest import CHROME_UA, LiveServer, SettingsFactory

SECRET = b"0123456789abcdef" * 2


def _old_visitor_id(salt: bytes, site: str, ip: str, ua: str) -> str:
    """How ids were made before INTENT_SECRET: blake2b keyed by the stored salt alone."""
    address = ipaddress.ip_address(ip).packed
    data = b"d\x00" + site.encode() + b"\x00" + address + b"\x00" + ua.encode()
    return hashlib.blake2b(data, key=salt[:64], digest_size=8).hexdigest()


def test_the_salts_table_alone_no_longer_reproduces_a_visitor_id(
    server: LiveServer, store: Store, site: str
) -> None:
    assert server.post({"site": site, "url": "https://example.com/"}).status_code == 202
    server.flush()
    stored = store.scalar("SELECT visitor_id FROM events WHERE site = {s:String}", {"s": site})
    today = datetime.now(UTC).date()
    salt_hex, check = store.query(SALT_QUERY, {"day": today})[0]
    salt = bytes.fromhex(salt_hex)
    assert check  # made by this version: keyed by the secret
    # The brute force that recovered 8.8.4.4 from its id: every address of the network
    # (here 127.0.0.0/24, which holds the real one) with the stored salt. It finds nothing.
    guesses = {_old_visitor_id(salt, site, str(ip), CHROME_UA)
               for ip in ipaddress.ip_network("127.0.0.0/24")}  # fmt: skip
    assert stored not in guesses
    # With the secret, which lives outside the database, the same derivation does find it.
    secret = server.collector.settings.secret.encode()
    assert _old_visitor_id(visitor_key(secret, salt), site, "127.0.0.1", CHROME_UA) == stored
    # The secret is in no column of the salts table.
    rows = store.query("SELECT salt, secret_check FROM salts")
    assert not any(secret.decode() in v or secret.hex() in v for row in rows for v in row)


def _visitor(salts: Salts, day: date) -> str:
    """The id the pipeline gives 8.8.4.4 on `day` with these salts."""
    beacon = parse(b'{"site": "x", "url": "https://example.com/"}')[0]
    event = pipeline.Event(beacon, SiteConfig("x", ("example.com",)),
                           ipaddress.ip_address("8.8.4.4"), CHROME_UA,
                           datetime.combine(day, datetime.min.time(), UTC))  # fmt: skip
    result = pipeline.put_visitor_id(event, pipeline.Context(salt=salts))
    assert isinstance(result, pipeline.Event)
    return str(result.row["visitor_id"])


def test_replicas_with_one_secret_make_the_same_id_and_another_secret_is_noticed(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    day = date(2098, 3, 4)  # a day nobody else uses
    first, second = Salts(store, SECRET), Salts(store, SECRET)
    first.prefetch(day)
    second.prefetch(day)
    assert _visitor(first, day) == _visitor(second, day)
    other = Salts(store, b"another secret, set on one replica")
    with caplog.at_level(logging.ERROR):
        other.prefetch(day)
    assert _visitor(other, day) != _visitor(first, day)
    assert "INTENT_SECRET differs" in caplog.text


def test_a_salt_made_before_the_upgrade_keeps_that_days_ids(store: Store) -> None:
    """A salt stored by the previous version has no secret check: ids of that day stay as they
    were (no visitor split mid-day); the next day's salt is keyed by the secret."""
    day = date(2098, 5, 6)
    salt = bytes(range(32))
    store.insert_rows("salts", [{"day": day.isoformat(), "salt": salt.hex(),
                                 "created": "2098-05-06 00:00:01.000000"}])  # fmt: skip
    salts = Salts(store, SECRET)
    assert salts.prefetch(day) == salt == salts(day)
    next_day = date(2098, 5, 7)
    key = salts.prefetch(next_day)
    next_salt, check = store.query(SALT_QUERY, {"day": next_day})[0]
    assert check and key == visitor_key(SECRET, bytes.fromhex(next_salt)) == salts(next_day)


def test_the_secret_comes_from_the_setting_or_an_owner_only_file(
    make_settings: SettingsFactory, tmp_path: Path
) -> None:
    given = make_settings(INTENT_SECRET="x" * 40)
    assert server_secret(given) == b"x" * 40
    assert not secret_path(given.config_path).exists()
    embedded = replace(make_settings(), secret="")  # INTENT_SECRET unset
    made = server_secret(embedded)
    path = secret_path(embedded.config_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and len(made) == 64
    assert server_secret(embedded) == made  # read again, never replaced
    server = replace(embedded, clickhouse_url="http://u:p@clickhouse.invalid:8123/intent")
    path.unlink()
    with pytest.raises(SettingsError) as caught:
        server_secret(server)
    assert caught.value.setting == "INTENT_SECRET" and "every replica" in caught.value.reason
    path.write_text("short\n")
    with pytest.raises(SettingsError) as caught:
        server_secret(embedded)
    assert caught.value.setting == "INTENT_SECRET"
