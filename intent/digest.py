"""The daily digest: what sales reads. Built from one day's `company_scores` snapshot, rendered
as text, Markdown, HTML (email), JSON, CSV or Slack Block Kit.

`build_digest(store, site, day)` reads the snapshot; `render(digest, fmt)` turns it into
`(body, content_type)`. Every value that came from a visitor's browser or a network database
(company names, page paths, reasons) is escaped for the format it lands in; control characters
are removed when the digest is built, so no format can carry a terminal escape sequence.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from jinja2 import Environment, PackageLoader, StrictUndefined

from collector.store import Store
from intent.command import CliError, day_arg, open_store, settings
from intent.migrate import migrate
from intent.schedule import digest_sent_at, record_digest_sent
from intent.scoring import score_site
from intent.timestamps import utc_iso

FORMATS: dict[str, str] = {
    "text": "text/plain; charset=utf-8",
    "markdown": "text/markdown; charset=utf-8",
    "html": "text/html; charset=utf-8",
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
}

# (key, title): the order sales reads them in. Customers never appear (is_customer = 1).
SECTIONS: tuple[tuple[str, str], ...] = (
    ("newly_hot", "Newly hot"),
    ("hot", "Hot"),
    ("newly_warm", "Newly warm"),
    ("cooling", "Cooling"),
)
MAX_PER_SECTION = 200  # past this a section is counted, not listed ("… and 12 more")
HTML_PER_SECTION = 15  # ~1.3 KB per company: Gmail clips an email past 102 KB
SLACK_PER_SECTION = 8  # Block Kit allows 50 blocks per message

SECTION_ROWS = """
SELECT company_key, company_name, company_domain, country, company_source, confidence,
       score, tier, previous_tier, previous_score, transition, reasons, visitors, active_days,
       first_seen, last_seen, top_pages
FROM company_scores FINAL
WHERE site = {site:String} AND day = {day:Date} AND is_customer = 0
  AND (tier = 'hot' OR transition IN ('newly_hot', 'newly_warm', 'cooling'))
ORDER BY score DESC, company_key
"""

TOTALS = """
SELECT count() AS companies,
       countIf(is_customer = 0 AND tier = 'hot') AS hot,
       countIf(is_customer = 0 AND tier = 'warm') AS warm,
       countIf(is_customer = 0 AND tier = 'cold') AS cold,
       countIf(is_customer = 1) AS customers
