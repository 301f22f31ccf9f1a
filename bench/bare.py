"""The ceiling for the ingest benchmark: Starlette + uvicorn answering 202 to the same POST,
reading the body and doing nothing else. `python -m bench.bare PORT`."""

from __future__ import annotations

import sys

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

ACCEPTED = b'{"accepted":1,"dropped":{}}'


async def event(request: Request) -> Response:
    await request.body()
    return Response(ACCEPTED, status_code=202, media_type="application/json")


async def healthz(request: Request) -> Response:
    return Response(b'{"status":"ok"}', media_type="application/json")


app = Starlette(routes=[Route("/api/event", event, methods=["POST"]), Route("/healthz", healthz)])

if __name__ == "__main__":
    from collector.transport import (
        UVICORN_OPTIONS,  # the collector's server options: a fair ceiling
    )

    # ...except its HTTP protocol: the ceiling is uvicorn's own (the collector's coalesces an
    # answer's two writes into one; docs/benchmarks.md gives the bare app's figure with it).
    options = {k: v for k, v in UVICORN_OPTIONS.items() if k != "http"}
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), **options)
