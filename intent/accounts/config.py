"""A site's `[sites.S.owners]` and `[sites.S.fit]`, parsed and checked; collector.settings keeps
them as raw tables (the collector does not read them), `check` validates every site at start-up
with errors that name the setting."""

from __future__ import annotations

import re
from dataclasses import dataclass

from collector.settings import Settings
from collector.settings_error import SettingsError
from collector.site_settings import SiteConfig
from intent.accounts.fit import Fit, FitError, parse_fit
from intent.accounts.owners import Owners, OwnersError, parse_owners


@dataclass(frozen=True)
class AccountsConfig:
    owners: Owners
    fit: Fit


def site_config(site: SiteConfig) -> AccountsConfig:
    """The site's owners and fit; SettingsError names a bad setting."""
    where = f"sites.{site.name}"
    try:
        owners = parse_owners(dict(site.owners))
    except OwnersError as exc:
        raise SettingsError(_path(f"{where}.owners", exc.key), exc.reason) from None
    try:
        fit = parse_fit(dict(site.fit))
    except FitError as exc:
        raise SettingsError(_path(f"{where}.fit", exc.key), exc.reason) from None
    return AccountsConfig(owners, fit)


def _path(table: str, key: str) -> str:
    """`sites.shop.owners."Ann Smith".slack`: a key as TOML would write it."""
    if not key:
        return table
    name, dot, rest = key.partition(".") if not key.startswith('"') else (key, "", "")
    quoted = name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else '"' + name.replace('"', '\\"') + '"'
    return f"{table}.{quoted}{dot}{rest}"


def check(settings: Settings) -> None:
    for site in settings.sites.values():
        site_config(site)