FROM company_scores FINAL
WHERE site = {site:String} AND day = {day:Date}
"""

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
        }


@dataclass(frozen=True)
class Section:
    key: str
    title: str
    companies: tuple[DigestCompany, ...]
    total: int  # companies in the section, including those past MAX_PER_SECTION

    @property
    def more(self) -> int:
        return self.total - len(self.companies)


@dataclass(frozen=True)
class Totals:
    companies: int = 0  # every company scored that day, customers included
    hot: int = 0
    warm: int = 0
    cold: int = 0
    customers: int = 0


@dataclass(frozen=True)
class Digest:
    site: str
    day: date
    timezone: str
    generated_at: datetime
    sections: tuple[Section, ...]
    totals: Totals = field(default_factory=Totals)

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
        parts = [f"{s.total} {s.title.lower()}" for s in self.sections if s.total]
        news = ", ".join(parts) if parts else "nothing new"
        t = self.totals
        return f"{news} · {t.hot} hot, {t.warm} warm, {t.cold} cold of {t.companies} companies" + (
            f" ({plural(t.customers, 'customer')} left out)" if t.customers else ""
        )

    @property
    def heading(self) -> str:
        return f"intent digest · {self.site} · {self.day:%a %d %b %Y}"

    def local(self, ts: datetime) -> str:
        """A time as the site reads it: '2026-11-23 09:14 CET'."""
        if ts.tzinfo is None:
            ts = ts.replace(tzinfo=UTC)
        return ts.astimezone(ZoneInfo(self.timezone)).strftime("%Y-%m-%d %H:%M %Z")

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
        }


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def number(value: float) -> str:
    """Scores as people write them: 54, 12.5, -3."""
    text = f"{value:.1f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def iso(ts: datetime) -> str:
    return utc_iso(ts)


def _company(row: dict[str, Any]) -> DigestCompany:
    return DigestCompany(
        key=clean(row["company_key"]),
        name=clean(row["company_name"]),
        domain=clean(row["company_domain"]),
        country=clean(row["country"]),
        source=clean(row["company_source"]),
        confidence=float(row["confidence"]),
        tier=clean(row["tier"]),
        previous_tier=clean(row["previous_tier"]),
        score=float(row["score"]),
        previous_score=float(row["previous_score"]),
        transition=clean(row["transition"]),
        reasons=tuple(clean(r) for r in row["reasons"]),
        visitors=int(row["visitors"]),
        active_days=int(row["active_days"]),
        first_seen=row["first_seen"],
        last_seen=row["last_seen"],
        top_pages=tuple(clean(p) for p in row["top_pages"]),
    )


def _section_of(c: DigestCompany) -> str | None:
    if c.transition == "newly_hot":
        return "newly_hot"
    if c.tier == "hot":
        return "hot"
    if c.transition in ("newly_warm", "cooling"):
        return c.transition
    return None


def build_digest(
    store: Store,
    site: str,
    day: date,
    timezone: str = "UTC",
    max_per_section: int = MAX_PER_SECTION,
) -> Digest:
    """The digest of one site for one day, from that day's score snapshot."""
    params = {"site": site, "day": day}
    grouped: dict[str, list[DigestCompany]] = {key: [] for key, _ in SECTIONS}
    for row in store.query_dicts(SECTION_ROWS, params):
        company = _company(row)
        key = _section_of(company)
        if key is not None:
            grouped[key].append(company)
    totals = store.query_dicts(TOTALS, params)
    sections = tuple(
        Section(key, title, tuple(grouped[key][:max_per_section]), len(grouped[key]))
        for key, title in SECTIONS
    )
    return Digest(
        site=site,
        day=day,
        timezone=timezone,
        generated_at=datetime.now(UTC),
        sections=sections,
        totals=Totals(**{k: int(v) for k, v in totals[0].items()}) if totals else Totals(),
    )


# -- rendering ------------------------------------------------------------------------------


def render(digest: Digest, fmt: str) -> tuple[str, str]:
    """(body, content type) for one of FORMATS."""
    renderers = {
        "text": render_text,
        "markdown": render_markdown,
        "html": render_html,
        "json": render_json,
        "csv": render_csv,
    }
    if fmt not in renderers:
        raise ValueError(f"unknown digest format {fmt!r} (expected {', '.join(FORMATS)})")
    return renderers[fmt](digest), FORMATS[fmt]


def render_text(digest: Digest) -> str:
    lines = [digest.heading, digest.summary]
    for section in digest.sections:
        if not section.total:
            continue
        lines += ["", f"{section.title.upper()} ({section.total})"]
        for c in section.companies:
            where = " · ".join(x for x in (c.domain if c.domain != c.title else "", c.country) if x)
            lines.append(
                f"  {c.title}" + (f" ({where})" if where else "")
                + f" · {c.tier} · score {number(c.score)} ({c.change_text()})"
            )  # fmt: skip
            if c.reasons:
                lines.append("    " + " · ".join(c.reasons))
            lines.append(
                f"    {plural(c.visitors, 'visitor')} · {plural(c.active_days, 'active day')}"
                f" · last seen {digest.local(c.last_seen)}"
                + (f" · top pages: {', '.join(c.top_pages)}" if c.top_pages else "")
            )
        if section.more:
            lines.append(f"  … and {section.more} more")
    return "\n".join(lines) + "\n"


_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~])")


def md(value: str) -> str:
    """Markdown text that renders as exactly `value`: HTML metacharacters become entities and
    inline Markdown punctuation is backslash-escaped, so nothing in a value becomes markup or a
    link. (Values never start a line here, so block markers such as # - + need no escape.)"""
    value = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MD_SPECIAL.sub(r"\\\1", value)


