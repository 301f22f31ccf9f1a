"""The product's settings: `collector.settings` (every `INTENT_*` variable and intent.toml) with
each site's scoring rules, owners and fit checked as well, so a bad rule stops start-up naming it
(`sites.NAME.rules.signals.demo.points`) instead of failing the first scoring run."""

from __future__ import annotations

from collections.abc import Mapping

from collector import settings as collector_settings
from collector.settings import Settings
from collector.settings_error import SettingsError
from intent.accounts.config import check as check_accounts
from intent.alerts.config import check as check_alerts
from intent.rules import RulesError, parse_rules


def load_settings(env: Mapping[str, str] | None = None, *, require_config: bool = True) -> Settings:
    """Every setting, read once; SettingsError names the first bad one, a rule included."""
    settings = collector_settings.load_settings(env, require_config=require_config)
    check_sites(settings)
    return settings


def check_sites(settings: Settings) -> None:
    """What the product reads of each site, checked now (at start-up and on a reload of
    intent.toml): rules, owners, fit, alerts."""
    for site in settings.sites.values():
        try:
            parse_rules(site.rules)
        except RulesError as exc:
            raise SettingsError(f"sites.{site.name}.rules.{exc.rule}", exc.reason) from None
    check_accounts(settings)  # [sites.S.owners] and [sites.S.fit]
    check_alerts(settings)  # [sites.S.alerts]
