"""The write-ahead spool: a 202 is sent only after the event is fsynced here.

Group commit: concurrent requests append to one in-memory batch; one disk thread writes and
fsyncs it (the event loop never blocks on the disk), releases every waiting request at once,
and takes the next batch that queued meanwhile. Segments are append-only files; a segment is sealed (renamed `.seg`) when it
holds enough rows or is old enough, and the writer sends sealed segments to ClickHouse with the
segment's name as the insert deduplication token, deleting the file only once ClickHouse
confirmed it. A `kill -9` therefore loses nothing acknowledged and duplicates nothing.

Several processes may share one INTENT_SPOOL_DIR (`--workers N`, or two servers on one disk):
each claims its own `slot-N` subdirectory under an exclusive flock, and at start-up adopts the
segments of any slot nobody holds (a worker that is gone), so nothing is left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import threading
import time
from pathlib import Path

log = logging.getLogger("intent.spool")
MAX_SLOTS = 256


class SpoolFull(Exception):
    """The spool is at its byte bound: answer 503 until the writer catches up."""


def _fsync_dir(directory: Path) -> None:
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


def _claim_slot(root: Path) -> tuple[Path, int]:
    for n in range(MAX_SLOTS):
        directory = root / f"slot-{n}"
        fd = _try_lock(directory)
        if fd is not None:
            return directory, fd
    raise OSError(f"all {MAX_SLOTS} spool slots under {root} are in use")


def _adopt_orphans(root: Path, mine: Path) -> int:
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
                _fsync_dir(other)
                _fsync_dir(mine)
        finally:
            os.close(fd)
    return moved


def _release(waiters: list[asyncio.Future[None]], error: Exception | None) -> None:
    """On the event loop: the batch is on disk (or failed); wake the requests that wait for it."""
    for waiter in waiters:
        if not waiter.done():
            if error is None:
                waiter.set_result(None)
            else:
                waiter.set_exception(error)


class Spool:
    def __init__(self, root: Path, max_bytes: int, segment_rows: int, segment_age_s: float):
        self.root = root
        self.max_bytes = max_bytes
        self.segment_rows = segment_rows
        self.segment_age_s = segment_age_s
        root.mkdir(parents=True, exist_ok=True)
        self.directory, self._slot_fd = _claim_slot(root)
        directory = self.directory
        self._lock = threading.Lock()  # guards the open segment
        self._bytes_lock = threading.Lock()  # guards the byte count (loop and writer thread)
        self._fd: int | None = None
        self._path: Path | None = None
        self._rows = 0
        self._size = 0  # bytes in the open segment, all acknowledged
        self._opened = 0.0
        self._seq = 0
        self._pending: list[bytes] = []
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self._queue = threading.Lock()  # guards the two lists above, _idle and _closed
        self._closed = False
        self._idle = False  # the disk thread waits on _signal (set and read under _queue)
        self._signal = threading.Lock()  # held while nobody has work for the disk thread
        self._signal.acquire()
        self._disk = threading.Thread(target=self._disk_loop, name="spool-fsync", daemon=True)
        self.fsyncs = 0
        self.appended = 0
        self.bytes = 0
        self.last_error = ""
        self.refusing = False  # refused an append since the writer last freed room
        for leftover in sorted(directory.glob("*.open")):  # from a crash: seal it as it is
            leftover.rename(leftover.with_suffix(".seg"))
        adopted = _adopt_orphans(root, directory)
        if adopted:
            log.info("adopted %d spool segment(s) left by another process", adopted)
        self.bytes = sum(p.stat().st_size for p in directory.glob("*.seg"))
        self._disk.start()

    # -- the request side (event loop) ---------------------------------------------------

    async def append(
        self, lines: list[bytes], loop: asyncio.AbstractEventLoop | None = None
    ) -> None:
        """Return once `lines` are on disk (fsynced); raise SpoolFull past the bound. `loop` is
        the running loop when the caller knows it (saves a system call per append)."""
        size = sum(map(len, lines)) + len(lines)  # each line and its newline
        with self._bytes_lock:  # reserve now so concurrent requests see the bound
            if self.bytes + size > self.max_bytes:
                self.refusing = True
                raise SpoolFull(f"spool holds {self.bytes} bytes (bound {self.max_bytes})")
            self.bytes += size
        loop = loop or asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        with self._queue:
            if self._closed:  # shutting down: this request is answered 503 and retried later
                with self._bytes_lock:
                    self.bytes -= size
                raise SpoolFull("the spool is closed")
            self._pending.extend(lines)
            self._waiters.append((loop, waiter))
            if self._idle:  # the disk thread sleeps on the signal: wake it
                self._idle = False
                self._signal.release()
        await waiter

    def _disk_loop(self) -> None:
        """The disk thread: write whatever requests queued meanwhile in one durable write, tell
        their event loops, and go straight on to the next batch.

        It is written to need Python's GIL as seldom as possible, because each time it waits
        for the GIL the event loop's thread pays a hand-over (futex wake-ups, context switches):
        one `O_DSYNC` write instead of lseek + write + fsync, and a bare lock as the wake-up
        signal instead of a Condition (strace under make bench's load: ~9.5 futex calls per
        cycle on each side before, see docs/benchmarks.md). The event loop is not in this
        cycle either: when it had to hand each batch over (run_in_executor), a batch waited for
        the loop to get round to it, ~2-3 ms per cycle under load for a 0.5 ms fsync."""
        while True:
            with self._queue:
                lines, waiters = self._pending, self._waiters
                if lines:
                    self._pending, self._waiters = [], []
                elif self._closed:
                    return  # closed and drained
                else:
                    self._idle = True
            if not lines:
                self._signal.acquire()  # released by append() or close() once _idle is seen
                continue
            error: Exception | None = None
            try:
                self._write(lines)
            except Exception as exc:  # disk full, I/O error: those requests get 503
                with self._bytes_lock:
                    self.bytes -= sum(map(len, lines)) + len(lines)
                self.last_error = str(exc)
                error = SpoolFull(f"spool write failed: {exc}")
            by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = {}
            for loop, waiter in waiters:
                by_loop.setdefault(loop, []).append(waiter)
            for loop, futures in by_loop.items():
                with contextlib.suppress(RuntimeError):  # that loop is closed: nobody waits
                    loop.call_soon_threadsafe(_release, futures, error)

    # -- the disk side (one worker thread, and the writer thread for sealing) ------------

    def _write(self, lines: list[bytes]) -> None:
        data = b"\n".join(lines) + b"\n"
        with self._lock:
            if self._fd is None:
                self._open_segment()
            assert self._fd is not None
            try:  # O_DSYNC: each write returns once it is on disk, as write + fdatasync
                written = os.write(self._fd, data)
                while written < len(data):
                    written += os.write(self._fd, data[written:])
            except OSError:
                self._abandon_locked(self._size)
                raise
            self._size += len(data)
            self.fsyncs += 1
            self.appended += len(lines)
            self._rows += len(lines)
            if self._rows >= self.segment_rows:
                self._seal_locked()

    def _open_segment(self) -> None:
        self._seq += 1
        name = f"{time.time_ns():020d}-{os.getpid()}-{self._seq:06d}.open"
        self._path = self.directory / name
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_DSYNC
        self._fd = os.open(self._path, flags, 0o600)
        self._fsync_dir()
        self._rows = 0
        self._size = 0
        self._opened = time.monotonic()

    def _seal_locked(self) -> None:
        if self._fd is None or self._path is None:
            return
        os.close(self._fd)
        self._path.rename(self._path.with_suffix(".seg"))
        self._fsync_dir()
        self._fd = None
        self._path = None
        self._rows = 0

    def _abandon_locked(self, good_size: int) -> None:
        """A failed write (disk full, I/O error): cut the segment back to its last acknowledged
        line and seal it, so the next write starts a clean segment."""
        with contextlib.suppress(OSError):
            assert self._fd is not None
            os.ftruncate(self._fd, good_size)
            os.fsync(self._fd)
        with contextlib.suppress(OSError):
            self._seal_locked()
        if self._fd is not None:  # sealing failed: drop the fd, the file is found at start-up
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None
            self._path = None

    def _fsync_dir(self) -> None:
        _fsync_dir(self.directory)

    def seal_if_due(self, force: bool = False) -> None:
        """Seal the open segment when old enough (called by the writer thread)."""
        with self._lock:
            if self._fd is not None and (
                force or time.monotonic() - self._opened >= self.segment_age_s
            ):
                self._seal_locked()

    def sealed(self) -> list[Path]:
        return sorted(self.directory.glob("*.seg"))

    def remove(self, segment: Path) -> None:
        size = segment.stat().st_size
        segment.unlink()
        self._release(size)

    def quarantine(self, segment: Path) -> Path:
        """Set aside a segment ClickHouse rejects as data (it would block every later one);
        it stays on disk as `.bad` for an operator and no longer counts against the bound."""
        bad = segment.with_suffix(".bad")
        size = segment.stat().st_size
        segment.rename(bad)
        self._release(size)
        return bad

    def _release(self, size: int) -> None:
        """A segment left the spool: its bytes no longer count against the bound."""
        with self._bytes_lock:
            self.bytes -= size
            self.refusing = False

    def segments(self) -> list[Path]:
        """Every segment holding events not yet in ClickHouse (open or sealed)."""
        return sorted([*self.directory.glob("*.open"), *self.directory.glob("*.seg")])

    def close(self) -> None:
        with self._queue:
            self._closed = True
            if self._idle:
                self._idle = False
                self._signal.release()
        self._disk.join()  # what was queued is written first
        self.seal_if_due(force=True)
        with contextlib.suppress(OSError):
            os.close(self._slot_fd)
