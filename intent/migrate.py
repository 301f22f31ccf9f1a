"""Numbered SQL migrations (intent/migrations/NNNN_name.sql), recorded in `schema_migrations`.

DDL cannot take bound parameters, so the only text substituted into migrations is the
deployment's own validated settings: `${ON_CLUSTER}`, `${REPLICATED}`, `${RETENTION_DAYS}`.

Retention: a table whose migration says `TTL <expr> + INTERVAL ${RETENTION_DAYS} DAY` follows
INTENT_RETENTION_DAYS. New installs get the setting in the CREATE; on an existing install
`migrate` (which `intent serve` runs at start) compares each such table's TTL with the setting
and issues `ALTER TABLE ... MODIFY TTL` when they differ.
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from importlib import resources

from collector.settings import Settings
from collector.store import Store, StoreError
from intent.command import open_store, settings

LEDGER = """
CREATE TABLE IF NOT EXISTS schema_migrations ${ON_CLUSTER}
(
    version UInt32,
    name String,
    applied_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ${REPLICATED}MergeTree
ORDER BY version
"""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]


TABLE_TTL = """
SELECT name, engine_full FROM system.tables
WHERE database = currentDatabase() AND name IN {tables:Array(String)}
"""

_RETENTION_TTL = re.compile(
    r"CREATE TABLE IF NOT EXISTS (\w+)[^;]*?\bTTL (.+?) \+ INTERVAL \$\{RETENTION_DAYS\} DAY", re.S
)


def _render(sql: str, settings: Settings) -> str:
    cluster = settings.cluster  # validated by collector.settings: letters, digits, '_'
    return (
        sql.replace("${ON_CLUSTER}", f"ON CLUSTER {cluster}" if cluster else "")
        .replace("${REPLICATED}", "Replicated" if cluster else "")
        .replace("${RETENTION_DAYS}", str(int(settings.retention_days)))
    )


def _uncommented(sql: str) -> str:
    return "\n".join(line for line in sql.splitlines() if not line.strip().startswith("--"))


def _split(sql: str) -> tuple[str, ...]:
    return tuple(s.strip() for s in _uncommented(sql).split(";") if s.strip())


def _files() -> list[tuple[int, str, str]]:
    out = []
    for entry in resources.files("intent.migrations").iterdir():
        match = re.match(r"^(\d{4})_([a-z0-9_]+)\.sql$", entry.name)
        if match:
            out.append((int(match.group(1)), match.group(2), entry.read_text(encoding="utf-8")))
    return out


def available(settings: Settings) -> list[Migration]:
    out = []
    for version, name, text in _files():
        out.append(Migration(version, name, _split(_render(text, settings))))
    out.sort(key=lambda m: m.version)
    versions = [m.version for m in out]
    if len(set(versions)) != len(versions):
        raise RuntimeError("two migration files share a number")
    return out


LEDGER_EXISTS = """
SELECT count() FROM system.tables WHERE database = currentDatabase() AND name = 'schema_migrations'
"""


def applied(store: Store) -> set[int]:
    if not store.scalar(LEDGER_EXISTS):
        return set()
    return {int(row[0]) for row in store.query("SELECT version FROM schema_migrations")}


def pending(store: Store, settings: Settings) -> list[Migration]:
    done = applied(store)
    return [m for m in available(settings) if m.version not in done]


def retention_tables() -> dict[str, str]:
    """Tables whose TTL follows INTENT_RETENTION_DAYS -> their TTL expression (before `+`)."""
    out = {}
    for _version, _name, text in _files():
        for match in _RETENTION_TTL.finditer(_uncommented(text)):
            out[match.group(1)] = " ".join(match.group(2).split())
    return out


def retention_changes(store: Store, settings: Settings) -> list[str]:
    """`ALTER TABLE ... MODIFY TTL` for each retention table whose TTL differs from the setting."""
    tables = retention_tables()
    days = int(settings.retention_days)
    on_cluster = _render(" ${ON_CLUSTER}", settings).rstrip()
    out = []
    for name, engine in store.query(TABLE_TTL, {"tables": sorted(tables)}):
        applied = re.search(r"\bTTL .*?toIntervalDay\((\d+)\)", str(engine))
        if applied is None or int(applied.group(1)) != days:
            out.append(
                f"ALTER TABLE {name}{on_cluster} MODIFY TTL {tables[name]} + INTERVAL {days} DAY"
            )
    return out


def migrate(store: Store, settings: Settings) -> list[str]:
    """Apply pending migrations in order, then any retention change; re-running is a no-op.
    Returns what was done: migration names (`0001_events`) and retention statements."""
    store.command(_render(LEDGER, settings))
    done = []
    for migration in pending(store, settings):
        for statement in migration.statements:
            store.command(statement)
        store.insert_rows(
            "schema_migrations", [{"version": migration.version, "name": migration.name}]
        )
        done.append(f"applied {migration.version:04d}_{migration.name}")
    for statement in retention_changes(store, settings):
        store.command(statement)
        done.append(statement)
    return done


def dry_run(settings: Settings, store: Store | None = None) -> str:
    """The SQL `migrate` would run (every migration when no database is given)."""
    todo = pending(store, settings) if store is not None else available(settings)
    parts = []
    for m in todo:
        parts.append(f"-- {m.version:04d}_{m.name}")
        parts.extend(s + ";" for s in m.statements)
    if store is not None:
        changes = retention_changes(store, settings)
        if changes:
            parts.append(f"-- retention: {settings.retention_days} days")
            parts.extend(s + ";" for s in changes)
    return "\n".join(parts)


def cmd_migrate(args: argparse.Namespace) -> int:
    s = settings(require_config=False)
    if args.dry_run:
        store = None
        if not args.all:
            try:
                store = open_store(s)
            except StoreError as exc:
                print(f"-- {exc}: showing every migration")
        print(dry_run(s, store))
        return 0
    done = migrate(open_store(s), s)
    for line in done:
        print(line)
    if not done:
        print("schema is up to date")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("migrate", help="apply pending schema migrations")
    p.add_argument("--dry-run", action="store_true", help="print the SQL, change nothing")
    p.add_argument("--all", action="store_true", help="with --dry-run: every migration")
    p.set_defaults(func=cmd_migrate)
