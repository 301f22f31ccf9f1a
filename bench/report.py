"""Turn the results into pass/fail checks against issue 8's bars, a console table, and
docs/benchmarks.md (the prose in bench/notes.md is appended as it is)."""

from __future__ import annotations

import os
import platform
import subprocess
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

PACKAGES = ("starlette", "uvicorn", "uvloop", "httptools", "chdb", "clickhouse-connect", "orjson",
            "ua-parser", "ua-parser-rs", "user-agents", "crawlerdetect", "geoip2")  # fmt: skip


def loadavg() -> list[float]:
    return list(os.getloadavg())


def speed_probe_ms() -> float:
    """A fixed pure-Python loop (min of 5), timed at the start and end of a run. The load average
    does not show a slow host: on this shared machine `python3 -c "sum(range(10**7))"` took 0.19 s
    of CPU at 15:30 UTC and 0.27 s at 16:50 (load average ~1.5 both times), and every figure of a
    run moved with it (the bare app's CPU per request 34 -> 54 µs)."""
    best = float("inf")
    for _ in range(5):
        started = time.process_time()
        total = 0
        for i in range(2_000_000):
            total += i
        best = min(best, time.process_time() - started)
    return best * 1000


def machine() -> dict[str, Any]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "-"
    try:
        wrk = subprocess.run(
            ["wrk", "-v"], capture_output=True, text=True, check=False
        ).stdout.split("\n")[0]
    except OSError:
        wrk = "-"
    versions["wrk"] = wrk.strip()
    versions["python"] = platform.python_version()
    return {"date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "cpu": cpu, "cores": os.cpu_count(),
            "memory_gb": round(mem_gb, 1), "os": platform.platform(), "versions": versions}  # fmt: skip


def _check(name: str, figure: str, value: float | None, bar: float, goal: float, higher: bool,
           unit: str, detail: str = "") -> dict[str, Any]:  # fmt: skip
    if value is None:
        status = "n/a"
    elif (value >= goal) if higher else (value <= goal):
        status = "goal"
    elif (value >= bar) if higher else (value <= bar):
        status = "pass"
    else:
        status = "FAIL"
    sign = ">=" if higher else "<="
    return {"benchmark": name, "figure": figure, "value": value, "unit": unit, "status": status,
            "bar": f"{sign} {bar:g}{unit}", "goal": f"{sign} {goal:g}{unit}", "detail": detail}  # fmt: skip


