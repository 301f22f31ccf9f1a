"""What every chaos scenario shares: the collector started and restarted on one loopback port,
clients that send events with their own ids (retrying with the same id until acknowledged),
the count of stored ids (read from the database once the server has stopped), and samplers of
the server's memory and of a bystander client's latency."""

from __future__ import annotations

import asyncio
import json
import resource
import signal
import subprocess
import sys
import threading
import time
import uuid
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench import servers, workload
from bench.servers import SITE
from collector.store import connect

AGENT = workload.COMMON_AGENTS[0]
HEADERS = (
    f"User-Agent: {AGENT}\r\nContent-Type: text/plain\r\nOrigin: https://example.com\r\n"
    "X-Forwarded-For: 203.0.113.7\r\n"
)


def raise_descriptor_limit() -> None:
    """The attacks open a thousand sockets and more from this process."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class Rig:
    """One collector (one database, one spool) on a fixed port, so it can be killed and started
    again where its clients expect it."""

    def __init__(self, workdir: Path, **env: str) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir = workdir
        geoip = workload.build_geoip(workdir / "geoip.mmdb")
        self.env = {**servers.collector_env(workdir, geoip), **env}
        self.port = servers.free_port()
        self.env["INTENT_PORT"] = str(self.port)  # where `intent` commands find the server
        self.url = f"http://127.0.0.1:{self.port}"
        self.server: servers.Server | None = None

    def start(self) -> servers.Server:
        log = self.workdir / "server.log"
        proc = subprocess.Popen(
            [sys.executable, "-m", "intent", "serve", "--port", str(self.port)],
            env=self.env, stdout=log.open("ab"), stderr=subprocess.STDOUT, cwd=self.workdir,
        )  # fmt: skip
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"collector exited: {log.read_text()[-2000:]}")
            try:
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200:
                    self.server = servers.Server("collector", self.url, proc, log)
                    return self.server
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                proc.kill()
                proc.wait()
                raise RuntimeError(f"collector did not start: {log.read_text()[-2000:]}")
            time.sleep(0.1)

    def kill(self) -> None:
        if self.server is not None and self.server.proc.poll() is None:
            self.server.proc.send_signal(signal.SIGKILL)
            self.server.proc.wait(30)
        self.server = None

    def stop(self) -> float:
        """SIGTERM and wait: the seconds it took to drain and exit."""
        if self.server is None:
            return 0.0
        t = time.monotonic()
        self.server.stop()
        self.server = None
        return time.monotonic() - t

    def cli(self, *args: str) -> str:
        """An `intent` command (forwarded to the running server, which holds the database)."""
        out = subprocess.run(
            [sys.executable, "-m", "intent", *args], env=self.env, cwd=self.workdir,
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        if out.returncode != 0:
            raise RuntimeError(f"intent {' '.join(args)}: {out.stderr.strip()[-2000:]}")
        return out.stdout

    def count(self, acked: set[str], sent: set[str]) -> dict[str, int]:
        """Lost and duplicated ids, read from the database (the server must be stopped: chDB
        opens a path in one process only), in a child process of its own."""
        self.kill()
        ids = self.workdir / "acked.json"
        ids.write_text(json.dumps({"acked": sorted(acked), "sent": sorted(sent)}))
        out = subprocess.run(
            [sys.executable, "-m", "bench.chaos", "--count", self.env["INTENT_CLICKHOUSE_URL"],
             "--ids", str(ids)],
            env=self.env, capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip
        if out.returncode != 0:
            raise RuntimeError(f"counting failed: {out.stderr[-2000:]}")
        result: dict[str, int] = json.loads(out.stdout.strip().splitlines()[-1])
        return result


COUNT_SQL = """
SELECT toString(event_id) AS id, count() AS n FROM events
WHERE site = {site:String} GROUP BY event_id
"""


def count_stored(url: str, ids_file: Path) -> dict[str, int]:
    ids = json.loads(ids_file.read_text())
    acked, sent = set(ids["acked"]), set(ids["sent"])
    stored = dict(connect(url).query(COUNT_SQL, {"site": SITE}))
    return {
        "acknowledged": len(acked),
        "sent": len(sent),
        "stored_rows": sum(stored.values()),
        "lost": sum(1 for i in acked if i not in stored),
        "duplicated": sum(n - 1 for n in stored.values() if n > 1),
        "unknown": sum(1 for i in stored if i not in sent),
    }


# -- clients that send events with ids ------------------------------------------------------


@dataclass
class Ledger:
    """Every id sent, every id acknowledged (202), and the ids still owed a retry."""

    sent: set[str] = field(default_factory=set)
    acked: set[str] = field(default_factory=set)
    acked_order: list[str] = field(default_factory=list)
    retry: list[str] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)
    resent_acked: int = 0  # ids sent again after their 202 (a client that lost the answer)

    def note(self, status: str) -> None:
        self.statuses[status] = self.statuses.get(status, 0) + 1

    def server_errors(self) -> int:
        """5xx other than 503 (the documented refusal: spool full, Retry-After)."""
        return sum(n for s, n in self.statuses.items() if s.startswith("5") and s != "503")


def event_request(port: int, event_id: str) -> bytes:
    body = json.dumps(
        {"site": SITE, "type": "pageview", "url": "https://example.com/pricing", "id": event_id}
    ).encode()
    head = f"POST /api/event HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{HEADERS}"
    return f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body


async def read_response(reader: asyncio.StreamReader) -> str:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    if length:
        await reader.readexactly(length)
    return head[9:12].decode()


async def _client(port: int, ledger: Ledger, until: float, resend_every: int) -> None:
    """One keep-alive connection: retries first, then new ids; every `resend_every`-th request
    repeats an acknowledged id. A failed request's id goes back to the retry list."""
    conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
    n = 0
    while time.monotonic() < until:
        n += 1
        if ledger.retry:
            eid = ledger.retry.pop()
        elif resend_every and n % resend_every == 0 and ledger.acked:
            eid = ledger.acked_order[n % len(ledger.acked_order)]
            ledger.resent_acked += 1
        else:
            eid = str(uuid.uuid4())
        ledger.sent.add(eid)
        try:
            if conn is None:
                conn = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 2)
            conn[1].write(event_request(port, eid))
            status = await asyncio.wait_for(read_response(conn[0]), 10)
        except (OSError, asyncio.IncompleteReadError, TimeoutError, asyncio.LimitOverrunError):
            ledger.note("connection-error")
            if eid not in ledger.acked:
                ledger.retry.append(eid)
            if conn is not None:
                conn[1].close()
            conn = None
            await asyncio.sleep(0.05)
            continue
        ledger.note(status)
        if status == "202":
            if eid not in ledger.acked:
                ledger.acked.add(eid)
                ledger.acked_order.append(eid)
        elif eid not in ledger.acked:
            ledger.retry.append(eid)
            await asyncio.sleep(0.05)
    if conn is not None:
        conn[1].close()


