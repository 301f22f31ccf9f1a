"""Client-sent event ids already stored, shared through ClickHouse: a retry is stored once.

A beacon may carry its own `id` so that a client can retry it safely. The collector's memory of
ids (`RecentIds`) is per process and starts empty, so a retry after a restart (`kill -9` after the
spool had the event, before the answer left), or one that reached another worker or replica,
used to be stored twice. The writer therefore looks up each segment's client ids in the
`event_ids` table before inserting it, leaves out those another segment stored, and records the
new ones after the events insert. Events without a client id (all the snippet sends) cost
nothing: their rows do not carry the marker and a segment without it is not looked at.

Crash safety: the ids are recorded after the events (a crash between leaves events whose ids a
replay records), and each id records the segment that stored it, so a replayed segment finds its
own ids and is not taken for its own duplicate (ClickHouse then drops the replayed block by its
deduplication token). Two processes inserting the same id within the same instant can still
both store it: the look-up and the insert are not one transaction.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson


class Store(Protocol):
    """What this module needs of the store (the writer's ClickHouse connection)."""

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]: ...

    def insert_json(self, table: str, block: bytes, dedup_token: str | None = None) -> None: ...


# What a spooled row carries when its event id came from the client (collector.beacon puts it
# there; ClickHouse skips the unknown field). JSON-escaping of string values means client text
# can never contain these bytes with their quotes unescaped.
CLIENT_ID_KEY = "client_id"
_MARKER = b'"client_id":true'
_ID_PREFIX = b'{"event_id":"'  # how the rows begin (the first key of collector.beacon's row)

STORED = """
SELECT toString(event_id), segment FROM event_ids WHERE event_id IN {ids:Array(UUID)}
"""
_UUID = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


class _ArrayText:
    """A bound parameter's value given as its text (`['id', ...]`): the driver's own formatting
    of a 5,000-id list, element by element, took ~75 ms of this thread's CPU (GIL held) and
    ~250 ms in all; as one text, ~20 and ~50 ms. Still bound server-side: the server parses it
    as Array(UUID). Only ids checked against _UUID get here."""

    def __init__(self, ids: list[str]) -> None:
        self.text = "['" + "','".join(ids) + "']"

    def __str__(self) -> str:
        return self.text


@dataclass
class Checked:
    """A segment's block without the events whose client id was stored before."""

    block: bytes
    duplicates: list[bytes] = field(default_factory=list)  # the rows left out
    new_ids: list[str] = field(default_factory=list)  # to record once the block is in


def _event_id(line: bytes) -> str:
    """The row's event id, as collector.beacon wrote it (canonical UUID text)."""
    found = line[13:49] if line.startswith(_ID_PREFIX) and line[49:50] == b'"' else b""
    if not _UUID.fullmatch(found):  # not where the beacon puts it: read the row
        found = str(orjson.loads(line)["event_id"]).lower().encode()
        if not _UUID.fullmatch(found):
            raise ValueError(f"a spooled row's event_id is not a UUID: {found[:60]!r}")
    return found.decode()


def check(store: Store, block: bytes, segment: str) -> Checked:
    """Leave out of `block` the rows whose client id another segment stored, and repeats of an
    id within the block (the first is kept). Raises StoreError when ClickHouse cannot answer."""
    if _MARKER not in block:
        return Checked(block)
    lines = block.split(b"\n")[:-1]
    marked = {i: _event_id(line) for i, line in enumerate(lines) if _MARKER in line}
    rows = store.query(STORED, {"ids": _ArrayText(list(set(marked.values())))})
    elsewhere = {event_id for event_id, stored_by in rows if stored_by != segment}
    seen: set[str] = set()
    out = Checked(b"")
    kept = []
    for i, line in enumerate(lines):
        event_id = marked.get(i)
        if event_id is not None:
            if event_id in elsewhere or event_id in seen:
                out.duplicates.append(line)
                continue
            seen.add(event_id)
            out.new_ids.append(event_id)
        kept.append(line)
    out.block = b"\n".join(kept) + b"\n" if kept else b""
    return out


def record(store: Store, ids: list[str], segment: str) -> None:
    """Remember the ids a segment stored (its replay inserts them again: same token, once)."""
    if ids:
        block = b"".join(orjson.dumps({"event_id": i, "segment": segment}) + b"\n" for i in ids)
        store.insert_json("event_ids", block, dedup_token=f"spool:{segment}")
