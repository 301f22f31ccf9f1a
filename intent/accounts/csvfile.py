"""Read a CRM export (HubSpot, Salesforce, or a plain `domain,name,...` file) into account
updates, each with the line it came from; a bad row is reported by line number and skipped.

Headers are matched by name, ignoring case, spaces and punctuation (`Number of Employees`,
`NumberOfEmployees` and `number_of_employees` are one). A field several columns can fill (a
HubSpot row's `Company Domain Name`, else its `Website URL`) takes the first non-empty one in
the order of COLUMNS. Text is UTF-8 with or without a BOM, UTF-16 with a BOM, else Windows-1252
(Excel's "CSV" on Windows); the delimiter is the header line's commonest of `,` `;` tab.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

from intent.accounts.bulk import collector_paused
from intent.accounts.fields import AccountUpdate, FieldError, parse_columns

# Field -> the normalised headers that fill it, the preferred first.
COLUMNS: dict[str, tuple[str, ...]] = {
    "domain": ("domain", "companydomainname", "domainname", "companydomain", "website",
               "websiteurl", "url", "web"),
    "name": ("name", "companyname", "accountname", "company", "organization", "organisation"),
    "industry": ("industry",),
    "employees": ("employees", "numberofemployees", "employeecount", "noofemployees"),
    "revenue": ("revenue", "annualrevenue"),
    "country": ("country", "countryregion", "billingcountry", "billingcountrycode", "countrycode"),
    "owner": ("owner", "companyowner", "accountowner", "owneremail", "ownername",
              "accountownername", "hubspotowner"),
    "stage": ("stage", "lifecyclestage", "type", "accounttype"),
    "crm_id": ("crmid", "recordid", "accountid", "id", "companyid", "hubspotid"),
}  # fmt: skip
_NOT_ALNUM = re.compile(r"[^a-z0-9]+")
MAX_BYTES = 512 * 1024 * 1024


@dataclass
class ParsedFile:
    updates: list[tuple[int, AccountUpdate]] = field(default_factory=list)  # (line, update)
    errors: list[tuple[int, str]] = field(default_factory=list)  # (line, why)
    columns: dict[str, list[str]] = field(default_factory=dict)  # field -> headers read
    repeated: int = 0  # rows whose domain an earlier row had (the later row wins)


def header_key(header: str) -> str:
    return _NOT_ALNUM.sub("", header.casefold())


def decode(data: bytes) -> str:
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:  # five bytes cp1252 leaves undefined: Latin-1 takes every byte
        return data.decode("latin-1")


def read_file(path: Path | str) -> ParsedFile:
    """ValueError (one line) when the file cannot be read or has no domain column."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_BYTES + 1)
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror}") from None
    if len(data) > MAX_BYTES:
        raise ValueError(f"{path} is larger than {MAX_BYTES // 1024 // 1024} MiB")
    with collector_paused():
        return parse_text(decode(data))


def _delimiter(header_line: str) -> str:
    counts = {d: header_line.count(d) for d in (",", ";", "\t")}
    return max(counts, key=lambda d: counts[d]) if any(counts.values()) else ","


def _mapping(headers: list[str]) -> dict[str, list[tuple[int, str]]]:
    """Field -> [(column index, header as written)], in COLUMNS' order of preference."""
    keys = [header_key(h) for h in headers]
    out: dict[str, list[tuple[int, str]]] = {}
    for name, wanted in COLUMNS.items():
        found = [(keys.index(w), headers[keys.index(w)].strip()) for w in wanted if w in keys]
        if found:
            out[name] = found
    return out


def _columns(
    records: list[list[str]], mapping: dict[str, list[tuple[int, str]]]
) -> dict[str, list[str]]:
    """Field -> each record's value: the first non-empty of its columns, stripped ('' when all
    are empty or missing). Records are turned into columns once (zip), not cell by cell."""
    width = max(i for cols in mapping.values() for i, _h in cols) + 1
    padded = [r if len(r) >= width else r + [""] * (width - len(r)) for r in records]
    cells = list(zip(*padded, strict=False)) if padded else [()] * width
    out: dict[str, list[str]] = {}
    for name, cols in mapping.items():
        value = list(map(str.strip, cells[cols[0][0]]))
        for i, _header in cols[1:]:
            value = [a or b for a, b in zip(value, map(str.strip, cells[i]), strict=True)]
        out[name] = value
    return out


def parse_text(text: str) -> ParsedFile:
    lines = io.StringIO(text, newline="")
    first = next((line for line in io.StringIO(text) if line.strip()), "")
    reader = csv.reader(lines, delimiter=_delimiter(first))
    result = ParsedFile()
    mapping: dict[str, list[tuple[int, str]]] | None = None
    starts: list[int] = []  # each record's first line
    records: list[list[str]] = []
    end = 0
    while True:
        start = end + 1
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            end = reader.line_num
            result.errors.append((start, f"not readable as CSV ({exc})"))
            continue
        end = reader.line_num
        if not "".join(cells).strip():
            continue
        if mapping is None:
            mapping = _mapping(cells)
            if "domain" not in mapping:
                wanted = "Domain, Company Domain Name, Website URL or Website"
                raise ValueError(f"line {start}: no domain column (expected {wanted})")
            result.columns = {name: [h for _i, h in cols] for name, cols in mapping.items()}
            continue
        starts.append(start)
        records.append(cells)
    if mapping is None:
        raise ValueError("the file is empty (expected a header row, then one account a line)")
    by_domain: dict[str, int] = {}  # domain -> its index in result.updates
    for start, update in zip(starts, parse_columns(_columns(records, mapping)), strict=True):
        if isinstance(update, FieldError):
            column = " / ".join(result.columns.get(update.field, [update.field]))
            result.errors.append((start, f"{column}: {update.message}"))
        elif update.domain in by_domain:
            result.repeated += 1
            result.updates[by_domain[update.domain]] = (start, update)
        else:
            by_domain[update.domain] = len(result.updates)
            result.updates.append((start, update))
    result.errors.sort(key=lambda error: error[0])  # unreadable records were noted first
    return result
