"""What a connection may cost before the app sees a request: header bytes, the time to send a
request's head and body, idle time, and how many connections are open at once.

uvicorn's httptools protocol reads header lines of any length and never closes a connection that
sends nothing: 20 sockets sending 1 MiB header lines grew a server by a gigabyte, and idle
sockets held every descriptor the process could open. `LimitedHttpToolsProtocol` is the
collector's protocol with those limits (INTENT_MAX_HEADER_BYTES, INTENT_HEADER_TIMEOUT_S,
INTENT_BODY_TIMEOUT_S, INTENT_IDLE_TIMEOUT_S, INTENT_MAX_CONNECTIONS; docs/configuration.md).

Per request it only counts bytes in `data_received` and moves the connection between three
insertion-ordered waiting lists (idle, reading a head, reading a body); one timer per server
sweeps the front of each list, and at the connection cap the oldest waiting connection makes
room for the new one, so real clients keep being answered while idle or slow ones are closed.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import threading
import weakref
from collections import OrderedDict
from pathlib import Path
from typing import Any

import httptools
from uvicorn.config import Config
from uvicorn.server import ServerState

from collector.errors import error_body
from collector.metrics import Metrics
from collector.settings import Settings
from collector.transport import CoalescingHttpToolsProtocol

log = logging.getLogger("intent.collector")

# Where a connection's current request is. Only the first three wait on the client, so only
# they have a deadline and may be closed to make room; BUSY is the app's turn.
IDLE, HEAD, BODY, BUSY = 0, 1, 2, 3
_REASONS = ("idle_timeout", "header_timeout", "body_timeout")
# Descriptors kept for everything but client sockets: the embedded engine's files and
# threads, the spool, GeoIP readers, outgoing connections (a running server holds ~150).
RESERVED_DESCRIPTORS = 512


class HeadTooLarge(Exception):
    """Raised inside the parser's callback to stop it mid-chunk."""


def raise_open_files_limit() -> int:
    """Raise this process's soft RLIMIT_NOFILE to the hard limit; the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if wanted > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            soft = wanted
        except (ValueError, OSError) as exc:  # e.g. above fs.nr_open: keep what we have
            log.warning("could not raise the open-files limit to %d: %s", wanted, exc)
    return soft


def _answer(status: bytes, body: bytes) -> bytes:
    return b"".join((
        b"HTTP/1.1 ", status, b"\r\ncontent-type: application/json\r\n",
        b"content-length: ", str(len(body)).encode(), b"\r\nconnection: close\r\n\r\n", body,
    ))  # fmt: skip


class ConnectionGuard:
    """The limits and waiting lists of one uvicorn server (all its connections, one loop)."""

    def __init__(
        self, settings: Settings, loop: asyncio.AbstractEventLoop, metrics: Metrics
    ) -> None:
        self.loop = loop
        self.max_header_bytes = settings.max_header_bytes
        self.timeouts = (settings.idle_timeout_s, settings.header_timeout_s,
                         settings.body_timeout_s)  # fmt: skip
        self.capacity = max(16, min(settings.max_connections,
                                    raise_open_files_limit() - RESERVED_DESCRIPTORS))  # fmt: skip
        # protocol -> loop time it entered the list; oldest first.
        self.waiting: tuple[OrderedDict[LimitedHttpToolsProtocol, float], ...] = tuple(
            OrderedDict() for _ in _REASONS
        )
        self.interval = min(1.0, max(0.05, min(self.timeouts) / 4))
        self._sweeping = False
        self.closed = {reason: metrics.connections_closed.labels(reason) for reason in (
            *_REASONS, "evicted", "refused", "header_too_large")}  # fmt: skip
        self.too_large = _answer(b"431 Request Header Fields Too Large", error_body(
            431, f"request line and headers larger than {self.max_header_bytes} bytes",
            code="headers_too_large"))  # fmt: skip
        self.busy = _answer(b"503 Service Unavailable", error_body(
            503, "too many connections; retry shortly"))  # fmt: skip

    def start_sweeping(self) -> None:
        if not self._sweeping:
            self._sweeping = True
            self.loop.call_later(self.interval, self._sweep)

    def _sweep(self) -> None:
        now = self.loop.time()
        for phase, waiting in enumerate(self.waiting):
            oldest_allowed = now - self.timeouts[phase]
            while waiting:
                protocol, since = next(iter(waiting.items()))
                if since > oldest_allowed:
                    break
                waiting.popitem(last=False)
                protocol.drop(_REASONS[phase])
        if any(self.waiting):
            self.loop.call_later(self.interval, self._sweep)
        else:
            self._sweeping = False

    def make_room(self) -> bool:
        """Close the longest-waiting idle connection, else the oldest reading a head, else a
        body; False if every connection is busy in the app."""
        for waiting in self.waiting:
            if waiting:
                protocol, _ = waiting.popitem(last=False)
                protocol.drop("evicted")
                return True
        return False


_guards: weakref.WeakKeyDictionary[ServerState, ConnectionGuard] = weakref.WeakKeyDictionary()
_guards_lock = threading.Lock()


def _settings_of(app: Any) -> tuple[Settings, Metrics]:
    """The collector's settings and metrics, below whatever middleware uvicorn wrapped it in."""
    for _ in range(8):
        collector: Any = getattr(getattr(app, "state", None), "collector", None)
        if isinstance(getattr(collector, "settings", None), Settings):
            return collector.settings, collector.metrics
        app = getattr(app, "app", None)
    return Settings(config_path=Path("intent.toml")), Metrics()  # not the collector: defaults


