"""The sites of `intent.toml`: one `SiteConfig` per `[sites.NAME]` table, each key checked at
start-up (`load_sites`); a bad value raises `SettingsError` naming it (`sites.NAME.key`).
The rules, owners, fit and alerts tables are kept raw here: intent/ checks them.
"""

from __future__ import annotations

import ipaddress
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from collector.settings_error import SettingsError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


WEBHOOK_EVENTS = ("company.became_hot", "company.became_warm", "company.cooled", "company.claimed")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")  # the shape of an email address


@dataclass(frozen=True)
class WebhookConfig:
    url: str
    secret: str
    events: tuple[str, ...] = WEBHOOK_EVENTS
    allow_private: bool = False


@dataclass(frozen=True)
class SiteConfig:
    """What one site (one `data-site` value) allows and wants."""

    name: str
    domains: tuple[str, ...]
    respect_dnt: bool = False
    allow_visitor_id: bool = False
    drop_hosting: bool = True
    exclude_cidrs: tuple[Network, ...] = ()
    exclude_domains: tuple[str, ...] = ()
    timezone: str = "UTC"
    digest_time: str = "08:00"
    digest_recipients: tuple[str, ...] = ()
    slack_webhook: str = ""
    slack_allow_private: bool = False  # like a webhook's allow_private: loopback/private targets
    webhooks: tuple[WebhookConfig, ...] = ()
    # The CRM record of a company's account: a URL with {crm_id} in it ('' = no CRM links).
    crm_url: str = ""
    # The [sites.NAME.rules] table as written: intent.rules parses and checks it at start-up.
    rules: Mapping[str, Any] = field(default_factory=dict, hash=False)
    # Raw [sites.NAME.owners] and [sites.NAME.fit] tables: intent.accounts.config checks them.
    owners: Mapping[str, Any] = field(default_factory=dict, hash=False)
    fit: Mapping[str, Any] = field(default_factory=dict, hash=False)
    # Raw [sites.NAME.alerts]: intent.alerts.config checks it (absent: no alerts are sent).
    alerts: Mapping[str, Any] | None = field(default=None, hash=False)

    def allows_origin(self, origin_host: str) -> bool:
        """An Origin host matches a configured domain or one of its subdomains."""
        host = origin_host.lower().rstrip(".")
        return any(host == d or host.endswith("." + d) for d in self.domains)


def site_today(site: SiteConfig, now: datetime | None = None) -> date:
    """The date it is now where the site's sales team is."""
    now = now or datetime.now(UTC)
    return now.astimezone(ZoneInfo(site.timezone)).date()


def parse_cidrs(values: list[Any], setting: str = "cidr") -> tuple[Network, ...]:
    out: list[Network] = []
    for value in values:
        if not isinstance(value, str):
            raise ValueError(f"expected a CIDR string, got {value!r}")
        try:
            out.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError:
            raise ValueError(f"not a CIDR: {value.strip()!r}") from None
    return tuple(out)


# Every key a [sites.NAME] table may hold; docs/configuration.md documents each one (tested).
SITE_KEYS = frozenset({
    "domains", "respect_dnt", "allow_visitor_id", "drop_hosting", "exclude_cidrs",
    "exclude_domains", "timezone", "digest_time", "digest_recipients", "slack_webhook",
    "slack_allow_private", "webhooks", "rules", "owners", "fit", "alerts", "crm_url",
})  # fmt: skip