def send_events(
    port: int, ledger: Ledger, seconds: float, clients: int = 16, resend_every: int = 10
) -> None:
    """`clients` connections sending events for `seconds`."""

    async def run() -> None:
        until = time.monotonic() + seconds
        await asyncio.gather(*(_client(port, ledger, until, resend_every) for _ in range(clients)))

    asyncio.run(run())


def retry_all(port: int, ledger: Ledger, seconds: float) -> None:
    """Send every id still owed until each is acknowledged (or `seconds` pass)."""
    deadline = time.monotonic() + seconds
    while ledger.retry and time.monotonic() < deadline:
        send_events(port, ledger, min(2.0, deadline - time.monotonic()), clients=4, resend_every=0)


# -- samplers -------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    s = sorted(values)
    return s[min(len(s) - 1, int(q / 100 * len(s)))]


class Sampler:
    """In a thread, every `interval` s: the server's RSS, and one bystander event (a fresh
    connection each time, as a new visitor's browser makes) with its latency."""

    def __init__(self, server: servers.Server, interval: float = 0.05) -> None:
        self.server, self.interval = server, interval
        self.rss: list[float] = []
        self.anon: list[float] = []  # the heap's share (the rest: pages of files, chDB's library)
        self.latencies: list[float] = []
        self.failures = 0
        self.statuses: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        # One client made once, no connection kept: each event still opens a new connection,
        # but no client set-up (httpx.post builds a client and its TLS context: ~100 ms) is timed.
        self._client = httpx.Client(limits=httpx.Limits(max_keepalive_connections=0), timeout=5)

    def _run(self) -> None:
        body = {"site": SITE, "type": "pageview", "url": "https://example.com/"}
        headers = {"User-Agent": AGENT, "Origin": "https://example.com"}
        while not self._stop.is_set():
            with suppress(OSError):
                self.rss.append(self.server.rss_mb())
                self.anon.append(self.server.rss_mb("RssAnon"))
            t = time.perf_counter()
            try:
                r = self._client.post(self.server.url + "/api/event", json=body, headers=headers)
                self.statuses[r.status_code] = self.statuses.get(r.status_code, 0) + 1
                self.latencies.append((time.perf_counter() - t) * 1000)
            except httpx.HTTPError:
                self.failures += 1
                self.latencies.append((time.perf_counter() - t) * 1000)
            self._stop.wait(self.interval)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)
        self._client.close()

    def figures(self) -> dict[str, float]:
        return {
            "peak_rss_mb": max(self.rss, default=0.0),
            "peak_rss_anon_mb": max(self.anon, default=0.0),
            "bystander_requests": len(self.latencies),
            "bystander_failures": self.failures,
            "bystander_5xx": sum(n for s, n in self.statuses.items() if s >= 500),
            "bystander_p50_ms": percentile(self.latencies, 50),
            "bystander_p99_ms": percentile(self.latencies, 99),
        }
