"""Fuzzing through the real server: hypothesis bodies and headers at /api/event, schemathesis
cases of every /api/v1 operation (its own OpenAPI document). Counted, not asserted: the
report's criterion is 0 answers of 5xx (503, the documented refusal, is reported apart)."""

from __future__ import annotations

import json
import random
import time
from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from bench.chaos.rig import AGENT
from bench.servers import SITE

_TEXT = st.text(max_size=40)
_SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | _TEXT
_JSON = st.recursive(_SCALARS, lambda c: st.lists(c, max_size=4) | st.dictionaries(_TEXT, c, max_size=4),
                     max_leaves=12)  # fmt: skip
_FIELDS = {
    "site": st.just(SITE) | _TEXT | _SCALARS,
    "type": st.sampled_from(["pageview", "engagement", "event", "identify", "x", ""]) | _SCALARS,
    "url": st.just("https://example.com/pricing") | _TEXT | _SCALARS,
    "referrer": _TEXT | _SCALARS,
    "title": _TEXT | _SCALARS,
    "name": st.sampled_from(["signup", "a b", "x" * 300]) | _SCALARS,
    "id": st.uuids().map(str) | _TEXT | _SCALARS,
    "engaged_ms": st.integers() | _SCALARS,
    "scroll": st.integers() | _SCALARS,
    "email": st.emails() | _TEXT,
    "props": _JSON,
}
_BEACON = st.fixed_dictionaries({}, optional=_FIELDS)  # type: ignore[arg-type]
_BODY = st.one_of(
    _BEACON.map(lambda d: json.dumps(d, default=str).encode()),
    st.lists(_BEACON, max_size=30).map(lambda d: json.dumps(d, default=str).encode()),
    _JSON.map(lambda d: json.dumps(d).encode()),
    st.binary(max_size=300),
)
_VALID = st.fixed_dictionaries(
    {"site": st.just(SITE), "url": st.text(max_size=30).map(lambda p: "https://example.com/" + p)},
    optional={
        "type": st.sampled_from(["pageview", "engagement"]),
        "id": st.uuids().map(str),
        "engaged_ms": st.integers(0, 10**6),
        "scroll": st.integers(0, 100),
    },
).map(lambda d: json.dumps(d).encode())
_HEADERS = st.fixed_dictionaries(
    {},
    optional={
        "User-Agent": st.just(AGENT) | st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=200),
        "Content-Type": st.sampled_from(["text/plain", "application/json", "x/y", ""]),
        "Origin": st.sampled_from(["https://example.com", "null", "https://evil.example", ""]),
        "X-Forwarded-For": st.sampled_from(["203.0.113.9", "::1", "bogus", "1.2.3.4, 5.6.7.8"]),
    },
)  # fmt: skip

_SETTINGS = settings(max_examples=1, deadline=None, database=None, phases=[Phase.generate],
                     suppress_health_check=list(HealthCheck))  # fmt: skip


def _note(statuses: dict[str, int], code: str) -> None:
    statuses[code] = statuses.get(code, 0) + 1


def _pool(size: int) -> list[tuple[bytes, dict[str, str]]]:
    """`size` distinct hypothesis-made (body, headers) pairs."""
    pool: list[tuple[bytes, dict[str, str]]] = []

    @given(body=_BODY | _VALID, headers=_HEADERS)
    @settings(_SETTINGS, max_examples=size)
    def collect(body: bytes, headers: dict[str, str]) -> None:
        pool.append((body, headers))

    collect()
    return pool


def _mutate(rng: random.Random, body: bytes) -> bytes:
    """One cheap random change: a flipped byte, a cut, an inserted run, or a doubled body."""
    if not body:
        return rng.randbytes(rng.randrange(1, 64))
    at = rng.randrange(len(body))
    kind = rng.randrange(4)
    if kind == 0:
        return body[:at] + bytes([rng.randrange(256)]) + body[at + 1 :]
    if kind == 1:
        return body[:at]
    if kind == 2:
        return body[:at] + rng.randbytes(rng.randrange(1, 32)) + body[at:]
    return body + body


def event_fuzz(url: str, count: int, pool_size: int, seconds: float) -> dict[str, Any]:
    """`count` requests to /api/event (or as many as fit in `seconds`): hypothesis makes
    `pool_size` bodies and header sets (generation is far slower than a request), each request
    sends one of them, half of them with a random mutation."""
    statuses: dict[str, int] = {}
    pool = _pool(pool_size)
    rng = random.Random(18)
    deadline = time.monotonic() + seconds
    with httpx.Client(base_url=url, timeout=10) as client:
        for i in range(count):
            if time.monotonic() > deadline:
                break
            body, headers = pool[i % len(pool)]
            if i >= len(pool) and rng.random() < 0.5:
                body = _mutate(rng, body)
            try:
                r = client.post("/api/event", content=body, headers=headers)
                _note(statuses, str(r.status_code))
            except httpx.HTTPError as exc:
                _note(statuses, type(exc).__name__)
    result = _summary(statuses)
    result["distinct_generated"] = len(pool)
    return result


def api_fuzz(url: str, token: str, count: int, seconds: float) -> dict[str, Any]:
    """About `count` schemathesis cases over every /api/v1 operation, with a write key for the
    site (half the cases aim at that site, half at whatever the schema generates)."""
    statuses: dict[str, int] = {}
    deadline = time.monotonic() + seconds
    headers = {"Authorization": f"Bearer {token}"}
    schema = schemathesis.openapi.from_url(url + "/api/v1/openapi.json")
    operations = [r.ok() for r in schema.get_all_operations()]  # type: ignore[union-attr]
    per_operation = max(1, count // max(1, len(operations)))
    for operation in operations:

        @given(case=operation.as_strategy(), own_site=st.booleans())
        @settings(_SETTINGS, max_examples=per_operation)
        def one(case: Any, own_site: bool) -> None:
            if time.monotonic() > deadline:
                return
            if "site" in (case.path_parameters or {}) and own_site:
                case.path_parameters["site"] = SITE
            try:
                r = case.call(base_url=url, headers=headers, timeout=10)
                _note(statuses, str(r.status_code))
            except Exception as exc:  # a transport error is a figure too
                _note(statuses, type(exc).__name__)

        one()
    result = _summary(statuses)
    result["operations"] = len(operations)
    return result


def _summary(statuses: dict[str, int]) -> dict[str, Any]:
    return {
        "requests": sum(statuses.values()),
        "server_5xx": sum(n for s, n in statuses.items() if s.startswith("5") and s != "503"),
        "refused_503": statuses.get("503", 0),
        "statuses": dict(sorted(statuses.items())),
    }