def guard_of(
    config: Config, server_state: ServerState, loop: asyncio.AbstractEventLoop
) -> ConnectionGuard:
    """The guard of this server, made by its first connection."""
    guard = _guards.get(server_state)
    if guard is None:
        with _guards_lock:
            guard = _guards.get(server_state)
            if guard is None:
                settings, metrics = _settings_of(config.loaded_app)
                guard = _guards[server_state] = ConnectionGuard(settings, loop, metrics)
    return guard


class LimitedHttpToolsProtocol(CoalescingHttpToolsProtocol):
    """The collector's protocol (UVICORN_OPTIONS["http"]) with the limits of ConnectionGuard."""

    def __init__(self, config: Config, server_state: ServerState, app_state: dict[str, Any],
                 _loop: asyncio.AbstractEventLoop | None = None) -> None:  # fmt: skip
        super().__init__(config, server_state, app_state, _loop)
        self._guard = guard_of(config, server_state, self.loop)
        self._phase = IDLE  # of the request being read or answered
        self._listed = BUSY  # the waiting list this connection is in (BUSY: none)
        self._head_bytes = 0  # bytes received since the current request's head began

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        guard = self._guard
        full = len(self.connections) >= guard.capacity and not guard.make_room()
        super().connection_made(transport)
        if full:  # every connection is in the app: this one cannot be served now
            guard.closed["refused"].inc()
            self._phase = BUSY
            self.transport.write(guard.busy)
            self.transport.close()
            return
        self._relist()
        guard.start_sweeping()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._listed != BUSY:
            self._guard.waiting[self._listed].pop(self, None)
            self._listed = BUSY
        super().connection_lost(exc)

    def drop(self, reason: str) -> None:
        """Close for a limit; the guard has already taken it off its waiting list."""
        self._listed = BUSY
        self._phase = BUSY
        self._guard.closed[reason].inc()
        if not self.transport.is_closing():
            self.transport.close()

    def _relist(self) -> None:
        phase = self._phase
        if phase == self._listed:
            return
        waiting = self._guard.waiting
        if self._listed != BUSY:
            del waiting[self._listed][self]
        if phase != BUSY:
            waiting[phase][self] = self.loop.time()
        self._listed = phase

    def data_received(self, data: bytes) -> None:
        if self._phase <= HEAD:
            self._head_bytes += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            pass  # no WebSockets here (_should_upgrade_to_ws): the request is served as HTTP
        except httptools.HttpParserError as exc:
            if isinstance(exc.__context__, HeadTooLarge):
                self._refuse_head()
            else:
                self.send_400_response("Invalid HTTP request received.")
            return
        if self._phase <= HEAD:  # the head is not complete yet
            if self._head_bytes > self._guard.max_header_bytes:
                self._refuse_head()
                return
            self._phase = HEAD
        self._relist()

    def _refuse_head(self) -> None:
        self._guard.closed["header_too_large"].inc()
        self._phase = BUSY
        self._relist()
        self.transport.write(self._guard.too_large)
        self.transport.close()

    def _should_upgrade_to_ws(self) -> bool:
        return False  # the app serves no WebSockets; an upgrade would leave our bookkeeping

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._phase >= BODY:  # a request pipelined behind one still being read or answered
            self._head_bytes = 0
        self._phase = HEAD

    def on_headers_complete(self) -> None:
        limit = self._guard.max_header_bytes
        if self._head_bytes > limit and self._head_size() > limit:  # rare: a big first chunk
            raise HeadTooLarge
        self._head_bytes = 0
        self._phase = BODY
        super().on_headers_complete()

    def _head_size(self) -> int:
        """The head's size as parsed: the chunk count also held the body's first bytes."""
        return len(self.url) + sum(len(n) + len(v) + 4 for n, v in self.headers) + 16

    def on_message_complete(self) -> None:
        super().on_message_complete()
        # Answered before its body was read (a 413, a 401): the connection now waits for the next.
        self._phase = IDLE if self.cycle.response_complete else BUSY

    def on_response_complete(self) -> None:
        # uvicorn's, without its per-response keep-alive timer: the idle list times that out.
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        self.flow.resume_reading()
        if self.pipeline:
            cycle, app = self.pipeline.pop()
            self._start_asgi_task(cycle, app)
        elif self._phase == BUSY:  # the request was read whole: wait for the next one
            self._phase = IDLE
            self._relist()
