"""The site owner's own IP ranges -> company: CSV import into `company_ranges`, and an
in-memory longest-prefix lookup the collector builds from that table.

CSV columns: cidr, domain, name (a header row is optional). IPv4 and IPv6. A bad row is
reported with its line number and skipped; the good rows are kept. Re-importing a CIDR
replaces it; `replace=True` makes the file the whole list.
"""

from __future__ import annotations

import csv
import ipaddress
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from collector.clientip import IPAddress
from collector.enrich.model import Company
from collector.enrich.names import company_key, valid_domain
from collector.store import Store

log = logging.getLogger("intent.enrich")

SOURCE = "ranges"
CONFIDENCE = 0.95  # the owner's CRM knowledge; only an identify (1.0) is surer

SELECT_RANGES = "SELECT cidr, domain, name FROM company_ranges FINAL ORDER BY cidr"
RANGES_VERSION = "SELECT count(), max(updated_at) FROM company_ranges"
DELETE_OLDER = (
    "ALTER TABLE company_ranges DELETE WHERE updated_at < toDateTime64({before:String}, 3, 'UTC')"
)
MAX_NAME = 200


@dataclass(frozen=True, slots=True)
class Range:
    network: ipaddress.IPv4Network | ipaddress.IPv6Network
    domain: str
    name: str

    def company(self) -> Company:
        return Company(
            company_key(self.domain, self.name), self.domain, self.name, SOURCE, CONFIDENCE
        )


@dataclass
class ImportReport:
    imported: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)  # (line number, why)
    replaced: bool = False

    def lines(self) -> list[str]:
        out = [f"line {n}: {why}" for n, why in self.errors]
        skipped = f", skipped {len(self.errors)} bad row(s)" if self.errors else ""
        out.append(f"imported {self.imported} range(s){skipped}")
        return out


def parse_row(cells: list[str]) -> Range:
    """One CSV row -> Range, or ValueError saying what is wrong with it."""
    if len(cells) < 2:
        raise ValueError("expected cidr,domain,name")
    if len(cells) > 3:
        raise ValueError(f"expected 3 columns (cidr,domain,name), got {len(cells)}")
    raw_cidr, raw_domain = cells[0].strip(), cells[1].strip()
    name = cells[2].strip() if len(cells) > 2 else ""
    try:
        network = ipaddress.ip_network(raw_cidr, strict=False)
    except ValueError:
        raise ValueError(f"not an IP range: {raw_cidr!r}") from None
    if isinstance(network, ipaddress.IPv6Network) and network.network_address.ipv4_mapped:
        raise ValueError(f"write IPv4 ranges as IPv4, not {raw_cidr!r}")
    domain = valid_domain(raw_domain) if raw_domain else ""
    if raw_domain and not domain:
        raise ValueError(f"not a domain name: {raw_domain!r}")
    if len(name) > MAX_NAME:
        raise ValueError(f"name longer than {MAX_NAME} characters")
    if not domain and not name:
        raise ValueError("needs a domain or a name")
    return Range(network, domain, name)


def parse_csv(lines: Iterable[str]) -> tuple[list[Range], list[tuple[int, str]]]:
    ranges: list[Range] = []
    errors: list[tuple[int, str]] = []
    reader = csv.reader(lines)
    for cells in reader:
        line = reader.line_num
        if not cells or all(not c.strip() for c in cells) or cells[0].lstrip().startswith("#"):
            continue
        if not ranges and not errors and cells[0].strip().lower() == "cidr":
            continue  # header
        try:
            ranges.append(parse_row(cells))
        except ValueError as exc:
            errors.append((line, str(exc)))
    return ranges, errors


def import_csv(store: Store, path: Path | str, replace: bool = False) -> ImportReport:
    """Store the good rows of a CSV file; report the bad ones by line number."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            ranges, errors = parse_csv(f)
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not UTF-8 text") from None
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror}") from None
    report = ImportReport(errors=errors)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    unique = {str(r.network): r for r in ranges}  # a CIDR listed twice: the later row wins
    store.insert_rows(
        "company_ranges",
        [
            {"cidr": c, "domain": r.domain, "name": r.name, "updated_at": stamp}
            for c, r in unique.items()
        ],
    )
    report.imported = len(unique)
    if replace:
        store.command(DELETE_OLDER, {"before": stamp}, settings={"mutations_sync": 2})
        report.replaced = True
    return report


def load(store: Store) -> RangeTable:
    ranges = []
    for cidr, domain, name in store.query(SELECT_RANGES):
        try:  # rows come from import_csv; one written by hand may be wrong: skip it
            ranges.append(Range(ipaddress.ip_network(cidr), domain, name))
        except ValueError:
            log.warning("company_ranges: skipping %r, not an IP range", cidr)
    return RangeTable(ranges)


def version(store: Store) -> tuple[int, str]:
    """Changes whenever an import or a deletion changed the table."""
    count, latest = store.query(RANGES_VERSION)[0]
    return int(count), str(latest)


class RangeTable:
    """Longest-prefix match: one dict per prefix length, longest first. A lookup is a few
    shifts and dict probes, whatever the number of ranges."""

    def __init__(self, ranges: Iterable[Range] = ()) -> None:
        by_len: dict[tuple[int, int], dict[int, Company]] = {}
        count = 0
        for r in ranges:
            net = r.network
            shift = net.max_prefixlen - net.prefixlen
            by_len.setdefault((net.version, net.prefixlen), {})[
                int(net.network_address) >> shift
            ] = r.company()
            count += 1
        longest_first = sorted(by_len.items(), reverse=True)
        self._v4 = [(32 - p, table) for (v, p), table in longest_first if v == 4]
        self._v6 = [(128 - p, table) for (v, p), table in longest_first if v == 6]
        self.count = count

    def __len__(self) -> int:
        return self.count

    def lookup(self, ip: IPAddress | None) -> Company | None:
        if ip is None:
            return None
        tables = self._v4 if ip.version == 4 else self._v6
        value = int(ip)
        for shift, table in tables:
            found = table.get(value >> shift)
            if found is not None:
                return found
        return None
