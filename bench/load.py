"""Load generators: wrk with a Lua script (throughput) and an open-loop asyncio generator
(latency at a fixed rate; wrk2 is not packaged in Debian).

Both send the same traffic: the workload's mixed bodies, mostly repeated browser agents with
one request in UNIQUE_EVERY carrying a never-seen agent, and X-Forwarded-For addresses from
the test GeoIP ranges (the collector trusts 127.0.0.1 as a proxy).
"""

from __future__ import annotations

import asyncio
import json
import random
import shutil
import subprocess
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import workload
from bench.servers import SITE

UNIQUE_EVERY = 20  # 5 % of requests carry an agent never seen before
CONNECTIONS = 32


def _lua_list(items: list[str]) -> str:
    return "{\n" + ",\n".join(f"[==[{x}]==]" for x in items) + "\n}"


def write_lua(path: Path) -> Path:
    agents = [a for a in workload.COMMON_AGENTS]
    script = f"""
local bodies = {_lua_list(workload.bodies(SITE))}
local agents = {_lua_list(agents)}
local ips = {_lua_list(workload.client_ips(500))}
local n = 0
local run = "0"

init = function(args)
  if args[1] then run = args[1] end
end

request = function()
  n = n + 1
  local ua
  if n % {UNIQUE_EVERY} == 0 then
    ua = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0." .. run .. "." .. n .. " Safari/537.36"
  else
    ua = agents[(n * 7) % #agents + 1]
  end
  local headers = {{}}
  headers["User-Agent"] = ua
  headers["Content-Type"] = "text/plain"
  headers["Origin"] = "https://example.com"
  headers["X-Forwarded-For"] = ips[(n * 13) % #ips + 1]
  return wrk.format("POST", "/api/event", headers, bodies[(n * 31) % #bodies + 1])
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('BENCH {{"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"p50_us":%d,"p99_us":%d}}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""
    path.write_text(script, encoding="utf-8")
    return path


@dataclass
class WrkResult:
    requests: int
    seconds: float
    rps: float
    errors: int
    non_2xx: int
    p50_ms: float
    p99_ms: float


def wrk(
    url: str, script: Path, seconds: float, run_id: str, connections: int = CONNECTIONS
) -> WrkResult:
    exe = shutil.which("wrk")
    if exe is None:
        raise RuntimeError("wrk is not installed (make bench installs Debian's wrk)")
    out = subprocess.run(
        [exe, "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "10s",
         "-s", str(script), url + "/api/event", "--", run_id],
        capture_output=True, text=True, timeout=seconds + 60, check=True,
    ).stdout  # fmt: skip
    line = next(x for x in out.splitlines() if x.startswith("BENCH "))
    d = json.loads(line[6:])
    secs = d["duration_us"] / 1e6
    return WrkResult(
        requests=d["requests"], seconds=secs, rps=d["requests"] / secs,
        errors=d["connect"] + d["read"] + d["write"] + d["timeout"], non_2xx=d["status"],
        p50_ms=d["p50_us"] / 1000, p99_ms=d["p99_us"] / 1000,
    )  # fmt: skip


# -- open loop -------------------------------------------------------------------------------


def raw_requests(count: int, port: int, run_id: str, seed: int = 5) -> list[bytes]:
    """`count` ready-made HTTP/1.1 requests (built before the clock starts)."""
    rng = random.Random(seed)
    bodies = [b.encode() for b in workload.bodies(SITE)]
    ips = workload.client_ips(500)
    agents = workload.COMMON_AGENTS
    out = []
    for n in range(1, count + 1):
        ua = (
            f"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            f"Chrome/131.0.{run_id}.{n} Safari/537.36"
            if n % UNIQUE_EVERY == 0 else agents[(n * 7) % len(agents)]
        )  # fmt: skip
        body = bodies[rng.randrange(len(bodies))]
        head = (
            f"POST /api/event HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: {ua}\r\n"
            f"Content-Type: text/plain\r\nOrigin: https://example.com\r\n"
            f"X-Forwarded-For: {ips[(n * 13) % len(ips)]}\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        out.append(head.encode() + body)
    return out


@dataclass
class OpenLoopResult:
    rate: float
    seconds: float
    sent: int
    achieved_rate: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    send_lag_p99_ms: float  # how late the generator itself sent (its own bottleneck)
    statuses: dict[str, int]
    generator_cpu_share: float  # generator CPU seconds / wall seconds


def _pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    s = sorted(values)
    return s[min(len(s) - 1, int(q / 100 * len(s)))]


class _Conn(asyncio.Protocol):
    """One keep-alive connection: one request in flight, responses parsed by hand (no streams,
    no task per request: the generator must stay far cheaper than the server it measures)."""

    def __init__(self, done: Callable[[_Conn, float, float, str], None]) -> None:
        self.done = done
        self.buf = bytearray()
        self.due = self.sent = 0.0
        self.transport: Any = None  # uvloop's transports are not asyncio.Transport subclasses
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def send(self, request: bytes, due: float) -> None:
        self.due, self.sent = due, time.perf_counter()
        self.transport.write(request)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self.buf[:end]).lower()
        at = head.find(b"content-length:")
        length = 0
        if at >= 0:
            stop = head.find(b"\r\n", at)
            length = int(head[at + 15 : stop if stop >= 0 else len(head)])
        if len(self.buf) < end + 4 + length:
            return
        del self.buf[: end + 4 + length]
        self.done(self, self.due, self.sent, head[9:12].decode())

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if self.due:
            self.done(self, self.due, self.sent, "connection-error")
        else:
            self.done(self, 0.0, 0.0, "")  # an idle connection closed by the server: forget it


async def _open_loop(
    port: int, rate: float, seconds: float, warmup: float, requests: list[bytes]
) -> OpenLoopResult:
    """Requests fall due at fixed times whatever the server does; each is sent on an idle
    connection (queued if none is idle) and its latency counts from when it fell due."""
    loop = asyncio.get_running_loop()
    clock = time.perf_counter  # uvloop's loop.time() has millisecond resolution
    total = int(rate * (warmup + seconds))
    latencies: list[float] = []
    lags: list[float] = []
    statuses: dict[str, int] = {}
    idle: deque[_Conn] = deque()  # first in, first out: every connection stays in use
    queue: deque[tuple[int, float]] = deque()
    answered = 0
    finished = loop.create_future()
    start = 0.0

    def done(conn: _Conn, due: float, sent: float, code: str) -> None:
        nonlocal answered
        if not due:
            if conn in idle:
                idle.remove(conn)
            return
        answered += 1
        if due - start >= warmup:
            latencies.append(clock() - due)
            lags.append(sent - due)
            statuses[code] = statuses.get(code, 0) + 1
        conn.due = 0.0
        if not conn.lost:
            if queue:
                i, d = queue.popleft()
                conn.send(requests[i], d)
            else:
                idle.append(conn)
        if answered == total and not finished.done():
            finished.set_result(None)

    conns = []
    for _ in range(CONNECTIONS):
        _, conn = await loop.create_connection(lambda: _Conn(done), "127.0.0.1", port)
        conns.append(conn)
        idle.append(conn)
    cpu0 = time.process_time()
    start = clock() + 0.05
    i = 0
    while i < total:
        due_now = min(total, int((clock() - start) * rate) + 1)
        while i < due_now:
            due = start + i / rate
            if idle:
                idle.popleft().send(requests[i], due)
            else:
                queue.append((i, due))
            i += 1
        # at least 1 ms: uvloop timers have millisecond resolution, shorter sleeps would spin
        await asyncio.sleep(max(0.001, start + i / rate - clock()))
    try:
        await asyncio.wait_for(asyncio.shield(finished), timeout=30)
    except TimeoutError:  # an overloaded server: give up on the stragglers, count them
        statuses["unanswered-30s"] = total - answered
    wall = clock() - start
    cpu = time.process_time() - cpu0
    for conn in conns:
        if conn.transport is not None:
            conn.transport.close()
    n = len(latencies)
    return OpenLoopResult(
        rate=rate, seconds=seconds, sent=n, achieved_rate=n / seconds,
        p50_ms=_pct(latencies, 50) * 1000, p99_ms=_pct(latencies, 99) * 1000,
        max_ms=max(latencies, default=0) * 1000, send_lag_p99_ms=_pct(lags, 99) * 1000,
        statuses=statuses, generator_cpu_share=cpu / wall,
    )  # fmt: skip


def open_loop(
    port: int, rate: float, seconds: float, run_id: str, warmup: float = 3.0
) -> OpenLoopResult:
    requests = raw_requests(int(rate * (warmup + seconds)) + 1, port, run_id)
    import uvloop  # what uvicorn runs on too (uvicorn[standard])

    return uvloop.run(_open_loop(port, rate, seconds, warmup, requests))
