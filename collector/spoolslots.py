"""Spool slots: several processes share one INTENT_SPOOL_DIR (`--workers N`, or two servers on
one disk). Each claims its own `slot-N` subdirectory under an exclusive flock, and at start-up
adopts the segments of any slot nobody holds (a worker that is gone), so nothing is left behind.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

MAX_SLOTS = 256


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _try_lock(directory: Path) -> int | None:
    """An fd holding `directory/.lock` exclusively, or None if another process holds it."""
    directory.mkdir(parents=True, exist_ok=True)
    fd = os.open(directory / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def claim_slot(root: Path) -> tuple[Path, int]:
    for n in range(MAX_SLOTS):
        directory = root / f"slot-{n}"
        fd = _try_lock(directory)
        if fd is not None:
            return directory, fd
    raise OSError(f"all {MAX_SLOTS} spool slots under {root} are in use")


def adopt_orphans(root: Path, mine: Path) -> int:
    """Move the segments of slots no process holds into `mine` (names, hence dedup tokens,
    unchanged). Returns how many were adopted."""
    moved = 0
    for other in sorted(root.glob("slot-*")):
        if other == mine or not other.is_dir():
            continue
        fd = _try_lock(other)
        if fd is None:
            continue  # a live process owns it
        try:
            for segment in sorted([*other.glob("*.open"), *other.glob("*.seg")]):
                segment.rename(mine / (segment.stem + ".seg"))
                moved += 1
            if moved:
                fsync_dir(other)
                fsync_dir(mine)
        finally:
            os.close(fd)
    return moved
