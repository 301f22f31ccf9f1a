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
each claims its own `slot-N` subdirectory under an exclusive flock, and at start-up adopts the
segments of any slot nobody holds (a worker that is gone), so nothing is left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from pathlib import Path

log = logging.getLogger("intent.spool")
MAX_SLOTS = 256


# The sync helper, a separate process so that no second Python thread ever waits for this
# process's GIL: with a disk *thread*, each finished write waited for the event loop to run out
# of work before its requests could be answered (docs/benchmarks.md). It reads requests "N\n"
# (segment files arrive as descriptors attached to them, "D" asks for the directory too),
# fdatasyncs what it holds and answers "N ERRNO\n" (0: on disk). Only os/signal/socket/sys:
# with -I -S it starts and answers a first sync in ~30 ms, at ~10 MB resident.
_HELPER = r"""
import os, signal, socket, sys
# Ctrl-C in a terminal, or a service manager stopping the whole group, must not end it before
# the server has drained: it ends when the server closes its socket (or is gone).
for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
    signal.signal(sig, signal.SIG_IGN)
sock = socket.socket(fileno=int(sys.argv[1]))
directory = os.open(sys.argv[2], os.O_RDONLY)
files = []
buf = b""
while True:
    try:
        data, fds, _, _ = socket.recv_fds(sock, 4096, 16)
    except OSError:
        break
    if not data and not fds:
        break
    files.extend(fds)
    buf += data
    if b"\n" not in buf:
        continue
    *requests, buf = buf.split(b"\n")
    error = 0
    try:
        if any(r.startswith(b"D") for r in requests):
            os.fsync(directory)
        for fd in files:
            os.fdatasync(fd)
    except OSError as exc:
        error = exc.errno or 5
    for fd in files[:-1]:
        os.close(fd)
    del files[:-1]
    try:
        sock.sendall(requests[-1].lstrip(b"D") + b" %d\n" % error)
    except OSError:
        break
"""


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
        self._new_files: list[int] = []  # descriptors for the helper, sent with the next sync
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
        for leftover in sorted(directory.glob("*.open")):  # from a crash: seal it as it is
            leftover.rename(leftover.with_suffix(".seg"))
        adopted = _adopt_orphans(root, directory)
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
        size = sum(map(len, lines)) + len(lines)  # each line and its newline
        with self._bytes_lock:  # reserve now so concurrent requests see the bound
            if self.bytes + size > self.max_bytes:
                self.refusing = True
                raise SpoolFull(f"spool holds {self.bytes} bytes (bound {self.max_bytes})")
            self.bytes += size
        loop = loop or asyncio.get_running_loop()
        if self._closed:  # shutting down: this request is answered 503 and retried later
            with self._bytes_lock:
                self.bytes -= size
            raise SpoolFull("the spool is closed")
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
            self.last_error = str(exc)
            _release(waiters, SpoolFull(f"spool write failed: {exc}"))
            return
        self._written += 1
        self._unsynced.append((self._written, segment, before, waiters))
        assert loop is not None
        self._request_sync(loop)  # queued behind any under way: the helper takes them together

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
            files, self._new_files = self._new_files, []
            try:
                socket.send_fds(sock, [request], files)
            except BlockingIOError:  # the helper is that far behind: ask again on its answer
                self._new_files = files + self._new_files
                return
            for fd in files:
                os.close(fd)  # the helper holds its own copies now
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
            _release(waiters, SpoolFull(why))

    def _start_helper(self) -> socket.socket:
        self._stop_helper()
        ours, theirs = socket.socketpair()
        try:
            self._helper = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", _HELPER, str(theirs.fileno()),
                 str(self.directory)],
                pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL,
            )  # fmt: skip
        finally:
            theirs.close()
        ours.setblocking(False)
        self._sock = ours
        for fd in self._new_files:
            os.close(fd)
        # A new helper is given the open segment (the one before it confirmed nothing after
        # the last acknowledgement, and what it did not confirm was answered 503).
        self._new_files = [os.dup(self._fd)] if self._fd is not None else []
        self._dir_changed = True
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
                written = os.write(self._fd, data)
                while written < len(data):
                    written += os.write(self._fd, data[written:])
            except OSError:
                self._abandon_locked(self._size)
                raise
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
        self._new_files.append(os.dup(self._fd))  # the helper syncs it through its own copy
        self._dir_changed = True  # and the directory entry with the first sync
        self._rows = 0
        self._size = 0
        self._opened = time.monotonic()

    def _seal_locked(self) -> None:
        """Close and rename the open segment. Its data's durability is the helper's (it holds
        its own descriptor); a `.open` name a crash leaves behind is sealed at start-up."""
        if self._fd is None or self._path is None:
            return
        os.close(self._fd)
        self._path.rename(self._path.with_suffix(".seg"))
        self._fd = None
        self._path = None
        self._rows = 0
        self.sealed_through = self.appended

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
        with contextlib.suppress(OSError):
            os.close(self._slot_fd)
