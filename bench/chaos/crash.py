"""Faults of the process and of its disk, under load, counted by event id: kill -9 rounds with
clients retrying the same ids after each restart, a SIGTERM drain, a full spool disk and a
ClickHouse out of disk."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from bench.chaos.disk import SmallDisk
from bench.chaos.rig import Ledger, Rig, retry_all, send_events
from collector.faults import CLICKHOUSE_DISK_FULL, SPOOL_DISK_FULL


def kill9(workdir: Path, rounds: int, seconds: float) -> dict[str, Any]:
    """`rounds` times: load for `seconds`, kill -9 mid-load; the clients retry whatever was not
    acknowledged after the restart (and resend some acknowledged ids). Then count."""
    rig = Rig(workdir)
    ledger = Ledger()
    cut = 0
    for _ in range(rounds):
        rig.start()
        loader = threading.Thread(target=send_events, args=(rig.port, ledger, seconds + 1.0))
        loader.start()
        time.sleep(seconds)
        rig.kill()  # while the clients still send
        loader.join()
        cut += len(ledger.retry)
    rig.start()
    retry_all(rig.port, ledger, 60)
    rig.stop()
    counted = rig.count(ledger.acked, ledger.sent)
    return {"rounds": rounds, "requests_cut": cut, "retries_left": len(ledger.retry),
            "resent_acknowledged": ledger.resent_acked, "server_5xx": ledger.server_errors(),
            "statuses": ledger.statuses, **counted}  # fmt: skip


def sigterm(workdir: Path, seconds: float) -> dict[str, Any]:
    """Load for `seconds`, SIGTERM while the clients still send: how long the drain takes and
    whether every acknowledged event is stored."""
    rig = Rig(workdir)
    ledger = Ledger()
    rig.start()
    loader = threading.Thread(target=send_events, args=(rig.port, ledger, seconds + 2.0))
    loader.start()
    time.sleep(seconds)
    acked_before = len(ledger.acked)
    drain_s = rig.stop()
    loader.join()
    counted = rig.count(ledger.acked, ledger.sent)
    return {"acknowledged_at_sigterm": acked_before, "drain_s": drain_s,
            "server_5xx": ledger.server_errors(), "statuses": ledger.statuses, **counted}  # fmt: skip


def _descriptors(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def _spool_files(spool: Path) -> int:
    return sum(1 for p in spool.rglob("*") if p.suffix in (".seg", ".open", ".bad"))


def spool_full(workdir: Path, seconds: float, mount: bool = True) -> dict[str, Any]:
    """The spool on a 5 MiB disk (bench/chaos/disk.py) filled up under load for `seconds`, then
    freed: 503 + Retry-After meanwhile, /readyz 503, no descriptor or file growth, recovery by
    itself, and every acknowledged event stored once (the clients retry refused ids)."""
    with SmallDisk(workdir / "disk", 5, SPOOL_DISK_FULL, mount=mount) as disk:
        rig = Rig(workdir, INTENT_SPOOL_DIR=str(disk.path / "spool"), **disk.env())
        server = rig.start()
        ledger = Ledger()
        send_events(rig.port, ledger, 1.0)
        time.sleep(1.5)  # the writer sends that segment: the disk is the filler's
        fds, files = _descriptors(server.proc.pid), _spool_files(disk.path)
        disk.fill()
        loader = threading.Thread(target=send_events, args=(rig.port, ledger, seconds))
        loader.start()
        time.sleep(seconds / 2)
        ready = httpx.get(rig.url + "/readyz", timeout=10)
        fds_full, files_full = _descriptors(server.proc.pid), _spool_files(disk.path)
        loader.join()
        refused = ledger.statuses.get("503", 0)
        disk.free()
        recovered_s = _until_ready(rig.url, 60)
        retry_all(rig.port, ledger, 60)
        rig.stop()
        counted = rig.count(ledger.acked, ledger.sent)
    return {"disk": disk.mode, "refused_503": refused, "readyz_when_full": ready.status_code,
            "readyz_problems": ready.json().get("problems", []),
            "descriptor_growth": fds_full - fds, "spool_file_growth": files_full - files,
            "recovered_s": recovered_s, "retries_left": len(ledger.retry),
            "server_5xx": ledger.server_errors(), "statuses": ledger.statuses, **counted}  # fmt: skip


def _until_ready(url: str, limit_s: float, drained: bool = False) -> float:
    """Seconds until /readyz answers 200 (and, with `drained`, the spool is empty); -1 if it
    does not within `limit_s`."""
    started = time.monotonic()
    while time.monotonic() - started < limit_s:
        r = httpx.get(url + "/readyz", timeout=10)
        if r.status_code == 200 and (not drained or r.json()["spool_bytes"] == 0):
            return time.monotonic() - started
        time.sleep(0.1)
    return -1.0


def clickhouse_full(workdir: Path, seconds: float, mount: bool = True) -> dict[str, Any]:
    """ClickHouse's data (embedded chDB) on a 32 MiB disk filled up under load for `seconds`,
    then freed: events keep their 202 (into the spool), /readyz 503 naming the cause meanwhile,
    and once space returns every acknowledged event is stored, once, within seconds."""
    with SmallDisk(workdir / "disk", 32, CLICKHOUSE_DISK_FULL, mount=mount) as disk:
        rig = Rig(workdir, INTENT_CLICKHOUSE_URL=f"chdb://{disk.path / 'clickhouse'}",
                  **disk.env())  # fmt: skip
        rig.start()
        ledger = Ledger()
        send_events(rig.port, ledger, 1.0)
        acked_before = len(ledger.acked)
        disk.fill()
        loader = threading.Thread(target=send_events, args=(rig.port, ledger, seconds))
        loader.start()
        full = time.monotonic()
        ready = httpx.get(rig.url + "/readyz", timeout=10)
        while ready.status_code == 200 and time.monotonic() - full < seconds:
            time.sleep(0.2)  # until the writer's next insert meets the full disk
            ready = httpx.get(rig.url + "/readyz", timeout=10)
        loader.join()
        acked_while_full = len(ledger.acked) - acked_before
        spooled = httpx.get(rig.url + "/readyz", timeout=10).json()["spool_bytes"]
        disk.free()
        recovered_s = _until_ready(rig.url, 60, drained=True)
        retry_all(rig.port, ledger, 60)
        rig.stop()
        counted = rig.count(ledger.acked, ledger.sent)
    problems = ready.json().get("problems", [])
    return {"disk": disk.mode, "acknowledged_while_full": acked_while_full,
            "spool_bytes_at_the_end_of_the_fault": spooled,
            "readyz_when_full": ready.status_code, "readyz_problems": problems,
            "readyz_names_the_cause": int(any("NOT_ENOUGH_SPACE" in p for p in problems)),
            "refused_503": ledger.statuses.get("503", 0), "recovered_s": recovered_s,
            "retries_left": len(ledger.retry), "server_5xx": ledger.server_errors(),
            "statuses": ledger.statuses, **counted}  # fmt: skip