def render_markdown(digest: Digest) -> str:
    lines = [f"# {md(digest.heading)}", "", md(digest.summary)]
    for section in digest.sections:
        if not section.total:
            continue
        lines += ["", f"## {section.title} ({section.total})"]
        for c in section.companies:
            title = md(c.title) + (f" ({md(c.domain)})" if c.domain and c.domain != c.title else "")
            lines += [
                "",
                f"### {title}",
                "",
                f"- **{md(c.tier)}** · score {md(number(c.score))} ({md(c.change_text())})"
                + (f" · {md(c.country)}" if c.country else ""),
                f"- {plural(c.visitors, 'visitor')} · {plural(c.active_days, 'active day')} · "
                f"last seen {md(digest.local(c.last_seen))}",
            ]
            if c.reasons:
                lines.append("- Why: " + " · ".join(md(r) for r in c.reasons))
            if c.top_pages:
                lines.append("- Top pages: " + ", ".join(md(p) for p in c.top_pages))
        if section.more:
            lines += ["", f"_… and {section.more} more_"]
    return "\n".join(lines) + "\n"


@cache
def _templates() -> Environment:
    return Environment(
        loader=PackageLoader("intent", "templates"),
        autoescape=True,  # every value is escaped; nothing in the template is marked safe
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


TIER_COLOURS = {"hot": "#c92a2a", "warm": "#e67700", "cold": "#495057"}


def render_html(digest: Digest, per_section: int = HTML_PER_SECTION) -> str:
    """The email body (also the dashboard's preview): the top `per_section` of each section."""
    template = _templates().get_template("digest_email.html")
    return template.render(
        digest=digest, number=number, colours=TIER_COLOURS, per_section=per_section
    )


_JSON_UNSAFE = {b"<": b"\\u003c", b">": b"\\u003e", b"&": b"\\u0026"}


def render_json(digest: Digest) -> str:
    """Indented JSON; < > & are \\u-escaped so it can be inlined into HTML safely."""
    body = orjson.dumps(digest.to_dict(), option=orjson.OPT_INDENT_2)
    for raw, escaped in _JSON_UNSAFE.items():
        body = body.replace(raw, escaped)
    return body.decode() + "\n"


CSV_COLUMNS = (
    "section", "company", "domain", "country", "tier", "score", "change", "previous_tier",
    "visitors", "active_days", "first_seen", "last_seen", "reasons", "top_pages", "company_key",
)  # fmt: skip
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: str) -> str:
    """A spreadsheet reads a cell starting with = + - @ (or tab/CR) as a formula: OWASP's
    advice is a leading apostrophe, which shows the text as typed."""
    return "'" + value if value.startswith(_FORMULA_START) else value


