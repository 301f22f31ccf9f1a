"""`make bench` cannot rot: every benchmark runs at a tiny size and yields numbers and a report.
No timing is asserted (shared, noisy machines); only that each figure was measured."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import report
from tests.bench.runner import run_bench


@pytest.mark.slow
def test_every_benchmark_runs_and_reports(tmp_path: Path) -> None:
    r, text = run_bench(tmp_path, "bench", "--smoke")
    ingest = r["ingest"]
    assert ingest["bare_rps"] > 0 and ingest["collector_rps"] > 0
    assert all(x["non_2xx"] == 0 and x["errors"] == 0 for x in ingest["collector_runs"])
    assert ingest["collector_accepted_events"] > 0 and ingest["collector_internal_errors"] == 0
    assert ingest["collector_rss_mb"] > 0
    assert ingest["latency"]["collector"]["statuses"] == {
        "202": ingest["latency"]["collector"]["sent"]
    }
    assert r["writer"]["rows_written"] == r["writer"]["rows"]
    assert r["writer"]["ceiling_rows_per_s"] > 0
    assert r["useragents"]["per_second"] > 0
    assert r["useragents"]["ua_parser_resolver"] == "ua_parser.regex.Resolver"  # the native one
    for size in r["scale"]["sizes"].values():
        assert size["events_rows"] > 0 and size["bytes_per_event"] > 0
        assert size["daily_activity_rows"] > 0 and size["daily_companies_rows"] > 0
        for q in ("companies_list", "company_page", "digest", "rescore_one"):
            assert size[q]["p95_ms"] > 0
    alerts = r["alerts"]  # every decisive event's webhook arrived, signed, idle and under load
    for phase in ("idle", "load"):
        assert alerts[phase]["arrived"] == alerts[phase]["companies"] >= 3
        assert 0 < alerts[phase]["p50_s"] <= alerts[phase]["p95_s"]
        assert alerts[phase]["rescore"]["passes"] > 0
    assert alerts["bad_signatures"] == 0
    assert set(alerts["load"]["traffic"]["statuses"]) == {"202"}
    accounts = r["accounts"]  # the CRM import: every good row added, then unchanged on re-import
    assert accounts["added"] == accounts["rows"] - accounts["bad_rows"] > 0
    assert accounts["unchanged_on_reimport"] == accounts["added"] and accounts["matched"] > 0
    assert accounts["rows_per_second"] > 0 and accounts["baseline_rows_per_second"] > 0
    statuses = {c["figure"]: c["status"] for c in r["checks"]}
    assert len(statuses) == len(r["checks"]) >= 13
    assert all(s in ("goal", "pass", "FAIL", "n/a") for s in statuses.values())
    assert "| 1 ingest throughput |" in text and "| 7 storage |" in text and "| 9 alerts |" in text
    assert "| 10 accounts |" in text
    assert report.table(r["checks"]).splitlines()[0] in text