_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9-]{1,63})*$")
_SITE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def _site(name: str, raw: Any) -> SiteConfig:
    where = f"sites.{name}"
    if not _SITE_NAME.match(name):
        raise SettingsError(where, "site names are letters, digits, '.', '_' or '-'")
    if not isinstance(raw, dict):
        raise SettingsError(where, "expected a table")
    known = SITE_KEYS
    for key in raw:
        if key not in known:
            raise SettingsError(
                f"{where}.{key}", f"unknown setting (known: {', '.join(sorted(known))})"
            )

    def strings(key: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
        value = raw.get(key, list(default))
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise SettingsError(f"{where}.{key}", "expected a list of strings")
        return tuple(v.strip().lower() for v in value)

    def flag(key: str, default: bool) -> bool:
        value = raw.get(key, default)
        if not isinstance(value, bool):
            raise SettingsError(f"{where}.{key}", "expected true or false")
        return value

    def text(key: str, default: str) -> str:
        value = raw.get(key, default)
        if not isinstance(value, str):
            raise SettingsError(f"{where}.{key}", "expected a string")
        return value

    domains = strings("domains", (name.lower(),))
    for d in domains:
        if not _DOMAIN.match(d):
            raise SettingsError(f"{where}.domains", f"not a domain name: {d!r}")
    try:
        exclude_cidrs = parse_cidrs(raw.get("exclude_cidrs", []))
    except (ValueError, TypeError) as exc:
        raise SettingsError(f"{where}.exclude_cidrs", str(exc)) from None
    tz = text("timezone", "UTC")
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingsError(f"{where}.timezone", f"unknown time zone {tz!r}") from None
    digest_time = text("digest_time", "08:00")
    if not re.match(r"^([01]\d|2[0-3]):[0-5]\d$", digest_time):
        raise SettingsError(f"{where}.digest_time", "expected HH:MM (24-hour)")
    recipients = strings("digest_recipients")
    for r in recipients:
        if not EMAIL.match(r):
            raise SettingsError(f"{where}.digest_recipients", f"not an email address: {r!r}")
    slack = text("slack_webhook", "")
    if slack and not slack.startswith(("https://", "http://")):
        raise SettingsError(f"{where}.slack_webhook", "expected an http(s) URL")
    webhooks = _webhooks(where, raw.get("webhooks", []))
    crm_url = _crm_url(f"{where}.crm_url", text("crm_url", ""))
    rules = raw.get("rules", {})
    if not isinstance(rules, dict):
        raise SettingsError(f"{where}.rules", "expected a table")
    for key in ("owners", "fit", "alerts"):
        if not isinstance(raw.get(key, {}), dict):
            raise SettingsError(f"{where}.{key}", f"expected a [{where}.{key}] table")

    return SiteConfig(
        name=name,
        domains=domains,
        respect_dnt=flag("respect_dnt", False),
        allow_visitor_id=flag("allow_visitor_id", False),
        drop_hosting=flag("drop_hosting", True),
        exclude_cidrs=exclude_cidrs,
        exclude_domains=strings("exclude_domains"),
        timezone=tz,
        digest_time=digest_time,
        digest_recipients=recipients,
        slack_webhook=slack,
        slack_allow_private=flag("slack_allow_private", False),
        webhooks=webhooks,
        crm_url=crm_url,
        rules=rules,
        owners=raw.get("owners", {}),
        fit=raw.get("fit", {}),
        alerts=raw.get("alerts"),
    )


def _crm_url(where: str, value: str) -> str:
    """e.g. https://app.hubspot.com/contacts/123/company/{crm_id}: the id goes in percent-encoded."""
    value = value.strip()
    if not value:
        return ""
    try:
        parts = urlsplit(value.replace("{crm_id}", "id"))
    except ValueError:
        parts = urlsplit("")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SettingsError(
            where, "expected an http(s) URL, e.g. https://crm.example.com/company/{crm_id}"
        )
    if "{crm_id}" not in value:
        raise SettingsError(where, "expected {crm_id} where the account's CRM id goes")
    if any(c.isspace() or c in "\"'<>`" for c in value):
        raise SettingsError(where, "a URL has no spaces, quotes or angle brackets")
    return value


def _webhooks(where: str, raw: Any) -> tuple[WebhookConfig, ...]:
    if not isinstance(raw, list):
        raise SettingsError(f"{where}.webhooks", "expected a list of tables ([[...webhooks]])")
    out = []
    for i, hook in enumerate(raw):
        at = f"{where}.webhooks[{i}]"
        if not isinstance(hook, dict):
            raise SettingsError(at, "expected a table")
        url = hook.get("url")
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            raise SettingsError(f"{at}.url", "expected an http(s) URL")
        secret = hook.get("secret")
        if not isinstance(secret, str) or len(secret) < 16:
            raise SettingsError(f"{at}.secret", "expected a secret of at least 16 characters")
        events = hook.get("events", list(WEBHOOK_EVENTS))
        if (
            not isinstance(events, list)
            or not events
            or any(e not in WEBHOOK_EVENTS for e in events)
        ):
            raise SettingsError(f"{at}.events", f"expected a list from {', '.join(WEBHOOK_EVENTS)}")
        allow_private = hook.get("allow_private", False)
        if not isinstance(allow_private, bool):
            raise SettingsError(f"{at}.allow_private", "expected true or false")
        out.append(WebhookConfig(url, secret, tuple(events), allow_private))
    return tuple(out)


def load_sites(path: Path) -> dict[str, SiteConfig]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SettingsError("INTENT_CONFIG", f"{path} does not exist (run `intent init`)") from None
    except OSError as exc:
        raise SettingsError("INTENT_CONFIG", f"cannot read {path}: {exc.strerror}") from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError("INTENT_CONFIG", f"{path} is not valid TOML: {exc}") from None
    unknown = set(doc) - {"sites"}
    if unknown:
        raise SettingsError(sorted(unknown)[0], "unknown top-level setting (expected [sites.NAME])")
    sites = doc.get("sites", {})
    if not isinstance(sites, dict):
        raise SettingsError("sites", "expected [sites.NAME] tables")
    return {name: _site(name, raw) for name, raw in sites.items()}
