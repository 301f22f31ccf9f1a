"""Incremental scoring: companies an accepted event marked are re-scored within seconds.

The collector calls `Rescorer.accept(rows)` on the event loop once a request's rows are on disk
(collector.state's `on_accepted`); it keeps the marks (intent.alerts.marks) and wakes its
thread. A pass takes every mark, asks the writer to send the open spool segment now and waits
until that insert is visible (so the event just accepted is scored), resolves anonymous
visitors to the companies they identified as, then runs the daily run's own `score_site`
restricted to the marked companies, with their evidence, and hands the rows to the same
after-scoring hooks as the hourly run (webhooks, alerts). Both runs give one company the same
score, tier and reasons, and the hooks' deterministic ids make each transition news once,
whichever run noticed it first.

At start-up, once the spool left by the previous process is in ClickHouse, the marks are rebuilt
from the events of the last REBUILD_HOURS (an alert lost with a crash is sent once, not twice).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from collector.metrics import Metrics
from collector.settings import Settings
from collector.site_settings import SiteConfig, site_today
from collector.store import Store, StoreError, ch_time
from collector.writer import Writer
from intent.alerts.marks import Mark, Marks, SiteMarking
from intent.rules import Rules
from intent.schedule import AfterScoring
from intent.scoring import CompanyScore, Evidence, rules_of, score_site

log = logging.getLogger("intent.alerts")

FLUSH_WAIT_S = 30.0  # at most this long for the writer; then score what ClickHouse holds
IDLE_WAIT_S = 5.0
REBUILD_HOURS = 2
# Under a steady stream of marks a pass starts at most every MIN_GAP_S, and never sooner than
# GAP_FACTOR times the last pass's length after it started: re-scoring takes at most about a
# third of the time (and of the database lock, which ingest's inserts need too).
MIN_GAP_S = 0.5
GAP_FACTOR = 3.0

VISITOR_COMPANIES = """
SELECT visitor_id, argMax(company_domain, ts)
FROM identities
WHERE site = {site:String} AND visitor_id IN {visitors:Array(String)}
GROUP BY visitor_id
"""
LATEST_SCORES = """
SELECT company_key, score, tier
FROM company_latest FINAL
WHERE site = {site:String} AND day >= {since:Date}
"""
# The events of the last hours that mark their company (as SiteMarking.why decides, without
# the scores near a threshold): the latest of each kind per company, or per anonymous visitor.
RECENT_MARKING = """
SELECT company_key, if(company_key = '', visitor_id, '') AS visitor,
       argMax(tuple(type, name, path, toString(ts)), ts) AS latest
FROM events
WHERE site = {site:String} AND ts >= {since:DateTime64(3, 'UTC')}
  AND (type = 'identify'
       OR (type = 'event' AND (has({alert_events:Array(String)}, name)
                               OR has({buying_events:Array(String)}, name)))
       OR (type = 'pageview' AND multiMatchAny(path, {buying_pages:Array(String)})))
GROUP BY company_key, visitor, type, name
"""


def buying_params(rules: Rules) -> dict[str, Any]:
    """The rules' buying signals as bound parameters of RECENT_MARKING."""
    buying = [s for s in rules.signals if s.buying]
    return {
        "buying_events": [name for s in buying for name in s.events],
        "buying_pages": ["(?i)" + s.page_regex for s in buying if s.page_regex] or ["^$"],
    }


