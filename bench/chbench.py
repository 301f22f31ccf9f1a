"""Benchmarks that open an embedded ClickHouse (each runs in a subprocess of its own: chDB opens
one database path per process): 3. writer, 5. queries at scale, 7. storage."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import orjson

from bench import datagen, workload
from collector.settings import Settings
from collector.site_settings import SiteConfig
from collector.store import Store, ch_time, connect
from intent.migrate import migrate

PARTS = """
SELECT sum(bytes_on_disk), sum(rows), count()
FROM system.parts
WHERE active AND database = currentDatabase() AND table = {table:String}
"""


def _open(workdir: Path) -> Store:
    url = f"chdb://{workdir / 'clickhouse'}"
    store = connect(url)
    migrate(store, Settings(config_path=workdir / "unused.toml", clickhouse_url=url))
    return store


def pipeline_rows(count: int, site: str, geoip: Path) -> list[bytes]:
    """Rows exactly as the collector spools them: beacon.parse -> pipeline.run -> orjson."""
    from collector import beacon, pipeline
    from collector.clientip import client_ip
    from collector.enrich import build_enricher

    settings = Settings(config_path=Path("unused.toml"), geoip_paths=(geoip,))
    ctx = pipeline.Context(enricher=build_enricher(settings))
    cfg = SiteConfig(name=site, domains=("example.com",))
    bodies = [b.encode() for b in workload.bodies(site)]
    ips = workload.client_ips(500)
    agents = workload.COMMON_AGENTS
    rows: list[bytes] = []
    n = 0
    while len(rows) < count:
        n += 1
        ip = client_ip(ips[n % len(ips)], None, ())
        for b in beacon.parse(bodies[n % len(bodies)]):
            result = pipeline.run(
                pipeline.Event(b, cfg, ip, agents[n % len(agents)], datetime.now(UTC)), ctx
            )
            if not isinstance(result, pipeline.Drop):
                rows.append(orjson.dumps(result.row))
    return rows[:count]


def writer(workdir: Path, rows: int) -> dict[str, Any]:
    """Spool segments -> ClickHouse through the real Writer, vs INSERT ... SELECT FROM numbers
    of the same row count into the same table (materialized views fire for both)."""
    from collector.metrics import Metrics
    from collector.spool import Spool
    from collector.writer import DropCounter, Salts, Writer

    store = _open(workdir)
    geoip = workload.build_geoip(workdir / "bench-geoip.mmdb")
    distinct = pipeline_rows(min(rows, 50_000), "writer.example", geoip)
    lines = (distinct * (rows // len(distinct) + 1))[:rows]
    segment_rows = Settings(config_path=Path("unused.toml")).writer_batch_rows
    spool = Spool(workdir / "spool", 1 << 34, segment_rows, 3600)

    async def fill() -> None:  # the request path's group commit, 100 events per append
        for i in range(0, len(lines), 100):
            await spool.append(lines[i : i + 100])

    asyncio.run(fill())
    spool.seal_if_due(force=True)
    w = Writer(store, spool, DropCounter(), Salts(store, b"bench-" * 8), Metrics(), 1.0)
    datagen.insert_events(store, "warmup.example", 0, 10_000)  # first-insert costs out of the way
    started = time.perf_counter()
    assert w.send_sealed(), w.last_error
    writer_s = time.perf_counter() - started
    written = store.scalar("SELECT count() FROM events WHERE site = 'writer.example'")
    started = time.perf_counter()
    datagen.insert_events(store, "ceiling.example", 0, rows)
    ceiling_s = time.perf_counter() - started
    spool.close()
    return {
        "rows": rows, "rows_written": int(written), "segment_rows": segment_rows,
        "writer_rows_per_s": rows / writer_s, "ceiling_rows_per_s": rows / ceiling_s,
        "ratio": (rows / writer_s) / (rows / ceiling_s),
    }  # fmt: skip


def _p95(fn: Callable[[], object], reps: int) -> dict[str, float]:
    fn()  # first run warms caches; measured runs follow
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    return {"p50_ms": statistics.median(times), "p95_ms": times[min(len(times) - 1, int(0.95 * len(times)))],
            "max_ms": times[-1]}  # fmt: skip


TOP_COMPANY = """
SELECT company_key FROM daily_companies WHERE site = {site:String}
GROUP BY company_key ORDER BY sum(events) DESC LIMIT 1
"""

DIGEST_SQL = """
SELECT company_key, sum(hits) AS hits, uniqExact(visitor_id) AS visitors,
       groupUniqArray(3)(key) AS pages
