"""Benchmarks 1, 2 and 6: ingest throughput (collector vs bare ceiling, same wrk script),
latency at a fixed rate (open loop), and collector RSS after the throughput runs.

Runs alternate bare / collector so drifting machine load hits both alike; each server's CPU
seconds per request are recorded too (from /proc), which noise from other processes on a
shared machine disturbs far less than wall-clock throughput.
"""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path
from typing import Any

from bench import load, servers, workload


def _run(server: servers.Server, script: Path, seconds: float, run_id: str) -> dict[str, Any]:
    cpu0 = server.cpu_seconds()
    r = load.wrk(server.url, script, seconds, run_id)
    cpu = server.cpu_seconds() - cpu0
    return {"rps": r.rps, "requests": r.requests, "errors": r.errors, "non_2xx": r.non_2xx,
            "p50_ms": r.p50_ms, "p99_ms": r.p99_ms, "cpu_us_per_request": cpu / max(1, r.requests) * 1e6}  # fmt: skip


def _port(server: servers.Server) -> int:
    return int(server.url.rsplit(":", 1)[1])


def fsync_probe(path: Path, count: int = 200) -> dict[str, float]:
    """fsync latency of small appends on the spool's file system, now: the floor under any
    durable acknowledgement, and on a shared disk the noisiest part of it."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    times = []
    try:
        for _ in range(count):
            os.write(fd, b"x" * 600)
            t = time.perf_counter()
            os.fsync(fd)
            times.append((time.perf_counter() - t) * 1000)
    finally:
        os.close(fd)
        path.unlink()
    times.sort()
    return {
        "p50": times[len(times) // 2],
        "p99": times[min(len(times) - 1, int(len(times) * 0.99))],
        "max": times[-1],
    }


def run(
    workdir: Path, seconds: float, rounds: int, latency_seconds: float, rate: float
) -> dict[str, Any]:
    workdir.mkdir(parents=True, exist_ok=True)
    geoip = workload.build_geoip(workdir / "bench-geoip.mmdb")
    script = load.write_lua(workdir / "load.lua")
    bare = servers.start_bare(workdir)
    collector = servers.start_collector(workdir, geoip)
    out: dict[str, Any] = {"seconds_per_run": seconds, "rounds": rounds, "connections": load.CONNECTIONS,
                           "unique_agent_share": 1 / load.UNIQUE_EVERY}  # fmt: skip
    try:
        warm = max(1.0, seconds / 5)
        load.wrk(bare.url, script, warm, "w0")  # warm both (imports, caches, first parts)
        load.wrk(collector.url, script, warm, "w1")
        collector.wait_drained()
        out["collector_rss_mb_idle"] = collector.rss_mb()
        bare_runs, full_runs, rss = [], [], []
        for i in range(rounds):
            bare_runs.append(_run(bare, script, seconds, f"b{i}"))
            full_runs.append(_run(collector, script, seconds, f"c{i}"))
            rss.append(collector.rss_mb())  # right after the run, before the writer drains
            collector.wait_drained()
        metrics = collector.metrics()
        out["bare_runs"], out["collector_runs"] = bare_runs, full_runs
        bare_rps = statistics.median(r["rps"] for r in bare_runs)
        full_rps = statistics.median(r["rps"] for r in full_runs)
        bare_cpu = statistics.median(r["cpu_us_per_request"] for r in bare_runs)
        full_cpu = statistics.median(r["cpu_us_per_request"] for r in full_runs)
        out["bare_rps"], out["collector_rps"] = bare_rps, full_rps
        out["ratio"] = full_rps / bare_rps
        per_round = [c["rps"] / b["rps"] for b, c in zip(bare_runs, full_runs, strict=True)]
        out["ratio_per_round"] = per_round  # the spread is the noise of the shared machine
        out["bare_cpu_us_per_request"], out["collector_cpu_us_per_request"] = bare_cpu, full_cpu
        out["cpu_ratio"] = bare_cpu / full_cpu
        out["collector_rss_mb_after_runs"] = rss
        out["collector_rss_mb"] = max(rss)
        out["collector_rss_anon_mb"] = collector.rss_mb("RssAnon")
        out["collector_rss_file_mb"] = collector.rss_mb("RssFile")
        out["collector_accepted_events"] = metrics.get("intent_events_accepted_total", 0)
        out["collector_dropped_events"] = metrics.get("intent_events_dropped_total", 0)
        out["collector_rows_written"] = metrics.get("intent_writer_rows_total", 0)
        out["collector_internal_errors"] = metrics.get("intent_internal_errors_total", 0)

        out["fsync_ms"] = fsync_probe(workdir / "fsync.probe")  # the disk's share of a 202
        # Latency: the generator against the bare app first (its own floor), then the collector.
        floor = load.open_loop(_port(bare), rate, min(latency_seconds, 10.0), "lb", warmup=2.0)
        time.sleep(0.5)
        cpu0, wall0 = collector.cpu_seconds(), time.monotonic()
        lat = load.open_loop(_port(collector), rate, latency_seconds, "lc", warmup=3.0)
        out["latency"] = {"collector": lat.__dict__, "generator_floor_bare": floor.__dict__}
        # A server needing more CPU than the machine gives it queues: its share of a core while
        # serving the fixed rate, next to the machine's load, says which one limited the latency.
        out["latency"]["collector_cpu_share"] = (collector.cpu_seconds() - cpu0) / (
            time.monotonic() - wall0
        )
        out["latency"]["load_average"] = os.getloadavg()[0]
        out["collector_rss_mb_after_latency"] = collector.rss_mb()
    finally:
        bare.stop()
        collector.stop()
    return out
