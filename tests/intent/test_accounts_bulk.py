"""A CSV import parses column by column (intent.accounts.fields.parse_columns, for speed): it
must say exactly what parse_update says row by row — the same updates, the same first bad field
of each bad row, the same lines, the same later-row-wins for a repeated domain."""

from __future__ import annotations

import csv
import io
from typing import Any

from intent.accounts.csvfile import _mapping, header_key, parse_text
from intent.accounts.fields import FieldError, name_key, parse_update

LONG = "x" * 301
ROWS = [
    # Record ID, Company name, Company Domain Name, Website URL, Number of Employees,
    # Annual Revenue, Country/Region, Company owner, Lifecycle Stage, Industry
    ["1", "Acme, Inc.", "acme.com", "", "1,200", "$45,000,000", "United States", "ANN@OURCO.EXAMPLE", "Customer", "Internet"],
    ["2", "Globex", "", "https://www.globex.de/about", "250", "5M", "de", "Ann Smith", "Lead", ""],
    ["3", "No Domain", "", "", "lots", "", "", "", "", ""],  # two bad fields: the domain is named
    ["4", "Two Bad", "two.com", "", "lots", "", "Narnia", "", "", ""],  # employees before country
    ["5", "Narnia Co", "narnia.com", "", "12", "plenty", "Narnia", "", "", ""],  # revenue first
    ["6", "Tab\there", "tab.com", "", "²", "", "", "", "", ""],  # a superscript is no digit
    ["7", LONG, "long.com", "", "", "", "", "", "", ""],
    ["8", "Public", "co.uk", "", "", "", "", "", "", ""],
    ["9", "Mail", "ann@acme.com", "", "", "", "", "", "", ""],
    ["10", "Broken", "http://", "htp:/x", "", "", "", "", "", ""],
    ["11", "Acme again", "WWW.ACME.COM", "", "10000+", "1.2B", "UK", " BOB@OurCo.example ", "Opportunity", "Software"],
    ["12", "Short row", "short.io"],
    ["13", " Spaced ", " spaced.io ", "", " 1 200 ", " EUR 3.5k ", " germany ", "", "", ""],
    ["14", "Multi\nline", "multi.io", "", "-5", "", "", "", "", ""],
    ["15", "Zero", "zero.se", "", "0", "0", "SE", "", "", "\x07bell"],
    ["16", "Shop", "shop.acme.myshopify.com", "", "20000000", "", "", "", "", ""],
    ["17", "Bücher", "bücher.de", "", "٣", "١٢", "", "", "", ""],
    [],
    ["", "", "", "", "", "", "", "", "", ""],
    ["18", "Spaced only", "   ", "https://spaced-only.fr", "", "", "", "", "", ""],
]  # fmt: skip
HEADER = ["Record ID", "Company name", "Company Domain Name", "Website URL", "Number of Employees",
          "Annual Revenue", "Country/Region", "Company owner", "Lifecycle Stage", "Industry"]  # fmt: skip


def _row_by_row(text: str) -> tuple[list[tuple[int, str, dict[str, Any]]], list[tuple[int, str]]]:
    """The import as parse_update sees it, one record at a time."""
    reader = csv.reader(io.StringIO(text, newline=""))
    mapping: dict[str, list[tuple[int, str]]] = {}
    updates: dict[str, tuple[int, str, dict[str, Any]]] = {}
    errors, end = [], 0
    while True:
        start = end + 1
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            end = reader.line_num
            errors.append((start, f"not readable as CSV ({exc})"))
            continue
        end = reader.line_num
        if not "".join(cells).strip():
            continue
        if not mapping:
            mapping = _mapping(cells)
            continue
        raw = {}
        for name, cols in mapping.items():
            values = [cells[i].strip() for i, _h in cols if i < len(cells)]
            raw[name] = next((v for v in values if v), "")
        try:
            update = parse_update(raw)
        except FieldError as exc:
            errors.append(
                (start, f"{' / '.join(h for _i, h in mapping[exc.field])}: {exc.message}")
            )
            continue
        position = list(updates).index(update.domain) if update.domain in updates else None
        updates[update.domain] = (start, update.domain, update.values)
        if position is not None:  # the later row wins, in the earlier row's place
            assert list(updates)[position] == update.domain
    return list(updates.values()), errors


def test_column_by_column_says_what_row_by_row_says() -> None:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows([HEADER, *ROWS])
    huge = "9" * 140_000  # past the csv module's field limit: an unreadable record
    text = out.getvalue() + f'"19","Huge","huge.io","","{huge}"\n"20","After","after.io"\n'
    parsed = parse_text(text)
    want_updates, want_errors = _row_by_row(text)
    assert [(line, u.domain, u.values) for line, u in parsed.updates] == want_updates
    assert parsed.errors == want_errors
    # and what that is, so the reference itself is checked
    assert [domain for _l, domain, _v in want_updates] == [
        "acme.com", "globex.de", "short.io", "spaced.io", "zero.se", "xn--bcher-kva.de",
        "spaced-only.fr", "after.io"]  # fmt: skip
    assert parsed.repeated == 1
    assert parsed.updates[0][1].values["owner"] == "bob@ourco.example"  # row 11 replaced row 1
    assert parsed.updates[0][1].values["employees"] == 10000
    assert {u.domain: u.values["employees"] for _l, u in parsed.updates}["xn--bcher-kva.de"] == 3
    assert [(line, why.split(":")[0]) for line, why in parsed.errors] == [
        (4, "Company Domain Name / Website URL"), (5, "Number of Employees"),
        (6, "Annual Revenue"), (7, "Number of Employees"), (8, "Company name"),
        (9, "Company Domain Name / Website URL"), (10, "Company Domain Name / Website URL"),
        (11, "Company Domain Name / Website URL"), (15, "Number of Employees"),
        (18, "Number of Employees"), (23, "not readable as CSV (field larger than field limit (131072))"),
    ]  # fmt: skip


def test_header_keys_and_name_keys_are_unchanged_by_the_short_cuts() -> None:
    assert header_key("Number of Employees") == "numberofemployees"
    assert [name_key(n) for n in ("The Acme Company Ltd", "Acme S.A. de C.V.", "Acme de", "de",
                                  "The", "Company 5, Inc.")] == [
        "acme", "acme", "acme", "de", "the", "company-5"]  # fmt: skip
