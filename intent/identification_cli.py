"""The identification data from the command line: `intent ranges import|list` (the owner's own
IP ranges), `intent geoip check` (the MaxMind files) and `intent coverage` (the match rate)."""

from __future__ import annotations

import argparse
import ipaddress
import sys
from dataclasses import fields
from datetime import UTC, datetime
from typing import Any

from collector.enrich.coverage import coverage
from collector.enrich.geoip import GeoIP, open_databases
from collector.enrich.model import NetworkInfo
from collector.enrich.ranges import SELECT_RANGES, import_csv
from collector.enrich.traffic import classify
from collector.store import Store
from intent.ai_reads import ai_agent_reads
from intent.command import CliError, command_group, open_store, settings, site_arg

SAMPLE_IPS = ("8.8.8.8", "1.1.1.1", "81.2.69.142", "2001:4860:4860::8888")


def _ranges_store() -> Store:
    # While `intent serve` holds the embedded database, intent.cli.main forwards the command
    # to it (intent.forward), with the CSV's path made absolute.
    return open_store(settings(require_config=False))


def cmd_ranges_import(args: argparse.Namespace) -> int:
    store = _ranges_store()
    try:
        report = import_csv(store, args.file, replace=args.replace)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    *bad, summary = report.lines()
    for line in bad:
        print(line, file=sys.stderr)
    print(summary + (" (every other range removed)" if report.replaced else ""))
    print("a running server picks the change up within 30 seconds")
    return 1 if report.errors else 0


def cmd_ranges_list(args: argparse.Namespace) -> int:
    store = _ranges_store()
    rows = store.query(SELECT_RANGES)
    for cidr, domain, name in rows:
        print(f"{cidr},{domain},{name}")
    if not rows:
        print(
            "no company ranges (import some with `intent ranges import FILE.csv`)", file=sys.stderr
        )
    return 0


def cmd_geoip_check(args: argparse.Namespace) -> int:
    s = settings(require_config=False)
    if not s.geoip_paths:
        raise CliError("no databases configured: set INTENT_GEOIP_PATHS to your .mmdb files")
    databases, failed = open_databases(s.geoip_paths, warn=False)
    for db in databases:
        print(f"{db.path}: {db.database_type} ({db.kind}), built {db.build:%Y-%m-%d}, "
              f"{db.node_count} nodes, IPv{db.ip_version}")  # fmt: skip
        ip = _sample_ip(db, args.ip)
        if ip is None:
            print("  no sample address found in this database")
            continue
        found = GeoIP([db]).lookup(ip)
        facts = {k: v for k, v in _fields(found).items() if v}
        facts["class"] = classify(found)
        print(f"  {ip} -> " + ", ".join(f"{k} {v}" for k, v in facts.items()))
    for path, why in failed:
        print(f"{path}: FAILED, {why}")
    return 1 if failed else 0


def _fields(found: NetworkInfo) -> dict[str, Any]:
    """What the files know (the traffic class is printed apart, as `class`)."""
    return {f.name: getattr(found, f.name) for f in fields(found) if f.name not in _NOT_FOUND}


_NOT_FOUND = ("traffic_class", "fields")


def _sample_ip(db: Any, wanted: str | None) -> Any:
    """The address asked for, else a well-known one the file knows, else its first network."""
    candidates = [wanted] if wanted else list(SAMPLE_IPS)
    for text in candidates:
        try:
            ip = ipaddress.ip_address(text)
        except ValueError:
            raise CliError(f"--ip: not an IP address: {text!r}") from None
        if wanted or db.get(ip) is not None:
            return ip
    for network, _record in db.reader:
        address = network.network_address
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped
        return address
    return None


def cmd_coverage(args: argparse.Namespace) -> int:
    s = settings()
    site_arg(s, args.site)
    store = open_store(s)
    for line in coverage(store, args.site, args.days).lines():
        print(line)
    reads = ai_agent_reads(store, args.site, datetime.now(UTC).date(), args.days)
    if reads.total:  # AI agents browsing for a person: counted, never a company
        print(reads.summary(f"in the last {args.days} day(s)"))
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    ranges_sub = command_group(
        sub, "ranges", "your own IP ranges -> company (CRM knowledge)", metavar="COMMAND"
    )
    p = ranges_sub.add_parser("import", help="import FILE.csv with columns cidr,domain,name")
    p.add_argument("file")
    p.add_argument("--replace", action="store_true", help="remove every range not in this file")
    p.set_defaults(func=cmd_ranges_import)
    p = ranges_sub.add_parser("list", help="print the stored ranges as CSV")
    p.set_defaults(func=cmd_ranges_list)

    geoip_sub = command_group(sub, "geoip", "MaxMind databases", metavar="COMMAND")
    p = geoip_sub.add_parser("check", help="type, build date, size and a sample lookup per file")
    p.add_argument("--ip", help="look this address up instead of a sample")
    p.set_defaults(func=cmd_geoip_check)

    p = sub.add_parser("coverage", help="share of visits identified, by traffic class and source")
    p.add_argument("--site", required=True)
    p.add_argument("--days", type=int, default=7)
    p.set_defaults(func=cmd_coverage)
