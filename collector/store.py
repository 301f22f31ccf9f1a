"""The one ClickHouse client factory and the thin wrapper every query goes through.

`chdb://PATH` opens ClickHouse embedded in this process (one process per path: chDB locks it);
`http(s)://user:pass@host:port/db` talks to a ClickHouse server. Same SQL for both. Values are
always bound server-side (`{name:Type}`), never formatted into SQL.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson

ROW_SETTINGS = {"output_format_json_escape_forward_slashes": 0}
# clickhouse-connect logs a warning of its own before raising what we report as one line: with
# no handler configured (the CLI) Python would print it bare on stderr; the server's log keeps it.
logging.getLogger("clickhouse_connect").addHandler(logging.NullHandler())


def utc_now() -> datetime:
    """This moment in UTC, in whole milliseconds: what a DateTime64(3) column keeps."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def ch_time(t: datetime) -> str:
    """A moment as DateTime64(3) text for inserts, in UTC (a naive datetime is taken as UTC)."""
    if t.tzinfo is not None:
        t = t.astimezone(UTC)
    return t.strftime("%Y-%m-%d %H:%M:%S.") + f"{t.microsecond // 1000:03d}"


class StoreError(Exception):
    """ClickHouse could not be reached or refused a statement; the message is one line.

    `code` is ClickHouse's numeric error code when the message carries one (`Code: 60.`)."""

    @property
    def code(self) -> int | None:
        match = re.search(r"Code: (\d+)\.", str(self))
        return int(match.group(1)) if match else None


class StoreLockedError(StoreError):
    """The embedded database is held by another process (usually the running server)."""


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:300]


def _network_cause(exc: BaseException) -> str | None:
    """The socket error under a client library's chain of wrappers, in words ('connection
    refused', 'name or service not known', 'timed out'); None when it was not the network."""
    found: OSError | None = None
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending:
        e = pending.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, OSError) and (e.strerror or found is None):
            found = e  # the deepest one that says what happened
        reason = getattr(e, "reason", None)  # urllib3's MaxRetryError keeps its cause here
        pending += [
            e.__cause__ or e.__context__,
            reason if isinstance(reason, BaseException) else None,
        ]
    if found is None:
        return None
    return (
        found.strerror or ("timed out" if isinstance(found, TimeoutError) else str(found))
    ).lower()


def embedded_path(url: str) -> Path | None:
    if not url.startswith("chdb://"):
        return None
    return Path(url[len("chdb://") :]).expanduser().resolve()


def describe(url: str) -> str:
    """The URL without its password, for messages and logs."""
    path = embedded_path(url)
    if path is not None:
        return f"chdb://{path}"
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    user = f"{parts.username}@" if parts.username else ""
    return f"{parts.scheme}://{user}{host}{port}{parts.path}"


_LOCKED_MESSAGE = (
    "the embedded database {path} is in use by another process "
    "(is `intent serve` running? stop it first, or point INTENT_CLICKHOUSE_URL at a ClickHouse server)"
)
DATABASE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


def _check_unlocked(path: Path) -> None:
    """chDB takes an exclusive flock on PATH/status while a process has the database open; its
    own error on a second open is a generic one (and prints to stderr), so look first."""
    try:
        fd = os.open(path / "status", os.O_RDONLY)
    except OSError:
        return  # no status file: nobody has it open
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
    except BlockingIOError:
        raise StoreLockedError(_LOCKED_MESSAGE.format(path=path)) from None
    finally:
        os.close(fd)


def _ensure_database(url: str) -> None:
    """Create the URL's database on a ClickHouse server when it does not exist yet."""
    import clickhouse_connect

    parts = urlsplit(url)
    database = parts.path.strip("/")
    if not database or database == "default":
        return
    if not DATABASE_NAME.match(database):
        raise StoreError(f"database name {database!r}: letters, digits and '_' only")
    bare = parts._replace(path="").geturl()
    client = clickhouse_connect.get_client(dsn=bare, connect_timeout=5, send_receive_timeout=60)
    try:
        exists = client.query(
            "SELECT count() FROM system.databases WHERE name = {db:String}",
            parameters={"db": database},
        ).result_rows[0][0]
        if not exists:  # the name was checked against DATABASE_NAME above: DDL takes no parameters
            client.command(f"CREATE DATABASE IF NOT EXISTS `{database}`")
    finally:
        client.close()


