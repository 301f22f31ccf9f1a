"""A small disk a test fills up and frees again, for `make chaos` and the disk-full tests: a
tmpfs when this process can mount one (root), else the server's INTENT_FAULT_DIR hook
(collector/faults.py), which fails the same writes the same way. Never skipped: without a
tmpfs the hook runs instead, and `mount=False` asks for the hook on purpose."""

from __future__ import annotations

import errno
import os
import subprocess
from pathlib import Path
from types import TracebackType

CHUNK = b"\0" * 65536


class SmallDisk:
    """`path`, `size_mb` large, for a server whose writes `fault` names (a collector.faults
    name: which writes the hook fails when there is no tmpfs)."""

    def __init__(self, path: Path, size_mb: int, fault: str, *, mount: bool = True) -> None:
        self.path, self.size_mb, self.fault = path, size_mb, fault
        self.try_mount = mount and os.geteuid() == 0
        self.mounted = False  # (stays true once unmounted: it says which kind of disk it was)
        self.faults_dir = path.parent / f"{path.name}-faults"
        self._filler = path / "filler"

    @property
    def mode(self) -> str:
        return "tmpfs" if self.mounted else "fault hook"

    def env(self) -> dict[str, str]:
        """The server's settings for this disk: the hook's directory when there is no tmpfs."""
        return {} if self.mounted else {"INTENT_FAULT_DIR": str(self.faults_dir)}

    def __enter__(self) -> SmallDisk:
        self.path.mkdir(parents=True, exist_ok=True)
        self.faults_dir.mkdir(parents=True, exist_ok=True)
        if self.try_mount:
            mount = ["mount", "-t", "tmpfs", "-o", f"size={self.size_mb}m", "tmpfs", str(self.path)]
            self.mounted = subprocess.run(mount, capture_output=True, check=False).returncode == 0
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.mounted:  # lazily: a server that failed to stop must not keep it mounted
            subprocess.run(["umount", "-l", str(self.path)], check=False)

    def fill(self) -> None:
        """Take every free byte (or switch the fault on)."""
        if not self.mounted:
            (self.faults_dir / self.fault).touch()
            return
        with self._filler.open("wb", buffering=0) as f:
            try:
                while True:
                    f.write(CHUNK)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise

    def free(self) -> None:
        """Space returns."""
        (self._filler if self.mounted else self.faults_dir / self.fault).unlink()
