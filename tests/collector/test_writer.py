"""Durability on the real server and the session database: the spool bound answers 503, a failing
writer keeps events in the spool until ClickHouse is back (then exactly once), a replayed segment
is not duplicated, leftovers are replayed at start-up, bad data is set aside."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
import orjson

from collector.settings import Settings
from collector.store import Store
from tests.conftest import LiveServer, SettingsFactory, wait_until

Serve = Callable[[Settings], LiveServer]


def count(store: Store, site: str) -> int:
    return int(store.scalar("SELECT count() FROM events WHERE site = {s:String}", {"s": site}))


def page(site: str, i: int, event_id: str | None = None) -> dict[str, object]:
    body: dict[str, object] = {
        "site": site,
        "url": f"https://example.com/p/{i}",
        "title": "t" * 100,
    }
    if event_id:
        body["id"] = event_id
    return body


def test_spool_bound_answers_503_and_a_refused_id_may_retry(
    make_settings: SettingsFactory, serve: Serve, store: Store, site: str
) -> None:
    # A long writer interval keeps accepted events in the spool: the bound is reached quickly.
    server = serve(
        make_settings(site, INTENT_SPOOL_MAX_BYTES="2048", INTENT_WRITER_INTERVAL_MS="60000")
    )
    accepted = 0
    refused_id = str(uuid.uuid4())
    for i in range(20):
        r = server.post(page(site, i, refused_id))
        if r.status_code == 503:
            break
        assert r.status_code == 202, r.text
        refused_id = str(uuid.uuid4())
        accepted += 1
    assert r.status_code == 503 and accepted >= 1
    assert r.headers["retry-after"] == "5"
    assert r.json()["error"]["code"] == "unavailable"
    ready = httpx.get(server.url + "/readyz")
    assert ready.status_code == 503 and "spool full" in ready.json()["problems"]
    server.flush()  # the writer catches up: room again
    r = server.post(page(site, 99, refused_id))  # the id refused with 503 is not a "duplicate"
    assert r.status_code == 202 and r.json() == {"accepted": 1, "dropped": {}}
    server.flush()
    assert count(store, site) == accepted + 1
    assert httpx.get(server.url + "/readyz").status_code == 200


def test_writer_failure_keeps_events_in_the_spool_until_clickhouse_is_back(
    server: LiveServer, store: Store, site: str
) -> None:
    writer = server.collector.writer
    spool = server.collector.spool
    assert writer is not None and spool is not None
    store.command("DETACH TABLE events")
    try:
        for i in range(5):
            assert server.post(page(site, i)).status_code == 202
        assert writer.flush() is False
        assert spool.sealed(), "accepted events must stay in the spool"
        ready = httpx.get(server.url + "/readyz")
        assert ready.status_code == 503
        assert any(p.startswith("writer failing") for p in ready.json()["problems"])
        assert ready.json()["spool_segments"] >= 1
        assert (
            "intent_writer_insert_errors_total 0.0" not in httpx.get(server.url + "/metrics").text
        )
        assert server.post(page(site, 5)).status_code == 202  # still accepting into the spool
    finally:
        store.command("ATTACH TABLE events")
    assert writer.flush() is True
    assert writer.flush() is True
    assert count(store, site) == 6
    assert spool.segments() == []
    assert httpx.get(server.url + "/readyz").status_code == 200


def test_a_segment_sent_twice_is_stored_once(
    make_settings: SettingsFactory, serve: Serve, store: Store, site: str
) -> None:
    """A crash after ClickHouse confirmed a segment but before it was deleted replays it."""
    # the writer would wait a minute: the three events stay in one segment, however slow
    server = serve(make_settings(site, INTENT_WRITER_INTERVAL_MS="60000"))
    spool = server.collector.spool
    assert spool is not None
    # one request, so one append: separate requests may straddle a timed seal on a busy machine
    assert server.post([page(site, i) for i in range(3)]).status_code == 202
    spool.seal_if_due(force=True)
    [segment] = spool.sealed()
    kept = segment.read_bytes()
    server.flush()
    assert count(store, site) == 3
    segment.write_bytes(kept)  # as if the delete never happened
    server.flush()
    assert count(store, site) == 3
    assert spool.segments() == []
    # ...and the rollup the materialized view keeps does not count the replay either
    hits = store.scalar("SELECT sum(hits) FROM daily_activity WHERE site = {s:String}", {"s": site})
    assert hits == 3


def test_every_table_a_view_on_events_feeds_drops_a_replayed_block(store: Store) -> None:
    """A replayed segment's block is dropped by its token in `events`; each table a materialized
    view fills from `events` must drop the view's block too (a deduplication window of its own),
    or it counts the replay again. Holds for views added later."""
    views = store.query(
        "SELECT arrayJoin(dependencies_table) FROM system.tables "
        "WHERE database = currentDatabase() AND name = 'events'"
    )
    targets = set()
    for (view,) in views:
        create = store.scalar(
            "SELECT create_table_query FROM system.tables "
            "WHERE database = currentDatabase() AND name = {v:String}",
            {"v": view},
        )
        targets.add(str(create).split(" TO ", 1)[1].split()[0].split(".")[-1])
    assert {"daily_activity", "daily_companies", "identities"} <= targets
    engines = dict(
        store.query(
            "SELECT name, engine_full FROM system.tables "
            "WHERE database = currentDatabase() AND name IN {t:Array(String)}",
            {"t": sorted(targets)},
        )
    )
    assert {t for t in targets if "non_replicated_deduplication_window" not in engines[t]} == set()


def row(site: str, path: str) -> bytes:
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.000")
    return orjson.dumps({"event_id": str(uuid.uuid4()), "site": site, "ts": now, "type": "pageview",
                         "url": "https://example.com" + path, "path": path})  # fmt: skip


def test_leftovers_are_replayed_torn_tails_cut_and_bad_data_set_aside(
    make_settings: SettingsFactory, serve: Serve, store: Store, site: str, tmp_path: Path
) -> None:
    settings = make_settings(site)
    mine, gone = settings.spool_dir / "slot-0", settings.spool_dir / "slot-7"
    mine.mkdir(parents=True)
    gone.mkdir(parents=True)
    # a crash mid-write: the last line was never acknowledged and has no newline
    (mine / "00000000000000000001-1-000001.open").write_bytes(
        row(site, "/a") + b"\n" + row(site, "/torn")[:30]
    )
    # a worker that is gone left a sealed segment in its own slot
    (gone / "00000000000000000002-2-000001.seg").write_bytes(
        row(site, "/b") + b"\n" + row(site, "/c") + b"\n"
    )
    # data ClickHouse can never take
    bad = b'{"site": "' + site.encode() + b'", "ts": "not a time"}\n'
    (mine / "00000000000000000003-1-000002.seg").write_bytes(bad)
    server = serve(settings)
    assert server.post(page(site, 1)).status_code == 202
    server.flush()
    paths = store.query(
        "SELECT path FROM events WHERE site = {s:String} ORDER BY path", {"s": site}
    )
    assert [p[0] for p in paths] == ["/a", "/b", "/c", "/p/1"]
    spool = server.collector.spool
    assert spool is not None and spool.segments() == []
    assert [p.name for p in spool.directory.glob("*.bad")] == ["00000000000000000003-1-000002.bad"]
    assert "intent_spool_quarantined_segments_total 1.0" in httpx.get(server.url + "/metrics").text
    shutil.rmtree(settings.spool_dir, ignore_errors=True)


def test_metrics_report_the_pipeline(server: LiveServer, site: str) -> None:
    for i in range(3):
        assert server.post(page(site, i)).status_code == 202
    assert server.post(page(site, 9), ua="curl/8.5.0").status_code == 202
    assert server.post(b"nope").status_code == 400
    server.flush()
    text = httpx.get(server.url + "/metrics").text
    for line in (
        f'intent_events_accepted_total{{site="{site}"}} 3.0',
        'intent_events_dropped_total{reason="bot:http-client"} 1.0',
        'intent_requests_rejected_total{status="400"} 1.0',
        "intent_spool_bytes 0.0",
        "intent_writer_rows_total 3.0",
        "intent_writer_batch_rows_count",
        "intent_writer_batch_seconds_bucket",
        "intent_writer_insert_errors_total 0.0",
        "intent_writer_healthy 1.0",
    ):
        assert line in text, line


def test_the_writer_thread_survives_a_surprise(server: LiveServer, store: Store, site: str) -> None:
    writer, spool = server.collector.writer, server.collector.spool
    assert writer is not None and spool is not None
    odd = spool.directory / "99999999999999999999-0-000000.seg"
    odd.mkdir()  # not a file: reading it raises IsADirectoryError, not a StoreError
    try:
        assert server.post(page(site, 1)).status_code == 202
        writer.wake()

        def reports_it() -> bool:
            problems = httpx.get(server.url + "/readyz").json()["problems"]
            return any("IsADirectoryError" in p for p in problems)

        assert wait_until(reports_it)
        assert writer._thread.is_alive()
        assert wait_until(lambda: count(store, site) == 1)  # segments before the odd one still go
    finally:
        odd.rmdir()
    writer.wake()
    assert wait_until(lambda: httpx.get(server.url + "/readyz").status_code == 200)
    assert writer._thread.is_alive()


def test_salts_never_block_the_request_path_and_replicas_agree(store: Store) -> None:
    from datetime import date

    from collector.writer import Salts

    day = date(2099, 1, 2)  # a day nobody else uses
    secret = b"s" * 32
    first, second = Salts(store, secret), Salts(store, secret)
    provisional = first(day)  # no salt in ClickHouse yet: made locally, no I/O
    assert first(day) == provisional
    assert first.prefetch(day) == provisional  # offered to ClickHouse, and it is the oldest
    assert second.prefetch(day) == provisional  # another replica reads the same salt
    assert second(day) == provisional
    third = Salts(store, secret)
    third(day)  # a replica that made its own provisional salt switches to the shared one
    assert third.prefetch(day) == provisional and third(day) == provisional


def test_the_writer_drops_the_engine_pages_once_a_busy_spell_is_over(
    server: LiveServer, store: Store, site: str
) -> None:
    """After inserts, once nothing was sent for `release_when_idle_s` (2 s; here 0.2 s), the
    pages inserting and merging used are dropped then, not at the next minute: a flood's RSS
    comes down within seconds of its end."""
    writer = server.collector.writer
    assert writer is not None and writer.release_when_idle_s == 2.0
    writer.release_when_idle_s = 0.2
    try:
        assert server.post(page(site, 1)).status_code == 202
        released_at = writer._released_at
        server.flush()  # an insert: the pages it used are mapped
        assert wait_until(lambda: writer._released_at != released_at)
        assert writer.released > 1 << 20
        released_at = writer._released_at
        writer.cycle()
        writer.cycle()
        assert writer._released_at == released_at  # idle since: nothing more to drop
    finally:
        writer.release_when_idle_s = 2.0


def test_the_writer_drops_unused_engine_pages_every_minute(
    server: LiveServer, store: Store, site: str
) -> None:
    """Once a minute (here: every pass) the writer drops the engine library's mapped pages
    again, as start-up does; what the engine uses faults back in and keeps working."""
    writer = server.collector.writer
    assert writer is not None and writer.release_every_s == 60.0
    writer.release_every_s = 0.0
    try:
        assert server.post(page(site, 1)).status_code == 202
        server.flush()  # an insert and the materialized views: library pages in use again
        assert writer.released > 1 << 20
        assert server.post(page(site, 2)).status_code == 202
        server.flush()
        assert count(store, site) == 2
    finally:
        writer.release_every_s = 60.0


def test_flush_soon_sends_the_open_segment_before_its_age_and_says_when(
    make_settings: SettingsFactory, serve: Serve, store: Store, site: str
) -> None:
    """What an early re-score waits for: with a one-minute writer interval, an accepted event is
    in ClickHouse once wait_written confirms the spool's lines up to it (and not before)."""
    server = serve(make_settings(site, INTENT_WRITER_INTERVAL_MS="60000", INTENT_SCHEDULE="false"))
    writer, spool = server.collector.writer, server.collector.spool
    assert writer is not None and spool is not None
    assert server.post(page(site, 1)).status_code == 202
    assert count(store, site) == 0  # a minute from its segment's age
    first = spool.appended
    assert first >= 1 and writer.written_through < first
    writer.flush_soon()
    assert writer.wait_written(first, timeout=30)
    assert count(store, site) == 1
    store.command("DETACH TABLE events")
    try:
        assert server.post(page(site, 2)).status_code == 202
        writer.flush_soon()
        assert not writer.wait_written(first + 1, timeout=1)  # the insert failed: not confirmed
    finally:
        store.command("ATTACH TABLE events")
    assert writer.wait_written(first + 1, timeout=60)  # the retry sends it
    assert count(store, site) == 2