def checks(r: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    if "ingest" in r:
        i = r["ingest"]
        out.append(_check("1 ingest throughput", "collector / bare req/s", i["ratio"], 0.35, 0.60, True, "",
                          f"{i['collector_rps']:.0f} / {i['bare_rps']:.0f} req/s; CPU per request "
                          f"{i['collector_cpu_us_per_request']:.0f} vs {i['bare_cpu_us_per_request']:.0f} µs "
                          f"(CPU ratio {i['cpu_ratio']:.2f}); per round "
                          + ", ".join(f"{x:.2f}" for x in i["ratio_per_round"])))  # fmt: skip
        lat = i["latency"]["collector"]
        floor = i["latency"]["generator_floor_bare"]
        out.append(_check("2 latency", f"p99 at {lat['rate']:.0f} events/s", lat["p99_ms"], 25, 10, False, " ms",
                          f"p50 {lat['p50_ms']:.1f} ms, achieved {lat['achieved_rate']:.0f}/s; generator floor "
                          f"(bare app) p99 {floor['p99_ms']:.1f} ms; disk fsync p50/p99 {i['fsync_ms']['p50']:.2f}/"
                          f"{i['fsync_ms']['p99']:.1f} ms; collector used {i['latency']['collector_cpu_share']:.0%} of a "
                          f"core at load average {i['latency']['load_average']:.1f}"))  # fmt: skip
        out.append(_check("6 memory", "collector RSS after throughput runs", i["collector_rss_mb"], 400, 250,
                          False, " MB", f"idle {i['collector_rss_mb_idle']:.0f} MB; after the last run "
                          f"{i['collector_rss_anon_mb']:.0f} MB heap + {i['collector_rss_file_mb']:.0f} MB mapped "
                          "files (chDB's library); per run "
                          + ", ".join(f"{x:.0f}" for x in i["collector_rss_mb_after_runs"])))  # fmt: skip
    if "writer" in r:
        w = r["writer"]
        out.append(_check("3 writer", "spool->ClickHouse / INSERT SELECT rows/s", w["ratio"], 0.10, 0.25, True, "",
                          f"{w['writer_rows_per_s']:,.0f} / {w['ceiling_rows_per_s']:,.0f} rows/s"))  # fmt: skip
    if "useragents" in r:
        u = r["useragents"]
        out.append(_check("4 user agents", "unique agents parsed/s (cold)", u["per_second"], 5000, 20000, True, "/s",
                          f"before this work: {u['previous_per_second']:,.0f}/s"))  # fmt: skip
        if "corpora" in u:  # issue 16: tests/collector/agents/README.md
            c = u["corpora"]
            recall, fp = c["crawler_recall"], c["browser_false_positives"]
            out.append(_check("4 user agents", "crawler agents dropped", 100 * recall["share"], 98, 99, True, " %",
                              f"{recall['hits']:,} of {recall['n']:,}; AI agents recognised "
                              f"{c['ai_agents_recognised']['hits']} of {c['ai_agents_recognised']['n']}"))  # fmt: skip
            out.append(_check("4 user agents", "browser agents dropped", 100 * fp["share"], 0.5, 0.25, False, " %",
                              f"{fp['hits']:,} of {fp['n']:,}"))  # fmt: skip
    if "scale" in r:
        sizes = r["scale"]["sizes"]
        keys = sorted(sizes, key=int)
        small, big = sizes[keys[0]], sizes[keys[-1]]
        label = f"{int(keys[-1]):,}"
        for q in ("companies_list", "company_page", "digest"):
            out.append(_check("5 queries", f"{q} p95 at {label}", big[q]["p95_ms"], 200, 50, False, " ms",
                              f"at {int(keys[0]):,}: {small[q]['p95_ms']:.1f} ms"))  # fmt: skip
            ratio = big[q]["p95_ms"] / max(small[q]["p95_ms"], 1e-6)
            out.append(
                _check(
                    "5 queries", f"{q} p95 {label} / {int(keys[0]):,}", ratio, 3, 1.5, False, "×"
                )
            )
        out.append(_check("7 storage", f"bytes per event at {label}", big["bytes_per_event"], 80, 40, False, " B",
                          f"{big['events_parts']} active parts"))  # fmt: skip
        if "rescore_one" in big:
            out.append(_check("9 alerts", f"re-score one marked company p95 at {label}", big["rescore_one"]["p95_ms"],
                              2000, 250, False, " ms", f"at {int(keys[0]):,}: {small['rescore_one']['p95_ms']:.0f} ms; "
                              f"every company (score_site): {big['score_site_ms']:.0f} ms"))  # fmt: skip
    if "alerts" in r:
        a = r["alerts"]
        for phase, label in (("idle", "idle"), ("load", f"at {a['rate']:.0f} requests/s")):
            x = a[phase]
            out.append(_check("9 alerts", f"decisive event -> webhook p95, {label}", x["p95_s"], 300, 10, False,
                              " s", f"p50 {x['p50_s']:.2f} s, max {x['max_s']:.2f} s, {x['arrived']} of "
                              f"{x['companies']} companies; mean re-scoring pass "
                              f"{x['rescore']['mean_pass_s'] * 1000:.0f} ms"))  # fmt: skip
    if "accounts" in r:
        a = r["accounts"]
        out.append(_check("10 accounts", f"CRM import of {a['rows']:,} rows: seconds", a["import_s"], 20, 5, False,
                          " s", f"{a['rows_per_second']:,.0f} rows/s; CPU {a['import_cpu_s']:.1f} s; re-import "
                          f"{a['reimport_s']:.1f} s; attach 1,000 companies {a['attach_1000_ms']:.0f} ms"))  # fmt: skip
        out.append(_check("10 accounts", "import / raw csv+insert rows/s", a["ratio"], 0.10, 0.30, True, "",
                          f"{a['rows_per_second']:,.0f} / {a['baseline_rows_per_second']:,.0f} rows/s"))  # fmt: skip
    if "snippet" in r:
        s = r["snippet"]
        out.append(_check("8 snippet", "intent.js gzipped (-9)", s["gzip_bytes"], 1024, 800, False, " B",
                          f"{s['bytes']} bytes minified"))  # fmt: skip
    return out


def fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def head(*columns: str) -> list[str]:
    """A Markdown table's header and rule lines."""
    return ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]


