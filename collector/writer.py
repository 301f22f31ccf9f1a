"""The batch writer: sealed spool segments -> ClickHouse `events`, in a background thread.

A segment is inserted as one block whose deduplication token is the segment's name, and is
deleted only after ClickHouse confirmed it; a failed insert leaves it in the spool and is
retried with backoff. Events whose client-sent id was stored before (a retry after a restart, or
at another worker) are left out first (collector/storedids.py). Drop counts and the daily visitor salt are maintained here too, so the
request path never waits on the database.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import os
import secrets
import threading
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import orjson

from collector import storedids
from collector.faults import NONE, Faults
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


SALT_QUERY = """
    SELECT salt, secret_check FROM salts WHERE day = {day:Date} ORDER BY created LIMIT 1
"""


def visitor_key(secret: bytes, salt: bytes) -> bytes:
    """The day's key of visitor ids: the stored random salt keyed by the server secret, so the
    `salts` table alone (whoever reads the database) cannot recompute an id from an IP."""
    return hmac.new(secret, b"intent-visitor-id\x00" + salt, hashlib.sha256).digest()


def secret_check(secret: bytes, salt: bytes) -> str:
    """Stored beside a salt so a replica with another secret notices. scrypt: a weak secret
    must not be cheap to guess from it (one computation per day and process)."""
    check = hashlib.scrypt(secret, salt=b"intent-secret-check\x00" + salt, n=2**14, r=8, p=1,
                           dklen=8)  # fmt: skip
    return check.hex()


class Salts:
    """The day's key for visitor ids: a random salt shared by every replica through ClickHouse,
    keyed by the server secret (INTENT_SECRET), which is never stored there.

    The request path only reads the cache (no I/O): the writer thread confirms today's salt
    (and tomorrow's from 23:00 UTC) with ClickHouse. Should a day start while ClickHouse is
    unreachable, a provisional salt is made locally and offered to ClickHouse once it is back;
    the oldest salt of the day wins, so replicas converge. A salt stored without a secret check
    was made before the secret existed (an upgrade that day): it is used as it is, so the day's
    visitors are not split."""

    def __init__(self, store: Store, secret: bytes) -> None:
        self.store = store
        self.secret = secret
        self._salts: dict[date, bytes] = {}  # the random salt per day, as ClickHouse holds it
        self._keys: dict[date, bytes] = {}  # what visitor ids are keyed with
        self._confirmed: set[date] = set()
        self._lock = threading.Lock()

    def prefetch(self, day: date) -> bytes:
        """Make sure ClickHouse holds a salt for `day` and cache the key it gives (I/O)."""
        if day in self._confirmed:
            return self._keys[day]
        found = self.store.query(SALT_QUERY, {"day": day})
        if not found:
            with self._lock:
                candidate = self._salts.get(day) or secrets.token_bytes(32)
            self.store.insert_rows(
                "salts",
                [{"day": day.isoformat(), "salt": candidate.hex(),
                  "secret_check": secret_check(self.secret, candidate),
                  "created": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")}],
            )  # fmt: skip
            found = self.store.query(SALT_QUERY, {"day": day})
        salt, check = bytes.fromhex(str(found[0][0])), str(found[0][1])
        if not check:  # made by a version before INTENT_SECRET: that day's ids stay as they were
            key = salt
        else:
            key = visitor_key(self.secret, salt)
            if check != secret_check(self.secret, salt):
                log.error("INTENT_SECRET differs from the secret that made the visitor salt of %s "
                          "(another replica, or this server before the secret changed): visitor "
                          "ids made here differ from theirs; give every replica the same "
                          "INTENT_SECRET", day)  # fmt: skip
        keep = day - timedelta(days=1)
        with self._lock:
            self._salts = {d: s for d, s in self._salts.items() if d >= keep}
            self._keys = {d: k for d, k in self._keys.items() if d >= keep}
            self._salts[day], self._keys[day] = salt, key
            self._confirmed = {d for d in self._confirmed if d >= keep}
            self._confirmed.add(day)
        return key

    def __call__(self, day: date) -> bytes:
        key = self._keys.get(day)
        if key is None:
            with self._lock:
                key = self._keys.get(day)
                if key is None:  # provisional, until the writer confirms the day's salt
                    salt = self._salts.setdefault(day, secrets.token_bytes(32))
                    key = self._keys[day] = visitor_key(self.secret, salt)
        return key

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
        release_when_idle_s: float = 2.0,
        faults: Faults = NONE,
    ) -> None:
        self.store = store
        self.spool = spool
        self.drops = drops
        self.salts = salts
        self.metrics = metrics
        self.interval_s = interval_s
        self.faults = faults  # INTENT_FAULT_DIR: ClickHouse out of disk without filling one
        self.nice = nice  # this thread's CPU priority: below the event loop's (see app.start)
        # Every minute the pages of the embedded engine's library that are mapped but no longer
        # used are dropped again, as at start-up (collector.store.release_engine_pages): without
        # it a server's RSS kept ~30 MB more of them after make bench's seven rounds than after
        # three. What is in use faults back in from the page cache (~35k minor faults at most).
        self.release_every_s = release_every_s
        # ...and once the writer has had nothing to send for this long after a busy spell: a
        # flood left the pages that inserting and merging use mapped (RSS ~100 MB up) until the
        # next minute.
        self.release_when_idle_s = release_when_idle_s
        self.released = 0  # bytes dropped by the last release
        self._released_at = time.monotonic()
        self._sent_at: float | None = None  # the last insert since the last release
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
        now = time.monotonic()
        idle = self._sent_at is not None and now - self._sent_at >= self.release_when_idle_s
        if idle or now - self._released_at >= self.release_every_s:
            self.released = release_engine_pages()
            self._released_at = time.monotonic()
            self._sent_at = None

    def send_sealed(self) -> bool:
        return all(self.send(segment) for segment in self.spool.sealed())

    def send(self, segment: Path) -> bool:
        block = _valid_lines(segment.read_bytes())
        started = time.perf_counter()
        try:
            checked = storedids.check(self.store, block, segment.stem)
            block = checked.block
            if block:
                self.faults.check_insert()
                self.store.insert_json("events", block, dedup_token=f"spool:{segment.stem}")
            storedids.record(self.store, checked.new_ids, segment.stem)
        except ValueError as exc:  # a marked row the spool never wrote so (edited, corrupt)
            self._set_aside(segment, exc)
            return True
        except StoreError as exc:
            self.metrics.insert_errors.inc()
            if exc.code in DATA_ERRORS:
                self._set_aside(segment, exc)
                return True
            self.last_error = str(exc)
            log.warning("insert of %s failed, kept in the spool: %s", segment.name, exc)
            return False
        self._count_duplicates(checked.duplicates)
        rows = block.count(b"\n")
        self.metrics.batch_rows.observe(rows)
        self.metrics.batch_seconds.observe(time.perf_counter() - started)
        self.metrics.rows_written.inc(rows)
        self.spool.remove(segment)
        self._sent_at = time.monotonic()
        return True

    def _set_aside(self, segment: Path, exc: Exception) -> None:
        bad = self.spool.quarantine(segment)
        self.metrics.quarantined.inc()
        log.error("ClickHouse rejected the data in %s; set aside as %s: %s",
                  segment.name, bad.name, exc)  # fmt: skip

    def _count_duplicates(self, rows: list[bytes]) -> None:
        """Events a retry had brought again, left out of the insert: counted like the
        collector's own duplicates (dropped_events, the dropped metric)."""
        for line in rows:
            event = orjson.loads(line)
            ts = str(event.get("ts", ""))
            day = date.fromisoformat(ts[:10]) if ts else datetime.now(UTC).date()
            self.drops.add(str(event.get("site", "")), day, "duplicate")
        if rows:
            self.metrics.dropped.labels("duplicate").inc(len(rows))

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
