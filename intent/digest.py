"""The daily digest: what sales reads, built from one day's `company_scores` snapshot.

`build_digest(store, site, day)` reads the snapshot into a `Digest` (intent.digest_model: its
companies, sections and words), with what AI agents read of the site that week (intent.ai_reads:
counted, never scored); intent.digest_render turns it into text, Markdown, HTML (email), JSON,
CSV or Slack Block Kit. Control characters are removed from every value here, when the digest is
built, so no format can carry a terminal escape sequence.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from collector.site_settings import SiteConfig
from collector.store import Store
from intent.accounts.config import site_config
from intent.accounts.matching import attach_accounts
from intent.accounts.owners import Owners
from intent.ai_reads import ai_agent_reads
from intent.company_links import company_links
from intent.digest_model import (
    AI_AGENT_DAYS,
    CUSTOMERS,
    MAX_PER_SECTION,
    SECTIONS,
    Digest,
    DigestCompany,
    Section,
    Totals,
    clean,
)
from intent.priority import priority_key
from intent.rules import Rules
from intent.timestamps import as_utc

SECTION_ROWS = """
SELECT company_key, company_name, company_domain, country, company_source, confidence,
       score, tier, previous_tier, previous_score, transition, reasons, visitors, active_days,
       first_seen, last_seen, top_pages, is_customer, buying_at
FROM company_scores FINAL
WHERE site = {site:String} AND day = {day:Date}
  AND if(is_customer = 1, tier IN ('hot', 'warm'),
         tier = 'hot' OR transition IN ('newly_hot', 'newly_warm', 'cooling'))
"""

TOTALS = """
SELECT count() AS companies,
       countIf(is_customer = 0 AND tier = 'hot') AS hot,
       countIf(is_customer = 0 AND tier = 'warm') AS warm,
       countIf(is_customer = 0 AND tier = 'cold') AS cold,
       countIf(is_customer = 1) AS customers,
       countIf(is_customer = 1 AND tier IN ('hot', 'warm')) AS customers_interested
FROM company_scores FINAL
WHERE site = {site:String} AND day = {day:Date}
"""


def _company(
    row: dict[str, Any], owners: Owners, config: SiteConfig, dashboard_base: str | None
) -> DigestCompany:
    account = row.get("account")
    owner = owners.resolve(account["owner"]) if account and account["owner_email"] else None
    links = company_links(config, row["company_key"], clean(row["company_domain"]),
                          clean(row["company_name"]), account, dashboard_base)  # fmt: skip
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
        account=_clean_account(account),
        fit=row.get("fit"),
        fit_reasons=tuple(clean(r) for r in row.get("fit_reasons", ())),
        owner_slack=owner.slack if owner else "",
        is_customer=bool(row["is_customer"]),
        buying_at=as_utc(row["buying_at"]),
        links=links,
    )


def _clean_account(account: dict[str, Any] | None) -> dict[str, Any] | None:
    """The CRM's text is an export anyone may have typed into: no control characters either."""
    if account is None:
        return None
    return {k: clean(v) if isinstance(v, str) else v for k, v in account.items()}


def _section_of(c: DigestCompany) -> str | None:
    if c.is_customer:
        return CUSTOMERS
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
    rules: Rules | None = None,
    config: SiteConfig | None = None,
    dashboard_base: str | None = None,
) -> Digest:
    """The digest of one site for one day, from that day's score snapshot; each company with
    its CRM account and fit (the site's [owners] and [fit] from `config`) and its links
    (intent.company_links; `dashboard_base` as there). Within a section, the rep's order
    (intent.priority): newly hot, the freshest buying signal, score, then fit."""
    params = {"site": site, "day": day}
    grouped: dict[str, list[DigestCompany]] = {key: [] for key, _ in SECTIONS}
    rows = store.query_dicts(SECTION_ROWS, params)
    config = config or SiteConfig(site, ())
    attach_accounts(store, config, rows)
    owners = site_config(config).owners
    for row in rows:
        company = _company(row, owners, config, dashboard_base)
        key = _section_of(company)
        if key is not None:
            grouped[key].append(company)
    for companies in grouped.values():
        companies.sort(key=lambda c: priority_key(
            newly_hot_today=c.transition == "newly_hot", tier=c.tier, buying_at=c.buying_at,
            score=c.score, fit=c.fit, key=c.key, tz=timezone))  # fmt: skip
    totals = store.query_dicts(TOTALS, params)
    sections = tuple(
        Section(
            key,
            title,
            tuple(grouped[key][:max_per_section]),
            len(grouped[key]),
            tuple(grouped[key][max_per_section:]),
        )
        for key, title in SECTIONS
    )
    return Digest(
        site=site,
        day=day,
        timezone=timezone,
        generated_at=datetime.now(UTC),
        sections=sections,
        totals=Totals(**{k: int(v) for k, v in totals[0].items()}) if totals else Totals(),
        ai_agents=ai_agent_reads(store, site, day, AI_AGENT_DAYS),
        rules=rules or Rules(),
        max_per_section=max_per_section,
    )
