"""How uvicorn serves the collector: its options, and an HTTP protocol whose transport joins the
writes of one event-loop turn, so an answer leaves in one system call and one packet."""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

# How every uvicorn that serves this app must run. uvicorn believes X-Forwarded-For from
# 127.0.0.1 by default (proxy_headers, FORWARDED_ALLOW_IPS) and rewrites the peer address
# before the app sees it; only INTENT_TRUSTED_PROXIES may decide that (collector.clientip).
# No access log: it would write visitors' raw IPs.
UVICORN_OPTIONS: dict[str, Any] = {
    "proxy_headers": False,
    "server_header": False,
    "access_log": False,
    "log_level": "warning",
    "http": "collector.httplimits:LimitedHttpToolsProtocol",  # its limits: docs/collector.md
}


class _CoalescingTransport:
    """A transport that joins a write to the next one made in the same turn of the event loop:
    uvicorn writes an answer's status line and headers, then its body, as two writes, hence two
    system calls and, with TCP_NODELAY, two packets. A write with nothing after it in that turn
    (the headers of a streamed answer) leaves at the end of the turn; later writes of a stream
    go straight through, so the transport's flow control still sees them as they are made."""

    __slots__ = ("_held", "_loop", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None

    def write(self, data: bytes) -> None:
        held = self._held
        if held is None:
            self._held = data
            self._loop.call_soon(self._flush)
        else:
            self._held = None
            self._transport.write(b"".join((held, data)))

    def _flush(self) -> None:
        held = self._held
        if held is not None:
            self._held = None
            if not self._transport.is_closing():  # the client may have gone meanwhile
                self._transport.write(held)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class CoalescingHttpToolsProtocol(HttpToolsProtocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.transport = _CoalescingTransport(transport, self.loop)  # type: ignore[assignment]