def table(rows: list[dict[str, Any]]) -> str:
    lines = head("benchmark", "figure", "value", "bar", "goal", "status", "detail")
    for c in rows:
        lines.append(f"| {c['benchmark']} | {c['figure']} | {fmt(c['value'])}{c['unit']} | {c['bar']} | "
                     f"{c['goal']} | {c['status']} | {c['detail']} |")  # fmt: skip
    return "\n".join(lines)


def markdown(r: dict[str, Any]) -> str:
    m = r["machine"]
    versions = ", ".join(f"{k} {v}" for k, v in m["versions"].items())
    lb, la = r.get("load_before", []), r.get("load_after", [])
    parts = [
        "# Benchmarks",
        "",
        "Generated by `make bench` (`python -m bench`); do not edit by hand: the prose at the end comes "
        "from bench/notes.md. Raw numbers: docs/benchmarks.json.",
        "",
        f"- run: {m['date']}, mode {r['mode']}, took {r['elapsed_s']:.0f} s",
        f"- machine: {m['cores']} cores ({m['cpu']}), {m['memory_gb']} GB, {m['os']}",
        f"- load average (1/5/15 min) before: {' / '.join(f'{x:.1f}' for x in lb)}, after: "
        f"{' / '.join(f'{x:.1f}' for x in la)} — a shared machine: other processes compete for the "
        "same 2 cores, so absolute figures are noisy; ratios against a same-run baseline much less so.",
        f"- speed probe (a fixed Python loop; lower is faster) before: {r.get('probe_before_ms', 0):.0f} ms, "
        f"after: {r.get('probe_after_ms', 0):.0f} ms — the host's speed drifts by half between hours.",
        f"- versions: {versions}",
        "",
        table(r["checks"]),
        "",
    ]
    parts += _details(r)
    notes = Path(__file__).with_name("notes.md")
    if notes.exists():
        parts += ["", notes.read_text(encoding="utf-8").rstrip(), ""]
    return "\n".join(parts) + "\n"


