"""MaxMind-format databases: every configured .mmdb opened once, memory-mapped, recognised by
its metadata `database_type`, and read into one flat `NetworkInfo` per IP (its traffic class
is decided later, by collector.enrich.traffic).

We read records with `maxminddb` (the reader geoip2 is built on) in its C-extension mmap mode:
~2 µs per lookup against ~10 µs through geoip2's model objects, and the record layout is the one
geoip2 documents. A missing, unreadable, corrupt or unrecognised file is skipped with a warning
naming it; the server runs with whatever opened.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import maxminddb

from collector.clientip import IPAddress
from collector.enrich.model import UNKNOWN, NetworkInfo

log = logging.getLogger("intent.geoip")

# database_type -> the kind of record it holds. Matched on the name's parts, so regional
# editions ("GeoIP2-City-Europe") and DB-IP's compatible "DBIP-City-Lite" are recognised too.
KINDS = ("enterprise", "city", "country", "isp", "asn", "domain", "connection_type", "anonymous_ip")
ANONYMOUS_FLAGS = ("is_anonymous_vpn", "is_hosting_provider", "is_public_proxy",
                   "is_residential_proxy", "is_tor_exit_node")  # fmt: skip


def kind_of(database_type: str) -> str | None:
    t = database_type.lower()
    if "enterprise" in t:
        return "enterprise"
    if "anonymous-ip" in t:
        return "anonymous_ip"
    if "connection-type" in t:
        return "connection_type"
    if t.endswith("-isp") or "-isp-" in t:
        return "isp"
    if t.endswith("-asn") or "-asn-" in t:
        return "asn"
    if t.endswith("-domain"):
        return "domain"
    if "city" in t:
        return "city"
    if "country" in t:
        return "country"
    return None


_damaged: set[Path] = set()
PROBES = ("1.1.1.1", "8.8.8.8", "2001:4860:4860::8888")


@dataclass(frozen=True, slots=True)
class Database:
    path: Path
    kind: str
    database_type: str
    build: datetime
    node_count: int
    ip_version: int
    reader: Any  # maxminddb Reader

    def get(self, ip: IPAddress) -> dict[str, Any] | None:
        try:
            record = self.reader.get(ip)
        except ValueError:  # an IPv6 address against an IPv4-only database
            return None
        except maxminddb.InvalidDatabaseError as exc:  # damaged past the start-up probe
            if self.path not in _damaged:
                _damaged.add(self.path)
                log.warning("GeoIP database %s is damaged, lookups in it fail: %s", self.path, exc)
            return None
        return record if isinstance(record, dict) else None


def open_database(path: Path) -> Database:
    """Open one file or raise ValueError/OSError saying why it cannot be used."""
    try:
        reader = maxminddb.open_database(str(path), maxminddb.MODE_MMAP_EXT)
    except (ImportError, ValueError):  # no C extension on this platform: the pure-Python reader
        reader = maxminddb.open_database(str(path), maxminddb.MODE_MMAP)
    meta = reader.metadata()
    kind = kind_of(meta.database_type)
    if kind is None:
        reader.close()
        raise ValueError(f"unrecognised database_type {meta.database_type!r}")
    for probe in PROBES[: 2 if meta.ip_version == 4 else 3]:
        try:
            reader.get(probe)  # a damaged search tree fails here rather than on a visit
        except maxminddb.InvalidDatabaseError:
            reader.close()
            raise
    build = datetime.fromtimestamp(meta.build_epoch, UTC)
    return Database(path, kind, meta.database_type, build, meta.node_count, meta.ip_version, reader)


def _unusable(path: Path) -> str | None:
    """Why a path cannot be a database, before trying to open it."""
    if not path.exists():
        return "file not found"
    if path.is_dir():
        return "is a directory, not an .mmdb file"
    if not os.access(path, os.R_OK):
        return "permission denied"
    return None


def open_databases(
    paths: tuple[Path, ...], warn: bool = True
) -> tuple[list[Database], list[tuple[Path, str]]]:
    """Every file that opens, and (path, why) for every one that does not (logged if `warn`)."""
    opened: list[Database] = []
    failed: list[tuple[Path, str]] = []
    for path in paths:
        why = _unusable(path)
        if why is None:
            try:
                opened.append(open_database(path))
                continue
            except ValueError as exc:
                message = str(exc)
                why = message if "database_type" in message else _CORRUPT
            except (OSError, maxminddb.InvalidDatabaseError):
                why = _CORRUPT
        failed.append((path, why))
        if warn:
            log.warning("GeoIP database %s skipped: %s", path, why)
    return opened, failed


_CORRUPT = "not a valid MaxMind database (truncated download, or not an .mmdb file)"


# When two databases know the same thing, the richer one wins.
_ORDER = {k: i for i, k in enumerate(KINDS)}


class GeoIP:
    """All opened databases; `lookup(ip)` merges what each knows into one `NetworkInfo`."""

    def __init__(self, databases: list[Database]) -> None:
        self.databases = sorted(databases, key=lambda d: _ORDER[d.kind])

    def lookup(self, ip: IPAddress) -> NetworkInfo:
        f: dict[str, Any] = {}
        for db in self.databases:
            record = db.get(ip)
            if record is None:
                continue
            kind = db.kind
            if kind in ("enterprise", "city", "country"):
                _geo(record, f)
                if kind == "enterprise":
                    _traits(record.get("traits") or {}, f)
            elif kind in ("isp", "asn", "domain", "connection_type"):
                _traits(record, f)
            elif kind == "anonymous_ip" and any(record.get(flag) for flag in ANONYMOUS_FLAGS):
                f["anonymous"] = True
        return NetworkInfo(**f) if f else UNKNOWN

    def close(self) -> None:
        for db in self.databases:
            db.reader.close()


_TRAITS = {
    "autonomous_system_number": "asn",
    "autonomous_system_organization": "as_org",
    "isp": "isp",
    "organization": "organization",
    "domain": "domain",
    "connection_type": "connection_type",
    "user_type": "user_type",
}


def _traits(record: dict[str, Any], f: dict[str, Any]) -> None:
    for key, name in _TRAITS.items():
        value = record.get(key)
        if value and name not in f:
            f[name] = value if name == "asn" else str(value)
    if any(record.get(flag) for flag in ANONYMOUS_FLAGS):
        f["anonymous"] = True


def _name(record: Any) -> str:
    if isinstance(record, dict):
        names = record.get("names")
        if isinstance(names, dict):
            return str(names.get("en") or next(iter(names.values()), ""))
    return ""


def _geo(record: dict[str, Any], f: dict[str, Any]) -> None:
    if "country" not in f:
        country = record.get("country") or record.get("registered_country") or {}
        code = country.get("iso_code") if isinstance(country, dict) else None
        if code:
            f["country"] = str(code)
    if "city" not in f:
        city = _name(record.get("city"))
        if city:
            f["city"] = city
    if "region" not in f:
        subdivisions = record.get("subdivisions")
        if isinstance(subdivisions, list) and subdivisions:
            region = _name(subdivisions[0])
            if region:
                f["region"] = region
