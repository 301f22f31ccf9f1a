"""Accounts import (issue 14: "100,000 rows import in seconds"): a HubSpot-like companies export
of N rows, read, checked and upserted into a fresh embedded ClickHouse, then imported again
(every account unchanged), then attached to 1,000 identified companies. `import_cpu_s` is the
process's CPU time for the first import (chDB's threads included): on a shared, loaded machine it
says more than the wall time; `probe_ms` (bench.report's fixed loop, before and after) says how
loaded the machine was.

Opens chDB, so it runs in a process of its own: `python -m bench --part accounts` once
bench/__main__.py's run_part knows it (`accounts.run(workdir, size["account_rows"])`).
"""

from __future__ import annotations

import csv
import random
import time
from pathlib import Path
from typing import Any

from bench.report import speed_probe_ms
from collector.settings import Settings
from collector.site_settings import SiteConfig
from collector.store import connect
from intent.accounts.csvfile import read_file
from intent.accounts.matching import attach_accounts
from intent.accounts.table import upsert
from intent.migrate import migrate

HEADER = ["Record ID", "Company name", "Company Domain Name", "Website URL", "Industry",
          "Number of Employees", "Annual Revenue", "Country/Region", "Company owner",
          "Lifecycle Stage", "Create Date"]  # fmt: skip
INDUSTRIES = ["Computer Software", "Internet", "Financial Services", "Machinery", "Retail",
              "Hospital & Health Care", "Marketing and Advertising", "COMPUTER_SOFTWARE"]  # fmt: skip
COUNTRIES = ["United States", "Germany", "United Kingdom", "France", "US", "GB", "Netherlands",
             "Sweden", "Canada", "Japan", "Brazil", "India"]  # fmt: skip
OWNERS = ["Ann Smith", "Bob Jones", "Carla Díaz", "dee@ourco.example", ""]
STAGES = ["Lead", "Subscriber", "Opportunity", "Customer", "Sales Qualified Lead", "Other"]
SUFFIXES = ["Inc.", "GmbH", "Ltd", "LLC", "S.A.", "AB", "Corp."]
TLDS = ["com", "de", "co.uk", "fr", "io", "com.br", "se", "ca"]
FIT = {
    "industries": ["Computer Software", "Internet"],
    "employees": [50, 5000],
    "countries": ["US", "GB"],
}


def write_export(path: Path, rows: int, seed: int = 14) -> int:
    """A HubSpot export: UTF-8 with a BOM, quoted commas, URLs and bare domains, one bad row in
    500 (no domain, or employees 'lots'). Returns the number of bad rows written."""
    rng = random.Random(seed)
    bad = 0
    with open(path, "w", encoding="utf-8-sig", newline="") as f:
        out = csv.writer(f, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
        out.writerow(HEADER)
        for i in range(rows):
            stem = f"company{i}"
            domain = f"{stem}.{rng.choice(TLDS)}"
            bare, url = (domain, "") if rng.random() < 0.6 else ("", f"https://www.{domain}/")
            employees = f"{rng.randint(1, 20000):,}"
            if i % 500 == 499:
                bad += 1
                if i % 1000 == 999:
                    bare = url = ""
                else:
                    employees = "lots"
            out.writerow([str(5_000_000 + i), f"Company {i}, {rng.choice(SUFFIXES)}", bare, url,
                          rng.choice(INDUSTRIES), employees, str(rng.randint(0, 10**9)),
                          rng.choice(COUNTRIES), rng.choice(OWNERS), rng.choice(STAGES),
                          "2025-03-01 10:00"])  # fmt: skip
    return bad


def run(workdir: Path, rows: int) -> dict[str, Any]:
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "companies.csv"
    bad = write_export(path, rows)
    url = f"chdb://{workdir / 'clickhouse'}"
    store = connect(url)
    migrate(store, Settings(config_path=workdir / "unused.toml", clickhouse_url=url))

    probe_before = speed_probe_ms()
    started, cpu = time.perf_counter(), time.process_time()
    parsed = read_file(path)
    read_s = time.perf_counter() - started
    changes = upsert(store, "bench", [u for _line, u in parsed.updates])
    first_s, first_cpu = time.perf_counter() - started, time.process_time() - cpu

    started = time.perf_counter()
    again = upsert(store, "bench", [u for _line, u in read_file(path).updates])
    reimport_s = time.perf_counter() - started

    # Same-run baseline: the file read by the csv module and inserted as it is (no checks, no
    # domain reduction, no diff against stored accounts), into another site's rows.
    started = time.perf_counter()
    with open(path, encoding="utf-8-sig", newline="") as f:
        raw = [dict(zip(("crm_id", "name", "domain", "website", "industry", "employees",
                         "revenue", "country", "owner", "stage", "created"), r, strict=False))
               for r in list(csv.reader(f))[1:]]  # fmt: skip
    store.insert_rows("accounts", [
        {"site": "baseline", "domain": r["domain"] or r["website"], "name": r["name"],
         "name_key": "", "industry": r["industry"], "employees": None, "revenue": None,
         "country": "", "owner": r["owner"], "stage": r["stage"], "crm_id": r["crm_id"],
         "updated_at": "2026-01-01 00:00:00.000"} for r in raw
    ])  # fmt: skip
    baseline_s = time.perf_counter() - started

    site = SiteConfig(
        "bench", ("bench.example",), owners={"Ann Smith": "ann@ourco.example"}, fit=FIT
    )
    companies = [{"company_domain": f"www.company{i * 97 % rows}.com", "company_name": f"Company {i}",
                  "country": "US"} for i in range(1000)]  # fmt: skip
    started = time.perf_counter()
    attach_accounts(store, site, companies)
    attach_ms = (time.perf_counter() - started) * 1000
    return {
        "probe_ms": [probe_before, speed_probe_ms()],
        "rows": rows, "bad_rows": len(parsed.errors), "bad_rows_written": bad,
        "added": len(changes.added), "unchanged_on_reimport": again.unchanged,
        "read_s": read_s, "import_s": first_s, "import_cpu_s": first_cpu,
        "rows_per_second": rows / first_s, "baseline_rows_per_second": rows / baseline_s,
        "ratio": baseline_s / first_s,
        "reimport_s": reimport_s, "file_mb": path.stat().st_size / 1e6,
        "attach_1000_ms": attach_ms, "matched": sum(1 for c in companies if c["account"]),
    }  # fmt: skip