class Rescorer:
    """The background thread re-scoring marked companies; started and stopped with the server."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        writer: Writer | None,
        after: Sequence[AfterScoring],
        metrics: Metrics | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.store = store
        self.writer = writer
        self.after = after
        self.marks = Marks()
        self.marking = {name: SiteMarking(site) for name, site in settings.sites.items()}
        # Segments the previous process left: the marks are rebuilt once they are sent.
        self.leftovers = writer.spool.sealed() if writer is not None else []
        self.passes = 0
        self.last_pass_ms = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def reconfigure(self, settings: Settings) -> None:
        """A reloaded intent.toml (intent.reload): the sites' markings, then the settings."""
        self.marking = {name: SiteMarking(site) for name, site in settings.sites.items()}
        self.settings = settings

    # -- on the event loop ---------------------------------------------------------------------

    def accept(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """The collector's on_accepted hook: mark what can change a tier, wake the thread."""
        seq = self.writer.spool.appended if self.writer is not None else 0
        marks = []
        for row in rows:
            marking = self.marking.get(str(row["site"]))
            mark = marking.mark(row, seq) if marking is not None else None
            if mark is not None:
                marks.append(mark)
        if marks:
            self.marks.add(marks)

    # -- the thread ----------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="intent-rescorer", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self.marks.ready.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        if self.settings.background_nice > 0:  # like the writer: answering visitors goes first
            with contextlib.suppress(OSError):
                os.setpriority(
                    os.PRIO_PROCESS, threading.get_native_id(), self.settings.background_nice
                )
        started = False
        began, gap = 0.0, 0.0
        while not self._stop.is_set():
            try:
                if not started:
                    self.load_latest()
                    self.rebuild()
                    started = True
                began = time.monotonic()
                self.run_once()
                gap = max(MIN_GAP_S, GAP_FACTOR * (time.monotonic() - began))
            except StoreError as exc:
                log.warning("re-scoring marked companies failed, retrying: %s", exc)
                self._stop.wait(2.0)
            except Exception:
                log.exception("re-scoring marked companies failed unexpectedly")
                self._stop.wait(2.0)
            if self.marks.ready.wait(IDLE_WAIT_S) and started:
                self._stop.wait(max(0.0, began + gap - time.monotonic()))

    def load_latest(self) -> None:
        """Each company's last score, so a visit near a threshold marks it."""
        since = datetime.now(UTC).date() - timedelta(days=1)
        for name, marking in self.marking.items():
            rows = self.store.query(LATEST_SCORES, {"site": name, "since": since})
            marking.remember((str(k), float(s), str(t)) for k, s, t in rows)

    def rebuild(self, hours: float = REBUILD_HOURS) -> int:
        """Mark the companies of the last hours' decisive events (once the spool left by the
        previous process is in ClickHouse); returns how many marks."""
        sent = self.leftovers_sent()
        if self._stop.is_set():
            return 0
        if not sent:  # tried again: the spool's events must be there first
            raise StoreError("the spool left at start-up is not in ClickHouse yet")
        since = datetime.now(UTC) - timedelta(hours=hours)
        marks = []
        for name, site in self.settings.sites.items():
            marking = self.marking.get(name) or SiteMarking(site)  # a site added by a reload
            bound = {"site": name, "since": ch_time(since), "alert_events": sorted(marking.alert_events),
                     **buying_params(rules_of(site))}  # fmt: skip
            for company, visitor, (kind, event, path, ts) in self.store.query(
                RECENT_MARKING, bound
            ):
                row = {"site": name, "company_key": company, "visitor_id": visitor, "type": kind,
                       "name": event, "path": path, "ts": ts[:23]}  # fmt: skip
                mark = marking.mark(row)
                if mark is not None:
                    marks.append(mark)
        self.marks.add(marks)
        if marks:
            log.info(
                "re-scoring %d mark(s) from the last %g hours after start-up", len(marks), hours
            )
        return len(marks)

    def flush(self) -> bool:
        """Every event accepted so far is in ClickHouse (False after FLUSH_WAIT_S or a stop)."""
        if self.writer is None:
            return True
        target = self.writer.spool.appended
        self.writer.flush_soon()
        deadline = time.monotonic() + FLUSH_WAIT_S
        while not self._stop.is_set() and time.monotonic() < deadline:  # a stop does not wait
            if self.writer.wait_written(target, 0.25):
                return True
        return False

    def leftovers_sent(self) -> bool:
        """The segments a previous process left in the spool are in ClickHouse (or set aside)."""
        deadline = time.monotonic() + FLUSH_WAIT_S
        while not self._stop.is_set() and time.monotonic() < deadline:
            if not any(p.exists() for p in self.leftovers):
                return True
            time.sleep(0.1)
        return False

    def run_once(self) -> list[CompanyScore]:
        """Re-score every marked company; returns the rows written."""
        if not len(self.marks):
            return []
        started = time.perf_counter()
        if not self.flush():
            if not self._stop.is_set():
                log.warning("the writer did not send the marked events within %.0f s; "
                            "they wait for the next pass", FLUSH_WAIT_S)  # fmt: skip
            return []  # (after a stop, the next start rebuilds them from the events)
        # Every mark whose event is in ClickHouse, also those that arrived during the flush:
        # the events scored now are scored with their own evidence.
        marks = self.marks.take(self.writer.written_through if self.writer is not None else None)
        try:
            out: list[CompanyScore] = []
            by_site: dict[str, list[Mark]] = defaultdict(list)
            for m in marks:
                by_site[m.site].append(m)
            for name, site_marks in by_site.items():
                site = self.settings.sites.get(name)
                if site is not None:
                    out.extend(self.score(site, site_marks))
        except Exception:
            self.marks.add(marks)  # tried again on the next pass
            raise
        self.passes += 1
        seconds = time.perf_counter() - started
        self.last_pass_ms = seconds * 1000
        if self.metrics is not None:
            self.metrics.rescore_seconds.observe(seconds)
        return out

    def score(self, site: SiteConfig, marks: Sequence[Mark]) -> list[CompanyScore]:
        evidence = self.evidence(site.name, marks)
        if not evidence:
            return []
        day = site_today(site)

        def settled() -> dict[str, Evidence]:
            """Asked once the events are read: a stronger mark whose event reached ClickHouse
            meanwhile was scored too, so it is the evidence (a demo request just after a
            pricing page is what made the company hot)."""
            upto = self.writer.written_through if self.writer is not None else None
            later = self.marks.peek(site.name, evidence, upto)
            return self.evidence(site.name, [*marks, *later]) if later else evidence

        # No lock against the hourly run: rows are versioned by the time each run started, so
        # the run that read the newer data wins, and the hooks' ids make news once either way.
        scores = score_site(self.store, site, day, companies=evidence, evidence=settled)
        for hook in self.after:
            try:
                hook(self.store, site, scores)
            except Exception:
                log.exception("after re-scoring %s: %s failed", site.name,
                              getattr(hook, "__name__", hook))  # fmt: skip
        return scores

    def evidence(self, site: str, marks: Sequence[Mark]) -> dict[str, Evidence]:
        """Company -> the evidence of its strongest mark; anonymous visitors are resolved to the
        company they identified as (and dropped if they never did)."""
        visitors = sorted({m.visitor for m in marks if not m.company})
        companies: dict[str, str] = {}
        if visitors:
            bound = {"site": site, "visitors": visitors}
            companies = {str(v): str(c) for v, c in self.store.query(VISITOR_COMPANIES, bound)}
        best: dict[str, Mark] = {}
        for m in marks:
            company = m.company or companies.get(m.visitor, "")
            held = best.get(company)
            if company and (held is None or m.stronger_than(held)):
                best[company] = m
        return {company: m.evidence for company, m in best.items()}

    def remember(self, store: Store, site: SiteConfig, scores: Sequence[CompanyScore]) -> None:
        """An after-scoring hook (both runs): keep each company's new score for marking."""
        marking = self.marking.get(site.name)
        if marking is not None:
            marking.remember((c.company_key, c.score, c.tier) for c in scores)
