from __future__ import annotations

import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import orjson
import pytest

from collector.settings import Settings
from collector.store import Store
from tests.conftest import CHROME_UA, LiveServer, SettingsFactory


def test_pageview_over_http_lands_in_events(server: LiveServer, store: Store, site: str) -> None:
    r = server.post(
        {
            "site": site,
            "type": "pageview",
            "url": "https://example.com/pricing?utm_source=ads",
            "title": "Pricing",
            "referrer": "https://www.google.com/search?q=x",
        }
    )
    assert r.status_code == 202, r.text
    assert r.json() == {"accepted": 1, "dropped": {}}
    server.flush()
    rows = store.query_dicts(
        "SELECT type, host, path, title, referrer_host, utm_source, browser, device "
        "FROM events WHERE site = {site:String}",
        {"site": site},
    )
    assert rows == [
        {
            "type": "pageview",
            "host": "example.com",
            "path": "/pricing",
            "title": "Pricing",
            "referrer_host": "www.google.com",
            "utm_source": "ads",
            "browser": "Chrome",
            "device": "desktop",
        }
    ]


def test_rate_limit_answers_429_with_retry_after(
    make_settings: SettingsFactory, serve: Callable[[Settings], LiveServer], site: str
) -> None:
    # 3 at once, then one per 100 s: the 4th request is refused whatever the machine's speed
    server = serve(make_settings(site, INTENT_RATE_LIMIT="0.01", INTENT_RATE_LIMIT_BURST="3"))
    body = {"site": site, "url": "https://example.com/"}
    assert [server.post(body).status_code for _ in range(3)] == [202, 202, 202]
    r = server.post(body)
    assert r.status_code == 429
    assert 1 <= int(r.headers["retry-after"]) <= 100
    assert r.json()["error"] == {"status": 429, "code": "rate_limited",
                                 "message": "too many requests from this address", "field": None}  # fmt: skip


def test_the_same_client_id_is_stored_once(server: LiveServer, store: Store, site: str) -> None:
    event_id = str(uuid.uuid4())
    body = {"site": site, "url": "https://example.com/demo", "id": event_id}
    assert server.post(body).json() == {"accepted": 1, "dropped": {}}
    r = server.post(body)
    assert r.status_code == 202
    assert r.json() == {"accepted": 0, "dropped": {"duplicate": 1}}
    assert r.headers["x-intent-dropped"] == "duplicate"
    server.flush()
    rows = store.query("SELECT toString(event_id) FROM events WHERE site = {s:String}", {"s": site})
    assert rows == [(event_id,)]
    dup = store.scalar(
        "SELECT sum(count) FROM dropped_events WHERE site = {s:String} AND reason = 'duplicate'",
        {"s": site},
    )
    assert dup == 1


def test_concurrent_requests_share_fsyncs(server: LiveServer, store: Store, site: str) -> None:
    spool = server.collector.spool
    assert spool is not None
    before = spool.fsyncs
    n = 240

    def send(i: int) -> int:
        return server.post({"site": site, "url": f"https://example.com/{i}"}).status_code

    with ThreadPoolExecutor(max_workers=48) as pool:
        statuses = list(pool.map(send, range(n)))
    assert statuses == [202] * n
    assert 1 <= spool.fsyncs - before < n  # group commit: never one fsync per request
    server.flush()
    assert store.scalar("SELECT count() FROM events WHERE site = {s:String}", {"s": site}) == n


def test_health_endpoints_and_snippet(server: LiveServer) -> None:
    assert httpx.get(server.url + "/healthz").json() == {"status": "ok"}
    ready = httpx.get(server.url + "/readyz")
    assert ready.status_code == 200 and ready.json()["problems"] == []
    js = httpx.get(server.url + "/js/intent.js")
    assert js.status_code == 200
    assert "javascript" in js.headers["content-type"] and "max-age" in js.headers["cache-control"]
    again = httpx.get(server.url + "/js/intent.js", headers={"If-None-Match": js.headers["etag"]})
    assert again.status_code == 304


def test_reading_a_streamed_body_stops_at_the_limit() -> None:
    """The endpoint stops reading once a body passes MAX_BODY_BYTES, whatever comes after (a
    413 over HTTP alone cannot show this: the parser refuses a long body too, after reading it)."""
    import asyncio

    from collector import beacon
    from collector.endpoint import _read_body

    chunk = b"x" * 16384
    received = 0

    async def receive() -> dict[str, Any]:
        nonlocal received
        received += 1
        return {"type": "http.request", "body": chunk, "more_body": received < 100}

    with pytest.raises(beacon.BeaconError) as refused:
        asyncio.run(_read_body(receive, None))
    assert refused.value.status == 413
    assert received == beacon.MAX_BODY_BYTES // len(chunk) + 1


