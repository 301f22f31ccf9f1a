"""Re-scoring one company reads that company's rows, not the site's: the rows ClickHouse reads
(system.events SelectedRows, deterministic unlike time) for `score_site(companies=[one])` stay a
small share of what scoring every company reads, on a site of 2,000 companies and much anonymous
traffic (bench/datagen.py). Losing the company filter in any branch of scoring's reads, or
reading the anonymous rows of every visitor, makes the two equal."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from bench import datagen
from collector.site_settings import SiteConfig
from collector.store import Store
from intent.scoring import CompanyScore, score_site

TOP_COMPANY = """
SELECT company_key FROM daily_companies WHERE site = {site:String}
GROUP BY company_key ORDER BY sum(events) DESC, company_key LIMIT 1
"""


def rows_read(store: Store, run: Callable[[], object]) -> int:
    def selected() -> int:
        return int(
            store.scalar("SELECT value FROM system.events WHERE event = 'SelectedRows'") or 0
        )

    before = selected()
    run()
    return selected() - before


def test_rescoring_one_company_reads_its_rows_not_the_sites(store: Store, site: str) -> None:
    datagen.insert_events(store, site, 0, 400_000, days=3)
    config = SiteConfig(name=site, domains=("example.com",))
    day = datetime.now(UTC).date()
    top = str(store.scalar(TOP_COMPANY, {"site": site}))
    every: list[CompanyScore] = []
    everything = rows_read(store, lambda: every.extend(score_site(store, config, day)))
    assert len(every) > 1000  # the site has many companies besides the one re-scored
    one: list[CompanyScore] = []
    only = rows_read(store, lambda: one.extend(score_site(store, config, day, companies=[top])))
    assert [c.company_key for c in one] == [top]
    assert only * 4 < everything, (only, everything)
