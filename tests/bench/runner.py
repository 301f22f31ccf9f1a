"""A bench command (`python -m bench`, `python -m bench.chaos`) run small, as `make test` runs
it so that it cannot rot: its figures (the JSON) and its report (the Markdown)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def run_bench(
    tmp_path: Path, module: str, flag: str, exit_codes: tuple[int, ...] = (0,)
) -> tuple[dict[str, Any], str]:
    """`python -m module flag` writing into `tmp_path`; fails the test on another exit code."""
    out, data = tmp_path / "report.md", tmp_path / "report.json"
    run = subprocess.run(
        [sys.executable, "-m", module, flag, "--out", str(out), "--json", str(data)],
        capture_output=True, text=True, timeout=900, check=False, cwd=ROOT,
    )  # fmt: skip
    assert run.returncode in exit_codes, run.stderr[-3000:]
    figures: dict[str, Any] = json.loads(data.read_text())
    return figures, out.read_text()
