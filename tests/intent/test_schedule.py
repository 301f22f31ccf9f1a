"""The scoring schedule inside `intent serve`: hourly runs and each site's digest at local time."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from collector.settings import Settings
from collector.site_settings import SiteConfig, site_today
from collector.store import Store
from intent.schedule import (
    ScoringSchedule,
    digest_moment,
    score_and_notify,
    send_digest,
)
from intent.scoring import CompanyScore, snapshot
from tests.conftest import LiveServer, SettingsFactory
from tests.intent.activity import event


def test_site_today_and_digest_moment_follow_the_site_time_zone() -> None:
    tokyo = SiteConfig(
        name="t", domains=("example.com",), timezone="Asia/Tokyo", digest_time="09:00"
    )
    assert site_today(tokyo, datetime(2026, 3, 19, 16, 0, tzinfo=UTC)) == date(2026, 3, 20)
    assert digest_moment(tokyo, date(2026, 3, 20)) == datetime(2026, 3, 20, 0, 0, tzinfo=UTC)


def test_hourly_scoring_and_the_digest_at_local_time(
    store: Store, site: str, make_settings: SettingsFactory
) -> None:
    toml = f'[sites."{site}"]\ndomains = ["example.com"]\ntimezone = "Asia/Tokyo"\ndigest_time = "09:00"\n'
    settings = make_settings(site, toml=toml)
    day = datetime.now(UTC).date() + timedelta(days=1)  # 09:00 tomorrow in Tokyo
    store.insert_rows(
        "events", [event(site, day - timedelta(days=1), "acme.com", "a1", "/pricing")]
    )
    scored: list[tuple[str, int]] = []
    digests: list[tuple[str, date]] = []

    def after(store: Store, cfg: SiteConfig, scores: Sequence[CompanyScore]) -> None:
        scored.append((cfg.name, len(scores)))

    def digest(settings: Settings, store: Store, cfg: SiteConfig, day: date) -> Any:
        digests.append((cfg.name, day))

    schedule = ScoringSchedule(settings, store, first_delay_s=0, after=[after], digest=digest)
    due = digest_moment(settings.sites[site], day)
    schedule.last_check = due - timedelta(minutes=50)

    assert schedule.run_due(due - timedelta(minutes=30)) == [f"score {site} {day}"]
    assert scored == [(site, 1)]
    assert schedule.run_due(due - timedelta(minutes=10)) == []  # the hour is not over
    assert schedule.run_due(due + timedelta(seconds=20)) == [
        f"score {site} {day}",
        f"digest {site} {day}",
    ]
    assert digests == [(site, day)]
    assert snapshot(store, site, day)["acme.com"]["tier"] == "cold"
    assert schedule.run_due(due + timedelta(minutes=5)) == []  # sent once
    later = due + timedelta(minutes=31)
    assert schedule.run_due(later) == [f"score {site} {day}"]  # the next hourly run
    assert digests == [(site, day)]
    next_day = day + timedelta(days=1)
    # the first run of a new local day closes the previous day's snapshot, then scores today
    assert schedule.run_due(digest_moment(settings.sites[site], next_day) - timedelta(hours=2)) == [
        f"score {site} {day}",
        f"score {site} {next_day}",
    ]


def test_the_server_runs_the_schedule_and_stops_it(server: LiveServer) -> None:
    schedule = server.collector.schedule
    assert schedule is not None
    assert schedule._thread is not None and schedule._thread.is_alive()
    server.stop()
    assert not schedule._thread.is_alive()


def test_scoring_runs_hand_transitions_to_the_webhook_queue_once(
    store: Store, site: str, make_settings: SettingsFactory
) -> None:
    toml = (
        f'[sites."{site}"]\ndomains = ["example.com"]\n'
        f'[[sites."{site}".webhooks]]\nurl = "http://127.0.0.1:9/hook"\n'
        'secret = "0123456789abcdef0123"\nallow_private = true\n'
    )
    cfg = make_settings(site, toml=toml).sites[site]
    day = datetime.now(UTC).date() - timedelta(days=1)
    rows = [
        event(site, day, "acme.com", v, p) for v in ("a", "b", "c") for p in ("/pricing", "/demo")
    ]
    store.insert_rows("events", rows)
    queued = "SELECT event, company_key FROM webhook_deliveries WHERE site = {s:String}"
    [acme] = score_and_notify(store, cfg, day)
    assert acme.transition == "newly_hot"
    assert store.query(queued, {"s": site}) == [("company.became_hot", "acme.com")]
    score_and_notify(store, cfg, day)  # the hourly rerun of the same day queues nothing new
    assert store.query(queued, {"s": site}) == [("company.became_hot", "acme.com")]


def test_the_digest_hook_reaches_the_digest_module(
    store: Store, site: str, make_settings: SettingsFactory
) -> None:
    settings = make_settings(site)
    # No recipients and no Slack URL: the digest module answers "nothing sent" ([]), which it
    # can only do if the schedule found it and called it with the right arguments.
    assert send_digest(settings, store, settings.sites[site], datetime.now(UTC).date()) == []


def test_one_process_per_spool_directory_runs_the_schedule(
    store: Store, site: str, make_settings: SettingsFactory
) -> None:
    settings = make_settings(site)
    first, second = ScoringSchedule(settings, store), ScoringSchedule(settings, store)
    assert first.is_runner()
    assert not second.is_runner()
    first.stop()  # the runner exits: the lock is free for the other worker
    assert second.is_runner()
    second.stop()


def test_intent_schedule_false_turns_it_off(
    site: str, make_settings: SettingsFactory, serve: Callable[[Settings], LiveServer]
) -> None:
    live = serve(make_settings(site, INTENT_SCHEDULE="false"))
    assert live.collector.schedule is None


def test_a_server_restarted_after_the_digest_time_sends_it_once(
    store: Store, site: str, make_settings: SettingsFactory
) -> None:
    """The sent digests are recorded in ClickHouse: a restart past digest_time catches up (within
    12 hours), and the next restart does not send it again."""
    toml = f'[sites."{site}"]\ndomains = ["example.com"]\ndigest_time = "08:00"\n'
    settings = make_settings(site, toml=toml)
    day = datetime.now(UTC).date()
    due = digest_moment(settings.sites[site], day)
    digests: list[date] = []

    def digest(settings: Settings, store: Store, cfg: SiteConfig, day: date) -> Any:
        digests.append(day)

    def restarted(at: datetime) -> list[str]:
        schedule = ScoringSchedule(
            settings, store, first_delay_s=3 * 86400, after=[], digest=digest
        )
        schedule.last_check = at  # a fresh server's clock starts now, after the due moment
        return schedule.run_due(at)

    assert restarted(due + timedelta(hours=3)) == [f"score {site} {day}", f"digest {site} {day}"]
    assert restarted(due + timedelta(hours=4)) == []  # recorded: not twice
    assert digests == [day]
    yesterday = day - timedelta(days=1)
    late = digest_moment(settings.sites[site], yesterday) + timedelta(hours=13)
    schedule = ScoringSchedule(settings, store, first_delay_s=3 * 86400, after=[], digest=digest)
    schedule.last_check = late
    assert schedule.run_due(late) == []  # too late to be useful: skipped, not sent at night
    assert digests == [day]


def test_a_digest_already_sent_by_hand_is_not_sent_again_by_the_schedule(
    store: Store, site: str, make_settings: SettingsFactory
) -> None:
    settings = make_settings(site)
    day = site_today(settings.sites[site])
    digests: list[date] = []
    schedule = ScoringSchedule(settings, store, first_delay_s=3600,
                               digest=lambda s, st, cfg, d: digests.append(d))  # fmt: skip
    due = digest_moment(settings.sites[site], day)
    schedule.last_check = due - timedelta(minutes=1)
    # `intent digest --send` ran after the schedule started (it records the send).
    store.insert_rows("digest_sends", [{"site": site, "day": day.isoformat(),
                                        "sent_at": (due - timedelta(minutes=5)).strftime("%Y-%m-%d %H:%M:%S.000")}])  # fmt: skip
    assert schedule.run_due(due + timedelta(seconds=1)) == [
        f"score {site} {day}",
        f"digest {site} {day} already sent",
    ]
    assert digests == []
