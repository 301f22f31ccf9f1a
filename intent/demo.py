"""`intent demo`: 30 days of realistic synthetic B2B traffic, scored day by day, then today's
digest — so a newcomer sees hot and warm companies within a minute of installing.

The traffic (intent.demo_traffic) is built as beacons and sent through the same path as real
events: the beacon validator, the ingest pipeline (user agent, bot drops, visitor ids,
enrichment, company from the owner's ranges) and a batch insert into `events`, whose
materialized views keep the rollups that scoring reads. Only the clock differs: events carry
past times, which cannot go over HTTP (the collector stamps server time).
"""

from __future__ import annotations

import argparse
import hashlib
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from time import monotonic

import dns.asyncresolver
import orjson
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from collector import beacon, pipeline
from collector.enrich import ranges as owner_ranges
from collector.enrich.enricher import Enricher
from collector.enrich.geoip import open_databases
from collector.enrich.hostnames import company_from_hostname
from collector.enrich.rdns import ReverseDNS
from collector.settings import Settings
from collector.site_settings import SiteConfig
from collector.store import Store, StoreLockedError, connect
from intent.accounts.csvfile import read_file
from intent.accounts.table import COUNT_ACCOUNTS, upsert
from intent.command import CliError
from intent.demo_traffic import DAYS, DEMO_HOST, Hit, data_file, rdns_names, traffic
from intent.digest import TOTALS, build_digest
from intent.digest_owners import owner_digests, unowned
from intent.digest_render import render_text
from intent.migrate import migrate
from intent.scoring import TIERS, rules_of, score_site
from intent.settings import load_settings
from intent.starter import STARTER_CONFIG

DEFAULT_SITE = "demo"
BATCH_ROWS = 5000

# Earlier demo data of the site is removed first, so running the demo twice shows one demo.
RESET_TABLES = ("events", "daily_activity", "daily_companies", "identities", "attributions",
                "company_scores", "dropped_events", "accounts")  # fmt: skip
CRM_EXPORT = "crm_companies.csv"  # a HubSpot companies export with owners (docs/demo.md)
COUNT_SITE_EVENTS = "SELECT count() FROM events WHERE site = {site:String}"
DELETE_SITE_ROWS = {t: f"ALTER TABLE {t} DELETE WHERE site = {{site:String}}" for t in RESET_TABLES}


@dataclass
class DemoResult:
    events: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    days_scored: int = 0
    tiers: Counter[str] = field(default_factory=Counter)  # today's tiers, customers left out
    accounts: int = 0  # CRM accounts imported
    bad_rows: list[str] = field(default_factory=list)  # the export's rows the import skipped


def demo_enricher(geoip_paths: tuple[Path, ...] = ()) -> Enricher:
    """The real Enricher with the demo's network database first (then any configured ones)."""
    databases, _failed = open_databases((data_file("geo.mmdb"), *geoip_paths))
    return Enricher(databases)


def demo_reverse_dns(store: Store, hits: list[Hit]) -> ReverseDNS:
    """Reverse DNS that answers from the demo's shipped reverse zone (demo_data/rdns.csv), never
    from the network: each address's PTR name goes through the same decision (company or not)
    and cache as a resolver's forward-confirmed answer, so visits get source `rdns`."""
    resolver = dns.asyncresolver.Resolver(configure=False)  # no servers: it is never asked
    rdns = ReverseDNS(resolver, store.insert_rows)
    zone = rdns_names()
    for ip in {h.ip for h in hits}:
        host = next((name for net, name in zone.items() if ip in net), None)
        if host is not None:
            rdns.remember(ip, company_from_hostname(host, ip))
    return rdns


def reset(store: Store, site: str) -> None:
    if store.scalar(COUNT_SITE_EVENTS, {"site": site}) or store.scalar(
        COUNT_ACCOUNTS, {"site": site}
    ):
        for sql in DELETE_SITE_ROWS.values():
            store.command(sql, {"site": site}, settings={"mutations_sync": 2})


