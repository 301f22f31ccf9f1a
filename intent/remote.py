"""CLI commands through the running server when it holds the embedded database.

chDB lets one process open a database, so while `intent serve` runs, `intent keys create` (or
any command that needs the database) cannot open it. The server then runs the command for the
CLI: at start it writes a random token to `<spool dir>/cli.token` (mode 0600, so only the same
user can read it), and `POST /api/cli` from a loopback address with that token runs the command
inside the server and answers its output and exit status.
"""

from __future__ import annotations

import asyncio
import hmac
import io
import ipaddress
import os
import secrets
import sys
import threading
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import httpx
import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from collector.errors import error_response
from collector.settings import Settings

TOKEN_FILE = "cli.token"  # noqa: S105 (a file name)
REFUSED = ("serve", "init")
_run_lock = threading.Lock()  # stdout/stderr are redirected for the whole process meanwhile
_inside = threading.local()  # a command run by the server never forwards to itself


def token_path(settings: Settings) -> Path:
    return settings.spool_dir / TOKEN_FILE


def publish_token(settings: Settings) -> str | None:
    """Write a fresh token for local CLI calls (embedded database only)."""
    if not settings.embedded:
        return None
    token = secrets.token_urlsafe(32)
    path = token_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(TOKEN_FILE + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(token)
    os.replace(tmp, path)
    return token


def withdraw_token(settings: Settings, token: str | None) -> None:
    path = token_path(settings)
    try:
        if token and path.read_text(encoding="ascii").strip() == token:
            path.unlink()
    except OSError:
        pass


def run_here(argv: list[str], settings: Settings) -> tuple[int, str, str]:
    """Run `intent ARGV` in this process with this server's settings."""
    from intent.cli import SERVER_SETTINGS, main

    out, err = io.StringIO(), io.StringIO()
    with _run_lock, redirect_stdout(out), redirect_stderr(err):
        _inside.active = True
        SERVER_SETTINGS.set(settings)
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse: usage errors and --help
            code = exc.code if isinstance(exc.code, int) else 1
        finally:
            _inside.active = False
            SERVER_SETTINGS.set(None)
    return code, out.getvalue(), err.getvalue()


def _loopback(host: str | None) -> bool:
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def run_endpoint(request: Request) -> Response:
    token: str | None = request.app.state.collector.cli_token
    peer = request.client.host if request.client else None
    proxied = "x-forwarded-for" in request.headers or "forwarded" in request.headers
    if token is None or not _loopback(peer) or proxied:
        return error_response(404, "not found")
    given = request.headers.get("authorization", "")[7:].strip()
    if not hmac.compare_digest(given.encode(), token.encode()):
        return error_response(401, "invalid CLI token")
    try:
        argv = orjson.loads(await request.body())["argv"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return error_response(400, 'expected {"argv": [...]}', field="argv")
    if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv):
        return error_response(400, "argv must be a non-empty list of strings", field="argv")
    if argv[0] in REFUSED:
        return error_response(400, f"`intent {argv[0]}` cannot run inside the server", field="argv")
    code, out, err = await asyncio.to_thread(run_here, argv, request.app.state.collector.settings)
    return Response(
        orjson.dumps({"code": code, "stdout": out, "stderr": err}), media_type="application/json"
    )


def routes() -> list[BaseRoute]:
    return [Route("/api/cli", run_endpoint, methods=["POST"])]


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
    from collector.settings import SettingsError, load_settings

    if getattr(_inside, "active", False):
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
