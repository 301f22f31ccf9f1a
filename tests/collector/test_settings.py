"""Settings: every bad value stops start-up with an error naming the setting; good values parse;
docs/configuration.md documents every setting (so the page cannot drift)."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path

import pytest

from collector.settings import ENV, load_settings
from collector.settings_error import SettingsError
from collector.site_settings import SITE_KEYS

DOCS = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"
SITE = '[sites.shop]\ndomains = ["shop.example"]\n'


def env(tmp_path: Path, toml: str = SITE, **values: str) -> dict[str, str]:
    config = tmp_path / "intent.toml"
    config.write_text(toml, encoding="utf-8")
    return {"INTENT_CONFIG": str(config), **values}


BAD_ENV = [
    ("INTENT_PORT", "eighty"),
    ("INTENT_PORT", "0"),
    ("INTENT_PORT", "70000"),
    ("INTENT_WORKERS", "0"),
    ("INTENT_SPOOL_MAX_BYTES", "100"),
    ("INTENT_SPOOL_MAX_BYTES", "1GB"),
    ("INTENT_TRUSTED_PROXIES", "10.0.0.0/33"),
    ("INTENT_TRUSTED_PROXIES", "10.0.0.0/8, proxy.internal"),
    ("INTENT_CLICKHOUSE_URL", "mysql://db:3306/x"),
    ("INTENT_CLICKHOUSE_URL", "chdb://"),
    ("INTENT_CLICKHOUSE_URL", "http://"),
    ("INTENT_CLICKHOUSE_URL", "http://clickhouse:99999/intent"),
    ("INTENT_CLICKHOUSE_URL", "http://clickhouse:8123/my-db"),
    ("INTENT_RATE_LIMIT", "-1"),
    ("INTENT_RATE_LIMIT", "fast"),
    ("INTENT_RATE_LIMIT_BURST", "0"),
    ("INTENT_RETENTION_DAYS", "0"),
    ("INTENT_RETENTION_DAYS", "forever"),
    ("INTENT_CLUSTER", "my cluster; DROP"),
    ("INTENT_STORE_IP_PREFIX", "maybe"),
    ("INTENT_WRITER_BATCH_ROWS", "0"),
    ("INTENT_WRITER_INTERVAL_MS", "5"),
    ("INTENT_SMTP_PORT", "smtp"),
    ("INTENT_SMTP_STARTTLS", "perhaps"),
    ("INTENT_LOG_LEVEL", "loud"),
    ("INTENT_MAX_HEADER_BYTES", "100"),
    ("INTENT_MAX_HEADER_BYTES", "16k"),
    ("INTENT_HEADER_TIMEOUT_S", "0"),
    ("INTENT_BODY_TIMEOUT_S", "soon"),
    ("INTENT_IDLE_TIMEOUT_S", "-5"),
    ("INTENT_MAX_CONNECTIONS", "2"),
    ("INTENT_SECRET", "too-short"),
    ("INTENT_RDNS", "sometimes"),
    ("INTENT_DNS_SERVERS", "dns.example.com"),
    ("INTENT_DNS_SERVERS", "127.0.0.1:0"),
    ("INTENT_DNS_SERVERS", "[::1]5353"),
    ("INTENT_SPOOLDIR", "/tmp/typo"),  # an unknown INTENT_ name is a typo, not silence
    ("INTENT_SMTP_FROM", "notanemail"),
    ("INTENT_SMTP_FROM", "intent@"),
    ("INTENT_SMTP_FROM", "two@at@example.com"),
    ("INTENT_SMTP_FROM", "Sales <not an address>"),
]


@pytest.mark.parametrize(("name", "value"), BAD_ENV, ids=[f"{n}={v}" for n, v in BAD_ENV])
def test_a_bad_value_names_its_setting(tmp_path: Path, name: str, value: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(env(tmp_path, **{name: value}))
    assert caught.value.setting == name
    assert str(caught.value).startswith(f"{name}: ")
    assert "\n" not in str(caught.value)


def test_several_workers_need_a_clickhouse_server(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(env(tmp_path, INTENT_WORKERS="2"))
    assert caught.value.setting == "INTENT_WORKERS" and "chdb://" in caught.value.reason
    s = load_settings(
        env(tmp_path, INTENT_WORKERS="2", INTENT_CLICKHOUSE_URL="http://u:p@ch:8123/intent")
    )
    assert s.workers == 2 and not s.embedded


BAD_TOML = [
    ('[sites.shop]\ndomains = ["shop.example"]\ncolour = "red"\n', "sites.shop.colour"),
    ('[sites.shop]\ndomains = ["not a domain"]\n', "sites.shop.domains"),
    ('[sites.shop]\ndomains = "shop.example"\n', "sites.shop.domains"),
    ('[sites.shop]\nexclude_cidrs = ["10.0.0.0/40"]\n', "sites.shop.exclude_cidrs"),
    ('[sites.shop]\ntimezone = "Mars/Olympus"\n', "sites.shop.timezone"),
    ('[sites.shop]\ndigest_time = "25:00"\n', "sites.shop.digest_time"),
    ('[sites.shop]\nrespect_dnt = "yes"\n', "sites.shop.respect_dnt"),
    ('[sites.shop]\ndigest_recipients = ["sales"]\n', "sites.shop.digest_recipients"),
    ('[sites.shop]\nslack_allow_private = "yes"\n', "sites.shop.slack_allow_private"),
    (
        '[sites.shop]\ncrm_url = "https://app.hubspot.com/contacts/123/company/"\n',
        "sites.shop.crm_url",
    ),
    ('[sites.shop]\ncrm_url = "javascript:alert(1)//{crm_id}"\n', "sites.shop.crm_url"),
    ('[sites.shop]\ncrm_url = "crm.example.com/{crm_id}"\n', "sites.shop.crm_url"),
    ('[sites.shop]\ncrm_url = "https://crm.example.com/{crm_id}\\"><b>"\n', "sites.shop.crm_url"),
    ("[sites.shop]\ncrm_url = 42\n", "sites.shop.crm_url"),
    ('[sites."bad name!"]\n', "sites.bad name!"),
    ("[site.shop]\n", "site"),
    ("[sites.shop\n", "INTENT_CONFIG"),
]


@pytest.mark.parametrize(("toml", "setting"), BAD_TOML, ids=[b[1] for b in BAD_TOML])
def test_a_bad_site_setting_names_its_key(tmp_path: Path, toml: str, setting: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(env(tmp_path, toml=toml))
    assert caught.value.setting == setting


def test_a_missing_config_names_intent_config(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({"INTENT_CONFIG": str(tmp_path / "nope.toml")})
    assert caught.value.setting == "INTENT_CONFIG" and "intent init" in caught.value.reason


def test_good_values_parse(tmp_path: Path) -> None:
    s = load_settings(env(
        tmp_path,
        toml='[sites.shop]\ndomains = ["Shop.Example", "www.shop.example"]\nexclude_cidrs = ["203.0.113.0/24"]\n'
             'crm_url = "https://app.hubspot.com/contacts/123/company/{crm_id}"\n',
        INTENT_PORT="8080", INTENT_SPOOL_MAX_BYTES="1_048_576",
        INTENT_TRUSTED_PROXIES="10.0.0.0/8, ::1", INTENT_RATE_LIMIT="2.5",
        INTENT_STORE_IP_PREFIX="yes", INTENT_CLUSTER="analytics",
        INTENT_CLICKHOUSE_URL="https://intent:secret@ch.example:8443/intent",
        INTENT_MAX_HEADER_BYTES="8192", INTENT_HEADER_TIMEOUT_S="2.5", INTENT_IDLE_TIMEOUT_S="75",
        INTENT_MAX_CONNECTIONS="10_000", INTENT_SECRET=" " + "k" * 40 + " ",
    ))  # fmt: skip
    assert (s.max_header_bytes, s.header_timeout_s, s.body_timeout_s, s.idle_timeout_s,
            s.max_connections) == (8192, 2.5, 30.0, 75.0, 10_000)  # fmt: skip
    assert s.secret == "k" * 40 and "k" * 40 not in repr(s)
    assert (s.port, s.spool_max_bytes, s.rate_limit_per_second, s.store_ip_prefix, s.cluster) == (
        8080,
        1 << 20,
        2.5,
        True,
        "analytics",
    )
    assert s.trusted_proxies == (
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("::1/128"),
    )
    shop = s.sites["shop"]
    assert shop.domains == ("shop.example", "www.shop.example")
    assert shop.allows_origin("blog.shop.example") and not shop.allows_origin("evilshop.example")
    assert shop.crm_url == "https://app.hubspot.com/contacts/123/company/{crm_id}"


def test_every_setting_is_documented() -> None:
    text = DOCS.read_text(encoding="utf-8")
    documented = set(re.findall(r"`(INTENT_[A-Z_]+)`", text))
    missing = (set(ENV) | {"INTENT_CONFIG"}) - documented
    assert not missing, f"add to docs/configuration.md: {sorted(missing)}"
    stale = documented - set(ENV) - {"INTENT_CONFIG"}
    assert not stale, f"documented but not a setting: {sorted(stale)}"
    site_keys = set(re.findall(r"^\| `([a-z_]+)` \|", text, re.M))
    assert site_keys >= SITE_KEYS, f"site keys to document: {sorted(SITE_KEYS - site_keys)}"


def test_the_container_files_use_real_settings(tmp_path: Path) -> None:
    root = DOCS.parents[1]
    compose = (root / "docker-compose.yml").read_text(encoding="utf-8")
    dockerfile = (root / "Dockerfile").read_text(encoding="utf-8")
    names = set(re.findall(r"\b(INTENT_[A-Z_]+)\b", compose + dockerfile))
    assert names and names <= set(ENV) | {"INTENT_CONFIG"}, names - set(ENV)
    # the values compose sets are valid as written (password substituted as compose would)
    values = dict(re.findall(r"^\s+(INTENT_[A-Z_]+): (\S+)$", compose, re.M))
    values = {
        k: v.strip('"').replace("${CLICKHOUSE_PASSWORD:-secret}", "secret")
        for k, v in values.items()
    }
    values.pop("INTENT_CONFIG")
    s = load_settings(env(tmp_path, **values))
    assert s.clickhouse_url == "http://intent:secret@clickhouse:8123/intent" and s.host == "0.0.0.0"
    assert "service_healthy" in compose and "clickhouse/clickhouse-server" in compose
    assert "FROM python:3.11-slim" in dockerfile and "intent serve" in dockerfile


@pytest.mark.parametrize(
    "value", ["intent@example.com", "Intent digest <intent@example.com>", "intent@localhost"]
)
def test_a_from_address_with_or_without_a_name(tmp_path: Path, value: str) -> None:
    assert load_settings(env(tmp_path, INTENT_SMTP_FROM=value)).smtp_from == value