FROM daily_activity
WHERE site = {site:String} AND day BETWEEN {day:Date} - 6 AND {day:Date} AND company_key != ''
GROUP BY company_key
ORDER BY hits DESC
LIMIT 20
"""


def _queries(store: Store, site: SiteConfig, day: date, reps: int) -> dict[str, Any]:
    from intent import api, api_params, scoring

    started = time.perf_counter()
    scoring.score_site(store, site, day)  # fills company_scores (the list and page read it)
    out: dict[str, Any] = {"score_site_ms": (time.perf_counter() - started) * 1000}
    # The scores just written start merges of company_scores / company_latest; timed while they
    # ran, one companies-list run in 20 took 40-60 ms at 10M (p50 9-14 ms): measure settled.
    _settle(store)
    params = {"tier": "", "country": "", "min_score": 0.0, "since": ch_time(api_params.EPOCH),
              "after_t": ch_time(api_params.EPOCH), "after_k": "", "limit": api_params.DEFAULT_LIMIT,
              "claimed": -1, "customer": -1}  # fmt: skip
    top = str(store.scalar(TOP_COMPANY, {"site": site.name}))  # the busiest: the slowest page
    # What the incremental run does for one marked company: its score, and its snapshot row.
    out["rescore_one"] = _p95(lambda: scoring.score_site(store, site, day, companies=[top]), reps)
    _settle(store)
    out["companies_list"] = _p95(lambda: api.list_companies(store, site.name, params), reps)
    out["company_page"] = _p95(lambda: api.company_profile(store, site.name, top, 30), reps)
    try:
        from intent import digest  # type: ignore[attr-defined]

        out["digest"] = _p95(lambda: digest.build_digest(store, site.name, day), reps)
        out["digest_source"] = "intent.digest.build_digest"
    except ImportError:
        out["digest"] = _p95(lambda: store.query(DIGEST_SQL, {"site": site.name, "day": day}), reps)
        out["digest_source"] = (
            "representative rollup SQL (bench.chbench.DIGEST_SQL): intent.digest not on main"
        )
    return out


def _settle(store: Store, timeout: float = 120.0) -> None:
    """Let the background merges of the rows just written finish, so the timed queries measure
    the tables at this size rather than whichever merge is running."""
    deadline = time.monotonic() + timeout
    while store.scalar("SELECT count() FROM system.merges") and time.monotonic() < deadline:
        time.sleep(0.5)


def scale(workdir: Path, sizes: list[int], reps: int) -> dict[str, Any]:
    """Grow one site to each size in turn (INSERT ... SELECT, the MVs fill the rollups) and time
    the companies list, a company page and the digest at each size."""
    store = _open(workdir)
    site = SiteConfig(name="scale.example", domains=("example.com",))
    day = datetime.now(UTC).date()
    out: dict[str, Any] = {"sizes": {}}
    have = 0
    for size in sorted(sizes):
        started = time.perf_counter()
        while have < size:  # in blocks of 1M rows to bound memory
            n = min(1_000_000, size - have)
            datagen.insert_events(store, site.name, have, n)
            have += n
        insert_s = time.perf_counter() - started
        _settle(store)
        result = _queries(store, site, day, reps)
        result["insert_s"] = insert_s
        nbytes, nrows, parts = store.query(PARTS, {"table": "events"})[0]
        result["events_bytes"], result["events_rows"], result["events_parts"] = (
            int(nbytes),
            int(nrows),
            int(parts),
        )
        result["bytes_per_event"] = int(nbytes) / max(1, int(nrows))
        for table in ("daily_activity", "daily_companies"):
            result[f"{table}_rows"] = int(store.query(PARTS, {"table": table})[0][1])
        out["sizes"][str(size)] = result
    return out
