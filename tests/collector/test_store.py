"""collector.store's embedded engine: loaded without pyarrow, and start-up's library pages released.

Each check runs in a fresh interpreter: the test session has chDB loaded already."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from collector.store import CHDB_MALLOC_CONF

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import json, os, re, sys
from collector.store import connect, release_engine_pages

def library_rss_kb():
    library = os.path.realpath(sys.modules["chdb._chdb"].__file__)
    total, current = 0, False
    for line in open("/proc/self/smaps"):
        head = line.split(maxsplit=5)
        if ":" not in head[0]:
            current = len(head) == 6 and head[5].strip() == library
        elif current and head[0] == "Rss:":
            total += int(head[1])
    return total

store = connect("chdb://" + sys.argv[1])
store.command("CREATE TABLE t (n UInt64, s String) ENGINE = MergeTree ORDER BY n")
store.insert_rows("t", [{"n": i, "s": str(i)} for i in range(1000)])
out = {"pyarrow_loaded": "pyarrow" in sys.modules, "malloc_conf": os.environ.get("JE_MALLOC_CONF")}
out["before_kb"] = library_rss_kb()
out["released"] = release_engine_pages()
out["after_kb"] = library_rss_kb()
# The engine still runs everything after its pages were dropped: insert, merge, query.
store.insert_rows("t", [{"n": i, "s": "x"} for i in range(1000, 3000)])
store.command("OPTIMIZE TABLE t FINAL")
out["rows"] = store.scalar("SELECT count() FROM t WHERE s != ''")
import pyarrow  # hidden only while chDB loaded: still importable by anyone who wants it
out["pyarrow_later"] = pyarrow.__name__
print(json.dumps(out))
"""


def _probe(tmp_path: Path, env: dict[str, str] | None = None) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(tmp_path / "ch")],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), **(env or {})},
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def test_engine_loads_without_pyarrow_and_releases_startup_pages(tmp_path: Path) -> None:
    out = _probe(tmp_path)
    assert out["pyarrow_loaded"] is False
    assert out["pyarrow_later"] == "pyarrow"
    assert isinstance(out["before_kb"], int) and isinstance(out["after_kb"], int)
    assert isinstance(out["released"], int) and out["released"] > 50 << 20  # measured ~160 MB
    assert out["after_kb"] < out["before_kb"] - (50 << 10)
    assert out["rows"] == 3000
    assert out["malloc_conf"] == CHDB_MALLOC_CONF


def test_an_operators_malloc_conf_wins(tmp_path: Path) -> None:
    out = _probe(tmp_path, {"JE_MALLOC_CONF": "dirty_decay_ms:2000"})
    assert out["malloc_conf"] == "dirty_decay_ms:2000"
    assert out["rows"] == 3000
