"""Faults of the process and of its disk, under load, counted by event id: kill -9 rounds with
clients retrying the same ids after each restart, a SIGTERM drain, and a full spool disk."""

from __future__ import annotations

import errno
import os
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from bench.chaos.rig import Ledger, Rig, retry_all, send_events


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


def _fill(disk: Path) -> Path:
    filler = disk / "filler"
    with filler.open("wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 65536)
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise
    return filler


def _descriptors(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def _spool_files(spool: Path) -> int:
    return sum(1 for p in spool.rglob("*") if p.suffix in (".seg", ".open", ".bad"))


def spool_full(workdir: Path, seconds: float) -> dict[str, Any]:
    """The spool on a 5 MiB tmpfs (root only) filled up under load for `seconds`, then freed:
    503 + Retry-After meanwhile, /readyz 503, no descriptor or file growth, recovery by itself,
    and every acknowledged event stored once (the clients retry refused ids)."""
    if os.geteuid() != 0:
        return {"measured": False, "why": "not root: no tmpfs can be mounted"}
    disk = workdir / "disk"
    disk.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=5m", "tmpfs", str(disk)], check=True)
    try:
        rig = Rig(workdir, INTENT_SPOOL_DIR=str(disk / "spool"))
        server = rig.start()
        ledger = Ledger()
        send_events(rig.port, ledger, 1.0)
        time.sleep(1.5)  # the writer sends that segment: the disk is the filler's
        fds, files = _descriptors(server.proc.pid), _spool_files(disk)
        filler = _fill(disk)
        loader = threading.Thread(target=send_events, args=(rig.port, ledger, seconds))
        loader.start()
        time.sleep(seconds / 2)
        ready = httpx.get(rig.url + "/readyz", timeout=10)
        fds_full, files_full = _descriptors(server.proc.pid), _spool_files(disk)
        loader.join()
        refused = ledger.statuses.get("503", 0)
        filler.unlink()
        freed = time.monotonic()
        recovered_s = -1.0
        while time.monotonic() - freed < 60:
            if httpx.get(rig.url + "/readyz", timeout=10).status_code == 200:
                recovered_s = time.monotonic() - freed
                break
            time.sleep(0.1)
        retry_all(rig.port, ledger, 60)
        rig.stop()
        counted = rig.count(ledger.acked, ledger.sent)
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)
    return {"measured": True, "refused_503": refused, "readyz_when_full": ready.status_code,
            "readyz_problems": ready.json().get("problems", []),
            "descriptor_growth": fds_full - fds, "spool_file_growth": files_full - files,
            "recovered_s": recovered_s, "retries_left": len(ledger.retry),
            "server_5xx": ledger.server_errors(), "statuses": ledger.statuses, **counted}  # fmt: skip
