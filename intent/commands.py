"""Every `intent` subcommand but `serve`, and how a command ends: its exit status, or one line
on stderr, never a traceback. The server runs these for a CLI (intent.remote); intent.cli adds
`serve` and sends a command to the server when the server holds the database."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TypeAlias

from collector.settings_error import SettingsError
from collector.store import StoreError, StoreLockedError
from intent import (
    demo,
    digest_cli,
    identification_cli,
    keys_cli,
    migrate,
    privacy,
    reload,
    scoring_cli,
    sites_cli,
    starter,
    users,
    webhooks_cli,
)
from intent.accounts import commands as accounts_commands
from intent.command import CliError

DESCRIPTION = (
    "`intent`: the one command-line entry point. Errors are one line on stderr, never a traceback."
)
Subcommands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
Register: TypeAlias = "Callable[[Subcommands], None]"

# Each module adds its commands with register(subcommands), in the order `intent --help` lists.
GROUPS: tuple[Register, ...] = (
    starter.register,  # init
    migrate.register,
    sites_cli.register,  # sites, stats
    scoring_cli.register,  # score, rules test
    users.register,
    keys_cli.register,
    identification_cli.register,  # ranges, geoip, coverage
    privacy.register,  # forget
    webhooks_cli.register,  # webhooks log, test, redeliver
    digest_cli.register,
    reload.register,  # reload (intent.toml, in the running server)
    demo.register,
    accounts_commands.register,  # accounts import, list
)


def build_parser(*first: Register) -> argparse.ArgumentParser:
    """The `intent` parser: the `first` command groups, then GROUPS."""
    parser = argparse.ArgumentParser(prog="intent", description=DESCRIPTION)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for register in (*first, *GROUPS):
        register(sub)
    return parser


def run(args: argparse.Namespace, forward: Callable[[], int | None] = lambda: None) -> int:
    """Run a parsed command. `forward` runs it in the server instead when the server holds the
    embedded database (None: there is no such server)."""
    try:
        code: int = args.func(args)
        return code
    except StoreLockedError as exc:
        try:
            forwarded = forward()
        except CliError as refused:  # a server is recorded but did not take the command
            print(f"intent {args.command}: {refused}", file=sys.stderr)
            return 1
        if forwarded is not None:
            return forwarded
        print(f"intent {args.command}: {exc}", file=sys.stderr)
        return 1
    except (SettingsError, StoreError, CliError) as exc:
        print(f"intent {args.command}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except OSError as exc:
        print(f"intent {args.command}: {exc.strerror or exc}", file=sys.stderr)
        return 1


def main(argv: list[str]) -> int:
    """Run one command in this process (what the server does for a CLI)."""
    return run(build_parser().parse_args(argv))
