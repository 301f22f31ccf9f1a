"""Scoring on a schedule inside `intent serve`: every hour, and each site's digest at its local time.

One background thread. Every `interval_s` (an hour) it scores today for each site (and, on the
first run of a new local day, the previous day once more, so its snapshot has its last hours);
when a site's local `digest_time` passes, it scores that site again and sends its digest
(intent.delivery); after each scoring run the webhook outbox gets the tier changes
(intent.webhooks). Each digest sent is recorded in `digest_sends` (so is `intent digest
--send`'s): a restart after the digest time does not send that day's digest again, nor does the
schedule repeat one sent by hand, and one due while the server was down still goes out up to 12
hours late.
Server processes sharing a spool directory (`--workers N`) run it in one of them: the one holding
`<spool dir>/schedule.lock`; another takes over if that process exits.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from collector.settings import Settings
from collector.site_settings import SiteConfig, site_today
from collector.store import Store, ch_time
from intent import delivery, webhooks
from intent.runner import RunnerLock
from intent.scoring import CompanyScore, score_site

log = logging.getLogger("intent.schedule")

# Called after every scoring run with the scores written (webhooks).
AfterScoring = Callable[[Store, SiteConfig, Sequence[CompanyScore]], None]
# Called at a site's digest time with the site-local day (email / Slack).
SendDigest = Callable[[Settings, Store, SiteConfig, date], Any]


def digest_moment(site: SiteConfig, day: date) -> datetime:
    """When the site's digest for `day` is due, in UTC."""
    hour, minute = (int(x) for x in site.digest_time.split(":"))
    local = datetime.combine(day, time(hour, minute), tzinfo=ZoneInfo(site.timezone))
    return local.astimezone(UTC)


def webhooks_enqueue(store: Store, site: SiteConfig, scores: Sequence[CompanyScore]) -> None:
    """Hand the scores to the webhook outbox."""
    webhooks.enqueue(store, site, scores)


def send_digest(settings: Settings, store: Store, site: SiteConfig, day: date) -> Any:
    """Send the site's digest (email and Slack) through intent.delivery."""
    return delivery.send_digest(settings, store, site.name, day)


def score_and_notify(
    store: Store,
    site: SiteConfig,
    day: date,
    after: Sequence[AfterScoring] = (webhooks_enqueue,),
) -> list[CompanyScore]:
    """One scoring run: the snapshot for `day`, then every after-scoring hook."""
    scores = score_site(store, site, day)
    for hook in after:
        try:
            hook(store, site, scores)
        except Exception:  # a failing hook must not stop scoring of the next site
            log.exception("after scoring %s: %s failed", site.name, getattr(hook, "__name__", hook))
    return scores


SENT_DIGESTS = "SELECT site, day FROM digest_sends FINAL WHERE day >= {since:Date}"
SENT_AT = """
    SELECT sent_at FROM digest_sends FINAL WHERE site = {site:String} AND day = {day:Date} LIMIT 1
"""


def digest_sent_at(store: Store, site: str, day: date) -> datetime | None:
    """When the site's digest for `day` went out (by the schedule or `intent digest --send`)."""
    rows = store.query(SENT_AT, {"site": site, "day": day})
    return _aware(rows[0][0]) if rows else None


def record_digest_sent(store: Store, site: str, day: date, at: datetime) -> None:
    store.insert_rows(
        "digest_sends", [{"site": site, "day": day.isoformat(), "sent_at": ch_time(at)}]
    )


def _aware(t: datetime) -> datetime:
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t


CATCH_UP = timedelta(hours=12)  # a digest later than this after its time is skipped, not sent


class ScoringSchedule:
    """The background thread started by the server (intent.server.start) and stopped with it."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        *,
        interval_s: float = 3600.0,
        first_delay_s: float = 120.0,
        tick_s: float = 20.0,
        after: Sequence[AfterScoring] = (webhooks_enqueue,),
        digest: SendDigest = send_digest,
    ) -> None:
        self.settings = settings
        self.store = store
        self.interval = timedelta(seconds=interval_s)
        self.tick_s = tick_s
        self.after = after
        self.digest = digest
        now = datetime.now(UTC)
        # Not at once: a server (or a test) that starts and stops quickly never scores.
        self.next_scoring = now + timedelta(seconds=first_delay_s)
        self.last_check = now
        self.sent: set[tuple[str, date]] = {
            (str(site), day)
            for site, day in store.query(SENT_DIGESTS, {"since": (now - timedelta(days=2)).date()})
        }
        self.scored_day: dict[str, date] = {}  # the last local day scored, per site
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._runner = RunnerLock(settings.spool_dir / "schedule.lock")

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="intent-schedule", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._runner.release()  # for another worker

    def is_runner(self) -> bool:
        """True in the one process (of those sharing the spool directory) that runs the schedule."""
        return self._runner.held()

    def _run(self) -> None:
        while not self._stop.wait(self.tick_s):
            now = datetime.now(UTC)
            try:
                if self.is_runner():
                    self.run_due(now)
                else:  # a standby keeps its clock so it never replays what the runner did
                    self.last_check = now
            except Exception:  # keep the schedule alive; the next tick retries
                log.exception("scheduled scoring failed")

    def run_due(self, now: datetime) -> list[str]:
        """Do whatever is due at `now`; returns what was done, e.g. ["score acme 2026-03-20"]."""
        done: list[str] = []
        hourly = now >= self.next_scoring
        if hourly:
            self.next_scoring = now + self.interval
        for site in self.settings.sites.values():
            if self._stop.is_set():
                break
            day = site_today(site, now)
            due = digest_moment(site, day)
            # Due once its moment passes; a server that was down then catches up for a while.
            digest_due = (
                due <= now
                and (self.last_check < due or now - due <= CATCH_UP)
                and (site.name, day) not in self.sent
            )
            if not (hourly or digest_due):
                continue
            try:
                last = self.scored_day.get(site.name)
                if last is not None and last < day:
                    # A new local day: close the previous day's snapshot with its last hours.
                    score_and_notify(self.store, site, last, self.after)
                    done.append(f"score {site.name} {last}")
                score_and_notify(self.store, site, day, self.after)
                self.scored_day[site.name] = day
                done.append(f"score {site.name} {day}")
                if digest_due:
                    self.sent.add((site.name, day))
                    if digest_sent_at(self.store, site.name, day) is not None:
                        done.append(f"digest {site.name} {day} already sent")  # by hand
                        continue
                    try:
                        self.digest(self.settings, self.store, site, day)
                    finally:  # attempted (delivery retries itself): never again for this day
                        record_digest_sent(self.store, site.name, day, now)
                    done.append(f"digest {site.name} {day}")
            except Exception:
                log.exception("scheduled run for %s failed", site.name)
        self.last_check = now
        return done