def _details(r: dict[str, Any]) -> list[str]:
    out = ["## Details", ""]
    if "ingest" in r:
        i = r["ingest"]
        out.append(f"**Ingest** (wrk -t1 -c{i['connections']}, {i['seconds_per_run']:g} s per run, "
                   f"{i['rounds']} alternating rounds, median; {i['unique_agent_share']:.0%} of requests carry a "
                   "never-seen user agent; X-Forwarded-For addresses from the test GeoIP ranges):")  # fmt: skip
        out.append("")
        out += head(
            "run", "server", "req/s", "CPU µs/request", "p50 ms", "p99 ms", "non-2xx", "errors"
        )
        for n, (b, c) in enumerate(zip(i["bare_runs"], i["collector_runs"], strict=True), 1):
            for name, x in (("bare", b), ("collector", c)):
                out.append(f"| {n} | {name} | {x['rps']:,.0f} | {x['cpu_us_per_request']:.0f} | {x['p50_ms']:.1f} | "
                           f"{x['p99_ms']:.1f} | {x['non_2xx']} | {x['errors']} |")  # fmt: skip
        out.append("")
        out.append(f"The collector accepted {i['collector_accepted_events']:,.0f} events, dropped "
                   f"{i['collector_dropped_events']:,.0f} (bots, hosting), wrote {i['collector_rows_written']:,.0f} "
                   f"rows to ClickHouse, internal errors {i['collector_internal_errors']:.0f}.")  # fmt: skip
        out.append("")
        lat, floor = i["latency"]["collector"], i["latency"]["generator_floor_bare"]
        out.append("**Latency** (open loop: requests are due at fixed times and latency counts from the due "
                   "time, so a stalled server cannot hide queueing):")  # fmt: skip
        out.append("")
        out += head("target", "rate", "seconds", "sent", "p50 ms", "p99 ms", "max ms",
                    "generator send lag p99 ms", "generator CPU share", "statuses")  # fmt: skip
        for name, x in (("bare (generator floor)", floor), ("collector", lat)):
            out.append(f"| {name} | {x['rate']:.0f}/s | {x['seconds']:g} | {x['sent']:,} | {x['p50_ms']:.1f} | "
                       f"{x['p99_ms']:.1f} | {x['max_ms']:.1f} | {x['send_lag_p99_ms']:.1f} | "
                       f"{x['generator_cpu_share']:.0%} | {x['statuses']} |")  # fmt: skip
        out.append("")
    if "writer" in r:
        w = r["writer"]
        out.append(f"**Writer**: {w['rows']:,} pipeline-made rows in {w['rows'] // max(1, w['segment_rows'])} "
                   f"spool segments of {w['segment_rows']:,} rows through `Writer.send_sealed` "
                   f"({w['rows_written']:,} rows landed) vs `INSERT INTO events SELECT … FROM numbers` of the same "
                   "count; the rollup materialized views fire for both.")  # fmt: skip
        out.append("")
    if "useragents" in r:
        u = r["useragents"]
        out.append(f"**User agents**: {u['agents']:,} never-seen agents through `collector.useragent.parse` "
                   f"with its cache cleared; ua-parser resolver: `{u['ua_parser_resolver']}`.")  # fmt: skip
        if "corpora" in u:
            out.append("")
            out.append(f"**Bot filter** over the agent corpora (tests/collector/agents/README.md): "
                       f"{u['corpora']['summary']}.")  # fmt: skip
        out.append("")
    if "scale" in r:
        out.append("**Queries at scale** (one site grown to each size by INSERT…SELECT; 30 days, 2,000 "
                   "companies with cubic skew, 40 % unidentified traffic; p95 of repeated runs after one "
                   "warm-up):")  # fmt: skip
        out.append("")
        out += head("events", "insert s", "score_site ms", "companies list p95", "company page p95",
                    "digest p95", "bytes/event", "parts", "daily_activity rows",
                    "daily_companies rows")  # fmt: skip
        src = ""
        for key, s in sorted(r["scale"]["sizes"].items(), key=lambda kv: int(kv[0])):
            src = s["digest_source"]
            out.append(f"| {int(key):,} | {s['insert_s']:.1f} | {s['score_site_ms']:.0f} | "
                       f"{s['companies_list']['p95_ms']:.1f} ms | {s['company_page']['p95_ms']:.1f} ms | "
                       f"{s['digest']['p95_ms']:.1f} ms | {s['bytes_per_event']:.1f} | {s['events_parts']} | "
                       f"{s['daily_activity_rows']:,} | {s['daily_companies_rows']:,} |")  # fmt: skip
        out.append("")
        if all("rescore_one" in s for s in r["scale"]["sizes"].values()):
            out.append("Re-scoring one marked company (`score_site` restricted to the busiest company, as the "
                       "incremental run does; its snapshot row written): p95 "
                       + ", ".join(f"{s['rescore_one']['p95_ms']:.0f} ms at {int(k):,}"
                                   for k, s in sorted(r["scale"]["sizes"].items(), key=lambda kv: int(kv[0])))
                       + " events.")  # fmt: skip
            out.append("")
        out.append(f"Companies list: `intent.api.list_companies`; company page: `intent.api.company_profile` "
                   f"(busiest company, 30 days); digest: {src}. `score_site` (intent.scoring) runs once per size "
                   "first, filling company_scores.")  # fmt: skip
        out.append("")
    if "alerts" in r:
        a = r["alerts"]
        out.append(f"**Alerts** (bench/alerts.py: the real server, a signed webhook to a receiver on loopback; "
                   f"{a['companies_per_phase']} companies per phase made warm first, then one demo request each, "
                   "a second apart, makes it hot; latency = that POST sent -> `company.became_hot` received):")  # fmt: skip
        out.append("")
        out += head("phase", "companies", "arrived", "p50 s", "p95 s", "max s", "re-scoring passes",
                    "mean pass ms")  # fmt: skip
        for phase in ("idle", "load"):
            x = a[phase]
            out.append(f"| {phase} | {x['companies']} | {x['arrived']} | {x['p50_s']:.2f} | {x['p95_s']:.2f} | "
                       f"{x['max_s']:.2f} | {x['rescore']['passes']:.0f} | {x['rescore']['mean_pass_s'] * 1000:.0f} |")  # fmt: skip
        t = a["load"]["traffic"]
        out.append("")
        out.append(f"Background traffic during the load phase: {t['achieved_rate']:.0f} requests/s for "
                   f"{t['seconds']:g} s (p99 {t['p99_ms']:.1f} ms, statuses {t['statuses']}).")  # fmt: skip
        out.append("")
    return out
