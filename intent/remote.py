"""CLI commands run by the server while it holds the embedded database.

chDB lets one process open a database, so while `intent serve` runs, `intent keys create` (or
any command that needs the database) cannot open it. The server then runs the command for the
CLI (which sends it with intent.forward): at start it records itself in `<spool dir>/server.json`
(its pid, address and a random token; mode 0600, so only the same user can read it), and
`POST /api/cli` from a loopback address with that token runs the command inside the server and
answers its output, its exit status and which of the CLI's INTENT_* settings the server does not
share (the command ran with the server's).
"""

from __future__ import annotations

import asyncio
import hmac
import io
import ipaddress
import os
import secrets
import threading
from collections.abc import Callable
from contextlib import redirect_stderr, redirect_stdout, suppress

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from collector.errors import error_response
from collector.keys import bearer
from collector.settings import Settings
from collector.settings_error import SettingsError
from intent import commands
from intent.command import SERVER_RELOAD, SERVER_SETTINGS
from intent.forward import RECORD_FILE, differing, record_path
from intent.reload import ConfigReloader

REFUSED = ("serve", "init")
_run_lock = threading.Lock()  # stdout/stderr are redirected for the whole process meanwhile


def publish_record(settings: Settings) -> str | None:
    """Record this server (pid, address, a fresh token) for local CLI calls; embedded database
    only. `settings.host` and `settings.port` are where it listens (intent.cli sets them)."""
    if not settings.embedded:
        return None
    token = secrets.token_urlsafe(32)
    record = {"pid": os.getpid(), "host": settings.host, "port": settings.port, "token": token}
    path = record_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(RECORD_FILE + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(orjson.dumps(record))
    os.replace(tmp, path)
    return token


def withdraw_record(settings: Settings, token: str | None) -> None:
    """Remove the record, unless another server has written its own since."""
    path = record_path(settings)
    try:
        if token and orjson.loads(path.read_bytes()).get("token") == token:
            path.unlink()
    except (OSError, orjson.JSONDecodeError, AttributeError):
        pass


def run_here(
    argv: list[str], settings: Settings, reload: Callable[[], str] | None = None
) -> tuple[int, str, str]:
    """Run `intent ARGV` in this process with this server's settings (and its reload of
    intent.toml, for `intent reload`)."""
    out, err = io.StringIO(), io.StringIO()
    with _run_lock, redirect_stdout(out), redirect_stderr(err):
        SERVER_SETTINGS.set(settings)  # also tells the command it runs inside the server
        SERVER_RELOAD.set(reload)
        try:
            code = commands.main(argv)
        except SystemExit as exc:  # argparse: usage errors and --help
            code = exc.code if isinstance(exc.code, int) else 1
        finally:
            SERVER_SETTINGS.set(None)
            SERVER_RELOAD.set(None)
    return code, out.getvalue(), err.getvalue()


def _reload_first(reloader: ConfigReloader | None, argv: list[str]) -> None:
    """An edit of intent.toml just before a command is what the command uses (`intent reload`
    reloads itself, and says so)."""
    if reloader is None or argv[0] == "reload":
        return
    with suppress(SettingsError):  # logged; the command runs with the configuration kept
        reloader.check(force=True)


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
    given = bearer(request.headers.get("authorization", "")) or ""
    if not hmac.compare_digest(given.encode(), token.encode()):
        return error_response(401, "invalid CLI token")
    try:
        body = orjson.loads(await request.body())
        argv = body["argv"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return error_response(400, 'expected {"argv": [...]}', field="argv")
    if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv):
        return error_response(400, "argv must be a non-empty list of strings", field="argv")
    if argv[0] in REFUSED:
        return error_response(400, f"`intent {argv[0]}` cannot run inside the server", field="argv")
    reloader: ConfigReloader | None = request.app.state.collector.reloader
    await asyncio.to_thread(_reload_first, reloader, argv)
    settings: Settings = request.app.state.collector.settings
    differs = differing(settings, body.get("settings"), token)
    reload = reloader.cli_reload if reloader is not None else None
    code, out, err = await asyncio.to_thread(run_here, argv, settings, reload)
    answer = {"code": code, "stdout": out, "stderr": err, "differs": differs}
    return Response(orjson.dumps(answer), media_type="application/json")


def routes() -> list[BaseRoute]:
    return [Route("/api/cli", run_endpoint, methods=["POST"])]
