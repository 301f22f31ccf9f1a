"""`python -m bench.chaos` (`make chaos`): kill -9 rounds, a SIGTERM drain, a full spool disk,
ClickHouse out of disk, connection attacks, a flood and fuzzing against the real collector on
127.0.0.1; figures and pass criteria to docs/reliability.md (+ .json). Exits 1 when a criterion
fails.

`--quick` runs every scenario small but clickhouse_full (about 2 minutes;
tests/bench/test_chaos_quick.py)."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.chaos import attacks, crash, fuzz, report
from bench.chaos.rig import Rig, count_stored, raise_descriptor_limit

FULL: dict[str, Any] = {"kill_rounds": 20, "kill_seconds": 3.0, "sigterm_seconds": 10.0,
        "spool_seconds": 10.0, "clickhouse_seconds": 10.0, "attack_seconds": 20.0,
        "slow_connections": 200, "idle_connections": 1100, "big_sockets": 20, "big_lines": 50, "settle_seconds": 5.0,
        "flood_seconds": 60.0, "event_fuzz": 100_000, "fuzz_pool": 3_000, "api_fuzz": 3_000,
        "fuzz_seconds": 480.0, "fuzz_minimum": 100_000}  # fmt: skip
QUICK: dict[str, Any] = {"kill_rounds": 2, "kill_seconds": 1.5, "sigterm_seconds": 2.0,
         "spool_seconds": 3.0, "clickhouse_seconds": 3.0, "attack_seconds": 4.0,
         "slow_connections": 30, "idle_connections": 200, "big_sockets": 4, "big_lines": 8, "settle_seconds": 1.0,
         "flood_seconds": 3.0, "event_fuzz": 1_500, "fuzz_pool": 150, "api_fuzz": 120,
         "fuzz_seconds": 45.0, "fuzz_minimum": 1_000}  # fmt: skip
API_LIMITS = {"INTENT_API_RATE_LIMIT": "10000", "INTENT_API_RATE_LIMIT_BURST": "100000"}
SCENARIOS = ("kill9", "sigterm", "spool_full", "clickhouse_full", "attacks", "fuzz")
# ~30 s more on 2 cores (a server of its own): --quick runs it only when --only names it;
# make test holds its behaviour in process (tests/collector/test_spool_disk.py, the fault hook).
QUICK_LEAVES_OUT = frozenset({"clickhouse_full"})


def _commit() -> str:
    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                         check=False, cwd=Path(__file__).resolve().parents[2])  # fmt: skip
    return out.stdout.strip() or "unknown"


def _attacks(root: Path, size: dict[str, Any]) -> dict[str, Any]:
    rig = Rig(root / "attacks")
    server = rig.start()
    try:
        out = {"attacks": attacks.run_all(server, root / "attacks", size)}
        out["flood"] = attacks.flood(server, root / "attacks", size["flood_seconds"],
                                     size["settle_seconds"])  # fmt: skip
    finally:
        rig.stop()
    return out


def _fuzz(root: Path, size: dict[str, Any]) -> dict[str, Any]:
    rig = Rig(root / "fuzz", **API_LIMITS)
    rig.start()
    try:
        token = rig.cli("keys", "create", "--site", "bench.example", "--scope", "write").strip()
        third = size["fuzz_seconds"] / 3
        out = {"event_fuzz": fuzz.event_fuzz(rig.url, size["event_fuzz"], size["fuzz_pool"],
                                             2 * third),
               "api_fuzz": fuzz.api_fuzz(rig.url, token, size["api_fuzz"], third)}  # fmt: skip
    finally:
        rig.stop()
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.chaos", description=__doc__)
    p.add_argument("--quick", action="store_true",
                   help="every scenario small but clickhouse_full (~2 minutes)")  # fmt: skip
    p.add_argument("--out", default="docs/reliability.md", help="report (default %(default)s)")
    p.add_argument("--json", default="docs/reliability.json", help="figures (default %(default)s)")
    p.add_argument("--only", default="", help="comma-separated: " + ",".join(SCENARIOS))
    p.add_argument("--fault-hook", action="store_true",
                   help="full disks through INTENT_FAULT_DIR even where a tmpfs can be mounted "
                   "(what runs without root)")  # fmt: skip
    p.add_argument("--count", help=argparse.SUPPRESS)  # child: count stored ids in this database
    p.add_argument("--ids", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.count:
        print(json.dumps(count_stored(args.count, Path(args.ids))))
        return 0

    raise_descriptor_limit()
    size = QUICK if args.quick else FULL
    only = set(filter(None, args.only.split(","))) or (
        set(SCENARIOS) - QUICK_LEAVES_OUT if args.quick else set(SCENARIOS)
    )
    r: dict[str, Any] = {"mode": "quick" if args.quick else "full", "size": size,
                         "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
                         "commit": _commit(),
                         "machine": f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}"}  # fmt: skip
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="intent-chaos-") as tmp:
        root = Path(tmp)
        steps: list[tuple[str, Callable[[], dict[str, Any]]]] = [
            ("kill9", lambda: {"kill9": crash.kill9(root / "kill9", size["kill_rounds"],
                                                    size["kill_seconds"])}),
            ("sigterm", lambda: {"sigterm": crash.sigterm(root / "sigterm", size["sigterm_seconds"])}),
            ("spool_full", lambda: {"spool_full": crash.spool_full(
                root / "spool", size["spool_seconds"], mount=not args.fault_hook)}),
            ("clickhouse_full", lambda: {"clickhouse_full": crash.clickhouse_full(
                root / "clickhouse", size["clickhouse_seconds"], mount=not args.fault_hook)}),
            ("attacks", lambda: _attacks(root, size)),
            ("fuzz", lambda: _fuzz(root, size)),
        ]  # fmt: skip
        for name, step in steps:
            if name in only:
                t = time.monotonic()
                print(f"chaos: {name} ...", file=sys.stderr, flush=True)
                r.update(step())
                print(f"chaos: {name} done in {time.monotonic() - t:.0f} s", file=sys.stderr,
                      flush=True)  # fmt: skip
    r["elapsed_s"] = time.monotonic() - started
    r["checks"] = report.checks(r)
    Path(args.json).write_text(json.dumps(r, indent=2, default=str) + "\n", encoding="utf-8")
    Path(args.out).write_text(report.markdown(r), encoding="utf-8")
    print(report.table(r["checks"]))
    failed = [c for c in r["checks"] if not c["pass"]]
    print(f"wrote {args.out} and {args.json} in {r['elapsed_s']:.0f} s: "
          + ("every criterion passes" if not failed else f"{len(failed)} criteria FAIL"))  # fmt: skip
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