# chDB's engine allocates with its own jemalloc, configured for a dedicated server: one arena per
# CPU, and freed pages kept for 5 s and returned only when later allocations happen to purge
# them. Inside the collector that showed as RSS creeping up by ~100 MB over a few load runs
# while ClickHouse tracked ~35 MB in use (bench: docs/benchmarks.md, "Memory"). One arena and a
# background thread that purges pages freed 5 s ago (even while nothing else allocates) keep it
# nearer what is in use. Purging after 1 s saved ~20 MB more but made queries fault their memory
# back in (10M-event digest p50 39 -> 69 ms), so the 5 s stays. An operator's own JE_MALLOC_CONF
# wins. Read by jemalloc when the library loads, hence set before the import.
CHDB_MALLOC_CONF = (
    "narenas:1,percpu_arena:disabled,background_thread:true,dirty_decay_ms:5000,muzzy_decay_ms:0"
)


def _load_chdb() -> None:
    """Import chDB the way the collector wants it (once per process; a no-op afterwards).

    chDB's connection module imports pyarrow (and with it numpy and its BLAS threads) when
    installed, though only its Arrow output formats need it; intent reads Native through clickhouse-connect.
    Hiding pyarrow during that import saves ~35 MB and three threads; chDB treats pyarrow as
    optional, and a later `import pyarrow` elsewhere still works."""
    if "chdb" in sys.modules:
        return
    os.environ.setdefault("JE_MALLOC_CONF", CHDB_MALLOC_CONF)
    hide = "pyarrow" not in sys.modules
    if hide:
        sys.modules["pyarrow"] = None  # type: ignore[assignment]
    try:
        import chdb.state  # noqa: F401  (the connection module: where pyarrow is imported)
    finally:
        if hide and sys.modules.get("pyarrow", 0) is None:
            del sys.modules["pyarrow"]


_MADV_DONTNEED = 4


def release_engine_pages() -> int:
    """Unmap the pages of chDB's engine library that start-up touched; returns bytes released.

    The library is 555 MB of code and read-only data; loading it, migrating and the first
    queries fault in ~185 MB of it, most never needed again. Those pages are clean copies of
    the file: dropping them from this process (MADV_DONTNEED) costs no I/O, they stay in the
    page cache, and whatever the engine runs later faults back in (a minor fault per page).
    Only mappings that never became private copies (no anonymous pages: code, constants) are
    touched; the relocated ones are left alone. Linux only; elsewhere it does nothing."""
    module = sys.modules.get("chdb._chdb")
    library = getattr(module, "__file__", None)
    if not library or not sys.platform.startswith("linux"):
        return 0
    library = os.path.realpath(library)  # /proc names the file, not a symlink to it
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    released = 0
    try:
        smaps = Path("/proc/self/smaps").read_text().splitlines()
    except OSError:
        return 0
    region: tuple[int, int, int] | None = None  # start, end, resident kB
    candidates: list[tuple[int, int, int]] = []
    for line in smaps:
        head = line.split(maxsplit=5)
        if "-" in head[0] and len(head) >= 5 and ":" not in head[0]:
            region = None
            if len(head) == 6 and head[5] == library and "w" not in head[1]:
                start, end = (int(x, 16) for x in head[0].split("-"))
                region = (start, end, 0)
        elif region is not None and head[0] == "Rss:":
            region = (region[0], region[1], int(head[1]))
        elif region is not None and head[0] == "Anonymous:":
            if int(head[1]) == 0 and region[2]:
                candidates.append(region)
            region = None
    for start, end, resident_kb in candidates:
        if libc.madvise(start, end - start, _MADV_DONTNEED) == 0:
            released += resident_kb * 1024
    return released


