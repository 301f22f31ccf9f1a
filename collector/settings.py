"""One typed settings object: deployment settings from `INTENT_*` variables, sites read from
`intent.toml`.

Read once at start-up. Any invalid value raises `SettingsError` naming the setting, so the
server refuses to start with one clear line instead of failing later on a request.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from email.utils import parseaddr
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from collector.store import DATABASE_NAME

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class SettingsError(Exception):
    """An invalid setting: the message starts with the setting's name."""

    def __init__(self, setting: str, reason: str) -> None:
        super().__init__(f"{setting}: {reason}")
        self.setting = setting
        self.reason = reason


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


@dataclass(frozen=True)
class Settings:
    config_path: Path
    clickhouse_url: str = "chdb://./data/clickhouse"
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    spool_dir: Path = Path("data/spool")
    spool_max_bytes: int = 256 * 1024 * 1024
    trusted_proxies: tuple[Network, ...] = ()
    geoip_paths: tuple[Path, ...] = ()
    rate_limit_per_second: float = 50.0
    rate_limit_burst: int = 200
    api_rate_limit_per_second: float = 10.0
    api_rate_limit_burst: int = 100
    retention_days: int = 395
    cluster: str = ""
    store_ip_prefix: bool = False
    writer_batch_rows: int = 5000
    writer_interval_ms: int = 1000
    background_nice: int = 10
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = True
    smtp_from: str = "intent@localhost"
    log_level: str = "info"
    public_url: str = ""  # where people reach the dashboard, for links in alerts
    schedule: bool = True
    max_header_bytes: int = 16 * 1024
    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0
    idle_timeout_s: float = 5.0
    max_connections: int = 2048
    secret: str = field(default="", repr=False)  # INTENT_SECRET: never in a log line
    rdns: bool = True
    dns_servers: tuple[tuple[str, int], ...] = ()  # (address, port); () = the system resolver
    sites: Mapping[str, SiteConfig] = field(default_factory=dict)

    @property
    def embedded(self) -> bool:
        return self.clickhouse_url.startswith("chdb://")


def site_today(site: SiteConfig, now: datetime | None = None) -> date:
    """The date it is now where the site's sales team is."""
    now = now or datetime.now(UTC)
    return now.astimezone(ZoneInfo(site.timezone)).date()


# Every deployment setting: env name -> (field, parser, description). docs/configuration.md
# documents each one and a test keeps the two in step.
def _int(minimum: int, maximum: int | None = None) -> Any:
    def parse(raw: str) -> int:
        try:
            value = int(raw.strip().replace("_", ""))
        except ValueError:
            raise ValueError(f"expected a whole number, got {raw!r}") from None
        if value < minimum or (maximum is not None and value > maximum):
            bound = f"{minimum}..{maximum}" if maximum is not None else f">= {minimum}"
            raise ValueError(f"must be {bound}, got {value}")
        return value

    return parse


def _float(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"expected a number, got {raw!r}") from None
    if value <= 0:
        raise ValueError(f"must be > 0, got {value}")
    return value


def _bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"expected true or false, got {raw!r}")


def _url(raw: str) -> str:
    value = raw.strip()
    if not re.match(r"^(chdb://.+|https?://[^/\s]+.*)$", value):
        raise ValueError("expected chdb://PATH or http(s)://user:pass@host:port/db")
    if value.startswith("http"):
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 - raises on a bad port
        except ValueError as exc:
            raise ValueError(f"not a valid URL: {exc}") from None
        if not parts.hostname:
            raise ValueError("expected http(s)://user:pass@host:port/db")
        database = parts.path.strip("/")
        if database and not DATABASE_NAME.match(database):
            raise ValueError(f"database name {database!r}: letters, digits and '_' only")
    return value


def _cidrs(raw: str) -> tuple[Network, ...]:
    return parse_cidrs([part for part in raw.split(",") if part.strip()])


def _paths(raw: str) -> tuple[Path, ...]:
    return tuple(Path(p.strip()) for p in raw.split(",") if p.strip())


def _str(raw: str) -> str:
    return raw.strip()


_ADDRESS = re.compile(r"^[^@\s<>,;\"]+@[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$")


def _from_address(raw: str) -> str:
    """`intent@example.com` or `Intent digest <intent@example.com>`."""
    value = raw.strip()
    _name, address = parseaddr(value)
    bare = value.rpartition("<")[2].rstrip(">").strip() if "<" in value else value
    if not address or address != bare or not _ADDRESS.match(address):
        raise ValueError(
            f"expected an email address such as intent@example.com or "
            f"'Intent <intent@example.com>', got {raw!r}"
        )
    return value


