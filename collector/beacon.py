"""Parse and validate a beacon body into event rows. Pure: no I/O, no clock, no settings.

A body is one JSON object or an array of up to MAX_BATCH objects. The whole body is rejected
(400, naming the first bad field) if any event in it is invalid, so a client never has to guess
which half of a batch was stored.
"""

from __future__ import annotations

import os
import re
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson

from collector.storedids import CLIENT_ID_KEY

MAX_BODY_BYTES = 64 * 1024
MAX_BATCH = 100
MAX_URL = 2000
MAX_TITLE = 300
MAX_NAME = 120
MAX_VISITOR = 128
MAX_PROPS_BYTES = 2048
MAX_ENGAGED_MS = 24 * 3600 * 1000
TYPES = ("pageview", "engagement", "event", "identify")
UTM = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
_NO_UTM = dict.fromkeys(UTM, "")

_DOMAIN = re.compile(r"^(?=.{3,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_NAME = re.compile(r"^[\w.:/ -]{1,120}$")


class BeaconError(Exception):
    """A client error: the HTTP status, a machine code, a message and the field at fault."""

    def __init__(self, field: str | None, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.field = field
        self.message = message
        self.status = status


@dataclass(slots=True)
class Beacon:
    """One validated event: the row fields it fills, plus what only the pipeline may use."""

    site: str
    row: dict[str, Any]
    client_visitor: str = ""
    email_domain: str = ""
    client_ip: str = ""  # honoured only with a write key (server-side tracking)
    client_ua: str = ""
    client_id: bool = False  # the client sent `id`: a retry with the same id is stored once


def parse_body(body: bytes) -> list[Any]:
    if len(body) > MAX_BODY_BYTES:
        raise BeaconError(None, f"body larger than {MAX_BODY_BYTES} bytes", 413)
    if not body.strip():
        raise BeaconError(None, "empty body: expected a JSON object or array")
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise BeaconError(None, "body is not valid JSON") from None
    if isinstance(doc, dict):
        return [doc]
    if isinstance(doc, list):
        if not doc:
            raise BeaconError(None, "empty array: nothing to record")
        if len(doc) > MAX_BATCH:
            raise BeaconError(None, f"batch larger than {MAX_BATCH} events", 413)
        return doc
    raise BeaconError(None, "expected a JSON object or an array of objects")


def _text(
    obj: dict[str, Any], key: str, limit: int, where: str, required: bool = False, cut: bool = False
) -> str:
    """A string field; `cut` shortens an over-long value instead of refusing the event (a page
    with a long title or referrer is still a page view sales wants counted)."""
    value = obj.get(key)
    if value is None or value == "":
        if required:
            raise BeaconError(where + key, f"{key} is required")
        return ""
    if not isinstance(value, str):
        raise BeaconError(where + key, f"{key} must be a string")
    if len(value) > limit:
        if not cut:
            raise BeaconError(where + key, f"{key} longer than {limit} characters")
        value = value[:limit]
    if "\x00" in value:
        raise BeaconError(where + key, f"{key} contains a NUL character")
    return value


def _int(obj: dict[str, Any], key: str, low: int, high: int, where: str) -> int:
    value = obj.get(key, 0)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BeaconError(where + key, f"{key} must be a number")
    if value != value or value < low or value > high:  # NaN or out of range
        raise BeaconError(where + key, f"{key} must be between {low} and {high}")
    return int(value)


@lru_cache(maxsize=8192)  # a site's pages repeat: splitting costs ~5 µs, a hit ~0.1 µs
def _split_url(url: str) -> tuple[str, str, str, Mapping[str, str]] | None:
    """(scheme, host, path, query) of a URL, None if unparseable. The query is shared: read it only."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
    except ValueError:
        return None
    query = {k: v[:MAX_NAME] for k, v in parse_qsl(parts.query)}
    return parts.scheme, host, parts.path or "/", query


def _url_parts(url: str, field: str) -> tuple[str, str, Mapping[str, str]]:
    split = _split_url(url)
    if split is None:
        raise BeaconError(field, "not a valid URL")
    scheme, host, path, query = split
    if scheme not in ("http", "https") or not host:
        raise BeaconError(field, "must be an absolute http(s) URL")
    return host, path, query


def email_domain(value: str, field: str) -> str:
    """The domain of an email address or a bare domain, lower-cased; the address is discarded."""
    domain = value.rsplit("@", 1)[-1].strip().lower().rstrip(".")
    if not _DOMAIN.match(domain):
        raise BeaconError(field, "not a valid email domain")
    return domain


_random = bytearray()  # os.urandom drawn 4 KiB at a time: one system call per 256 ids
_random_lock = threading.Lock()
os.register_at_fork(after_in_child=_random.clear)  # a forked worker never reuses its parent's


def new_event_id() -> str:
    """A random (version 4) UUID as text, like str(uuid.uuid4()) at a third of its cost."""
    with _random_lock:
        if not _random:
            _random.extend(os.urandom(4096))
        b = _random[-16:]
        del _random[-16:]
    b[6] = b[6] & 0x0F | 0x40  # version 4
    b[8] = b[8] & 0x3F | 0x80  # RFC 4122 variant
    h = b.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def validate(obj: Any, index: int | None = None) -> Beacon:
    where = "" if index is None else f"[{index}]."
    if not isinstance(obj, dict):
        raise BeaconError(where.rstrip(".") or None, "each event must be a JSON object")
    site = _text(obj, "site", 100, where, required=True)
    kind = _text(obj, "type", 20, where) or "pageview"
    if kind not in TYPES:
        raise BeaconError(where + "type", f"type must be one of {', '.join(TYPES)}")
    url = _text(obj, "url", MAX_URL, where, required=kind in ("pageview", "engagement"))
    host, path, query = _url_parts(url, where + "url") if url else ("", "", {})
    referrer = _text(obj, "referrer", MAX_URL, where, cut=True)
    referrer_host = ""
    if referrer:
        split = _split_url(referrer)
        referrer_host = split[1] if split else ""
    # Absent optional fields skip the call (each costs ~0.2 µs, and most events lack most).
    name = (
        _text(obj, "name", MAX_NAME, where, required=kind == "event")
        if "name" in obj or kind == "event"
        else ""
    )
    if name and not _NAME.match(name):
        raise BeaconError(where + "name", "name may hold letters, digits, space and _ . : / -")
    event_id = obj.get("id")
    if event_id is None or event_id == "":
        eid = new_event_id()
    else:
        try:
            if not isinstance(event_id, str):
                raise ValueError(event_id)
            eid = str(uuid.UUID(event_id))
        except ValueError:
            raise BeaconError(where + "id", "id must be a UUID") from None
    props = obj.get("props")
    props_json = ""
    if props is not None:
        if not isinstance(props, dict):
            raise BeaconError(where + "props", "props must be an object")
        try:
            props_json = orjson.dumps(props).decode()
        except TypeError:
            raise BeaconError(where + "props", "props must be plain JSON") from None
        if len(props_json) > MAX_PROPS_BYTES:
            raise BeaconError(where + "props", f"props larger than {MAX_PROPS_BYTES} bytes")
        if props_json == "{}":
            props_json = ""
    domain = ""
    if kind == "identify":
        raw = _text(obj, "domain", 320, where) or _text(obj, "email", 320, where)
        if not raw:
            raise BeaconError(where + "domain", "identify needs a domain (or an email)")
        domain = email_domain(raw, where + ("domain" if obj.get("domain") else "email"))
    row: dict[str, Any] = {
        "event_id": eid,
        "site": site,
        "type": kind,
        "name": name,
        "url": url,
        "host": host,
        "path": path,
        "title": _text(obj, "title", MAX_TITLE, where, cut=True),
        "referrer": referrer,
        "referrer_host": referrer_host,
        "props": props_json,
        "engaged_ms": _int(obj, "engaged_ms", 0, MAX_ENGAGED_MS, where)
        if "engaged_ms" in obj
        else 0,
        "scroll": _int(obj, "scroll", 0, 100, where) if "scroll" in obj else 0,
    }
    if query:
        for key in UTM:
            row[key] = query.get(key, "")
    else:
        row.update(_NO_UTM)
    client_id = not (event_id is None or event_id == "")
    if client_id:  # the writer checks these ids against the ones stored before (a retry)
        row[CLIENT_ID_KEY] = True
    return Beacon(
        site=site,
        row=row,
        client_visitor=_text(obj, "visitor", MAX_VISITOR, where) if "visitor" in obj else "",
        email_domain=domain,
        client_ip=_text(obj, "ip", 64, where) if "ip" in obj else "",
        client_ua=_text(obj, "ua", 1000, where) if "ua" in obj else "",
        client_id=client_id,
    )


def parse(body: bytes) -> list[Beacon]:
    """Body bytes -> validated beacons, or BeaconError naming the first bad field."""
    items = parse_body(body)
    if len(items) == 1:
        return [validate(items[0])]
    return [validate(item, i) for i, item in enumerate(items)]
