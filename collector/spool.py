"""The write-ahead spool: a 202 is sent only after the event is fsynced here.

Group commit: the requests of one turn of the event loop append to one batch, written to the
open segment at the end of that turn; a small helper process fdatasyncs it and says so through
a socket the event loop watches, and every request waiting on it is answered at once. Batches
written while a sync is under way are covered by the next one. Segments are append-only files;
a segment is sealed (renamed `.seg`) when it holds enough rows or is old enough, and the
writer sends sealed segments to ClickHouse with the segment's name as the insert deduplication
token, deleting the file only once ClickHouse confirmed it. A `kill -9` therefore loses nothing
acknowledged and duplicates nothing.

Several processes may share one INTENT_SPOOL_DIR (`--workers N`, or two servers on one disk):
each claims its own `slot-N` subdirectory (collector/spoolslots.py). The helper process and its
requests are collector/synchelper.py. A write that fails (a full disk) costs 503s, never a
descriptor or a file, and the spool tries again by itself half a second later.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import socket
import subprocess
import threading
import time
from collections import deque
from pathlib import Path

from collector import spoolslots, synchelper
from collector.faults import NONE, SPOOL_DISK_FULL, Faults

log = logging.getLogger("intent.spool")


# After a failed write the spool refuses at once, without touching the disk, for this long;
# then one request tries again (a full disk met every request with a new file and a fsync).
RETRY_WRITE_S = 0.5
# A write error other than a full disk keeps /readyz at 503 this long after it happened.
WRITE_ERROR_SHOWN_S = 10.0
# With less free space than this on its filesystem, a spool that met a full disk stays not ready.
DISK_ROOM_BYTES = 1 << 20
DISK_FULL = "spool disk full"
_DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


class SpoolFull(Exception):
    """The spool cannot take this append now: answer 503 (with Retry-After). `reason` is a short
    fixed phrase (what /readyz and the log summary name); the message says more."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


def _release(waiters: list[asyncio.Future[None]], error: Exception | None) -> None:
    """On the event loop: the batch is on disk (or failed); wake the requests that wait for it."""
    for waiter in waiters:
        if not waiter.done():
            if error is None:
                waiter.set_result(None)
            else:
                waiter.set_exception(error)


