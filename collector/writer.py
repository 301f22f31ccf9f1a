"""The batch writer: sealed spool segments -> ClickHouse `events`, in a background thread.

A segment is inserted as one block whose deduplication token is the segment's name, and is
deleted only after ClickHouse confirmed it; a failed insert leaves it in the spool and is
retried with backoff. Drop counts and the daily visitor salt are maintained here too, so the
request path never waits on the database.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import threading
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from collector.metrics import Metrics
from collector.spool import Spool
from collector.store import Store, StoreError, release_engine_pages

log = logging.getLogger("intent.writer")


class DropCounter:
    """(site, day, reason) -> count, flushed to `dropped_events` by the writer."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, str, str]] = Counter()

    def add(self, site: str, day: date, reason: str, n: int = 1) -> None:
        with self._lock:
            self._counts[(site, day.isoformat(), reason)] += n

    def take(self) -> Counter[tuple[str, str, str]]:
        with self._lock:
            counts, self._counts = self._counts, Counter()
        return counts

    def give_back(self, counts: Counter[tuple[str, str, str]]) -> None:
        with self._lock:
            self._counts.update(counts)


SALT_QUERY = "SELECT salt FROM salts WHERE day = {day:Date} ORDER BY created LIMIT 1"


class Salts:
    """The day's random salt for visitor ids, shared by every replica through ClickHouse.

    The request path only reads the cache (no I/O): the writer thread confirms today's salt
    (and tomorrow's from 23:00 UTC) with ClickHouse. Should a day start while ClickHouse is
    unreachable, a provisional salt is made locally and offered to ClickHouse once it is back;
    the oldest salt of the day wins, so replicas converge."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._cache: dict[date, bytes] = {}
        self._confirmed: set[date] = set()
        self._lock = threading.Lock()

    def prefetch(self, day: date) -> bytes:
        """Make sure ClickHouse holds a salt for `day` and cache the one it holds (I/O)."""
        if day in self._confirmed:
            return self._cache[day]
        found = self.store.scalar(SALT_QUERY, {"day": day})
        if found is None:
            with self._lock:
                candidate = self._cache.get(day) or secrets.token_bytes(32)
            self.store.insert_rows(
                "salts",
                [{"day": day.isoformat(), "salt": candidate.hex(),
                  "created": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")}],
            )  # fmt: skip
            found = self.store.scalar(SALT_QUERY, {"day": day})
        salt = bytes.fromhex(str(found))
        with self._lock:
            self._cache = {d: s for d, s in self._cache.items() if d >= day - timedelta(days=1)}
            self._cache[day] = salt
            self._confirmed = {d for d in self._confirmed if d >= day - timedelta(days=1)}
            self._confirmed.add(day)
        return salt

    def __call__(self, day: date) -> bytes:
        salt = self._cache.get(day)
        if salt is None:
            with self._lock:
                salt = self._cache.setdefault(day, secrets.token_bytes(32))
        return salt

    def forget_old(self, today: date) -> None:
        """Yesterday's salt is kept until today's visits no longer need it; older ones go."""
        self.store.command(
            "ALTER TABLE salts DELETE WHERE day < {day:Date}", {"day": today - timedelta(days=1)}
        )


# ClickHouse error codes meaning "this block's data is bad", not "ClickHouse is unwell":
# retrying such a segment can never succeed, so it is set aside instead of blocking the rest.
DATA_ERRORS = frozenset({6, 26, 27, 32, 38, 41, 53, 69, 70, 72, 117, 130, 376, 377})


class Writer:
    def __init__(
        self,
        store: Store,
        spool: Spool,
        drops: DropCounter,
        salts: Salts,
        metrics: Metrics,
        interval_s: float,
        nice: int = 0,
        release_every_s: float = 60.0,
    ) -> None:
        self.store = store
        self.spool = spool
        self.drops = drops
        self.salts = salts
        self.metrics = metrics
        self.interval_s = interval_s
        self.nice = nice  # this thread's CPU priority: below the event loop's (see app.start)
        # Every minute the pages of the embedded engine's library that are mapped but no longer
        # used are dropped again, as at start-up (collector.store.release_engine_pages): without
        # it a server's RSS kept ~30 MB more of them after make bench's seven rounds than after
        # three. What is in use faults back in from the page cache (~35k minor faults at most).
        self.release_every_s = release_every_s
        self.released = 0  # bytes dropped by the last release
        self._released_at = time.monotonic()
        self.backoff_s = 0.0
        self.healthy = True
        self.last_error = ""
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name="intent-writer", daemon=True)
        self._salted_day: date | None = None
        self._cycle_lock = threading.Lock()  # the thread and an explicit flush() never overlap
        # Lines of the spool (Spool.appended) known to be in ClickHouse: what an early re-score
        # waits for (wait_written) after asking for the open segment now (flush_soon).
        self._written = threading.Condition()
        self.written_through = 0
        self._early = False

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Drain: seal the open segment and send everything once more before returning."""
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)

    def wake(self) -> None:
        self._wake.set()

    def flush_soon(self) -> None:
        """Seal the open segment and send it now, not when it is old enough."""
        self._early = True
        self._wake.set()

    def wait_written(self, lines: int, timeout: float) -> bool:
        """True once the first `lines` lines ever appended to the spool are in ClickHouse."""
        with self._written:
            return self._written.wait_for(lambda: self.written_through >= lines, timeout)

    def _run(self) -> None:
        if self.nice > 0:  # the engine's threads started by our inserts inherit it
            with contextlib.suppress(OSError):
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), self.nice)
        while not self._stop.is_set():
            self._wake.wait(self.interval_s / 4 if not self.backoff_s else self.backoff_s)
            self._wake.clear()
            early, self._early = self._early, False
            self._guarded_cycle(seal=early)
        self.spool.seal_if_due(force=True)
        self._guarded_cycle()

    def _guarded_cycle(self, seal: bool = False) -> None:
        """The thread must outlive any surprise (a driver error that is not a StoreError, a
        spool file removed by hand): it logs, backs off and tries again."""
        try:
            self.cycle(seal)
        except Exception as exc:
            self.healthy = False
            self.last_error = f"{type(exc).__name__}: {exc}"
            self.backoff_s = self._longer_backoff()
            self.metrics.writer_healthy.set(0)
            log.exception("writer pass failed; retrying in %.1fs", self.backoff_s)

    def _longer_backoff(self) -> float:
        """Doubled after each failed pass: 0.5 s, 1 s, ... at most 30 s."""
        return min(max(self.backoff_s * 2, 0.5), 30.0)

    def flush(self) -> bool:
        """Send everything accepted so far, now (tests, `intent demo`, shutdown)."""
        with self._cycle_lock:
            self.spool.seal_if_due(force=True)
        self.cycle()
        return self.healthy

    def cycle(self, seal: bool = False) -> None:
        """One pass: seal a due segment (the open one whatever its age with `seal`), send sealed
        ones, flush drop counts, keep salts fresh."""
        with self._cycle_lock:
            if seal:
                self.spool.seal_if_due(force=True)
            self._cycle()

    def _cycle(self) -> None:
        self.spool.seal_if_due()
        through = self.spool.sealed_through  # every line before it is in a sealed segment
        ok = self.send_sealed()
        if ok and through > self.written_through:
            with self._written:
                self.written_through = through
                self._written.notify_all()
        ok = self.flush_drops() and ok
        ok = self.keep_salts() and ok
        self.healthy = ok
        self.backoff_s = 0.0 if ok else self._longer_backoff()
        self.metrics.spool_bytes.set(self.spool.bytes)
        self.metrics.writer_healthy.set(1 if ok else 0)
        if time.monotonic() - self._released_at >= self.release_every_s:
            self.released = release_engine_pages()
            self._released_at = time.monotonic()

    def send_sealed(self) -> bool:
        return all(self.send(segment) for segment in self.spool.sealed())

    def send(self, segment: Path) -> bool:
        block = _valid_lines(segment.read_bytes())
        started = time.perf_counter()
        try:
            if block:
                self.store.insert_json("events", block, dedup_token=f"spool:{segment.stem}")
        except StoreError as exc:
            self.metrics.insert_errors.inc()
            if exc.code in DATA_ERRORS:
                bad = self.spool.quarantine(segment)
                self.metrics.quarantined.inc()
                log.error("ClickHouse rejected the data in %s; set aside as %s: %s",
                          segment.name, bad.name, exc)  # fmt: skip
                return True
            self.last_error = str(exc)
            log.warning("insert of %s failed, kept in the spool: %s", segment.name, exc)
            return False
        rows = block.count(b"\n")
        self.metrics.batch_rows.observe(rows)
        self.metrics.batch_seconds.observe(time.perf_counter() - started)
        self.metrics.rows_written.inc(rows)
        self.spool.remove(segment)
        return True

    def flush_drops(self) -> bool:
        counts = self.drops.take()
        if not counts:
            return True
        rows = [{"site": s, "day": d, "reason": r, "count": n} for (s, d, r), n in counts.items()]
        try:
            self.store.insert_rows("dropped_events", rows)
        except StoreError as exc:
            self.drops.give_back(counts)
            self.last_error = str(exc)
            return False
        return True

    def keep_salts(self) -> bool:
        today = datetime.now(UTC).date()
        try:
            self.salts.prefetch(today)
            if datetime.now(UTC).hour >= 23:
                self.salts.prefetch(today + timedelta(days=1))
            if self._salted_day != today:
                self.salts.forget_old(today)
                self._salted_day = today
        except StoreError as exc:
            self.last_error = str(exc)
            return False
        return True


def _valid_lines(data: bytes) -> bytes:
    """Every acknowledged write ends in a newline; a torn tail (a crash mid-write, never
    acknowledged) does not, and is left out."""
    end = data.rfind(b"\n")
    if end + 1 != len(data):
        log.warning("skipping a torn spool tail of %d bytes", len(data) - end - 1)
    return data[: end + 1]
