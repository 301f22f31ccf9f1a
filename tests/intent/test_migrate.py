"""Migrations on the real engine: re-running is a no-op, the ledger records every version, the dry
run prints SQL, and a retention change becomes `ALTER TABLE ... MODIFY TTL` (separate database,
through the CLI in subprocesses, since chDB opens one path per process)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from collector.settings import Settings
from collector.store import Store
from intent.migrate import applied, available, dry_run, migrate, retention_tables


def test_rerunning_is_a_no_op_and_the_ledger_records_versions(store: Store, ch_url: str) -> None:
    settings = Settings(config_path=Path("unused.toml"), clickhouse_url=ch_url)
    versions = {m.version for m in available(settings)}
    assert applied(store) == versions
    assert migrate(store, settings) == []
    assert migrate(store, settings) == []
    rows = store.query("SELECT version, count() FROM schema_migrations GROUP BY version")
    assert {v: n for v, n in rows} == dict.fromkeys(versions, 1)
    assert dry_run(settings, store) == ""  # nothing pending, retention as configured


def test_dry_run_prints_the_sql_with_settings_substituted() -> None:
    settings = Settings(config_path=Path("unused.toml"), retention_days=30, cluster="analytics")
    sql = dry_run(settings)
    assert "-- 0001_events" in sql
    assert "CREATE TABLE IF NOT EXISTS events ON CLUSTER analytics" in sql
    assert "ENGINE = ReplicatedMergeTree" in sql
    assert "TTL toDateTime(ts) + INTERVAL 30 DAY" in sql
    assert "${" not in sql


def test_retention_tables_are_the_ones_whose_ttl_follows_the_setting() -> None:
    tables = retention_tables()
    assert tables["events"] == "toDateTime(ts)"
    assert {"dropped_events", "daily_activity", "daily_companies", "identities"} <= set(tables)
    assert "salts" not in tables and "schema_migrations" not in tables


def intent(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("INTENT_")}
    full = {**base, "INTENT_CLICKHOUSE_URL": f"chdb://{tmp_path / 'ch'}",
            "INTENT_CONFIG": str(tmp_path / "intent.toml"), **env}  # fmt: skip
    return subprocess.run([sys.executable, "-m", "intent", *args], env=full, cwd=tmp_path,
                          capture_output=True, text=True, timeout=180)  # fmt: skip


def test_cli_migrate_then_a_retention_change(tmp_path: Path) -> None:
    first = intent(tmp_path, "migrate", INTENT_RETENTION_DAYS="30")
    assert first.returncode == 0, first.stderr
    assert "applied 0001_events" in first.stdout
    assert "MODIFY TTL" not in first.stdout  # created with 30 days already
    same = intent(tmp_path, "migrate", INTENT_RETENTION_DAYS="30")
    assert same.stdout.strip() == "schema is up to date"
    planned = intent(tmp_path, "migrate", "--dry-run", INTENT_RETENTION_DAYS="60")
    assert planned.returncode == 0, planned.stderr
    assert "ALTER TABLE events MODIFY TTL toDateTime(ts) + INTERVAL 60 DAY;" in planned.stdout
    assert "CREATE TABLE" not in planned.stdout
    changed = intent(tmp_path, "migrate", INTENT_RETENTION_DAYS="60")
    assert "ALTER TABLE events MODIFY TTL toDateTime(ts) + INTERVAL 60 DAY" in changed.stdout
    assert "ALTER TABLE dropped_events MODIFY TTL day + INTERVAL 60 DAY" in changed.stdout
    again = intent(tmp_path, "migrate", INTENT_RETENTION_DAYS="60")
    assert again.stdout.strip() == "schema is up to date", again.stdout
