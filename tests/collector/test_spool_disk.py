"""The spool on a disk that fills up, through the real server: a small tmpfs (CI runs as root)
holds INTENT_SPOOL_DIR. A full disk must cost 503s and a not-ready /readyz, never descriptors
or files, and the server must recover by itself once space returns."""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from collector.settings import Settings
from collector.store import Store
from tests.conftest import CHROME_UA, LiveServer, SettingsFactory, wait_until


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs, unmounted afterwards (request it before `serve`, so the servers on it stop
    first)."""
    mountpoint = tmp_path / "small-disk"
    mountpoint.mkdir()
    if os.geteuid() != 0:
        pytest.fail("the disk-full tests mount a tmpfs: run them as root (CI does)")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mountpoint)], check=True)
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], check=False)


def fill(disk: Path) -> Path:
    """Take every free byte of `disk` with one file; returns it (delete it to free the space)."""
    filler = disk / "filler"
    with filler.open("wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 65536)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    return filler


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
    small_disk: Path,
    make_settings: SettingsFactory,
    serve: Callable[[Settings], LiveServer],
    store: Store,
    site: str,
) -> None:
    # a burst above the 300 refused requests below: this test is about the disk, not the limiter
    server = serve(make_settings(site, INTENT_SPOOL_DIR=str(small_disk / "spool"),
                                 INTENT_RATE_LIMIT_BURST="1000"))  # fmt: skip
    body = {"site": site, "url": "https://example.com/pricing"}
    assert server.post(body).status_code == 202
    assert httpx.get(server.url + "/readyz").status_code == 200
    server.flush()  # that segment is sent and deleted: no page of the disk is the spool's
    filler = fill(small_disk)
    descriptors, on_disk = open_descriptors(), descriptors_on(small_disk)
    files = spool_files(small_disk)

    with httpx.Client(headers={"User-Agent": CHROME_UA}) as client:
        refused = [client.post(server.url + "/api/event", json=body) for _ in range(300)]
    assert {r.status_code for r in refused} == {503}
    assert {r.headers["retry-after"] for r in refused} == {"5"}
    ready = httpx.get(server.url + "/readyz")
    assert ready.status_code == 503
    assert "spool disk full" in ready.json()["problems"]
    assert descriptors_on(small_disk) == on_disk
    # (the embedded engine opens and closes files of its own meanwhile: a generous bound)
    assert open_descriptors() - descriptors < 50
    assert spool_files(small_disk) == files

    filler.unlink()  # space returns: the server takes events again without a restart
    assert wait_until(lambda: server.post(body).status_code == 202)
    assert wait_until(lambda: httpx.get(server.url + "/readyz").status_code == 200)
    server.flush()
    assert stored(store, site) >= 2
    assert spool_files(small_disk) == []


def test_a_sent_segment_gives_its_space_back(
    small_disk: Path,
    make_settings: SettingsFactory,
    serve: Callable[[Settings], LiveServer],
    store: Store,
    site: str,
) -> None:
    """Once a segment is in ClickHouse and deleted, nothing (the sync helper included) may keep
    it open: its blocks must be free again, or a full disk stays full."""
    # a burst above the 300 refused requests below: this test is about the disk, not the limiter
    server = serve(make_settings(site, INTENT_SPOOL_DIR=str(small_disk / "spool"),
                                 INTENT_RATE_LIMIT_BURST="1000"))  # fmt: skip
    free_before = os.statvfs(small_disk).f_bavail
    page = {"site": site, "url": "https://example.com/" + "p" * 1500}
    assert [server.post([page] * 30).status_code for _ in range(12)] == [202] * 12
    assert os.statvfs(small_disk).f_bavail < free_before  # ~600 KB in the spool
    server.flush()
    assert stored(store, site) == 360
    assert spool_files(small_disk) == []
    helper = server.collector.spool._helper if server.collector.spool else None
    assert helper is not None
    held = [
        os.readlink(f"/proc/{helper.pid}/fd/{fd}") for fd in os.listdir(f"/proc/{helper.pid}/fd")
    ]
    assert not [n for n in held if n.startswith(str(small_disk)) and n.endswith("(deleted)")]
    assert os.statvfs(small_disk).f_bavail == free_before
