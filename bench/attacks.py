"""`python -m bench.attacks`: the header and connection attacks of issue 18 item 2 against a real
`intent serve` on loopback, with the server's RSS sampled. Prints one JSON document.

- big headers: 20 sockets each sending 50 header lines of 1 MiB and never ending the head;
- idle flood: 1,100 sockets that never send a byte, then 100 real clients (each a new
  connection sending one beacon), with the server's open-files limit at 1,024 (`--nofile`);
- slowloris: 100 connections sending one header line a second; how many are open after 30 s.

`--root DIR` serves another checkout (e.g. main, for the figures before a change). Every loop is
bounded in count and time.
"""

from __future__ import annotations

import argparse
import json
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import orjson

from bench import servers, workload

MIB = 1024 * 1024


@contextmanager
def _sampled(server: servers.Server) -> Iterator[dict[str, float]]:
    """Peak RSS (MiB) of the server while the block runs; `before` and `after` around it."""
    figures = {"before": server.rss_mb(), "peak": 0.0}
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.02):
            figures["peak"] = max(figures["peak"], server.rss_mb())

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        yield figures
    finally:
        done.set()
        sampler.join()
        figures["peak"] = max(figures["peak"], server.rss_mb())
        figures["after"] = server.rss_mb()


def _address(server: servers.Server) -> tuple[str, int]:
    host, port = server.url.removeprefix("http://").split(":")
    return host, int(port)


def _closed(sock: socket.socket) -> bool:
    sock.setblocking(False)
    try:
        return sock.recv(65536) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True
    finally:
        sock.setblocking(True)


def big_headers(server: servers.Server, sockets: int = 20, lines: int = 50) -> dict[str, Any]:
    line = b"X-Big: " + b"h" * (MIB - 9) + b"\r\n"
    sent: list[int] = []

    def attack() -> None:
        total = 0
        with socket.create_connection(_address(server), timeout=30) as sock:
            with suppress(OSError):
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
                for _ in range(lines):
                    sock.sendall(line)
                    total += len(line)
            sent.append(total)
            time.sleep(1)  # keep the socket open a moment: the server must close it, not us

    with _sampled(server) as rss:
        threads = [threading.Thread(target=attack) for _ in range(sockets)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    return {"sockets": sockets, "bytes_offered_mib": sockets * lines, "rss_mb": rss,
            "mib_sent_per_socket_max": round(max(sent, default=0) / MIB, 2)}  # fmt: skip


def _beacon(server: servers.Server) -> float | None:
    """One beacon on a new connection: seconds to a 202, None if it failed."""
    body = orjson.dumps({"site": servers.SITE, "url": "https://example.com/"})
    request = (b"POST /api/event HTTP/1.1\r\nHost: x\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) "
               b"Chrome/131.0 Safari/537.36\r\nContent-Length: " + str(len(body)).encode()
               + b"\r\n\r\n" + body)  # fmt: skip
    started = time.perf_counter()
    try:
        with socket.create_connection(_address(server), timeout=5) as sock:
            sock.sendall(request)
            ok = sock.recv(65536).startswith(b"HTTP/1.1 202 ")
    except OSError:
        return None
    return time.perf_counter() - started if ok else None


def idle_flood(server: servers.Server, idle: int = 1100, clients: int = 100) -> dict[str, Any]:
    held: list[socket.socket] = []
    refused = 0
    with _sampled(server) as rss:
        for _ in range(idle):
            try:
                held.append(socket.create_connection(_address(server), timeout=5))
            except OSError:
                refused += 1
        time.sleep(1)
        answered = [_beacon(server) for _ in range(clients)]
        closed = sum(_closed(s) for s in held)
    for s in held:
        s.close()
    ok = sorted(a for a in answered if a is not None)
    return {"idle_sockets": idle, "connect_failed": refused, "closed_by_server": closed,
            "clients_ok": len(ok), "clients": clients, "rss_mb": rss,
            "client_p50_ms": round(ok[len(ok) // 2] * 1000, 1) if ok else None}  # fmt: skip


def slowloris(
    server: servers.Server, connections: int = 100, seconds: float = 30
) -> dict[str, Any]:
    socks = [socket.create_connection(_address(server), timeout=5) for _ in range(connections)]
    for s in socks:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
    open_ = list(socks)
    deadline = time.monotonic() + seconds
    while open_ and time.monotonic() < deadline:
        for s in list(open_):
            try:
                s.sendall(b"X-Drip: 1\r\n")
            except OSError:
                open_.remove(s)
                continue
            if _closed(s):
                open_.remove(s)
        time.sleep(1)
    for s in socks:
        s.close()
    return {"connections": connections, "seconds": seconds, "still_open": len(open_)}


# The server process with its open-files limits set first (chDB raises the soft limit to the hard
# one when it opens, so the hard limit is what tells).
_SERVE = ("import resource, runpy, sys; resource.setrlimit(resource.RLIMIT_NOFILE, ({soft}, {hard})); "
          "sys.argv = ['intent', *sys.argv[1:]]; runpy.run_module('intent', run_name='__main__')")  # fmt: skip


def _start(workdir: Path, root: Path, soft: int, hard: int) -> servers.Server:
    geoip = workload.build_geoip(workdir / "geo.mmdb")
    env = {**servers.collector_env(workdir, geoip), "PYTHONPATH": str(root)}
    code = _SERVE.format(soft=soft, hard=hard)
    return servers._start("collector", ["-c", code, "serve", "--port", "{port}"], env, workdir)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.attacks", description=__doc__)
    p.add_argument("--root", default=str(Path(__file__).resolve().parent.parent))
    p.add_argument("--only", default="big_headers,idle_flood,slowloris")
    p.add_argument("--nofile", default="1024:1024", help="the server's soft:hard open-files limit")
    args = p.parse_args(argv)
    attacks: dict[str, Callable[[servers.Server], dict[str, Any]]] = {
        "big_headers": big_headers, "idle_flood": idle_flood, "slowloris": slowloris}  # fmt: skip
    results: dict[str, Any] = {}
    for name in args.only.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            soft, hard = (int(n) for n in args.nofile.split(":"))
            server = _start(Path(tmp), Path(args.root), soft, hard)
            try:
                results[name] = attacks[name](server)
                results[name]["healthz_after"] = _beacon(server) is not None
            finally:
                server.stop()
    print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
