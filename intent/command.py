"""What every `intent` subcommand shares: the one-line error, the settings it runs with, the
store, and the `--date` option. A command raises CliError; intent.commands prints it as one line."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from contextvars import ContextVar
from datetime import date

from collector.settings import Settings
from collector.site_settings import SiteConfig, site_today
from collector.store import Store, connect
from intent.settings import load_settings


class CliError(Exception):
    """A user-facing failure: printed as one line, exit status 1."""


# Set while the server runs a command for a CLI (intent.remote): the server's own settings.
SERVER_SETTINGS: ContextVar[Settings | None] = ContextVar("server_settings", default=None)
# Set with it: the server's reload of intent.toml (`intent reload`), answering what it did.
SERVER_RELOAD: ContextVar[Callable[[], str] | None] = ContextVar("server_reload", default=None)


def inside_server() -> bool:
    """True while the server runs this command for a CLI: it must not forward to itself, and
    its standard input is not the user's."""
    return SERVER_SETTINGS.get() is not None


def settings(require_config: bool = True) -> Settings:
    return SERVER_SETTINGS.get() or load_settings(require_config=require_config)


def open_store(s: Settings) -> Store:
    return connect(s.clickhouse_url)


def day_arg(raw: str | None, site: SiteConfig) -> date:
    """A `--date YYYY-MM-DD` option, or today where the site's sales team is (the day the
    scheduler scores)."""
    if not raw:
        return site_today(site)
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise CliError(f"--date: expected YYYY-MM-DD, got {raw!r}") from None


def site_arg(s: Settings, name: str) -> SiteConfig:
    """The site a `--site NAME` option names."""
    site = s.sites.get(name)
    if site is None:
        known = ", ".join(sorted(s.sites)) or "none"
        raise CliError(f"--site: no site {name!r} in {s.config_path} (sites: {known})")
    return site


def command_group(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    help: str,
    metavar: str = "ACTION",
) -> argparse._SubParsersAction[argparse.ArgumentParser]:
    """`intent NAME ACTION ...`: a command whose actions are subcommands, one required."""
    group = sub.add_parser(name, help=help)
    return group.add_subparsers(dest=f"{name}_command", required=True, metavar=metavar)
