"""The accounts import benchmark runs (in a process of its own: chDB opens one database per
process) and measures what it says; no timing is asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_the_accounts_benchmark_imports_its_export(tmp_path: Path) -> None:
    code = (
        "import json, sys; from pathlib import Path; from bench.accounts import run; "
        "print(json.dumps(run(Path(sys.argv[1]), 1500)))"
    )
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True,
                          timeout=300, check=False, cwd=Path(__file__).resolve().parents[2])  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    r = json.loads(done.stdout.strip().splitlines()[-1])
    assert r["bad_rows"] == r["bad_rows_written"] == 3
    assert r["added"] == r["unchanged_on_reimport"] == 1497
    assert r["import_s"] > 0 and r["import_cpu_s"] > 0 and r["matched"] > 0