def run_demo(
    store: Store,
    site: SiteConfig,
    enricher: Enricher | None = None,
    seed: int = 2026,
    now: datetime | None = None,
    progress: bool = False,
) -> DemoResult:
    """Generate, ingest and score the demo for `site`; return what happened."""
    now = now or datetime.now(UTC)
    today = now.date()
    owner_ranges.import_csv(store, data_file("ranges.csv"))
    enricher = enricher or demo_enricher()
    enricher.refresh_ranges(store)
    salt_key = f"intent-demo-{seed}".encode()
    ctx = pipeline.Context(
        enricher=enricher,
        salt=lambda day: hashlib.blake2b(day.isoformat().encode(), key=salt_key).digest(),
    )
    reset(store, site.name)
    result = DemoResult()
    crm = read_file(data_file(CRM_EXPORT))  # as `intent accounts import` reads it
    result.accounts = len(upsert(store, site.name, [u for _line, u in crm.updates]).added)
    result.bad_rows = [f"line {number}: {why}" for number, why in crm.errors]
    hits = traffic(site.name, today, now, seed)
    ctx.rdns = demo_reverse_dns(store, hits)
    run_id = uuid.uuid4().hex
    columns = (TextColumn("{task.description:<22}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, disable=not progress) as bar:
        task = bar.add_task("sending events", total=len(hits))
        rows: list[bytes] = []
        drops: Counter[tuple[str, str]] = Counter()  # (day, reason), as the collector counts
        for n, hit in enumerate(hits, start=1):
            event = pipeline.Event(beacon.validate(hit.body), site, hit.ip, hit.user_agent, hit.ts)
            out = pipeline.run(event, ctx)
            if isinstance(out, pipeline.Drop):
                result.dropped[out.reason] += 1
                drops[(hit.ts.date().isoformat(), out.reason)] += 1
            else:
                rows.append(orjson.dumps(out.row))
            if len(rows) >= BATCH_ROWS or (n == len(hits) and rows):
                store.insert_json("events", b"\n".join(rows) + b"\n", f"demo:{run_id}:{n}")
                result.events += len(rows)
                rows = []
            if n % 500 == 0 or n == len(hits):
                bar.update(task, completed=n)
        store.insert_rows("dropped_events", [
            {"site": site.name, "day": d, "reason": r, "count": c} for (d, r), c in drops.items()
        ])  # fmt: skip
        days = [today - timedelta(days=d) for d in range(DAYS - 1, -1, -1)]
        task = bar.add_task("scoring day by day", total=len(days))
        for day in days:
            score_site(store, site, day)
            result.days_scored += 1
            bar.update(task, advance=1)
    [totals] = store.query_dicts(TOTALS, {"site": site.name, "day": today})
    result.tiers.update({tier: int(totals[tier]) for tier in TIERS})
    return result


# -- `intent demo` --------------------------------------------------------------------------

DEMO_SITE_TOML = """
[sites.{name}]
# Added by `intent demo`: synthetic traffic from fictional companies (see docs/demo.md).
domains = ["{host}"]
# Each company's CRM record (its account's Record ID in demo_data/crm_companies.csv): with
# HubSpot, https://app.hubspot.com/contacts/PORTAL/company/{{crm_id}} (docs/configuration.md).
crm_url = "https://crm.demo-saas.example/companies/{{crm_id}}"

# Who owns which CRM account (the names in demo_data/crm_companies.csv): each owner gets their
# own digest; Jordan Lee is not mapped, so their accounts count as unowned (docs/accounts.md).
[sites.{name}.owners]
"Maya Chen" = "maya@demo-saas.example"
"Tom Becker" = {{ email = "tom@demo-saas.example", slack = "U0DEMOTOM1" }}
"Priya Nair" = "priya@demo-saas.example"

# The ideal customer: fit A when all three match, B when all but one...
[sites.{name}.fit]
industries = ["Computer Software", "Information Technology and Services", "Internet",
              "Logistics and Supply Chain", "Pharmaceuticals"]
employees = [200, 10000]
countries = ["US", "GB", "DE", "FR", "NL"]
"""


def ensure_site(settings: Settings, name: str) -> Settings:
    """The demo site in intent.toml (appended when missing, so the dashboard and API see it)."""
    if name in settings.sites:
        return settings
    path = settings.config_path
    text = path.read_text("utf-8") if path.exists() else STARTER_CONFIG
    path.write_text(text.rstrip("\n") + "\n" + DEMO_SITE_TOML.format(name=name, host=DEMO_HOST),
                    encoding="utf-8")  # fmt: skip
    print(f"added [sites.{name}] to {path}")
    return load_settings()


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("demo", help="generate 30 days of synthetic B2B traffic and score it")
    p.add_argument("--site", default=DEFAULT_SITE, help=f"site to fill (default {DEFAULT_SITE})")
    p.add_argument("--seed", type=int, default=2026, help="random seed (same seed, same demo)")
    p.set_defaults(func=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    settings = load_settings(require_config=False)
    try:
        store = connect(settings.clickhouse_url)
    except StoreLockedError:
        raise CliError(
            "the database is held by a running `intent serve`; stop it, run the demo, "
            "then start it again (the demo writes to the database directly)"
        ) from None
    settings = ensure_site(settings, args.site)
    migrate(store, settings)
    site = settings.sites[args.site]
    started = monotonic()
    result = run_demo(store, site, demo_enricher(settings.geoip_paths), args.seed, progress=True)
    dropped = sum(result.dropped.values())
    t = result.tiers
    print(
        f"demo: {result.events} events stored, {dropped} dropped as bots; scored "
        f"{result.days_scored} days; today {t['hot']} hot, {t['warm']} warm, {t['cold']} cold "
        f"({monotonic() - started:.0f} s)"
    )
    skipped = "; ".join(result.bad_rows)
    print(f"CRM: {result.accounts} accounts imported from the demo's HubSpot export "
          f"(demo_data/{CRM_EXPORT})" + (f"; bad rows skipped, as the import reports them: {skipped}"
                                          if skipped else ""))  # fmt: skip
    print()
    digest = build_digest(store, site.name, datetime.now(UTC).date(), site.timezone,
                          rules=rules_of(site), config=site)  # fmt: skip
    print(render_text(digest), end="")
    print("\nWho is told (each owner gets their own digest; the rest goes to digest_recipients):")
    for owner in owner_digests(digest):
        n = sum(sec.total for sec in owner.digest.sections)
        print(f"  {owner.name} <{owner.email}>: {n} compan{'y' if n == 1 else 'ies'}"
              + (f", @-mentioned in Slack as <@{owner.slack}>" if owner.slack else ""))  # fmt: skip
    rest = sum(sec.total for sec in unowned(digest).sections)
    print(f"  unowned, to digest_recipients: {rest} compan{'y' if rest == 1 else 'ies'}")
    first = next(iter(owner_digests(digest)), None)
    if first is not None:
        print(f"  one owner's digest: `intent digest --site {site.name} --owner {first.email}`")
    print(
        f"\nNext: `intent digest --site {site.name} --format html > digest.html`, or "
        f"`intent users create --email you@example.com` and `make run`, then sign in at "
        f"http://{settings.host}:{settings.port}/dashboard/"
    )
    return 0
