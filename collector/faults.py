"""Fault hooks for tests and `make chaos` (INTENT_FAULT_DIR): faults switched on and off from
outside the process where a real one cannot be made (a full disk wants a small filesystem,
which only root can mount). A file named after a fault in that directory turns it on while it
exists. Unset (production), nothing is looked at."""

from __future__ import annotations

import errno
import os
from pathlib import Path

from collector.store import StoreError

# Writes to the spool fail as on a full disk (ENOSPC), and its filesystem reads as having no room.
SPOOL_DISK_FULL = "spool-disk-full"
# Event inserts fail as ClickHouse's do when its disk is full (NOT_ENOUGH_SPACE, code 243).
CLICKHOUSE_DISK_FULL = "clickhouse-disk-full"
FAULTS = (SPOOL_DISK_FULL, CLICKHOUSE_DISK_FULL)

CLICKHOUSE_DISK_FULL_MESSAGE = (
    "Code: 243. DB::Exception: Cannot reserve 1.00 MiB, not enough space. (NOT_ENOUGH_SPACE) "
    "(injected: INTENT_FAULT_DIR)"
)


class Faults:
    """The faults switched on in `directory` (None: never any)."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory

    def on(self, fault: str) -> bool:
        return self.directory is not None and (self.directory / fault).exists()

    def check_spool_write(self) -> None:
        """Raise what a write to a full disk raises, while SPOOL_DISK_FULL is on."""
        if self.on(SPOOL_DISK_FULL):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC) + " (injected: INTENT_FAULT_DIR)")

    def check_insert(self) -> None:
        """Raise what an insert into a ClickHouse out of disk raises, while CLICKHOUSE_DISK_FULL
        is on."""
        if self.on(CLICKHOUSE_DISK_FULL):
            raise StoreError(CLICKHOUSE_DISK_FULL_MESSAGE)


NONE = Faults()
