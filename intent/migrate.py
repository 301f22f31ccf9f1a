"""Numbered SQL migrations (intent/migrations/NNNN_name.sql), recorded in `schema_migrations`.

DDL cannot take bound parameters, so the only text substituted into migrations is the
deployment's own validated settings: `${ON_CLUSTER}`, `${REPLICATED}`, `${RETENTION_DAYS}`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

from collector.settings import Settings
from intent.store import Store

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


def _render(sql: str, settings: Settings) -> str:
    cluster = settings.cluster
    if cluster and not re.match(r"^[A-Za-z0-9_]+$", cluster):
        raise ValueError("INTENT_CLUSTER: letters, digits and '_' only")
    return (
        sql.replace("${ON_CLUSTER}", f"ON CLUSTER {cluster}" if cluster else "")
        .replace("${REPLICATED}", "Replicated" if cluster else "")
        .replace("${RETENTION_DAYS}", str(int(settings.retention_days)))
    )


def _split(sql: str) -> tuple[str, ...]:
    lines = [line for line in sql.splitlines() if not line.strip().startswith("--")]
    return tuple(s.strip() for s in "\n".join(lines).split(";") if s.strip())


def available(settings: Settings) -> list[Migration]:
    out = []
    for entry in resources.files("intent.migrations").iterdir():
        match = re.match(r"^(\d{4})_([a-z0-9_]+)\.sql$", entry.name)
        if match:
            sql = _render(entry.read_text(encoding="utf-8"), settings)
            out.append(Migration(int(match.group(1)), match.group(2), _split(sql)))
    out.sort(key=lambda m: m.version)
    versions = [m.version for m in out]
    if len(set(versions)) != len(versions):
        raise RuntimeError("two migration files share a number")
    return out


def applied(store: Store) -> set[int]:
    return {int(row[0]) for row in store.query("SELECT version FROM schema_migrations")}


def pending(store: Store, settings: Settings) -> list[Migration]:
    store.command(_render(LEDGER, settings))
    done = applied(store)
    return [m for m in available(settings) if m.version not in done]


def migrate(store: Store, settings: Settings) -> list[Migration]:
    """Apply pending migrations in order; re-running is a no-op. Returns what was applied."""
    ran = []
    for migration in pending(store, settings):
        for statement in migration.statements:
            store.command(statement)
        store.insert_rows(
            "schema_migrations", [{"version": migration.version, "name": migration.name}]
        )
        ran.append(migration)
    return ran


def dry_run(settings: Settings, store: Store | None = None) -> str:
    """The SQL `migrate` would run (every migration when no database is given)."""
    todo = pending(store, settings) if store is not None else available(settings)
    parts = []
    for m in todo:
        parts.append(f"-- {m.version:04d}_{m.name}")
        parts.extend(s + ";" for s in m.statements)
    return "\n".join(parts)
