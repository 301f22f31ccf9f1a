"""The one JSON error shape, for the collector and the API alike:

{"error": {"status": 400, "code": "invalid_field", "message": "...", "field": "url"}}
"""

from __future__ import annotations

from collections.abc import Mapping

import orjson
from starlette.responses import Response

CODES = {
    400: "invalid_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
    503: "unavailable",
}


def error_body(
    status: int, message: str, *, code: str | None = None, field: str | None = None
) -> bytes:
    """The error document as JSON bytes (the beacon endpoint answers through raw ASGI)."""
    error = {
        "status": status,
        "code": code or CODES.get(status, "error"),
        "message": message,
        "field": field,
    }
    return orjson.dumps({"error": error})


def error_response(
    status: int,
    message: str,
    *,
    code: str | None = None,
    field: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    return Response(
        error_body(status, message, code=code, field=field),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )
