"""A disk that fills up, through the real server. The spool's (INTENT_SPOOL_DIR on a small
tmpfs, or the INTENT_FAULT_DIR hook without root): a full disk must cost 503s and a not-ready
/readyz, never descriptors or files, and the server must recover by itself once space returns.
ClickHouse's (the hook: this process's embedded database cannot move to a small disk; `make
chaos` fills a real one): events keep their 202 into the spool, /readyz names the cause, and
every event arrives once when space returns."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from bench.chaos.disk import SmallDisk
from collector.faults import CLICKHOUSE_DISK_FULL, SPOOL_DISK_FULL
from collector.settings import Settings
from collector.store import Store
from tests.conftest import CHROME_UA, LiveServer, SettingsFactory, wait_until


@pytest.fixture(params=["tmpfs", "fault hook"])
def small_disk(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SmallDisk]:
    """A 2 MiB disk for the spool, unmounted afterwards (request it before `serve`, so the
    servers on it stop first): a tmpfs where this process can mount one, else (and always in
    the second run) the INTENT_FAULT_DIR hook, so the path CI takes without root is tested."""
    with SmallDisk(tmp_path / "small-disk", 2, SPOOL_DISK_FULL,
                   mount=request.param == "tmpfs") as disk:  # fmt: skip
        yield disk


@pytest.fixture
def spool_disk(tmp_path: Path) -> Iterator[SmallDisk]:
    """The same disk, a tmpfs wherever one can be mounted (a test that measures its space)."""
    with SmallDisk(tmp_path / "small-disk", 2, SPOOL_DISK_FULL) as disk:
        yield disk


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


def descriptors_on(disk: Path) -> list[str]:
    """What this process (the server runs in it) holds open on `disk`."""
    held = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            held.append(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:
            continue  # closed meanwhile
    return sorted(name for name in held if name.startswith(str(disk)))


def spool_files(disk: Path) -> list[Path]:
    return sorted(p for p in disk.rglob("*") if p.suffix in (".seg", ".open", ".bad"))


def stored(store: Store, site: str) -> int:
    return int(store.scalar("SELECT count() FROM events WHERE site = {s:String}", {"s": site}))


def test_a_full_spool_disk_answers_503_leaks_nothing_and_recovers_by_itself(
    small_disk: SmallDisk,
    make_settings: SettingsFactory,
    serve: Callable[[Settings], LiveServer],
    store: Store,
    site: str,
) -> None:
    # a burst above the 300 refused requests below: this test is about the disk, not the limiter
    disk = small_disk.path
    server = serve(make_settings(site, INTENT_SPOOL_DIR=str(disk / "spool"),
                                 INTENT_RATE_LIMIT_BURST="1000", **small_disk.env()))  # fmt: skip
    body = {"site": site, "url": "https://example.com/pricing"}
    assert server.post(body).status_code == 202
    assert httpx.get(server.url + "/readyz").status_code == 200
    server.flush()  # that segment is sent and deleted: no page of the disk is the spool's
    small_disk.fill()
    descriptors, on_disk = open_descriptors(), descriptors_on(disk)
    files = spool_files(disk)

    with httpx.Client(headers={"User-Agent": CHROME_UA}) as client:
        refused = [client.post(server.url + "/api/event", json=body) for _ in range(300)]
    assert {r.status_code for r in refused} == {503}
    assert {r.headers["retry-after"] for r in refused} == {"5"}
    ready = httpx.get(server.url + "/readyz")
    assert ready.status_code == 503
    assert "spool disk full" in ready.json()["problems"]
    assert descriptors_on(disk) == on_disk
    # (the embedded engine opens and closes files of its own meanwhile: a generous bound)
    assert open_descriptors() - descriptors < 50
    assert spool_files(disk) == files

    small_disk.free()  # space returns: the server takes events again without a restart
    assert wait_until(lambda: server.post(body).status_code == 202)
    assert wait_until(lambda: httpx.get(server.url + "/readyz").status_code == 200)
    server.flush()
    assert stored(store, site) >= 2
    assert spool_files(disk) == []


def test_a_sent_segment_gives_its_space_back(
    spool_disk: SmallDisk,
    make_settings: SettingsFactory,
    serve: Callable[[Settings], LiveServer],
    store: Store,
    site: str,
) -> None:
    """Once a segment is in ClickHouse and deleted, nothing (the sync helper included) may keep
    it open: its blocks must be free again, or a full disk stays full. (Its free space is
    compared on a tmpfs only: a shared disk's changes with what other processes write.)"""
    disk = spool_disk.path
    server = serve(make_settings(site, INTENT_SPOOL_DIR=str(disk / "spool")))
    free_before = os.statvfs(disk).f_bavail
    page = {"site": site, "url": "https://example.com/" + "p" * 1500}
    assert [server.post([page] * 30).status_code for _ in range(12)] == [202] * 12
    if spool_disk.mounted:
        assert os.statvfs(disk).f_bavail < free_before  # ~600 KB in the spool
    server.flush()
    assert stored(store, site) == 360
    assert spool_files(disk) == []
    helper = server.collector.spool._helper if server.collector.spool else None
    assert helper is not None
    held = [
        os.readlink(f"/proc/{helper.pid}/fd/{fd}") for fd in os.listdir(f"/proc/{helper.pid}/fd")
    ]
    assert not [n for n in held if n.startswith(str(disk)) and n.endswith("(deleted)")]
    if spool_disk.mounted:
        assert os.statvfs(disk).f_bavail == free_before


def test_clickhouse_out_of_disk_keeps_events_in_the_spool_and_stores_each_once_after(
    tmp_path: Path,
    make_settings: SettingsFactory,
    serve: Callable[[Settings], LiveServer],
    store: Store,
    site: str,
) -> None:
    """Inserts fail as ClickHouse's do on a full disk (the hook: this process's embedded
    database cannot move to a small disk; `make chaos` clickhouse_full fills a real one)."""
    faults = tmp_path / "faults"
    faults.mkdir()
    server = serve(make_settings(site, INTENT_FAULT_DIR=str(faults)))
    ids = [str(uuid.uuid4()) for _ in range(21)]
    event = {"site": site, "url": "https://example.com/pricing"}
    assert server.post({**event, "id": ids[0]}).status_code == 202
    server.flush()
    (faults / CLICKHOUSE_DISK_FULL).touch()

    assert [server.post({**event, "id": i}).status_code for i in ids[1:]] == [202] * 20
    assert server.post({**event, "id": ids[5]}).status_code == 202  # a client's retry
    writer = server.collector.writer
    assert writer is not None and not writer.flush()  # the insert met the full disk
    ready = httpx.get(server.url + "/readyz")
    assert ready.status_code == 503
    assert any("NOT_ENOUGH_SPACE" in p for p in ready.json()["problems"]), ready.json()
    assert ready.json()["spool_bytes"] > 0 and stored(store, site) == 1

    (faults / CLICKHOUSE_DISK_FULL).unlink()  # space returns: the writer's retry sends them
    assert wait_until(lambda: httpx.get(server.url + "/readyz").json()["spool_bytes"] == 0)
    assert wait_until(lambda: httpx.get(server.url + "/readyz").status_code == 200)
    rows = store.query(
        "SELECT toString(event_id), count() FROM events WHERE site = {s:String} GROUP BY event_id",
        {"s": site},
    )
    assert dict(rows) == dict.fromkeys(ids, 1)