class Spool:
    def __init__(
        self,
        root: Path,
        max_bytes: int,
        segment_rows: int,
        segment_age_s: float,
        faults: Faults = NONE,
    ):
        self.root = root
        self.faults = faults  # INTENT_FAULT_DIR: a full disk without a small filesystem
        self.max_bytes = max_bytes
        self.segment_rows = segment_rows
        self.segment_age_s = segment_age_s
        root.mkdir(parents=True, exist_ok=True)
        self.directory, self._slot_fd = spoolslots.claim_slot(root)
        directory = self.directory
        self._lock = threading.Lock()  # guards the open segment
        self._bytes_lock = threading.Lock()  # guards the byte count (loop and writer thread)
        self._fd: int | None = None
        self._path: Path | None = None
        self._open_unsent = False  # the open segment has data no sync request has covered
        self._rows = 0
        self._size = 0  # bytes written to the open segment (synced or not yet)
        self._opened = 0.0
        self._seq = 0
        self._pending: list[bytes] = []  # the batch of this turn of the event loop
        self._waiters: list[asyncio.Future[None]] = []
        self._flush_loop: asyncio.AbstractEventLoop | None = None  # a flush is scheduled there
        self._written = 0  # batches written to segments
        self._sync_sent = 0  # the last batch a sync was asked for
        # (batch, segment, its size before the batch, the batch's requests), oldest first
        self._unsynced: deque[tuple[int, int, int, list[asyncio.Future[None]]]] = deque()
        # Descriptors of segments sealed with data no sync request has covered yet: the next one
        # carries them (with the open segment's), then they are closed.
        self._sealed_unsent: list[int] = []
        self._dir_changed = False
        self._helper: subprocess.Popen[bytes] | None = None
        self._sock: socket.socket | None = None
        self._reader_loop: asyncio.AbstractEventLoop | None = None
        self._acks = b""
        self._closed = False
        self.fsyncs = 0
        self.appended = 0  # lines written to segments by this process
        self.sealed_through = 0  # how many of those are in sealed segments
        self.bytes = 0
        self.last_error = ""
        self.refusing = False  # refused an append since the writer last freed room
        self._write_error: str | None = None  # the reason of the last failed write, until one works
        self._write_failed_at = 0.0
        for leftover in sorted(directory.glob("*.open")):  # from a crash: seal it as it is
            leftover.rename(leftover.with_suffix(".seg"))
        adopted = spoolslots.adopt_orphans(root, directory)
        if adopted:
            log.info("adopted %d spool segment(s) left by another process", adopted)
        self.bytes = sum(p.stat().st_size for p in directory.glob("*.seg"))
        self._start_helper()  # now, so that a first request does not wait for it to start

    # -- the request side (event loop) ---------------------------------------------------

    async def append(
        self, lines: list[bytes], loop: asyncio.AbstractEventLoop | None = None
    ) -> None:
        """Return once `lines` are on disk (fsynced); raise SpoolFull past the bound. `loop` is
        the running loop when the caller knows it (saves a system call per append)."""
        failed = self._write_error
        if failed is not None and time.monotonic() - self._write_failed_at < RETRY_WRITE_S:
            raise SpoolFull(failed, self.last_error)
        size = sum(map(len, lines)) + len(lines)  # each line and its newline
        with self._bytes_lock:  # reserve now so concurrent requests see the bound
            if self.bytes + size > self.max_bytes:
                self.refusing = True
                raise SpoolFull("spool full", f"{self.bytes} bytes held (bound {self.max_bytes})")
            self.bytes += size
        loop = loop or asyncio.get_running_loop()
        if self._closed:  # shutting down: this request is answered 503 and retried later
            with self._bytes_lock:
                self.bytes -= size
            raise SpoolFull("spool closed")
        waiter: asyncio.Future[None] = loop.create_future()
        self._pending.extend(lines)
        self._waiters.append(waiter)
        if self._flush_loop is None:
            self._flush_loop = loop
            loop.call_soon(self._flush)
        await waiter

    def _flush(self) -> None:
        """End of a turn of the event loop: write its batch to the open segment and have the
        helper fdatasync it (or let the sync under way finish first; the next covers it)."""
        loop, self._flush_loop = self._flush_loop, None
        lines, waiters = self._pending, self._waiters
        self._pending, self._waiters = [], []
        if not lines:
            return
        try:
            segment, before = self._write(lines)
        except Exception as exc:  # disk full, I/O error: those requests get 503
            with self._bytes_lock:
                self.bytes -= sum(map(len, lines)) + len(lines)
            _release(waiters, SpoolFull(self._write_failed(exc), str(exc)))
            return
        self._write_error = None
        self._written += 1
        self._unsynced.append((self._written, segment, before, waiters))
        assert loop is not None
        self._request_sync(loop)  # queued behind any under way: the helper takes them together

    def _write_failed(self, exc: Exception) -> str:
        """Remember a failed write (appends are refused for RETRY_WRITE_S); returns its reason."""
        full = isinstance(exc, OSError) and exc.errno in _DISK_FULL_ERRNOS
        reason = DISK_FULL if full else "spool write failed"
        self.last_error = str(exc)
        self._write_error = reason
        self._write_failed_at = time.monotonic()
        return reason

    def problem(self) -> str | None:
        """Why this spool cannot take events now (for /readyz), or None."""
        reason = self._write_error
        if reason == DISK_FULL:
            if not self._disk_has_room():  # with room again, the next write will tell
                return reason
        elif reason is not None and time.monotonic() - self._write_failed_at < WRITE_ERROR_SHOWN_S:
            return reason
        if self.refusing or self.bytes >= self.max_bytes * 0.9:
            return "spool full"
        return None

    def _disk_has_room(self) -> bool:
        if self.faults.on(SPOOL_DISK_FULL):
            return False
        try:
            fs = os.statvfs(self.directory)
        except OSError:
            return False
        return fs.f_bavail * fs.f_frsize >= DISK_ROOM_BYTES

    def _request_sync(self, loop: asyncio.AbstractEventLoop) -> None:
        """Ask the helper to make everything written so far durable."""
        try:
            sock = self._sock  # None once the helper's end of file was read
            if sock is None:
                sock = self._start_helper()
            if self._reader_loop is not loop:  # the first append, or a new loop (tests)
                if self._reader_loop is not None:
                    with contextlib.suppress(Exception):
                        self._reader_loop.remove_reader(sock.fileno())
                loop.add_reader(sock.fileno(), self._on_ack)
                self._reader_loop = loop
            request = b"%s%d\n" % (b"D" if self._dir_changed else b"", self._written)
            with self._lock:  # the writer thread may seal the open segment meanwhile
                files = [*self._sealed_unsent, *([self._fd] if self._fd is not None else [])]
                try:
                    synchelper.send_request(sock, request, files)
                except BlockingIOError:  # the helper is that far behind: ask again on its answer
                    return
                for fd in self._sealed_unsent:
                    os.close(fd)  # the helper holds its own copies now
                self._sealed_unsent.clear()
                self._open_unsent = False
            self._dir_changed = False
            self._sync_sent = self._written
        except OSError as exc:  # it could not start, or it is gone and the loop has not seen it
            self._stop_helper()
            self._sync_failed(f"spool sync helper: {exc}")

    def _on_ack(self) -> None:
        """The helper answered: release the batches it made durable, start the next sync."""
        assert self._sock is not None and self._reader_loop is not None
        try:
            data = self._sock.recv(4096)
        except BlockingIOError:
            return
        except OSError as exc:
            data, self.last_error = b"", str(exc)
        if not data:  # the helper is gone (killed?): what it had not confirmed is not on disk
            self._stop_helper()
            if not self._closed:  # (after close() it is the end we asked for)
                self._sync_failed("the spool's sync helper exited")
            return
        self._acks += data
        *acks, self._acks = self._acks.split(b"\n")
        for ack in acks:
            batch, error = (int(x) for x in ack.split())
            if error:
                self._write_failed(OSError(error, os.strerror(error)))
                self._sync_failed(f"fdatasync failed: {os.strerror(error)}")
                return
            self.fsyncs += 1
            done: list[asyncio.Future[None]] = []
            while self._unsynced and self._unsynced[0][0] <= batch:
                done.extend(self._unsynced.popleft()[3])
            _release(done, None)
        if self._written > self._sync_sent:  # a request that did not fit: ask now
            self._request_sync(self._reader_loop)

    def _sync_failed(self, why: str) -> None:
        """Nothing not yet confirmed can be promised: its requests get 503 (and are retried),
        its bytes are cut from the segment, which is sealed; the next write starts a new one."""
        log.error("%s; %d waiting request batch(es) answered 503", why, len(self._unsynced))
        self.last_error = why
        self._sync_sent = self._written  # nothing is asked for any more
        with self._lock:  # what they hold was answered 503 below (or nothing waits for it)
            for fd in self._sealed_unsent:
                os.close(fd)
            self._sealed_unsent.clear()
        if not self._unsynced:
            return
        failed = list(self._unsynced)
        self._unsynced.clear()
        cut = 0
        with self._lock:  # cut the open segment back to before its first unconfirmed batch
            in_open = [before for _, segment, before, _ in failed if segment == self._seq]
            if self._fd is not None and in_open:
                cut = self._size - in_open[0]
                self._abandon_locked(in_open[0])
        with self._bytes_lock:  # what stays in sealed segments counts until they are sent
            self.bytes -= cut
        for _, _, _, waiters in failed:
            _release(waiters, SpoolFull("spool sync failed", why))

    def _start_helper(self) -> socket.socket:
        self._stop_helper()
        self._helper, ours = synchelper.start(self.directory)
        self._sock = ours
        self._dir_changed = True  # a new helper syncs the directory once, to be sure
        return ours

    def _stop_helper(self) -> None:
        """On the event loop's thread (or before any loop watches the socket)."""
        if self._sock is not None:
            if self._reader_loop is not None:
                with contextlib.suppress(Exception):
                    self._reader_loop.remove_reader(self._sock.fileno())
            self._reader_loop = None
            self._sock.close()
            self._sock = None
        if self._helper is not None:
            try:
                self._helper.wait(10)
            except subprocess.TimeoutExpired:
                self._helper.kill()
                self._helper.wait()
            self._helper = None

    # -- the disk side (the event loop, and the writer thread for sealing) ---------------

    def _write(self, lines: list[bytes]) -> tuple[int, int]:
        """Append to the open segment (opening one if needed); returns which segment and the
        offset the lines start at."""
        data = b"\n".join(lines) + b"\n"
        with self._lock:
            if self._fd is None:
                self._open_segment()
            assert self._fd is not None
            where = (self._seq, self._size)
            try:
                self.faults.check_spool_write()
                written = os.write(self._fd, data)
                while written < len(data):
                    written += os.write(self._fd, data[written:])
            except OSError:
                self._abandon_locked(self._size)
                raise
            self._open_unsent = True
            self._size += len(data)
            self.appended += len(lines)
            self._rows += len(lines)
            if self._rows >= self.segment_rows:
                self._seal_locked()
        return where

    def _open_segment(self) -> None:
        self._seq += 1
        name = f"{time.time_ns():020d}-{os.getpid()}-{self._seq:06d}.open"
        self._path = self.directory / name
        self._fd = os.open(self._path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._open_unsent = False  # each sync request carries the open segment's descriptor
        self._dir_changed = True  # and the directory entry with the first sync
        self._rows = 0
        self._size = 0
        self._opened = time.monotonic()

    def _seal_locked(self) -> None:
        """Rename the open segment and let go of it. Its data's durability is the helper's: a
        sync request under way carries its descriptor, and one written since is kept for the
        next request; a `.open` name a crash leaves behind is sealed at start-up."""
        if self._fd is None or self._path is None:
            return
        self._path.rename(self._path.with_suffix(".seg"))
        if self._open_unsent:
            self._sealed_unsent.append(self._fd)
        else:
            os.close(self._fd)
        self._fd = None
        self._path = None
        self._rows = 0
        self.sealed_through = self.appended

    def _abandon_locked(self, good_size: int) -> None:
        """A failed write (disk full, I/O error): cut the segment back to its last good line and
        seal it, so the next write starts a clean segment; one left empty is removed (a full
        disk must not fill up with empty segments)."""
        assert self._fd is not None and self._path is not None
        if good_size == 0:
            with contextlib.suppress(OSError):
                self._path.unlink()
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None
            self._path = None
            self._rows = 0
            self._open_unsent = False
            return
        with contextlib.suppress(OSError):
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
        spoolslots.fsync_dir(self.directory)

    def seal_if_due(self, force: bool = False) -> None:
        """Seal the open segment when old enough (called by the writer thread)."""
        with self._lock:
            due = self._fd is not None and (
                force or time.monotonic() - self._opened >= self.segment_age_s
            )
            if due:
                self._seal_locked()
        if due:
            self._fsync_dir()

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
        """Refuse further appends, stop the helper (it finishes the sync under way) and seal.
        Called once the server has stopped answering, so no request waits any more. It may run
        on another thread than the event loop's, so it leaves the socket to the loop: the
        helper's end of file is what tells the loop to let go of it."""
        self._closed = True
        sock, helper, loop = self._sock, self._helper, self._reader_loop
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_WR)  # the helper reads its end of file and exits
        if helper is not None:
            try:
                helper.wait(10)
            except subprocess.TimeoutExpired:
                helper.kill()
                helper.wait()
        if sock is not None and (loop is None or loop.is_closed()):  # nobody watches it
            sock.close()
            self._sock = None
        self.seal_if_due(force=True)
        with self._lock:
            for fd in self._sealed_unsent:
                os.close(fd)
            self._sealed_unsent.clear()
        with contextlib.suppress(OSError):
            os.close(self._slot_fd)
