"""One typed settings object: deployment settings from `INTENT_*` variables, sites read from
`intent.toml` (collector.site_settings).

Read once at start-up. Any invalid value raises `SettingsError` naming the setting, so the
server refuses to start with one clear line instead of failing later on a request.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.utils import parseaddr
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from collector.settings_error import SettingsError
from collector.site_settings import Network, SiteConfig, load_sites, parse_cidrs
from collector.store import DATABASE_NAME


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
    fault_dir: Path | None = None  # INTENT_FAULT_DIR: test hooks (collector/faults.py)
    dns_servers: tuple[tuple[str, int], ...] = ()  # (address, port); () = the system resolver
    sites: Mapping[str, SiteConfig] = field(default_factory=dict)

    @property
    def embedded(self) -> bool:
        return self.clickhouse_url.startswith("chdb://")


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


def _optional_path(raw: str) -> Path | None:
    return Path(raw.strip()) if raw.strip() else None


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
    "INTENT_FAULT_DIR": (
        "fault_dir",
        _optional_path,
        "tests only: a directory whose files switch faults on (default none)",
    ),
}


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
