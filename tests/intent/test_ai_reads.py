"""AI agents browsing on a person's behalf, end to end: the real server stores them with traffic
class ai-agent and no company (from a cloud, from a company's office, and when one fills in a
form), scoring never sees them, and `ai_agent_reads` counts them per page and agent, as
`intent coverage`, the dashboard's coverage page and the digest in every format show."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from collector.enrich.coverage import coverage
from collector.store import Store
from intent.ai_reads import AIReads, ai_agent_reads
from intent.digest_model import Digest
from intent.digest_render import render, render_slack
from intent.scoring import score_site
from tests.collector.enrich import mmdbs
from tests.conftest import CHROME_UA, LiveServer, SettingsFactory, wait_until

CHATGPT = "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko); compatible; ChatGPT-User/1.0; +https://openai.com/bot"
MARINER = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko; compatible; "
    "GoogleAgent-Mariner) Chrome/142.0.7444.162 Safari/537.36"
)
GPTBOT = "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)"
CLOUD, OFFICE = "100.64.3.3", "198.51.100.33"  # AWS (hosting: dropped for a browser); Acme's office


@pytest.fixture(scope="module")
def enterprise_mmdb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return mmdbs.enterprise(tmp_path_factory.mktemp("mmdb") / "enterprise.mmdb")


def test_ai_agents_are_stored_counted_and_never_scored(
    site: str, make_settings: SettingsFactory, serve: Callable[..., LiveServer], store: Store,
    enterprise_mmdb: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    live = serve(make_settings(site, INTENT_GEOIP_PATHS=str(enterprise_mmdb),
                               INTENT_TRUSTED_PROXIES="127.0.0.0/8"))  # fmt: skip

    def send(ua: str, address: str, path: str, **extra: str) -> str:
        body = {"site": site, "url": f"https://example.com{path}", **extra}
        r = live.post(body, ua=ua, **{"X-Forwarded-For": address})
        assert r.status_code == 202, r.text
        return r.headers.get("X-Intent-Dropped", "")

    for path in ("/pricing", "/pricing", "/docs", "/pricing"):
        assert send(CHATGPT, CLOUD, path) == ""  # kept, though it comes from a cloud
    assert send(MARINER, OFFICE, "/pricing") == ""
    assert send(MARINER, OFFICE, "/demo") == ""
    # The agent books a demo for its person: the address's domain names no company.
    assert send(MARINER, OFFICE, "/demo", type="identify", email="jane@initech.example") == ""
    assert send(GPTBOT, CLOUD, "/pricing") == "bot:crawler"  # a training crawler stays a bot
    assert send(CHROME_UA, CLOUD, "/x") == "bot:hosting"  # a browser from the same cloud
    assert send(CHROME_UA, OFFICE, "/careers") == ""  # a person in Acme's office: a company
    live.flush()

    rows = store.query(
        "SELECT browser, traffic_class, company_key, company_domain, company_source FROM events "
        "WHERE site = {s:String} ORDER BY browser, type",
        {"s": site},
    )
    assert rows == [
        *[("ChatGPT-User", "ai-agent", "", "", "")] * 4,
        ("Chrome", "business", "acme-widgets.example", "acme-widgets.example", "maxmind"),
        *[("GoogleAgent-Mariner", "ai-agent", "", "", "")] * 3,
    ]
    assert store.scalar("SELECT count() FROM identities WHERE site = {s:String}", {"s": site}) == 0

    today = datetime.now(UTC).date()
    scores = score_site(store, live.collector.settings.sites[site], today)
    assert [c.company_key for c in scores] == ["acme-widgets.example"]
    (acme,) = scores
    assert (
        "pricing" not in " ".join(acme.reasons).lower()
    )  # the agents' pricing reads are not Acme's

    reads = ai_agent_reads(store, site, today, days=7)
    assert reads.total == 6  # page views only: the identify event is no read
    assert reads.pages == [("/pricing", 4), ("/demo", 1), ("/docs", 1)]
    assert reads.agents == [("ChatGPT-User", 4), ("GoogleAgent-Mariner", 2)]
    assert reads.by_page["/pricing"] == {"ChatGPT-User": 3, "GoogleAgent-Mariner": 1}
    assert reads.summary() == (
        "AI agents read /pricing 4 times this week; top pages: /pricing 4, /demo 1, /docs 1 "
        "(6 reads by ChatGPT-User 4, GoogleAgent-Mariner 2)"
    )
    assert (
        ai_agent_reads(store, "no-such-site", today).summary()
        == "No AI agent read the site this week."
    )

    cov = coverage(store, site, 7)
    assert cov.by_class == {"ai-agent": 6, "business": 1}
    assert wait_until(
        lambda: coverage(store, site, 7).dropped == {"bot:crawler": 1, "bot:hosting": 1}
    )


def test_the_digest_escapes_what_ai_agents_read_in_every_format() -> None:
    """Paths and agent names come from visitors: they are data in every format, never markup."""
    day = datetime(2026, 11, 20, tzinfo=UTC).date()
    evil = "/<script>alert(1)</script>*x*"
    reads = AIReads("s", day, day, total=2, pages=[(evil, 2)], agents=[("ChatGPT-User", 2)],
                    by_page={evil: {"ChatGPT-User": 2}})  # fmt: skip
    digest = Digest("s", day, "UTC", datetime.now(UTC), (), ai_agents=reads)
    assert (
        "<script>" not in render(digest, "html")[0]
        and "&lt;script&gt;" in render(digest, "html")[0]
    )
    assert (
        "<script>" not in render(digest, "markdown")[0]
        and "\\*x\\*" in render(digest, "markdown")[0]
    )
    assert "<script>" not in json.dumps(render_slack(digest))
    assert "<script>" not in render(digest, "json")[0]  # \u003c, safe to inline in HTML
    assert evil in render(digest, "text")[0]  # text is data: the value, verbatim
    row = next(
        r
        for r in csv.DictReader(io.StringIO(render(digest, "csv")[0]))
        if r["section"] == "ai_agents"
    )
    assert (row["top_pages"], row["reads"]) == (evil, "2")
