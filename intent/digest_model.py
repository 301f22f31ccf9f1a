"""The daily digest as sales reads it: its sections, companies and totals (`Digest`), their
words (summary, changes, account line) and JSON shape. intent.digest builds one from a day's
`company_scores`; intent.digest_render turns it into text, Markdown, HTML, JSON, CSV or Slack.
Values are cleaned of control characters (`clean`) when the digest is built, so no format can
carry a terminal escape sequence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from intent.ai_reads import AIReads
from intent.company_links import CompanyLinks
from intent.rules import Rules
from intent.score_words import number, plural
from intent.scoring import EPOCH
from intent.timestamps import last_seen, local_time, utc_iso

# (key, title): the order sales reads them in. Existing customers (is_customer: customer pages,
# or CRM stage customer) are never among prospects: hot or warm ones have their own section.
PROSPECT_SECTIONS: tuple[tuple[str, str], ...] = (
    ("newly_hot", "Newly hot"),
    ("hot", "Hot"),
    ("newly_warm", "Newly warm"),
    ("cooling", "Cooling"),
)
CUSTOMERS = "customers"
SECTIONS = (*PROSPECT_SECTIONS, (CUSTOMERS, "Customers — expansion interest"))
MAX_PER_SECTION = 200  # past this a section is counted, not listed ("… and 12 more")
AI_AGENT_DAYS = 7  # "AI agents read /pricing 14 times this week": the week up to the digest's day

STAGE_WORDS = {"customer": "existing customer (expansion)", "opportunity": "open opportunity"}
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]+")


def clean(value: Any) -> str:
    """One line of printable text: control and bidi-override characters become a space."""
    return _CONTROL.sub(" ", str(value)).strip()


@dataclass(frozen=True)
class DigestCompany:
    key: str
    name: str
    domain: str
    country: str
    source: str
    confidence: float
    tier: str
    previous_tier: str
    score: float
    previous_score: float
    transition: str
    reasons: tuple[str, ...]
    visitors: int
    active_days: int
    first_seen: datetime
    last_seen: datetime
    top_pages: tuple[str, ...]
    # intent.accounts: the CRM account (None: no account) and the fit grade with its reasons
    account: dict[str, Any] | None = field(default=None, hash=False)
    fit: str | None = None
    fit_reasons: tuple[str, ...] = ()
    owner_slack: str = ""  # the owner's Slack member id ([sites.S.owners]), for an @-mention
    is_customer: bool = False
    buying_at: datetime = EPOCH  # the latest buying signal (EPOCH: none in the window)
    links: CompanyLinks = field(default_factory=CompanyLinks)  # intent.company_links

    @property
    def title(self) -> str:
        return self.name or self.domain or self.key

    @property
    def change(self) -> float:
        return self.score - self.previous_score

    def change_text(self) -> str:
        """'+12, was warm', 'new', or '±0'."""
        if not self.previous_tier:
            return "new"
        delta = number(self.change)
        delta = delta if delta.startswith("-") else ("±0" if delta == "0" else "+" + delta)
        return delta if self.previous_tier == self.tier else f"{delta}, was {self.previous_tier}"

    def account_line(self) -> str:
        """'fit A (Computer Software ✓ · US ✓) · owner Ann Smith · existing customer', or ''."""
        parts = []
        if self.fit:
            reasons = " · ".join(self.fit_reasons)
            parts.append(f"fit {self.fit}" + (f" ({reasons})" if reasons else ""))
        a = self.account
        if a is not None:
            if a["owner_email"]:
                parts.append(f"owner {a['owner']}")
            else:  # a name [sites.S.owners] does not map: the site's recipients get it
                parts.append(f"owner {a['owner']} (unmapped)" if a["owner"] else "unowned")
            if a["stage"]:
                parts.append(STAGE_WORDS.get(a["stage"], a["crm_stage"] or a["stage"]))
        return " · ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "name": self.name,
            "domain": self.domain,
            "country": self.country,
            "source": self.source,
            "confidence": round(self.confidence, 3),
            "tier": self.tier,
            "previous_tier": self.previous_tier,
            "score": round(self.score, 2),
            "previous_score": round(self.previous_score, 2),
            "change": round(self.change, 2),
            "transition": self.transition,
            "reasons": list(self.reasons),
            "visitors": self.visitors,
            "active_days": self.active_days,
            "first_seen": iso(self.first_seen),
            "last_seen": iso(self.last_seen),
            "top_pages": list(self.top_pages),
            "account": self.account,
            "fit": self.fit,
            "fit_reasons": list(self.fit_reasons),
            "is_customer": self.is_customer,
            "buying_signal_at": iso(self.buying_at) if self.buying_at > EPOCH else None,
            "links": self.links.to_dict(),
        }


@dataclass(frozen=True)
class Section:
    key: str
    title: str
    companies: tuple[DigestCompany, ...]
    total: int  # companies in the section, including those past MAX_PER_SECTION
    # the companies past the cut: an owner's digest (intent.digest_owners) is cut from all
    rest: tuple[DigestCompany, ...] = field(default=(), compare=False, repr=False)

    @property
    def every(self) -> tuple[DigestCompany, ...]:
        return self.companies + self.rest

    @property
    def more(self) -> int:
        return self.total - len(self.companies)


@dataclass(frozen=True)
class Totals:
    companies: int = 0  # every company scored that day, customers included
    hot: int = 0  # hot, warm, cold: prospects only
    warm: int = 0
    cold: int = 0
    customers: int = 0
    customers_interested: int = 0  # customers hot or warm: the customers section

    @property
    def prospects(self) -> int:
        return self.companies - self.customers


@dataclass(frozen=True)
class Digest:
    site: str
    day: date
    timezone: str
    generated_at: datetime
    sections: tuple[Section, ...]
    totals: Totals = field(default_factory=Totals)
    rules: Rules = field(default_factory=Rules)  # the site's: its thresholds go beside scores
    ai_agents: AIReads | None = None  # AI agents' reads in the AI_AGENT_DAYS up to `day`
    max_per_section: int = MAX_PER_SECTION
    # Who it is for (intent.digest_owners): '' the site's team, else an owner's name; `routed`
    # counts the companies left out of the recipients' part because their owners get them.
    audience: str = ""
    routed: int = 0

    @property
    def ai_line(self) -> str:
        """'AI agents read /pricing 14 times this week; top pages: ...', or '' when none did."""
        if self.ai_agents is None or not self.ai_agents.total:
            return ""
        return clean(self.ai_agents.summary("this week"))

    @property
    def scored(self) -> bool:
        """False when no snapshot exists for the day (scoring has not run)."""
        return self.totals.companies > 0

    @property
    def empty(self) -> bool:
        return all(s.total == 0 for s in self.sections)

    @property
    def summary(self) -> str:
        if not self.scored:
            return f"No scores for {self.site} on {self.day.isoformat()} yet."
        news = self.news
        interested = self.interested_customers
        if self.audience:  # an owner's digest: site-wide counts are not theirs
            return f"{news} among the accounts of {self.audience}" + (
                f" · {plural(interested, 'customer')} showing interest" if interested else ""
            )
        if self.routed:
            went = "1 more went" if self.routed == 1 else f"{self.routed} more went"
            news += f" ({went} to their owners)"
        t = self.totals
        return (
            f"{news} · {t.hot} hot, {t.warm} warm, {t.cold} cold of "
            f"{plural(t.prospects, 'prospect')}"
            + (f" · {plural(t.customers, 'customer')}, {t.customers_interested} showing interest"
               if t.customers else "")
        )  # fmt: skip

    @property
    def news(self) -> str:
        """'2 newly hot, 3 hot': the prospect sections (customers are counted apart)."""
        keys = {key for key, _ in PROSPECT_SECTIONS}
        parts = [f"{s.total} {s.title.lower()}" for s in self.sections if s.total and s.key in keys]
        return ", ".join(parts) if parts else "nothing new"

    @property
    def interested_customers(self) -> int:
        """Customers hot or warm that this digest lists (its customers section)."""
        return next((s.total for s in self.sections if s.key == CUSTOMERS), 0)

    @property
    def heading(self) -> str:
        who = f" · {self.audience}" if self.audience else ""
        return f"intent digest · {self.site}{who} · {self.day:%a %d %b %Y}"

    def local(self, ts: datetime) -> str:
        """A time as the site reads it: '2026-11-23 09:14 CET'."""
        return local_time(ts, self.timezone)

    def seen(self, ts: datetime) -> str:
        """'last seen' as the site reads it: '2026-11-23 09:14 CET · 2 h ago' (before generated_at)."""
        return last_seen(ts, self.timezone, self.generated_at)

    def to_dict(self) -> dict[str, Any]:
        t = self.totals
        return {
            "site": self.site,
            "date": self.day.isoformat(),
            "timezone": self.timezone,
            "generated_at": iso(self.generated_at),
            "summary": self.summary,
            "totals": {
                "companies": t.companies,
                "hot": t.hot,
                "warm": t.warm,
                "cold": t.cold,
                "customers": t.customers,
                "customers_interested": t.customers_interested,
            },
            "sections": [
                {
                    "key": s.key,
                    "title": s.title,
                    "total": s.total,
                    "companies": [c.to_dict() for c in s.companies],
                }
                for s in self.sections
            ],
            "ai_agents": self._ai_dict(),
        }

    def _ai_dict(self) -> dict[str, Any]:
        ai = self.ai_agents
        if ai is None:
            return {"summary": "", "days": AI_AGENT_DAYS, "reads": 0, "pages": [], "agents": []}
        return {
            "summary": self.ai_line,
            "days": (ai.end - ai.start).days + 1,
            "reads": ai.total,
            "pages": [
                {
                    "path": clean(path),
                    "reads": n,
                    "agents": {clean(a): k for a, k in ai.by_page[path].items()},
                }
                for path, n in ai.pages
            ],
            "agents": [{"agent": clean(a), "reads": n} for a, n in ai.agents],
        }


def iso(ts: datetime) -> str:
    return utc_iso(ts)