def _cluster(raw: str) -> str:
    value = raw.strip()
    if value and not re.match(r"^[A-Za-z0-9_]+$", value):
        raise ValueError("a cluster name is letters, digits and '_' only")
    return value


SECRET_MIN_LENGTH = 32


def _secret(raw: str) -> str:
    value = raw.strip()
    if len(value) < SECRET_MIN_LENGTH:
        raise ValueError(
            f"expected at least {SECRET_MIN_LENGTH} characters (`openssl rand -hex 32`)"
        )
    return value


def _log_level(raw: str) -> str:
    value = raw.strip().lower()
    if value not in ("critical", "error", "warning", "info", "debug"):
        raise ValueError("expected one of critical, error, warning, info, debug")
    return value


def _public_url(raw: str) -> str:
    value = raw.strip().rstrip("/")
    if not value:
        return ""
    try:
        parts = urlsplit(value)
    except ValueError:
        parts = urlsplit("")
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query:
        raise ValueError("expected http(s)://host[:port][/path], e.g. https://intent.example.com")
    return value


def _dns_servers(raw: str) -> tuple[tuple[str, int], ...]:
    """'192.0.2.53, [2001:db8::53]:5353, 127.0.0.1:5353' -> ((address, port), ...)."""
    out: list[tuple[str, int]] = []
    for part in (p.strip() for p in raw.split(",")):
        if not part:
            continue
        host, port = part, "53"
        if part.startswith("["):
            host, _, rest = part[1:].partition("]")
            if rest:
                if not rest.startswith(":"):
                    raise ValueError(f"expected [address]:port, got {part!r}")
                port = rest[1:]
        elif part.count(":") == 1:
            host, port = part.split(":")
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            raise ValueError(f"{part!r}: a resolver is an IP address, not {host!r}") from None
        if not port.isdigit() or not 1 <= int(port) <= 65535:
            raise ValueError(f"{part!r}: port must be 1..65535")
        out.append((str(address), int(port)))
    return tuple(out)


