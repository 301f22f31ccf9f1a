"""Attacks on the collector's connections, each with the server's RSS and a bystander's latency
sampled throughout: slow heads, slow bodies, idle sockets, oversized heads, huge user agents,
and a flood (wrk). Every loop ends after its count or its seconds, whichever comes first."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from pathlib import Path
from typing import Any

from bench import load
from bench.chaos.rig import HEADERS, Sampler
from bench.servers import Server

REQUEST_LINE = b"POST /api/event HTTP/1.1\r\nHost: 127.0.0.1\r\n"


def _connect(port: int) -> socket.socket | None:
    try:
        return socket.create_connection(("127.0.0.1", port), timeout=2)
    except OSError:
        return None


def _closed_by_server(sock: socket.socket) -> bool:
    """True once the server closed the connection or answered (a 408/431 ends it too)."""
    try:
        sock.setblocking(False)
        return sock.recv(4096, socket.MSG_PEEK) is not None
    except BlockingIOError:
        return False
    except OSError:
        return True
    finally:
        sock.setblocking(True)


def _trickle(
    port: int, count: int, seconds: float, prefix: bytes, chunk: bytes, interval: float
) -> dict[str, Any]:
    """`count` connections each sending `prefix`, then `chunk` every `interval` s for `seconds`
    (nothing when `chunk` is empty): how many the server has closed by the end."""
    socks = [s for s in (_connect(port) for _ in range(count)) if s is not None]
    opened = len(socks)
    for s in socks:
        if prefix:
            with contextlib.suppress(OSError):
                s.sendall(prefix)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(interval)
        if chunk:
            for s in socks:
                with contextlib.suppress(OSError):
                    s.send(chunk, socket.MSG_DONTWAIT)
    still_open = sum(1 for s in socks if not _closed_by_server(s))
    for s in socks:
        s.close()
    return {"connections": count, "opened": opened, "still_open_at_end": still_open}


def _oversized(port: int, sockets: int, lines: int, seconds: float) -> dict[str, Any]:
    """`sockets` connections in parallel, each sending up to `lines` header lines of 1 MiB and
    never ending the head: how many bytes the server took before closing them."""
    line = b"X-Big: " + b"a" * (1 << 20) + b"\r\n"
    accepted = [0] * sockets
    deadline = time.monotonic() + seconds

    def one(i: int) -> None:
        s = _connect(port)
        if s is None:
            return
        try:
            s.settimeout(5)
            s.sendall(REQUEST_LINE)
            for _ in range(lines):
                if time.monotonic() > deadline:
                    break
                s.sendall(line)
                accepted[i] += len(line)
        except OSError:
            pass  # the server closed it: what we want
        finally:
            s.close()

    threads = [threading.Thread(target=one, args=(i,)) for i in range(sockets)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 30)
    return {"sockets": sockets, "lines_of_1MiB": lines, "mib_sent": sum(accepted) / (1 << 20)}


def _huge_agents(port: int, clients: int, agent_bytes: int, seconds: float) -> dict[str, Any]:
    """`clients` loops sending events whose User-Agent is `agent_bytes` long, for `seconds`."""
    body = b'{"site":"bench.example","url":"https://example.com/"}'
    request = (
        REQUEST_LINE + b"User-Agent: Mozilla/5.0 " + b"x" * agent_bytes + b"\r\n"
        b"Content-Type: text/plain\r\nOrigin: https://example.com\r\n"
        + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
        + body
    )
    statuses: dict[str, int] = {}
    deadline = time.monotonic() + seconds

    def one() -> None:
        while time.monotonic() < deadline:
            s = _connect(port)
            if s is None:
                statuses["connect-error"] = statuses.get("connect-error", 0) + 1
                time.sleep(0.1)
                continue
            try:
                s.settimeout(10)
                s.sendall(request)
                code = s.recv(64)[9:12].decode() or "closed"
            except OSError:
                code = "connection-error"
            finally:
                s.close()
            statuses[code] = statuses.get(code, 0) + 1

    threads = [threading.Thread(target=one) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 30)
    return {"clients": clients, "agent_bytes": agent_bytes, "statuses": statuses}


def _quiet(seconds: float) -> dict[str, Any]:
    """No attack: the bystander's latency on this server and machine, to compare with."""
    time.sleep(seconds)
    return {}


def _port(server: Server) -> int:
    return int(server.url.rsplit(":", 1)[1])


def run_all(server: Server, workdir: Path, size: dict[str, Any]) -> dict[str, Any]:
    """Each attack in turn against one server, with its own sampler."""
    port, secs = _port(server), size["attack_seconds"]
    attacks: dict[str, Any] = {
        "baseline_no_attack": lambda: _quiet(secs),
        "slow_headers": lambda: _trickle(port, size["slow_connections"], secs,
                                         REQUEST_LINE, b"X-a: b\r\n", 1.0),
        "slow_body": lambda: _trickle(port, size["slow_connections"], secs,
                                      REQUEST_LINE + HEADERS.encode()
                                      + b"Content-Length: 100000\r\n\r\n", b"{", 1.0),
        "idle_connections": lambda: _trickle(port, size["idle_connections"], secs, b"", b"", 1.0),
        "oversized_headers": lambda: _oversized(port, size["big_sockets"], size["big_lines"], secs),
        "huge_user_agents": lambda: _huge_agents(port, 2, 500_000, secs),
    }  # fmt: skip
    results: dict[str, Any] = {}
    for name, attack in attacks.items():
        with Sampler(server) as sampler:
            results[name] = attack()
        results[name].update(sampler.figures())
        results[name]["rss_before_mb"] = sampler.rss[0] if sampler.rss else 0.0
        time.sleep(size["settle_seconds"])
        results[name]["rss_after_mb"] = server.rss_mb()
    return results


def flood(server: Server, workdir: Path, seconds: float, settle: float) -> dict[str, Any]:
    """wrk at full speed for `seconds`: RSS before, peak (and its heap share), `settle` s after."""
    script = load.write_lua(workdir / "flood.lua")
    before = server.rss_mb()
    with Sampler(server, interval=0.1) as sampler:
        r = load.wrk(server.url, script, seconds, "flood")
    time.sleep(settle)
    return {"requests": r.requests, "rps": r.rps, "non_2xx": r.non_2xx, "errors": r.errors,
            "rss_before_mb": before, "rss_after_mb": server.rss_mb(),
            "rss_after_anon_mb": server.rss_mb("RssAnon"), **sampler.figures()}  # fmt: skip
