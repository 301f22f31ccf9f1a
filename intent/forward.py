"""A CLI command forwarded to the running server that holds the embedded database.

chDB lets one process open a database, so while `intent serve` runs, a command that needs the
database cannot open it; `forward` sends it to the server (intent.remote runs it there). The
server records itself in `<spool dir>/server.json` (mode 0600: only the same user reads it): its
pid, the address it listens on and a random token. The CLI posts to that address, whatever its
own INTENT_PORT says, so a command reaches the server that holds *this* data directory.

A forwarded command runs with the server's configuration and environment, not the CLI's: the
CLI sends a keyed digest of each INTENT_* variable set in its own environment, the server
answers which differ from its own, and the CLI says so (on a failure, in the error's one line).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson

from collector.settings import ENV, Settings, load_settings
from collector.settings_error import SettingsError
from collector.store import embedded_path
from intent.command import CliError, inside_server

RECORD_FILE = "server.json"
# Settings only `intent serve` reads: a forwarded command never needs them to match.
SERVE_ONLY = frozenset({"INTENT_HOST", "INTENT_PORT", "INTENT_WORKERS"})


@dataclass(frozen=True)
class ServerRecord:
    """What a running server wrote about itself for local CLI calls."""

    pid: int
    host: str
    port: int
    token: str

    @property
    def address(self) -> str:
        """Where a local client reaches it: a wildcard listen address means loopback."""
        host = self.host if self.host not in ("", "0.0.0.0", "::") else "127.0.0.1"  # noqa: S104
        return f"[{host}]:{self.port}" if ":" in host else f"{host}:{self.port}"

    def describe(self) -> str:
        return f"the server on {self.address} (pid {self.pid})"


def record_path(settings: Settings) -> Path:
    return settings.spool_dir / RECORD_FILE


def read_record(settings: Settings) -> ServerRecord | None:
    """The running server's record in this spool directory; None if absent, unreadable or left
    by a process that is gone."""
    try:
        raw = orjson.loads(record_path(settings).read_bytes())
        record = ServerRecord(
            int(raw["pid"]), str(raw["host"]), int(raw["port"]), str(raw["token"])
        )
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None
    return record if _alive(record.pid) else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def comparable(settings: Settings, name: str) -> str:
    """A setting's value as two processes can compare it: paths made absolute."""
    if name == "INTENT_CONFIG":
        return str(settings.config_path.resolve())
    value: Any = getattr(settings, ENV[name][0])
    if name == "INTENT_CLICKHOUSE_URL":
        path = embedded_path(value)
        return f"chdb://{path.resolve()}" if path is not None else str(value)
    if isinstance(value, Path):
        return str(value.resolve())
    if isinstance(value, tuple) and value and isinstance(value[0], Path):
        return repr(tuple(str(p.resolve()) for p in value))
    return repr(value)


def fingerprint(settings: Settings, name: str, key: str) -> str:
    """A keyed digest of one setting, so a password is compared without being sent."""
    value = comparable(settings, name).encode()
    return hmac.new(key.encode(), value, hashlib.sha256).hexdigest()


def set_here(settings: Settings, key: str, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """Fingerprints of the settings the CLI's own environment sets."""
    env = os.environ if env is None else env
    names = [n for n in (*ENV, "INTENT_CONFIG") if n in env and n not in SERVE_ONLY]
    return {name: fingerprint(settings, name, key) for name in names}


def differing(server: Settings, given: Any, key: str) -> list[str]:
    """The names among a CLI's fingerprints whose value the server does not share."""
    if not isinstance(given, dict):
        return []
    known = (*ENV, "INTENT_CONFIG")
    return sorted(
        name
        for name, digest in given.items()
        if name in known
        and name not in SERVE_ONLY
        and not hmac.compare_digest(str(digest), fingerprint(server, name, key))
    )


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


def running_server() -> tuple[Settings, ServerRecord] | None:
    """The CLI's settings and the server recorded in its spool directory, if one runs."""
    try:
        settings = load_settings(sites=False)  # the server reads intent.toml, maybe mid-edit
    except SettingsError:
        return None
    record = read_record(settings)
    return None if record is None else (settings, record)


def forward(argv: list[str]) -> int | None:
    """Run the command in the local server that holds the database; None if there is none.
    CliError when a server is recorded but does not answer."""
    if inside_server():
        return None
    found = running_server()
    if found is None:
        return None
    settings, record = found
    body = {"argv": absolute_files(argv), "settings": set_here(settings, record.token)}
    try:
        r = httpx.post(f"http://{record.address}/api/cli", content=orjson.dumps(body),
                       headers={"Authorization": f"Bearer {record.token}"}, timeout=600,
                       trust_env=False)  # fmt: skip
    except httpx.HTTPError as exc:
        raise CliError(
            f"the database is held by {record.describe()}, which did not answer "
            f"({_cause(exc)}); is it still starting or stopping? try again, or stop it first"
        ) from None
    try:
        result = r.json() if r.status_code == 200 else None
    except ValueError:
        result = None
    if not isinstance(result, dict):
        raise CliError(
            f"the database is held by {record.describe()}, which refused the command "
            f"(HTTP {r.status_code}); is {record_path(settings)} from another server?"
        )
    code = int(result.get("code", 1))
    out, err = str(result.get("stdout", "")), str(result.get("stderr", ""))
    sys.stdout.write(out)
    sys.stderr.write(explain(argv, err, code, result.get("differs"), record))
    return code


def explain(argv: list[str], err: str, code: int, differs: Any, record: ServerRecord) -> str:
    """The command's stderr, saying where it ran when the CLI's environment differs from the
    server's: appended to the error's one line, or a one-line note after a success."""
    names = [str(n) for n in differs] if isinstance(differs, list) else []
    if not names:
        return err
    listed = ", ".join(names)
    cause = (
        f"it ran in {record.describe()}, which holds the database and uses its own environment: "
        f"{listed} set here {'is' if len(names) == 1 else 'are'} not the server's; set "
        f"{'it' if len(names) == 1 else 'them'} where the server starts and restart it"
    )
    if code != 0 and err.strip():
        lines = err.rstrip("\n").split("\n")
        lines[-1] = f"{lines[-1]} ({cause})"
        return "\n".join(lines) + "\n"
    command = argv[0] if argv else "command"
    return f"{err}intent {command}: note: {cause}\n"


def _cause(exc: httpx.HTTPError) -> str:
    if isinstance(exc, httpx.ConnectError):
        return "connection refused" if "refused" in str(exc).lower() else "cannot connect"
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    return type(exc).__name__
