"""Servers under test, each a subprocess on 127.0.0.1: the bare Starlette ceiling and the real
collector (`python -m intent serve`) with test GeoIP data, trusted loopback proxy and the
rate limit lifted (all load comes from one address)."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

SITE = "bench.example"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    name: str
    url: str
    proc: subprocess.Popen[bytes]
    log: Path

    def rss_mb(self, field: str = "VmRSS") -> float:
        """Resident set size of the server process (MiB); RssAnon / RssFile split it into heap
        and pages mapped from files (chDB's 200+ MB engine library is most of the latter)."""
        text = Path(f"/proc/{self.proc.pid}/status").read_text()
        match = re.search(rf"^{field}:\s+(\d+) kB", text, re.M)
        return int(match.group(1)) / 1024 if match else 0.0

    def cpu_seconds(self) -> float:
        """CPU time of the server and of its live child processes (the collector's spool sync
        helper): what it costs, wherever it runs."""
        total = 0
        for pid in [self.proc.pid, *_children(self.proc.pid)]:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue  # it ended meanwhile
            total += int(fields[11]) + int(fields[12])
        return total / os.sysconf("SC_CLK_TCK")

    def metrics(self) -> dict[str, float]:
        """The collector's Prometheus counters, summed over labels."""
        out: dict[str, float] = {}
        for line in httpx.get(self.url + "/metrics", timeout=10).text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                base = name.split("{", 1)[0]
                out[base] = out.get(base, 0.0) + float(value)
        return out

    def spool_bytes(self) -> int:
        r = httpx.get(self.url + "/readyz", timeout=30)
        return int(r.json().get("spool_bytes", 0))

    def wait_drained(self, timeout: float = 120) -> None:
        """Wait until the writer has sent the spool and the engine's background work (merges of
        the parts just written, materialized views) has settled, so neither steals CPU from the
        next run, whichever server that run measures."""
        deadline = time.monotonic() + timeout
        while self.spool_bytes() > 0 and time.monotonic() < deadline:
            time.sleep(0.25)
        self.wait_quiet(deadline)

    def wait_quiet(self, deadline: float, share: float = 0.03) -> None:
        """Until the process uses under `share` of a core over half a second (or the deadline)."""
        while time.monotonic() < deadline:
            before = self.cpu_seconds()
            time.sleep(0.5)
            if self.cpu_seconds() - before < share * 0.5:
                return

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        with contextlib.suppress(OSError):
            found += [int(c) for c in task.read_text().split()]
    return found


def _start(name: str, args: list[str], env: dict[str, str], workdir: Path) -> Server:
    port = free_port()
    log = workdir / f"{name}.log"
    proc = subprocess.Popen(
        [sys.executable, *(a.replace("{port}", str(port)) for a in args)],
        env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT, cwd=workdir,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} server exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                return Server(name, url, proc, log)
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"{name} server did not start: {log.read_text()[-2000:]}")
        time.sleep(0.1)


def start_bare(workdir: Path) -> Server:
    return _start("bare", ["-m", "bench.bare", "{port}"], _base_env(), workdir)


def _base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTENT_")}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parent.parent)
    return env


def collector_env(workdir: Path, geoip: Path) -> dict[str, str]:
    config = workdir / "intent.toml"
    config.write_text(f'[sites."{SITE}"]\ndomains = ["example.com"]\n', encoding="utf-8")
    return {
        **_base_env(),
        "INTENT_CONFIG": str(config),
        "INTENT_CLICKHOUSE_URL": f"chdb://{workdir / 'clickhouse'}",
        "INTENT_SPOOL_DIR": str(workdir / "spool"),
        "INTENT_GEOIP_PATHS": str(geoip),
        "INTENT_TRUSTED_PROXIES": "127.0.0.1/32",
        "INTENT_RATE_LIMIT": "10000000",
        "INTENT_RATE_LIMIT_BURST": "10000000",
        "INTENT_LOG_LEVEL": "warning",
        # The load's addresses would be looked up in the system resolver: no DNS leaves a bench.
        "INTENT_RDNS": "false",
    }


def start_collector(workdir: Path, geoip: Path) -> Server:
    return _start(
        "collector",
        ["-m", "intent", "serve", "--port", "{port}"],
        collector_env(workdir, geoip),
        workdir,
    )
