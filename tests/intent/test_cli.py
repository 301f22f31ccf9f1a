"""The `intent` command in real subprocesses: errors are one line on stderr naming the problem,
exit status 1, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from collector.store import Store
from tests.conftest import free_port

SITE = '[sites.shop]\ndomains = ["shop.example"]\n'


def intent(
    tmp_path: Path, *args: str, toml: str | None = SITE, **env: str
) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "intent.toml"
    if toml is not None:
        config.write_text(toml, encoding="utf-8")
    base = {k: v for k, v in os.environ.items() if not k.startswith("INTENT_")}
    full = {**base, "INTENT_CLICKHOUSE_URL": f"chdb://{tmp_path / 'ch'}", "INTENT_CONFIG": str(config),
            "INTENT_SPOOL_DIR": str(tmp_path / "spool"), "INTENT_RDNS": "false", **env}  # fmt: skip
    return subprocess.run([sys.executable, "-m", "intent", *args], env=full, cwd=tmp_path,
                          capture_output=True, text=True, timeout=180)  # fmt: skip


def one_line_error(done: subprocess.CompletedProcess[str], command: str) -> str:
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr and "Traceback" not in done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"intent {command}: ")
    return lines[0]


def test_serve_with_a_bad_setting_exits_with_one_line(tmp_path: Path) -> None:
    line = one_line_error(intent(tmp_path, "serve", INTENT_PORT="eighty"), "serve")
    assert line == "intent serve: INTENT_PORT: expected a whole number, got 'eighty'"
    line = one_line_error(intent(tmp_path, "serve", INTENT_TRUSTED_PROXIES="10.0.0.0/99"), "serve")
    assert line.startswith("intent serve: INTENT_TRUSTED_PROXIES: ")


def test_serve_with_an_unusable_spool_dir_names_it(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a directory")
    done = intent(tmp_path, "serve", INTENT_SPOOL_DIR=str(tmp_path / "a-file"))
    assert one_line_error(done, "serve").startswith("intent serve: INTENT_SPOOL_DIR: cannot create")


def test_serve_with_an_unknown_site_key_names_it(tmp_path: Path) -> None:
    done = intent(tmp_path, "serve", toml=SITE + 'colour = "red"\n')
    assert one_line_error(done, "serve").startswith(
        "intent serve: sites.shop.colour: unknown setting"
    )


def test_serve_refuses_two_workers_on_the_embedded_database(tmp_path: Path) -> None:
    line = one_line_error(intent(tmp_path, "serve", "--workers", "2"), "serve")
    assert "--workers 2" in line and "chdb://" in line and "one process" in line
    line = one_line_error(intent(tmp_path, "serve", INTENT_WORKERS="2"), "serve")
    assert line.startswith("intent serve: INTENT_WORKERS: ")


def test_commands_say_so_when_another_process_holds_the_database(
    tmp_path: Path, store: Store, ch_url: str
) -> None:
    # This test process holds the session database open, exactly as a running server would.
    for args in (("stats",), ("migrate",), ("serve",)):
        done = intent(tmp_path, *args, INTENT_CLICKHOUSE_URL=ch_url)
        line = one_line_error(done, args[0])
        assert "in use by another process" in line and "intent serve" in line, line
        assert "Code:" not in done.stderr  # chDB's own lock error is never reached


def test_init_writes_a_starter_config_once(tmp_path: Path) -> None:
    config = tmp_path / "intent.toml"
    done = intent(tmp_path, "init", toml=None)
    assert done.returncode == 0 and config.exists(), done.stderr
    assert "[sites.localhost]" in config.read_text()
    assert one_line_error(intent(tmp_path, "init", toml=None), "init").endswith(
        "already exists; not overwriting it"
    )
    assert intent(tmp_path, "init", "--if-missing", toml=None).returncode == 0
    secret = tmp_path / "intent.secret"  # the server secret, beside the config, owner-only
    assert secret.stat().st_mode & 0o777 == 0o600 and len(secret.read_text().strip()) == 64
    secret.unlink()  # an install from before the secret: init adds it, keeps the config
    done = intent(tmp_path, "init", toml=None)
    assert done.returncode == 0 and "intent.secret" in done.stdout and secret.exists()
    secret.unlink()
    assert (
        intent(tmp_path, "init", "--if-missing", toml=None, INTENT_SECRET="k" * 32).returncode == 0
    )
    assert not secret.exists()  # INTENT_SECRET set: no file


def test_serve_with_a_clickhouse_server_needs_the_secret(tmp_path: Path) -> None:
    done = intent(tmp_path, "serve", INTENT_CLICKHOUSE_URL="http://u:p@127.0.0.1:9/intent")
    line = one_line_error(done, "serve")
    assert line.startswith("intent serve: INTENT_SECRET: not set") and "every replica" in line


def test_stats_on_an_empty_install(tmp_path: Path) -> None:
    assert intent(tmp_path, "migrate").returncode == 0
    done = intent(tmp_path, "stats")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "no events in the last 30 days"


def test_the_worker_entry_point_builds_the_app(tmp_path: Path) -> None:
    """`intent serve --workers N` (ClickHouse server only) imports intent.asgi in each worker."""
    code = (
        "import intent.asgi as a; from starlette.applications import Starlette; "
        "print(type(a.app).__name__, isinstance(a.app, Starlette), sorted(a.settings.sites))"
    )
    config = tmp_path / "intent.toml"
    config.write_text(SITE, encoding="utf-8")
    base = {k: v for k, v in os.environ.items() if not k.startswith("INTENT_")}
    done = subprocess.run([sys.executable, "-c", code], env={**base, "INTENT_CONFIG": str(config)},
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "CollectorApp True ['shop']"


def test_every_data_file_is_packaged() -> None:
    """A non-editable install (the Docker image) carries only files matching package-data."""
    import fnmatch
    import tomllib

    root = Path(__file__).resolve().parents[2]
    project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = project["tool"]["setuptools"]["package-data"]["*"]
    for package in ("collector", "intent"):
        for path in (root / package).rglob("*"):
            if (
                path.is_file()
                and "__pycache__" not in path.parts
                and path.suffix not in (".py", ".pyc")
            ):
                assert any(fnmatch.fnmatch(path.name, p) for p in patterns), (
                    f"add to package-data: {path}"
                )


def test_sites_lists_each_site_with_its_rules_and_tag(tmp_path: Path) -> None:
    toml = (
        SITE + 'exclude_domains = ["own.example"]\n[sites.shop.rules]\nhot = 70\n'
        '[sites.blog]\ndomains = ["blog.example"]\n'
    )
    done = intent(tmp_path, "sites", "--url", "https://intent.shop.example/", toml=toml)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "shop" and "  domains: shop.example" in lines
    assert any(
        line.startswith("  scoring: hot >= 70 with a buying signal at most 6 days ago, warm >= 20")
        for line in lines
    )
    assert "  excluded: own.example" in lines
    assert (
        '  tag: <script defer data-site="shop" src="https://intent.shop.example/js/intent.js"></script>'
        in lines
    )
    assert "blog" in lines and "hot >= 50" in done.stdout  # the other site keeps the defaults
    assert one_line_error(intent(tmp_path, "sites", toml=""), "sites").endswith(
        "(add a [sites.NAME] table)"
    )


def test_an_unreachable_clickhouse_server_is_one_line_without_the_password(tmp_path: Path) -> None:
    url = f"http://intent:s3cret-pw@127.0.0.1:{free_port()}/intent"  # nothing listens there
    for command in ("stats", "serve"):
        # with a secret, as a replica of a ClickHouse server must have: the next check is the server
        done = intent(tmp_path, command, INTENT_CLICKHOUSE_URL=url, INTENT_SECRET="0" * 64)
        line = one_line_error(done, command)  # no stray library line before it
        assert line == (
            f"intent {command}: cannot reach ClickHouse at "
            f"{url.replace(':s3cret-pw', '')}: connection refused"
        )
        assert "s3cret-pw" not in done.stdout + done.stderr