def render_csv(digest: Digest) -> str:
    """One row per company. Text cells are neutralised; numbers are ours and stay numbers."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for section in digest.sections:
        for c in section.companies:
            writer.writerow([
                section.key, csv_cell(c.title), csv_cell(c.domain), csv_cell(c.country),
                c.tier, number(c.score), number(c.change), c.previous_tier, c.visitors,
                c.active_days, iso(c.first_seen), iso(c.last_seen),
                csv_cell(" · ".join(c.reasons)), csv_cell(" ".join(c.top_pages)), csv_cell(c.key),
            ])  # fmt: skip
    return out.getvalue()


def slack_escape(value: str) -> str:
    """Slack mrkdwn: & < > are the control characters (links, @channel); escape exactly those."""
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def render_slack(digest: Digest, per_section: int = SLACK_PER_SECTION) -> dict[str, Any]:
    """An incoming-webhook payload in Block Kit (≤ 50 blocks, section text ≤ 3000 chars)."""
    e = slack_escape
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _cut(digest.heading, 150)}},
        {"type": "section", "text": {"type": "mrkdwn", "text": _cut(e(digest.summary), 3000)}},
    ]
    for section in digest.sections:
        if not section.total:
            continue
        blocks.append({"type": "divider"})
        blocks.append({"type": "section",
                       "text": {"type": "mrkdwn", "text": f"*{section.title}* ({section.total})"}})  # fmt: skip
        for c in section.companies[:per_section]:
            where = " · ".join(x for x in (c.domain if c.domain != c.title else "", c.country) if x)
            text = (
                f"*{e(c.title)}*" + (f" ({e(where)})" if where else "")
                + f" · {c.tier} · score {number(c.score)} ({e(c.change_text())})"
            )  # fmt: skip
            if c.reasons:
                text += "\n" + e(" · ".join(c.reasons))
            text += (
                f"\n_{plural(c.visitors, 'visitor')} · last seen {e(digest.local(c.last_seen))}_"
            )
            if c.top_pages:
                text += "\n" + e("top pages: " + ", ".join(c.top_pages))
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _cut(text, 3000)}})
        hidden = section.total - min(len(section.companies), per_section)
        if hidden:
            blocks.append({"type": "context",
                           "elements": [{"type": "mrkdwn", "text": f"… and {hidden} more"}]})  # fmt: skip
    return {"text": _cut(e(f"{digest.heading}: {digest.summary}"), 3000), "blocks": blocks[:50]}


def email_subject(digest: Digest) -> str:
    parts = [f"{s.total} {s.title.lower()}" for s in digest.sections if s.total]
    return clean(f"{digest.heading}: {', '.join(parts) or 'nothing new'}")


# -- `intent digest` ------------------------------------------------------------------------


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("digest", help="print or send a site's daily digest")
    p.add_argument("--site", help="site name (default: the only configured site)")
    p.add_argument("--date", help="YYYY-MM-DD (default: today in the site's time zone)")
    p.add_argument("--format", choices=tuple(FORMATS), default="text")
    p.add_argument("--send", action="store_true",
                   help="email it to the site's digest_recipients and post it to its slack_webhook")  # fmt: skip
    p.add_argument("--send-empty", action="store_true",
                   help="with --send: send even when nothing is hot, newly warm or cooling")  # fmt: skip
    p.add_argument("--force", action="store_true",
                   help="with --send: send although that day's digest was already sent")  # fmt: skip
    p.set_defaults(func=cmd_digest)


def pick_site(settings: Any, name: str | None) -> Any:
    """The named site, or the only one configured."""
    if name is None:
        if len(settings.sites) != 1:
            raise CliError(
                f"--site is required (configured: {', '.join(settings.sites) or 'none'})"
            )
        return next(iter(settings.sites.values()))
    site = settings.sites.get(name)
    if site is None:
        raise CliError(f"--site {name}: no such site in {settings.config_path}")
    return site


def ensure_scored(store: Store, site: Any, day: date) -> None:
    """Score the day first when its snapshot is missing (scoring is idempotent)."""
    if store.scalar(TOTALS, {"site": site.name, "day": day}):
        return
    score_site(store, site, day)


def cmd_digest(args: Any) -> int:
    s = settings()
    site = pick_site(s, args.site)
    day = day_arg(args.date, site)
    store = open_store(s)
    migrate(store, s)
    ensure_scored(store, site, day)
    if args.send:
        from intent.delivery import send_digest

        if not site.digest_recipients and not site.slack_webhook:
            raise CliError(
                f"site {site.name} has no digest_recipients or slack_webhook in "
                f"{s.config_path}: nowhere to send the digest"
            )
        sent = digest_sent_at(store, site.name, day)
        if sent is not None and not args.force:
            raise CliError(
                f"the {site.name} digest for {day} was already sent at "
                f"{sent:%Y-%m-%d %H:%M} UTC; add --force to send it again"
            )
        results = send_digest(s, store, site.name, day, send_empty=args.send_empty)
        if any(r.ok for r in results):  # all failed: a retry needs no --force
            record_digest_sent(store, site.name, day, datetime.now(UTC))
        if not results:
            print(f"{site.name} {day}: nothing to send (no company is hot, newly warm or cooling)")
        for r in results:
            if r.ok:
                print(f"{site.name} {day}: {r}")
        failed = [r for r in results if not r.ok]
        if failed:
            raise CliError("; ".join(str(r) for r in failed))
        return 0
    digest = build_digest(store, site.name, day, site.timezone)
    if not digest.scored and args.format in ("text", "markdown"):
        print(digest.summary)
        return 0
    body, _ = render(digest, args.format)
    print(body, end="")
    return 0
