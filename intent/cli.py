"""`intent`: the one command-line entry point. Errors are one line on stderr, never a traceback.

`intent serve` is here; every other command is in intent.commands (the server runs those for a
CLI while it holds the embedded database: intent.forward sends them)."""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import replace

import uvicorn

from collector.secret import server_secret
from collector.settings import Settings
from collector.settings_error import SettingsError
from collector.store import describe
from collector.transport import UVICORN_OPTIONS
from intent import commands, forward
from intent.command import CliError, open_store, settings
from intent.migrate import migrate
from intent.server import configure_logging, create_app


def cmd_serve(args: argparse.Namespace) -> int:
    s = settings()
    host = args.host or s.host
    port = args.port or s.port
    workers = args.workers or s.workers
    if s.embedded and workers > 1:
        raise CliError(
            f"--workers {workers}: the embedded ClickHouse (chdb://) can be opened by one "
            "process only; run 1 worker, or set INTENT_CLICKHOUSE_URL to a ClickHouse server"
        )
    _check_spool_dir(s)
    server_secret(s)  # INTENT_SECRET or its file, made now: before any worker, or one line
    # Migrate here, once, before any worker starts: a locked or unreachable database is then
    # one line, and N workers never race each other through the migrations.
    migrate(open_store(s), s)
    configure_logging(s)
    s = replace(s, host=host, port=port)  # where CLI commands find it (intent.remote records it)
    print(
        f"intent serving on http://{host}:{port} (ClickHouse {describe(s.clickhouse_url)})",
        flush=True,
    )
    if workers > 1:
        uvicorn.run("intent.asgi:app", host=host, port=port, workers=workers,
                    timeout_graceful_shutdown=20, **UVICORN_OPTIONS)  # fmt: skip
    else:
        uvicorn.run(create_app(s), host=host, port=port,
                    timeout_graceful_shutdown=20, **UVICORN_OPTIONS)  # fmt: skip
    return 0


def _check_spool_dir(s: Settings) -> None:
    """The spool must be a writable directory; say so now, naming the setting."""
    try:
        s.spool_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SettingsError(
            "INTENT_SPOOL_DIR", f"cannot create {s.spool_dir}: {exc.strerror}"
        ) from None
    if not os.access(s.spool_dir, os.W_OK | os.X_OK):
        raise SettingsError("INTENT_SPOOL_DIR", f"{s.spool_dir} is not writable")


def register_serve(sub: commands.Subcommands) -> None:
    p = sub.add_parser("serve", help="run the collector, API and dashboard")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.add_argument("--workers", type=int)
    p.set_defaults(func=cmd_serve)


def main(argv: list[str] | None = None) -> int:
    given = sys.argv[1:] if argv is None else argv
    args = commands.build_parser(register_serve).parse_args(argv)
    return commands.run(args, forward=lambda: forward.forward(given))


if __name__ == "__main__":
    sys.exit(main())
