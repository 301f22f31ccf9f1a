"""`make chaos` cannot rot: `--quick` runs every scenario small and yields every figure. No
latency or memory bound is asserted here (shared, noisy machines: `make chaos` judges those);
what is asserted is what no machine excuses: nothing acknowledged lost, nothing stored twice,
no 5xx."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.chaos import report
from tests.bench.runner import run_bench


@pytest.mark.slow
def test_quick_chaos_measures_every_scenario(tmp_path: Path) -> None:
    # exit code 1: a criterion failed (a latency, on a busy machine), the figures are written
    r, text = run_bench(tmp_path, "bench.chaos", "--quick", exit_codes=(0, 1))
    for name in ("kill9", "sigterm"):
        assert r[name]["acknowledged"] > 0 and r[name]["lost"] == 0, r[name]
        assert r[name]["duplicated"] == 0 and r[name]["server_5xx"] == 0, r[name]
    assert r["kill9"]["requests_cut"] > 0 and r["kill9"]["resent_acknowledged"] > 0
    s = r["spool_full"]  # on a tmpfs as root, else through the INTENT_FAULT_DIR hook
    assert s["disk"] in ("tmpfs", "fault hook"), s
    assert s["refused_503"] > 0 and s["readyz_when_full"] == 503, s
    assert s["lost"] == 0 and s["duplicated"] == 0 and s["server_5xx"] == 0, s
    assert "clickhouse_full" not in r  # left out of --quick (~30 s): the hook's test holds it
    for name in report.ATTACKS:
        a = r["attacks"][name]
        assert a["peak_rss_mb"] > 0 and a["bystander_requests"] > 0, (name, a)
    assert r["flood"]["requests"] > 0 and r["flood"]["peak_rss_mb"] > 0
    for name in ("event_fuzz", "api_fuzz"):
        assert r[name]["requests"] > 0 and r[name]["server_5xx"] == 0, r[name]
    assert r["checks"] and all(isinstance(c["pass"], bool) for c in r["checks"])
    assert report.table(r["checks"]).splitlines()[0] in text and r["commit"] in text