def _segments_per_answer(url: str, body: bytes, answers: int = 20) -> float:
    """TCP segments carrying data the client received per answer on one keep-alive connection
    (TCP_INFO's tcpi_data_segs_in, Linux >= 4.6). Not tcpi_segs_in: a server slower than the
    delayed-ACK timer (a loaded machine) acknowledges the request in a segment of its own."""
    import socket
    import struct

    port = int(url.rsplit(":", 1)[1])
    request = (
        b"POST /api/event HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\n"
        b"User-Agent: " + CHROME_UA.encode() + b"\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )

    def segments_in(sock: socket.socket) -> int:
        return int(
            struct.unpack_from("I", sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256), 152)[
                0
            ]
        )

    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        before = segments_in(sock)
        for _ in range(answers):
            sock.sendall(request)
            answer = b""
            while b"\r\n\r\n" not in answer or not answer.endswith(b"}"):
                answer += sock.recv(65536)
            assert answer.startswith(b"HTTP/1.1 202 "), answer
        return (segments_in(sock) - before) / answers


def test_an_answer_leaves_in_one_write(
    site: str, make_settings: SettingsFactory, serve: Callable[[Settings], LiveServer]
) -> None:
    """uvicorn writes the status line and headers, then the body: with TCP_NODELAY that is two
    packets per answer. The collector's protocol joins the writes of one loop turn."""
    from collector.transport import UVICORN_OPTIONS
    from intent.server import create_app
    from tests.conftest import start_server

    body = orjson.dumps({"site": site, "url": "https://example.com/"})
    ours = serve(make_settings(site))
    assert UVICORN_OPTIONS["http"] == "collector.httplimits:LimitedHttpToolsProtocol"  # joins too
    assert _segments_per_answer(ours.url, body) < 1.3

    stock = start_server(create_app(make_settings(site)), http="httptools")  # uvicorn's own
    try:
        assert _segments_per_answer(stock.url, body) >= 1.8  # what it saves: a packet an answer
    finally:
        stock.stop()


def test_background_work_runs_below_the_event_loops_priority(server: LiveServer) -> None:
    """The writer and the engine's threads get INTENT_BACKGROUND_NICE (10 by default); what
    answers visitors (the event loop, the spool's sync helper) keeps its priority."""
    import os
    import threading
    from pathlib import Path

    c = server.app.state.collector
    assert c.settings.background_nice == 10

    def nice(tid: int | None) -> int:
        assert tid is not None
        return os.getpriority(os.PRIO_PROCESS, tid)

    ours = {t.native_id for t in threading.enumerate()}
    engine = {int(t.name): (t / "comm").read_text().strip()
              for t in Path("/proc/self/task").iterdir() if int(t.name) not in ours}  # fmt: skip
    memory = {tid for tid, name in engine.items() if name in ("MemoryWorker", "jemalloc_bg_thd")}
    assert memory and all(nice(tid) <= 0 for tid in memory)  # they return freed memory
    assert len(engine) > len(memory) and all(nice(t) >= 10 for t in engine.keys() - memory)
    assert nice(c.writer._thread.native_id) == 10
    assert c.spool._helper is not None and nice(c.spool._helper.pid) == 0  # the sync helper
    assert nice(server.thread.native_id) == 0  # uvicorn's event loop in this test


def test_joined_writes_keep_their_order_and_nothing_waits_past_a_turn_or_a_close() -> None:
    """The transport under uvicorn: on a real TCP connection, writes arrive complete and in
    order whether joined, left alone at the end of a turn (a stream's headers), or written just
    before the connection is closed."""
    import asyncio

    from collector.transport import _CoalescingTransport

    async def scenario() -> bytes:
        received = bytearray()
        done = asyncio.Event()

        async def collect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            while chunk := await reader.read(65536):  # until the client closes
                received.extend(chunk)
            done.set()
            writer.close()

        server = await asyncio.start_server(collect, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_connection(asyncio.Protocol, "127.0.0.1", port)
        t = _CoalescingTransport(transport, loop)  # type: ignore[arg-type]
        t.write(b"head|")
        t.write(b"body|")  # joined with the one before
        t.write(b"stream-head|")  # alone: leaves at the end of this turn
        for _ in range(100):  # the server side reads what has arrived so far
            await asyncio.sleep(0.01)
            if len(received) == len(b"head|body|stream-head|"):
                break
        assert bytes(received) == b"head|body|stream-head|"
        t.write(b"chunk|")
        t.write(b"last")
        t.close()  # what is held goes first
        await asyncio.wait_for(done.wait(), 10)
        server.close()
        return bytes(received)

    assert asyncio.run(scenario()) == b"head|body|stream-head|chunk|last"