class Store:
    """One ClickHouse connection. Thread-safe: calls on the embedded engine are serialised."""

    def __init__(self, url: str) -> None:
        import clickhouse_connect
        from clickhouse_connect.driver.exceptions import ClickHouseError

        self.url = url
        self.embedded = url.startswith("chdb://")
        self._lock = threading.RLock() if self.embedded else None
        path = embedded_path(url)
        try:
            if path is not None:
                path.mkdir(parents=True, exist_ok=True)
                _check_unlocked(path)
                _load_chdb()
                self.client = clickhouse_connect.get_client(dsn=f"chdb://{path}")
            else:
                _ensure_database(url)
                self.client = clickhouse_connect.get_client(
                    dsn=url, connect_timeout=5, send_receive_timeout=60
                )
        except (ClickHouseError, OSError, RuntimeError) as exc:
            message = _one_line(exc)
            if "lock" in message.lower() and path is not None:
                raise StoreLockedError(_LOCKED_MESSAGE.format(path=path)) from None
            cause = _network_cause(exc) if path is None else None
            if cause is not None:  # the library's message is a page of pool and URL details
                raise StoreError(f"cannot reach ClickHouse at {describe(url)}: {cause}") from None
            raise StoreError(f"cannot open ClickHouse at {describe(url)}: {message}") from None

    @contextmanager
    def _guard(self) -> Iterator[None]:
        from clickhouse_connect.driver.exceptions import ClickHouseError

        try:
            if self._lock is None:
                yield
            else:
                with self._lock:
                    yield
        except ClickHouseError as exc:
            raise StoreError(_one_line(exc)) from exc

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        with self._guard():
            return [
                tuple(r) for r in self.client.query(sql, parameters=dict(params or {})).result_rows
            ]

    def query_dicts(
        self, sql: str, params: Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        with self._guard():
            result = self.client.query(sql, parameters=dict(params or {}))
            names = result.column_names
            return [dict(zip(names, row, strict=True)) for row in result.result_rows]

    def scalar(self, sql: str, params: Mapping[str, Any] | None = None) -> Any:
        rows = self.query(sql, params)
        return rows[0][0] if rows else None

    def command(
        self,
        sql: str,
        params: Mapping[str, Any] | None = None,
        settings: Mapping[str, Any] | None = None,
    ) -> None:
        with self._guard():
            self.client.command(sql, parameters=dict(params or {}), settings=dict(settings or {}))

    def insert_json(self, table: str, block: bytes, dedup_token: str | None = None) -> None:
        """Insert a JSONEachRow block; a repeated token is stored once (see migrations)."""
        settings: dict[str, Any] = {"input_format_skip_unknown_fields": 1}
        if dedup_token:
            settings["insert_deduplication_token"] = dedup_token
        with self._guard():
            self.client.raw_insert(table, insert_block=block, fmt="JSONEachRow", settings=settings)

    def insert_rows(
        self, table: str, rows: Sequence[Mapping[str, Any]], dedup_token: str | None = None
    ) -> None:
        if rows:
            block = b"\n".join(orjson.dumps(r, default=str) for r in rows) + b"\n"
            self.insert_json(table, block, dedup_token)

    def insert_columns(self, table: str, columns: Mapping[str, Sequence[Any]]) -> None:
        """Insert rows given as columns (name -> one value per row): one JSONColumns block made
        in one call, several times cheaper per row than insert_rows for a bulk load."""
        block = orjson.dumps(columns, default=str)
        settings = {"input_format_skip_unknown_fields": 1}
        with self._guard():
            self.client.raw_insert(table, insert_block=block, fmt="JSONColumns", settings=settings)

    def ping(self) -> bool:
        try:
            return bool(self.scalar("SELECT 1") == 1)
        except StoreError:
            return False

    def close(self) -> None:
        with self._guard():
            self.client.close()


_open: dict[str, Store] = {}
_open_lock = threading.Lock()


def connect(url: str) -> Store:
    """The process-wide Store for a URL (chDB allows one embedded path per process)."""
    key = describe(url)
    with _open_lock:
        store = _open.get(key)
        if store is None:
            store = _open[key] = Store(url)
        return store


def close_all() -> None:
    with _open_lock:
        for store in _open.values():
            store.close()
        _open.clear()
