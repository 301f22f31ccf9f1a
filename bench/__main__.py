"""`python -m bench` (`make bench`): every benchmark of issue 8, each against a baseline
measured in the same run, written to docs/benchmarks.md and docs/benchmarks.json.

`python -m bench --smoke` runs each at a tiny size (tests/bench/test_bench_smoke.py): it proves
the harness works, and its numbers mean nothing.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import accounts, alerts, chbench, ingest, micro, report

FULL: dict[str, Any] = {"ingest_seconds": 8.0, "rounds": 7, "latency_seconds": 30.0, "rate": 2000.0,
        "writer_rows": 500_000, "sizes": [1_000_000, 10_000_000], "reps": 40, "agents": 20_000,
        "agent_corpora": True, "alert_companies": 25, "alert_load_seconds": 45.0,
        "account_rows": 100_000}  # fmt: skip
SMOKE: dict[str, Any] = {"ingest_seconds": 1.0, "rounds": 1, "latency_seconds": 1.0, "rate": 200.0,
         "writer_rows": 2_000, "sizes": [2_000, 6_000], "reps": 2, "agents": 200,
         "agent_corpora": False, "alert_companies": 3, "alert_load_seconds": 8.0,
         "account_rows": 2_000}  # fmt: skip


def _part(name: str, workdir: Path, size: dict[str, Any]) -> dict[str, Any]:
    """Run a ClickHouse benchmark in its own process (chDB opens one database per process)."""
    out = subprocess.run(
        [sys.executable, "-m", "bench", "--part", name, "--workdir", str(workdir), "--size-json", json.dumps(size)],
        capture_output=True, text=True, check=False, timeout=1200,
    )  # fmt: skip
    if out.returncode != 0:
        raise RuntimeError(f"bench part {name} failed:\n{out.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def run_part(name: str, workdir: Path, size: dict[str, Any]) -> dict[str, Any]:
    if name == "writer":
        return chbench.writer(workdir, size["writer_rows"])
    if name == "scale":
        return chbench.scale(workdir, size["sizes"], size["reps"])
    if name == "accounts":
        return accounts.run(workdir, size["account_rows"])
    raise SystemExit(f"unknown part {name}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--smoke", action="store_true", help="tiny sizes: check the harness runs")
    p.add_argument(
        "--out", default="docs/benchmarks.md", help="markdown report (default %(default)s)"
    )
    p.add_argument(
        "--json", default="docs/benchmarks.json", help="JSON results (default %(default)s)"
    )
    p.add_argument(
        "--only",
        default="",
        help="comma-separated: ingest,writer,useragents,scale,snippet,alerts,accounts",
    )
    p.add_argument("--part", help=argparse.SUPPRESS)
    p.add_argument("--workdir", help=argparse.SUPPRESS)
    p.add_argument("--size-json", help=argparse.SUPPRESS)
    p.add_argument(
        "--render",
        action="store_true",
        help="rewrite --out from --json (after editing bench/notes.md)",
    )
    args = p.parse_args(argv)
    if args.render:
        saved = json.loads(Path(args.json).read_text(encoding="utf-8"))
        Path(args.out).write_text(report.markdown(saved), encoding="utf-8")
        return 0
    if args.part:
        result = run_part(args.part, Path(args.workdir), json.loads(args.size_json))
        print(json.dumps(result, default=str))
        return 0

    size = SMOKE if args.smoke else FULL
    only = set(filter(None, args.only.split(","))) or {
        "ingest",
        "writer",
        "useragents",
        "scale",
        "snippet",
        "alerts",
        "accounts",
    }
    results: dict[str, Any] = {"mode": "smoke" if args.smoke else "full", "size": size,
                               "machine": report.machine()}  # fmt: skip
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="intent-bench-") as tmp:
        root = Path(tmp)
        results["load_before"] = report.loadavg()
        results["probe_before_ms"] = report.speed_probe_ms()
        steps: list[tuple[str, Callable[[], dict[str, Any]]]] = [
            ("useragents", lambda: micro.user_agents(size["agents"], size["agent_corpora"])),
            ("snippet", micro.snippet),
            ("ingest", lambda: ingest.run(root / "ingest", size["ingest_seconds"], size["rounds"],
                                          size["latency_seconds"], size["rate"])),
            ("writer", lambda: _part("writer", root / "writer", size)),
            ("scale", lambda: _part("scale", root / "scale", size)),
            ("alerts", lambda: alerts.run(root / "alerts", size["alert_companies"], size["rate"],
                                          size["alert_load_seconds"])),
            ("accounts", lambda: _part("accounts", root / "accounts", size)),
        ]  # fmt: skip
        for name, step in steps:
            if name in only:
                t = time.monotonic()
                print(f"bench: {name} ...", file=sys.stderr, flush=True)
                results[name] = step()
                results[name]["elapsed_s"] = time.monotonic() - t
                for check in report.checks({name: results[name]}):
                    print(f"bench:   {check['figure']}: {report.fmt(check['value'])}{check['unit']} "
                          f"({check['status']})", file=sys.stderr, flush=True)  # fmt: skip
        results["load_after"] = report.loadavg()
        results["probe_after_ms"] = report.speed_probe_ms()
    results["elapsed_s"] = time.monotonic() - started
    results["checks"] = report.checks(results)
    Path(args.json).write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")
    markdown = report.markdown(results)
    Path(args.out).write_text(markdown, encoding="utf-8")
    print(report.table(results["checks"]))
    print(f"wrote {args.out} and {args.json} in {results['elapsed_s']:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
