"""One runner among the server processes sharing a spool directory (`--workers N`): the one
holding `<spool dir>/<name>.lock`; another takes over when that process exits."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


class RunnerLock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def held(self) -> bool:
        """True in the one process that holds (or now takes) the lock."""
        if self._fd is not None:
            return True
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError:
            return True  # no shared directory to coordinate through: run
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # another process may take it now
            self._fd = None
