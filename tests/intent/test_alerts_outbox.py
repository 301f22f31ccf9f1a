"""The alerts outbox's decisions on the real table: what is news, once; min_fit (unknown passes),
repeat windows and quiet hours on a clock the test moves; `[sites.S.alerts]` errors name the
setting; the alert's words, escaped for Slack."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest

from collector.settings_error import SettingsError
from collector.site_settings import SiteConfig
from collector.store import Store
from intent.accounts.fields import parse_update
from intent.accounts.table import upsert
from intent.alerts import outbox
from intent.alerts.config import AlertsConfig, alerts_config
from intent.alerts.message import ago, alert_text, render_slack
from intent.clock import Clock
from intent.scoring import CompanyScore
from tests.conftest import SettingsFactory

NOON = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def site_of(make_settings: SettingsFactory, site: str, alerts: str, extra: str = "") -> SiteConfig:
    toml = (f'[sites."{site}"]\ndomains = ["example.com"]\ndigest_recipients = ["sales@ourco.example"]\n'
            f'{extra}[sites."{site}".alerts]\n{alerts}')  # fmt: skip
    return make_settings(toml=toml).sites[site]


def scored(site: str, key: str, transition: str = "newly_hot", event: str = "",
           at: datetime = NOON, **extra: Any) -> CompanyScore:  # fmt: skip
    return CompanyScore(site=site, day=date(2026, 3, 2), company_key=key, company_name=key, company_domain=key,
                        country="DE", score=64.0, tier="hot", transition=transition, reasons=["2 visitors (+5)"],
                        evidence_event=event, evidence_path="/demo" if event else "", evidence_at=at, **extra)  # fmt: skip


def kinds(store: Store, site: str) -> list[tuple[str, str, str]]:
    return sorted((a["company_key"], a["kind"], a["status"]) for a in outbox.of_site(store, site))


def test_news_is_written_once_whichever_run_notices_it(
    make_settings: SettingsFactory, store: Store, site: str
) -> None:
    cfg = site_of(
        make_settings,
        site,
        'on = ["became_hot", "became_warm", "demo_request"]\nrepeat_after_hours = 0\n',
    )
    box = outbox.Outbox(make_settings(site), Clock())
    box.after_scoring(store, cfg, [scored(site, "acme.com"), scored(site, "globex.com", "newly_warm"),
                                   scored(site, "initech.com", "still_hot"), scored(site, "hooli.com", is_customer=True)])  # fmt: skip
    assert kinds(store, site) == [
        ("acme.com", "became_hot", "pending"),
        ("globex.com", "became_warm", "pending"),
    ]
    box.after_scoring(
        store, cfg, [scored(site, "acme.com"), scored(site, "globex.com", "newly_warm")]
    )
    assert len(outbox.of_site(store, site)) == 2  # the hourly run finds them
    # A custom event named in `on` is news even for a hot company, once per event.
    demo = scored(site, "acme.com", "still_hot", "demo_request")
    box.after_scoring(store, cfg, [demo, demo])
    box.after_scoring(
        store,
        cfg,
        [scored(site, "acme.com", "still_hot", "demo_request", NOON + timedelta(minutes=5))],
    )
    assert [k for k in kinds(store, site) if k[1] == "event"] == [
        ("acme.com", "event", "pending")
    ] * 2


def test_a_site_without_alerts_keeps_when_companies_became_hot(
    make_settings: SettingsFactory, store: Store, site: str
) -> None:
    cfg = make_settings(site).sites[site]
    assert not alerts_config(cfg).enabled
    outbox.Outbox(make_settings(site), Clock()).after_scoring(
        store, cfg, [scored(site, "acme.com")]
    )
    [alert] = outbox.of_site(store, site)
    assert (alert["kind"], alert["status"], alert["email_status"], alert["slack_status"]) == (
        "became_hot", "off", "", "")  # fmt: skip


def test_min_fit_filters_but_unknown_fit_passes(
    make_settings: SettingsFactory, store: Store, site: str
) -> None:
    fit = f'[sites."{site}".fit]\nindustries = ["Internet"]\ncountries = ["DE"]\n'
    cfg = site_of(make_settings, site, 'min_fit = "B"\n', fit)
    upsert(store, site, [parse_update({"domain": "good.com", "name": "Good", "industry": "Internet", "country": "US"}),
                         parse_update({"domain": "poor.com", "name": "Poor", "industry": "Mining", "country": "US"}),
                         parse_update({"domain": "vague.com", "name": "Vague", "country": "DE"})])  # fmt: skip
    outbox.Outbox(make_settings(site), Clock()).after_scoring(
        store, cfg, [scored(site, k) for k in ("good.com", "poor.com", "vague.com", "unknown.com")]
    )
    by_key = {a["company_key"]: a for a in outbox.of_site(store, site)}
    assert {k: a["status"] for k, a in by_key.items()} == {
        "good.com": "pending", "poor.com": "filtered", "vague.com": "pending", "unknown.com": "pending"}  # fmt: skip
    assert by_key["poor.com"]["reason"] == "fit C below min_fit B"
    # good: B (country misses); vague: industry unknown, so ? (it could be A or B)


def test_one_alert_per_company_per_repeat_window_on_the_clock(
    make_settings: SettingsFactory, store: Store, site: str
) -> None:
    cfg = site_of(make_settings, site, 'on = ["demo_request"]\nrepeat_after_hours = 24\n')
    clock = Clock()
    clock.set(NOON)
    box = outbox.Outbox(make_settings(site), clock)
    box.after_scoring(store, cfg, [scored(site, "acme.com", "still_hot", "demo_request")])
    clock.advance(hours=23)
    box.after_scoring(
        store,
        cfg,
        [scored(site, "acme.com", "still_hot", "demo_request", NOON + timedelta(hours=23))],
    )
    clock.advance(hours=2)
    box.after_scoring(
        store,
        cfg,
        [scored(site, "acme.com", "still_hot", "demo_request", NOON + timedelta(hours=25))],
    )
    assert [a["status"] for a in outbox.of_site(store, site)] == [
        "pending",
        "suppressed",
        "pending",
    ]


def test_quiet_hours_in_the_site_time_zone() -> None:
    quiet = AlertsConfig(enabled=True, quiet_hours=(time(20, 0), time(7, 0)))
    berlin = "Europe/Berlin"  # UTC+1 in March before the 29th
    assert outbox.quiet_until(quiet, berlin, NOON) == NOON
    evening = datetime(2026, 3, 2, 20, 30, tzinfo=UTC)  # 21:30 in Berlin
    assert outbox.quiet_until(quiet, berlin, evening) == datetime(2026, 3, 3, 6, 0, tzinfo=UTC)
    early = datetime(2026, 3, 3, 4, 0, tzinfo=UTC)  # 05:00 in Berlin: the same morning
    assert outbox.quiet_until(quiet, berlin, early) == datetime(2026, 3, 3, 6, 0, tzinfo=UTC)
    lunch = AlertsConfig(enabled=True, quiet_hours=(time(12, 0), time(13, 0)))
    assert outbox.quiet_until(lunch, "UTC", NOON) == NOON + timedelta(hours=1)
    assert outbox.quiet_until(AlertsConfig(enabled=True), berlin, evening) == evening


@pytest.mark.parametrize(
    ("alerts", "setting"),
    [
        ('colour = "red"', "alerts.colour"),
        ('min_fit = "E"', "alerts.min_fit"),
        ('quiet_hours = ["20:00"]', "alerts.quiet_hours"),
        ('quiet_hours = ["25:00", "07:00"]', "alerts.quiet_hours"),
        ("repeat_after_hours = -1", "alerts.repeat_after_hours"),
        ('on = ["became_hot", 3]', "alerts.on"),
        ('channels = ["pager"]', "alerts.channels"),
    ],
)
def test_bad_alert_settings_name_the_setting(
    make_settings: SettingsFactory, site: str, alerts: str, setting: str
) -> None:
    with pytest.raises(SettingsError) as err:
        site_of(make_settings, site, alerts + "\n")
    assert err.value.setting == f"sites.{site}.{setting}"


def test_the_alert_says_who_why_what_triggered_it_fit_and_owner() -> None:
    body = {"company_key": "acme.com", "company_name": "Acme <b>&", "company_domain": "acme.com",
            "country": "DE", "score": 64.0, "tier": "hot", "reasons": ["2 visitors (+5)", "demo today (+15)"],
            "trigger": {"event": "demo_request", "path": "/demo", "at": NOON.isoformat()},
            "fit": "A", "fit_reasons": ["Internet ✓"], "owner": "Ann Smith", "owner_slack": "U024BE7LH",
            "link": "https://intent.example/dashboard/sites/s/companies/acme.com"}  # fmt: skip
    text = alert_text("became_hot", body, NOON + timedelta(seconds=40), NOON)
    assert text.headline == "Acme <b>& is hot"
    assert dict(text.lines) == {
        "Company": "Acme <b>& (acme.com, DE)", "Score": "64, hot",
        "Trigger": "demo_request on /demo, 40 s ago", "Why": "2 visitors (+5); demo today (+15)",
        "Fit": "A (Internet ✓)", "Owner": "Ann Smith"}  # fmt: skip
    slack = render_slack(text)
    assert slack["text"] == "<@U024BE7LH> Acme &lt;b&gt;&amp; is hot"
    assert (
        "<https://intent.example/dashboard/sites/s/companies/acme.com|Open in intent>"
        in slack["blocks"][1]["text"]["text"]
    )
    assert [ago(s) for s in (40, 600, 7200, 3 * 86400)] == ["40 s", "10 min", "2 h", "3 days"]
