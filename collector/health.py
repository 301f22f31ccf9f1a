"""The collector's own small endpoints: /healthz, /readyz, /metrics and the snippet
/js/intent.js (built by js-snippet/, served with an ETag, gzipped when asked)."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
from importlib import resources

import orjson
from prometheus_client import generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from collector.errors import error_response
from collector.state import Collector


def load_snippet() -> tuple[bytes, bytes, str] | None:
    """The built snippet: plain, gzipped and its ETag; None when js-snippet is not built."""
    try:
        body = resources.files("collector").joinpath("static/intent.js").read_bytes()
    except (FileNotFoundError, OSError):
        return None
    etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
    return body, gzip.compress(body, 9, mtime=0), etag


async def healthz(request: Request) -> Response:
    return Response(b'{"status":"ok"}', media_type="application/json")


async def readyz(request: Request) -> Response:
    c: Collector = request.app.state.collector
    problems = []
    if c.store is None or not await asyncio.to_thread(c.store.ping):
        problems.append("clickhouse unreachable")
    spool_problem = "spool not open" if c.spool is None else c.spool.problem()
    if spool_problem is not None:
        problems.append(spool_problem)
    if c.writer is not None and not c.writer.healthy:
        problems.append(f"writer failing: {c.writer.last_error}")
    body = {"status": "ok" if not problems else "unavailable", "problems": problems,
            "spool_bytes": c.spool.bytes if c.spool else 0,
            "spool_segments": len(c.spool.segments()) if c.spool else 0}  # fmt: skip
    return Response(
        orjson.dumps(body), status_code=200 if not problems else 503, media_type="application/json"
    )


async def metrics_endpoint(request: Request) -> Response:
    c: Collector = request.app.state.collector
    if c.spool is not None:
        c.metrics.spool_bytes.set(c.spool.bytes)
        c.metrics.spool_fsyncs.set(c.spool.fsyncs)
    return Response(generate_latest(c.metrics.registry), media_type=CONTENT_TYPE_LATEST)


async def snippet(request: Request) -> Response:
    c: Collector = request.app.state.collector
    if c.snippet is None:
        return error_response(404, "the snippet is not built (cd js-snippet && npm run build)")
    plain, gz, etag = c.snippet
    headers = {
        "ETag": etag,
        "Cache-Control": "public, max-age=86400, stale-while-revalidate=604800",
        "Vary": "Accept-Encoding",
        "Access-Control-Allow-Origin": "*",
    }
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    if "gzip" in request.headers.get("accept-encoding", ""):
        headers["Content-Encoding"] = "gzip"
        plain = gz
    return Response(plain, media_type="application/javascript; charset=utf-8", headers=headers)


def routes() -> list[BaseRoute]:
    return [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
        Route("/js/intent.js", snippet, methods=["GET"]),
    ]