ENV: dict[str, tuple[str, Any, str]] = {
    "INTENT_CLICKHOUSE_URL": (
        "clickhouse_url",
        _url,
        "ClickHouse URL: chdb://PATH (embedded, default chdb://./data/clickhouse) "
        "or http(s)://user:pass@host:8123/db",
    ),
    "INTENT_HOST": ("host", _str, "address to listen on (default 127.0.0.1)"),
    "INTENT_PORT": ("port", _int(1, 65535), "port to listen on (default 8000)"),
    "INTENT_WORKERS": ("workers", _int(1, 64), "server processes; must be 1 with chdb://"),
    "INTENT_SPOOL_DIR": ("spool_dir", Path, "write-ahead spool directory (default data/spool)"),
    "INTENT_SPOOL_MAX_BYTES": (
        "spool_max_bytes",
        _int(1024),
        "spool size past which the collector answers 503 (default 256 MiB)",
    ),
    "INTENT_TRUSTED_PROXIES": (
        "trusted_proxies",
        _cidrs,
        "comma-separated CIDRs whose X-Forwarded-For is believed (default none)",
    ),
    "INTENT_GEOIP_PATHS": ("geoip_paths", _paths, "comma-separated MaxMind .mmdb files"),
    "INTENT_RATE_LIMIT": (
        "rate_limit_per_second",
        _float,
        "event requests per second per client IP (default 50)",
    ),
    "INTENT_RATE_LIMIT_BURST": (
        "rate_limit_burst",
        _int(1),
        "requests a client IP may send at once before the rate applies (default 200)",
    ),
    "INTENT_API_RATE_LIMIT": (
        "api_rate_limit_per_second",
        _float,
        "/api/v1 requests per second per API key (default 10)",
    ),
    "INTENT_API_RATE_LIMIT_BURST": (
        "api_rate_limit_burst",
        _int(1),
        "/api/v1 requests an API key may send at once before the rate applies (default 100)",
    ),
    "INTENT_RETENTION_DAYS": (
        "retention_days",
        _int(1, 36500),
        "days raw events are kept (ClickHouse TTL, default 395)",
    ),
    "INTENT_CLUSTER": (
        "cluster",
        _cluster,
        "ClickHouse cluster name for ON CLUSTER DDL (default none)",
    ),
    "INTENT_STORE_IP_PREFIX": (
        "store_ip_prefix",
        _bool,
        "store the /24 (IPv4) or /48 (IPv6) prefix of visitors (default false)",
    ),
    "INTENT_WRITER_BATCH_ROWS": (
        "writer_batch_rows",
        _int(1, 1_000_000),
        "events per spool segment / ClickHouse insert (default 5000)",
    ),
    "INTENT_WRITER_INTERVAL_MS": (
        "writer_interval_ms",
        _int(10, 60_000),
        "longest time an accepted event waits before it is sent to ClickHouse (default 1000)",
    ),
    "INTENT_BACKGROUND_NICE": (
        "background_nice",
        _int(0, 19),
        "CPU priority (nice) of background work against answering visitors (default 10; 0 = same)",
    ),
    "INTENT_SMTP_HOST": ("smtp_host", _str, "SMTP server for digests (default: email disabled)"),
    "INTENT_SMTP_PORT": ("smtp_port", _int(1, 65535), "SMTP port (default 587)"),
    "INTENT_SMTP_USER": ("smtp_user", _str, "SMTP user name (optional)"),
    "INTENT_SMTP_PASSWORD": ("smtp_password", _str, "SMTP password (optional)"),
    "INTENT_SMTP_STARTTLS": ("smtp_starttls", _bool, "use STARTTLS (default true)"),
    "INTENT_SMTP_FROM": ("smtp_from", _from_address, "From address of digests"),
    "INTENT_LOG_LEVEL": ("log_level", _log_level, "log level (default info)"),
    "INTENT_PUBLIC_URL": (
        "public_url",
        _public_url,
        "the server's address as people reach it, e.g. https://intent.example.com "
        "(links to the dashboard in alerts; default: no link)",
    ),
    "INTENT_SCHEDULE": (
        "schedule",
        _bool,
        "run scoring (hourly, and marked companies within seconds), digests and webhook "
        "queueing in this server (default true)",
    ),
    "INTENT_MAX_HEADER_BYTES": (
        "max_header_bytes",
        _int(1024, 1024 * 1024),
        "bytes a request line and headers may take; past it 431 and close (default 16384)",
    ),
    "INTENT_HEADER_TIMEOUT_S": (
        "header_timeout_s",
        _float,
        "seconds a client has to send a request's line and headers (default 10)",
    ),
    "INTENT_BODY_TIMEOUT_S": (
        "body_timeout_s",
        _float,
        "seconds a client has to send a request's body once its headers are in (default 30)",
    ),
    "INTENT_IDLE_TIMEOUT_S": (
        "idle_timeout_s",
        _float,
        "seconds a connection may wait for its next request before it is closed (default 5)",
    ),
    "INTENT_MAX_CONNECTIONS": (
        "max_connections",
        _int(16, 1_000_000),
        "open connections per server process; past it the oldest idle one is closed (default 2048)",
    ),
    "INTENT_SECRET": (
        "secret",
        _secret,
        "key of the daily visitor-id salts, never stored in ClickHouse; the same on every replica",
    ),
    "INTENT_RDNS": (
        "rdns",
        _bool,
        "look visitors' addresses up in reverse DNS to name companies (default true)",
    ),
    "INTENT_DNS_SERVERS": (
        "dns_servers",
        _dns_servers,
        "comma-separated resolvers for reverse DNS, address[:port] (default: the system's)",
    ),
}


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
    "slack_allow_private", "webhooks", "rules", "owners", "fit", "alerts",
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
        rules=rules,
        owners=raw.get("owners", {}),
        fit=raw.get("fit", {}),
        alerts=raw.get("alerts"),
    )


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


def load_settings(
    env: Mapping[str, str] | None = None, *, require_config: bool = True, sites: bool = True
) -> Settings:
    """Read every setting once; raise SettingsError naming the first bad one. `sites=False`:
    the INTENT_* settings alone (a CLI asking the running server, which reads intent.toml)."""
    env = os.environ if env is None else env
    for name in env:
        if name.startswith("INTENT_") and name not in ENV and name != "INTENT_CONFIG":
            raise SettingsError(name, "unknown setting (see docs/configuration.md)")
    values: dict[str, Any] = {}
    for name, (attr, parse, _doc) in ENV.items():
        if name in env:
            try:
                values[attr] = parse(env[name])
            except ValueError as exc:
                raise SettingsError(name, str(exc)) from None
    config_path = Path(env.get("INTENT_CONFIG", "intent.toml"))
    wanted = sites and (require_config or config_path.exists())
    settings = Settings(config_path=config_path, sites=load_sites(config_path) if wanted else {},
                        **values)  # fmt: skip
    if settings.embedded and settings.workers > 1:
        raise SettingsError(
            "INTENT_WORKERS",
            "chdb:// (embedded ClickHouse) is opened by one process only; use 1 worker, "
            "or point INTENT_CLICKHOUSE_URL at a ClickHouse server to run more",
        )
    return settings
