"""Which accepted events can change a company's tier, and the set of companies they mark.

`SiteMarking.mark(row)` runs on the event loop for every accepted row (collector.state's
`on_accepted` hook), so it is a few dictionary look-ups and, for a page, one cached regex match.
A row marks its company when it is a custom event named in `[sites.S.alerts] on`, a buying
signal (pricing, demo...), an `identify` (it may bring the visitor's earlier pages), or any
signal or visit of a company whose last score is close enough to the next threshold that this
visit could cross it (a new visitor and a new day add breadth and frequency points). An
anonymous row marks its visitor, resolved to a company through `identities` when re-scored.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

from collector.site_settings import SiteConfig
from intent.alerts.config import alerts_config
from intent.rules import Signal
from intent.scoring import Evidence, rules_of

# Why a row marks its company, strongest first: the one kept as the company's evidence.
ALERT_EVENT, BUYING, IDENTIFY, NEAR = 4, 3, 2, 1
MAX_MARKS = 100_000  # marked keys held between re-scoring passes (a pass takes them all)


@dataclass(frozen=True)
class Mark:
    site: str
    company: str  # company key; "" for an anonymous visitor
    visitor: str
    why: int  # ALERT_EVENT, BUYING, IDENTIFY or NEAR
    evidence: Evidence
    seq: int = 0  # the spool's appended lines once its event was on disk (0: in ClickHouse)

    @property
    def key(self) -> tuple[str, str]:
        return (self.site, self.company or "visitor:" + self.visitor)

    def stronger_than(self, other: Mark) -> bool:
        return (self.why, self.evidence.at) > (other.why, other.evidence.at)


def parse_ts(raw: str) -> datetime:
    """The collector's row time, "2026-01-31 12:00:00.123" (UTC)."""
    return datetime.fromisoformat(raw).replace(tzinfo=UTC)


class SiteMarking:
    """A site's rules and alert events, compiled once, and its companies' last scores."""

    def __init__(self, site: SiteConfig) -> None:
        rules = rules_of(site)
        self.site = site.name
        self.alert_events = alerts_config(site).events
        self.event_signals: dict[str, Signal] = {}
        for sig in rules.signals:
            for name in sig.events:
                self.event_signals.setdefault(name, sig)  # the first signal written wins
        self.page_signals = [
            (re.compile(sig.page_regex, re.IGNORECASE), sig)
            for sig in rules.signals
            if sig.page_regex
        ]
        self.page_signal = lru_cache(maxsize=4096)(self._page_signal)
        # The most one visit adds besides its own signal: a new visitor and a new active day.
        self.step = rules.breadth_points + rules.frequency_points
        self.hot, self.warm = rules.hot, rules.warm
        self.latest: dict[str, tuple[float, str]] = {}  # company -> (score, tier), last scored

    def _page_signal(self, path: str) -> Signal | None:
        return next((sig for pattern, sig in self.page_signals if pattern.search(path)), None)

    def signal(self, row: Mapping[str, object]) -> Signal | None:
        if row["type"] == "event":
            return self.event_signals.get(str(row["name"]))
        return self.page_signal(str(row["path"]))

    def why(self, row: Mapping[str, object]) -> int:
        """Why this row marks its company (0: it cannot change the company's tier)."""
        kind = row["type"]
        if kind == "engagement":
            return 0  # time on a page: scoring counts visits, not time
        if kind == "identify":
            return IDENTIFY
        if kind == "event" and row["name"] in self.alert_events:
            return ALERT_EVENT
        sig = self.signal(row)
        if sig is not None and sig.buying:
            return BUYING
        company = str(row["company_key"])
        if not company:
            return 0
        score, tier = self.latest.get(company, (0.0, "cold"))
        if tier == "hot":
            return 0
        reach = score + self.step + (max(sig.points, 0.0) if sig is not None else 0.0)
        return NEAR if reach >= (self.hot if tier == "warm" else self.warm) else 0

    def mark(self, row: Mapping[str, object], seq: int = 0) -> Mark | None:
        why = self.why(row)
        if not why:
            return None
        kind = str(row["type"])
        evidence = Evidence(
            str(row["name"]) if kind == "event" else kind,
            str(row["path"]),
            parse_ts(str(row["ts"])),
        )
        return Mark(self.site, str(row["company_key"]), str(row["visitor_id"]), why, evidence, seq)

    def remember(self, scores: Iterable[tuple[str, float, str]]) -> None:
        """The companies' new scores, (company, score, tier), after a scoring run."""
        for company, score, tier in scores:
            self.latest[company] = (score, tier)


class Marks:
    """The marked companies between two re-scoring passes, each with its strongest mark."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._marks: dict[tuple[str, str], Mark] = {}
        self.ready = threading.Event()  # set when a mark arrives
        self.overflow = 0  # marks refused while full (the hourly run still scores them)

    def add(self, marks: Iterable[Mark]) -> None:
        added = False
        with self._lock:
            for m in marks:
                held = self._marks.get(m.key)
                if held is None and len(self._marks) >= MAX_MARKS:
                    self.overflow += 1
                    continue
                if held is None or m.stronger_than(held):
                    self._marks[m.key] = m
                added = True
        if added:
            self.ready.set()

    def take(self, upto: int | None = None) -> list[Mark]:
        """Every mark, or those whose events are among the first `upto` spool lines (known to
        be in ClickHouse); the others stay for a later pass."""
        with self._lock:
            if upto is None:
                marks, self._marks = list(self._marks.values()), {}
            else:
                marks = [m for m in self._marks.values() if m.seq <= upto]
                for m in marks:
                    del self._marks[m.key]
            if not self._marks:
                self.ready.clear()
        return marks

    def peek(self, site: str, companies: Collection[str], upto: int | None) -> list[Mark]:
        """The marks still waiting for these companies whose events are among the first `upto`
        spool lines (all when None), left in place for their own pass."""
        with self._lock:
            held = (self._marks.get((site, c)) for c in companies)
            return [m for m in held if m is not None and (upto is None or m.seq <= upto)]

    def __len__(self) -> int:
        return len(self._marks)
