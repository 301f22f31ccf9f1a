"""A CLI command forwarded to the running server that holds the embedded database.

chDB lets one process open a database, so while `intent serve` runs, a command that needs the
database cannot open it; `forward` sends it to the server (intent.remote runs it there) with
the token the server wrote to `<spool dir>/cli.token` (mode 0600: only the same user reads it).
"""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import orjson

from collector.settings import Settings, load_settings
from collector.settings_error import SettingsError
from intent.command import inside_server

TOKEN_FILE = "cli.token"  # noqa: S105 (a file name)


def token_path(settings: Settings) -> Path:
    return settings.spool_dir / TOKEN_FILE


FILE_SUFFIXES = (".csv", ".tsv", ".toml", ".mmdb", ".json", ".txt")


def absolute_files(argv: list[str], cwd: Path | None = None) -> list[str]:
    """The server runs a forwarded command in its own working directory: file arguments that
    exist here are sent as absolute paths (`ranges import ranges.csv`, `rules test --rules x`)."""
    base = cwd or Path.cwd()
    out = []
    for arg in argv:
        option, eq, value = (
            arg.rpartition("=") if arg.startswith("--") and "=" in arg else ("", "", arg)
        )
        path = Path(value)
        looks_like_file = "/" in value or path.suffix in FILE_SUFFIXES
        if value and looks_like_file and not path.is_absolute() and (base / path).is_file():
            value = str((base / path).resolve())
        out.append(f"{option}{eq}{value}")
    return out


def forward(argv: list[str]) -> int | None:
    """Run the command in the local server that holds the database; None if there is none."""
    if inside_server():
        return None
    argv = absolute_files(argv)
    try:
        settings = load_settings(require_config=False)
        token = token_path(settings).read_text(encoding="ascii").strip()
    except (SettingsError, OSError):
        return None
    host = settings.host if settings.host not in ("", "0.0.0.0", "::") else "127.0.0.1"  # noqa: S104
    host = f"[{host}]" if ":" in host else host
    try:
        r = httpx.post(f"http://{host}:{settings.port}/api/cli", content=orjson.dumps({"argv": argv}),
                       headers={"Authorization": f"Bearer {token}"}, timeout=600, trust_env=False)  # fmt: skip
        result = r.json() if r.status_code == 200 else None
    except (httpx.HTTPError, ValueError):
        return None
    if not isinstance(result, dict):
        return None
    sys.stdout.write(str(result.get("stdout", "")))
    sys.stderr.write(str(result.get("stderr", "")))
    return int(result.get("code", 1))
