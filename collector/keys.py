"""API keys: `int_<prefix>_<secret>`, stored as sha256 of the whole key with the short prefix
visible. Verified keys are cached in memory for `CACHE_SECONDS` (unknown ones for
`INVALID_CACHE_SECONDS`, apart), so the hot path does not query ClickHouse per request, and a
client whose lookups keep failing is throttled (`verify(..., client=)`); a revocation takes
effect at once in the process that revoked it and within `CACHE_SECONDS` everywhere else
(docs/api.md).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

from collector.ratelimit import RateLimiter
from collector.store import Store, utc_now

SCOPES = ("read", "write")
CACHE_SECONDS = 10.0
INVALID_CACHE_SECONDS = 10.0
_CACHE_MAX = 10_000
FAILED_LOOKUPS_BURST = 30  # unknown keys a client address may try before it is slowed
FAILED_LOOKUPS_PER_SECOND = 1.0
_PREFIX_LEN = 8
_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"  # no 0/o/1/l: prefixes are read aloud
_KEY_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

INSERT_KEY = "api_keys"
SELECT_BY_PREFIX = """
    SELECT prefix, key_hash, sites, scope, revoked_at
    FROM api_keys FINAL
    WHERE prefix = {prefix:String}
"""
SELECT_ALL = """
    SELECT prefix, name, sites, scope, created_at, revoked_at
    FROM api_keys FINAL
    ORDER BY created_at, prefix
"""
SELECT_ROW = """
    SELECT prefix, key_hash, name, sites, scope, created_at
    FROM api_keys FINAL
    WHERE prefix = {prefix:String} AND revoked_at IS NULL
"""


@dataclass(frozen=True)
class ApiKey:
    prefix: str
    sites: tuple[str, ...]
    scope: str  # read | write

    def can_write(self) -> bool:
        return self.scope == "write"


def hash_key(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def bearer(authorization: str) -> str | None:
    """The credential of an `Authorization: Bearer ...` header; None for any other scheme."""
    if not authorization.lower().startswith("bearer "):
        return None
    return authorization[7:].strip()


def parse(token: str) -> tuple[str, str] | None:
    """(prefix, secret) of a well-formed key, else None."""
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != "int" or len(parts[1]) != _PREFIX_LEN or len(parts[2]) < 20:
        return None
    return parts[1], parts[2]


def create(
    store: Store, sites: list[str], scope: str = "read", name: str = ""
) -> tuple[str, ApiKey]:
    """A new key: returns the plain key (shown once) and what it grants."""
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {', '.join(SCOPES)}")
    if not sites:
        raise ValueError("a key needs at least one site")
    prefix = "".join(secrets.choice(_ALPHABET) for _ in range(_PREFIX_LEN))
    secret = "".join(secrets.choice(_KEY_CHARS) for _ in range(32))  # ~190 bits
    token = f"int_{prefix}_{secret}"
    now = utc_now()
    store.insert_rows(INSERT_KEY, [{
        "prefix": prefix, "key_hash": hash_key(token), "name": name, "sites": sorted(set(sites)),
        "scope": scope, "created_at": now, "revoked_at": None, "updated_at": now,
    }])  # fmt: skip
    return token, ApiKey(prefix, tuple(sorted(set(sites))), scope)


def live_key(store: Store, prefix: str) -> dict[str, Any] | None:
    """The stored row of the key with this prefix, unless it is revoked."""
    rows = store.query_dicts(SELECT_ROW, {"prefix": prefix})
    return rows[0] if rows else None


def revoke(store: Store, prefix: str) -> bool:
    """Mark a key revoked; False if no live key has that prefix."""
    row = live_key(store, prefix)
    if row is None:
        return False
    now = utc_now()
    store.insert_rows(INSERT_KEY, [{**row, "revoked_at": now, "updated_at": now}])
    _cache.forget_prefix(prefix)
    return True


def list_keys(store: Store) -> list[dict[str, Any]]:
    return store.query_dicts(SELECT_ALL)


class _Cache:
    """Key hash -> (grant, expiry) of verified keys, and, apart, the hashes of unknown keys, so a
    client repeating a wrong key does not reach ClickHouse on every request. Unknown keys sit in
    their own bounded first-in-first-out table: any number of bogus keys never evicts a valid one."""

    def __init__(self) -> None:
        self._valid: dict[str, tuple[ApiKey, float]] = {}
        self._invalid: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, digest: str) -> tuple[bool, ApiKey | None]:
        now = time.monotonic()
        with self._lock:
            hit = self._valid.get(digest)
            if hit is not None and hit[1] >= now:
                return True, hit[0]
            expiry = self._invalid.get(digest)
        return (expiry is not None and expiry >= now), None

    def put(self, digest: str, key: ApiKey | None) -> None:
        with self._lock:
            if key is None:
                self._invalid[digest] = time.monotonic() + INVALID_CACHE_SECONDS
                self._invalid.move_to_end(digest)
                if len(self._invalid) > _CACHE_MAX:
                    self._invalid.popitem(last=False)
                return
            if len(self._valid) >= _CACHE_MAX:  # only real keys get here: never in practice
                self._valid.clear()
            self._valid[digest] = (key, time.monotonic() + CACHE_SECONDS)

    def forget_prefix(self, prefix: str) -> None:
        with self._lock:
            self._valid = {d: v for d, v in self._valid.items() if v[0].prefix != prefix}

    def clear(self) -> None:
        with self._lock:
            self._valid.clear()
            self._invalid.clear()


_cache = _Cache()


class Throttled(Exception):
    """This client's recent keys were all unknown: no database lookup for it before `wait` s."""

    def __init__(self, wait: float) -> None:
        super().__init__(f"too many unknown keys; retry in {wait:.0f} s")
        self.wait = wait


# Failed lookups per client address: each unknown key costs a ClickHouse query.
_failed = RateLimiter(FAILED_LOOKUPS_PER_SECOND, FAILED_LOOKUPS_BURST)
_failed_lock = threading.Lock()


def cached(token: str) -> tuple[bool, ApiKey | None]:
    """(True, grant) if the key's answer is in the memory cache; (False, None) if unknown."""
    return _cache.get(hash_key(token))


def verify(store: Store, token: str, client: Hashable | None = None) -> ApiKey | None:
    """The key's grant, or None for a malformed, unknown or revoked key. With `client` (the
    caller's address), a client whose lookups keep failing is refused with Throttled before the
    database is asked again; a cached answer is always given."""
    parsed = parse(token)
    if parsed is None:
        return None
    digest = hash_key(token)
    hit, cached = _cache.get(digest)
    if hit:
        return cached
    if client is not None:
        with _failed_lock:
            wait = _failed.wait(client)
        if wait:
            raise Throttled(wait)
    found: ApiKey | None = None
    for row in store.query_dicts(SELECT_BY_PREFIX, {"prefix": parsed[0]}):
        if row["revoked_at"] is None and hmac.compare_digest(row["key_hash"], digest):
            found = ApiKey(row["prefix"], tuple(row["sites"]), row["scope"])
    _cache.put(digest, found)
    if found is None and client is not None:
        with _failed_lock:
            _failed.allow(client)
    return found
