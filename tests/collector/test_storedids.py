"""A client-sent event id is stored once across processes: two collectors sharing one spool
directory (two slots, as `--workers 2` does) and the session database, each with its own memory
of ids, as two workers are."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import orjson

from collector.dedup import RecentIds
from collector.settings import Settings
from collector.store import Store
from tests.conftest import LiveServer, SettingsFactory

Serve = Callable[[Settings], LiveServer]


def stored_ids(store: Store, site: str) -> list[str]:
    rows = store.query("SELECT toString(event_id) FROM events WHERE site = {s:String}", {"s": site})
    return sorted(r[0] for r in rows)


def duplicates(store: Store, site: str) -> int:
    return int(
        store.scalar(
            "SELECT sum(count) FROM dropped_events WHERE site = {s:String} "
            "AND reason = 'duplicate'",
            {"s": site},
        )
        or 0
    )


def page(site: str, event_id: str, path: str = "/pricing") -> dict[str, str]:
    return {"site": site, "url": "https://example.com" + path, "id": event_id}


def test_a_retry_at_another_worker_is_stored_once(
    make_settings: SettingsFactory, serve: Serve, store: Store, site: str
) -> None:
    settings = make_settings(site, INTENT_WRITER_INTERVAL_MS="60000")
    a, b = serve(settings), serve(settings)
    assert a.collector.spool and b.collector.spool
    assert a.collector.spool.directory != b.collector.spool.directory  # one slot each
    sent_first, both_pending = str(uuid.uuid4()), str(uuid.uuid4())
    # 1. stored by A, then retried at B, which has never seen it
    assert a.post(page(site, sent_first)).json() == {"accepted": 1, "dropped": {}}
    a.flush()
    assert b.post(page(site, sent_first)).json() == {"accepted": 1, "dropped": {}}
    b.flush()
    # 2. in both spools at once (the client gave up on A while it was slow), sent one by one
    assert a.post(page(site, both_pending)).status_code == 202
    assert b.post(page(site, both_pending)).status_code == 202
    b.flush()
    a.flush()
    assert stored_ids(store, site) == sorted([sent_first, both_pending])
    assert duplicates(store, site) == 2
    hits = store.scalar("SELECT sum(hits) FROM daily_activity WHERE site = {s:String}", {"s": site})
    assert hits == 2  # the rollups never saw the duplicates


def test_a_replayed_segment_is_not_its_own_duplicate(
    make_settings: SettingsFactory, serve: Serve, store: Store, site: str
) -> None:
    """A crash after the segment's events and ids were stored but before it was deleted: the
    replay finds its own ids, and ClickHouse drops the block by its token."""
    server = serve(make_settings(site, INTENT_WRITER_INTERVAL_MS="60000"))
    spool = server.collector.spool
    assert spool is not None
    ids = [str(uuid.uuid4()) for _ in range(3)]
    for event_id in ids:
        assert server.post(page(site, event_id)).status_code == 202
    assert server.post({"site": site, "url": "https://example.com/no-id"}).status_code == 202
    spool.seal_if_due(force=True)
    [segment] = spool.sealed()
    kept = segment.read_bytes()
    server.flush()
    segment.write_bytes(kept)  # as if the delete never happened
    server.flush()
    assert len(stored_ids(store, site)) == 4
    assert duplicates(store, site) == 0
    assert spool.segments() == []


def test_repeats_within_one_segment_keep_the_first(
    make_settings: SettingsFactory, serve: Serve, store: Store, site: str
) -> None:
    """Once the process's memory of ids has moved on (it holds the last 50,000), a late retry
    lands in the spool next to the original: the writer keeps one."""
    server = serve(make_settings(site, INTENT_WRITER_INTERVAL_MS="60000"))
    assert server.collector.context is not None
    server.collector.context.recent = RecentIds(size=1)
    first, other = str(uuid.uuid4()), str(uuid.uuid4())
    for event_id, path in ((first, "/a"), (other, "/b"), (first, "/c")):
        assert server.post(page(site, event_id, path)).json()["accepted"] == 1
    server.flush()
    paths = store.query(
        "SELECT path FROM events WHERE site = {s:String} ORDER BY path", {"s": site}
    )
    assert paths == [("/a",), ("/b",)]
    assert duplicates(store, site) == 1


def test_rows_are_read_wherever_their_id_is_and_a_row_that_is_no_event_is_set_aside(
    make_settings: SettingsFactory, serve: Serve, store: Store, site: str
) -> None:
    """A segment written by hand or corrupted: a marked row whose id is not where the beacon
    puts it is read as JSON; one whose id is no UUID cannot be checked, and its segment is set
    aside (`*.bad`) instead of blocking the ones behind it."""
    settings = make_settings(site, INTENT_WRITER_INTERVAL_MS="60000")
    # (names no other test uses: a segment's name is its insert's deduplication token, and the
    # session's database remembers the tokens of every test)
    slot = settings.spool_dir / "slot-0"
    slot.mkdir(parents=True)
    event_id = str(uuid.uuid4())
    moved = orjson.dumps({"site": site, "ts": "2026-12-01 10:00:00.000", "type": "pageview",
                          "path": "/moved", "event_id": event_id.upper(), "client_id": True})  # fmt: skip
    (slot / "00000000000000000011-1-000011.seg").write_bytes(moved + b"\n")
    broken = orjson.dumps({"event_id": "not-a-uuid", "site": site, "client_id": True})
    (slot / "00000000000000000012-1-000012.seg").write_bytes(broken + b"\n")
    server = serve(settings)
    assert server.post(page(site, event_id)).json() == {"accepted": 1, "dropped": {}}
    server.flush()
    assert store.query("SELECT path FROM events WHERE site = {s:String}", {"s": site}) == [
        ("/moved",)
    ]
    assert duplicates(store, site) == 1
    spool = server.collector.spool
    assert spool is not None
    assert [p.name for p in spool.directory.glob("*.bad")] == ["00000000000000000012-1-000012.bad"]
