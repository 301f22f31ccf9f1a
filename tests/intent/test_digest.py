"""The digest, built from real `company_scores` rows in the session chDB, in every format."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from collector.store import Store, ch_time
from intent import cli
from intent.digest import build_digest
from intent.digest_render import FORMATS, email_subject, render, render_slack
from intent.rules import parse_rules
from intent.scoring import score_site
from tests.conftest import CHROME_UA, LiveServer

DAY = date(2026, 11, 20)
SCRIPT = "<script>alert(1)</script>"


def score_row(site: str, key: str, tier: str, score: float, **fields: Any) -> dict[str, Any]:
    """One `company_scores` row as scoring writes it; fields override the defaults."""
    seen = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
    row: dict[str, Any] = {
        "site": site, "day": DAY.isoformat(), "company_key": key, "company_name": key.title(),
        "company_domain": f"{key}.example", "country": "DE", "company_source": "ranges",
        "confidence": 0.9, "score": score, "tier": tier, "previous_tier": tier,
        "previous_score": score, "transition": "still_hot" if tier == "hot" else "",
        "reasons": [f"{key} reason"], "visitors": 2, "active_days": 3,
        "first_seen": seen - timedelta(days=5), "last_seen": seen,
        "top_pages": ["/pricing", "/demo"], "is_customer": 0,
        "changed_at": seen, "computed_at": datetime.now(UTC),
    }  # fmt: skip
    row.update(fields)
    for k in ("first_seen", "last_seen", "changed_at", "computed_at"):
        if isinstance(row[k], datetime):
            row[k] = ch_time(row[k])
    return row


def insert(store: Store, rows: list[dict[str, Any]]) -> None:
    store.insert_rows("company_scores", rows)


def sample(site: str) -> list[dict[str, Any]]:
    return [
        score_row(site, "acme", "hot", 54, previous_tier="warm", previous_score=20,
                  transition="newly_hot", company_name="Acme Robotics",
                  reasons=["3 visitors", "pricing ×4 (+32)", "demo_request yesterday (+20)"]),
        score_row(site, "globex", "hot", 61.5, previous_score=58),
        score_row(site, "initech", "warm", 18, previous_tier="cold", previous_score=4,
                  transition="newly_warm"),
        score_row(site, "umbrella", "warm", 14, previous_tier="hot", previous_score=33,
                  transition="cooling", country="US"),
        score_row(site, "hooli", "cold", 3, previous_tier="warm", previous_score=12,
                  transition="cooling"),
        score_row(site, "steady", "warm", 15),  # warm yesterday and today: not news
        score_row(site, "quiet", "cold", 1),
        score_row(site, "customer", "hot", 90, is_customer=1, transition="newly_hot"),
        score_row(site, "olderday", "hot", 70, day=(DAY - timedelta(days=1)).isoformat()),
    ]  # fmt: skip


def test_sections_hold_the_expected_companies_in_score_order(store: Store, site: str) -> None:
    insert(store, sample(site))
    digest = build_digest(store, site, DAY)
    got = {s.key: [c.key for c in s.companies] for s in digest.sections}
    assert got == {
        "newly_hot": ["acme"],
        "hot": ["globex"],
        "newly_warm": ["initech"],
        "cooling": ["umbrella", "hooli"],
        "customers": ["customer"],
    }
    acme = digest.sections[0].companies[0]
    assert acme.title == "Acme Robotics"
    assert acme.change_text() == "+34, was warm"
    assert digest.sections[1].companies[0].change_text() == "+3.5"
    assert digest.sections[3].companies[1].change_text() == "-9, was warm"
    assert digest.summary == (
        "1 newly hot, 1 hot, 1 newly warm, 2 cooling · 2 hot, 3 warm, 2 cold of 7 prospects "
        "· 1 customer, 1 showing interest"
    )


def test_rescored_day_shows_the_latest_snapshot(store: Store, site: str) -> None:
    insert(store, [score_row(site, "acme", "warm", 12, transition="newly_warm",
                             previous_tier="cold", computed_at=datetime(2026, 11, 20, 8, tzinfo=UTC))])  # fmt: skip
    insert(store, [score_row(site, "acme", "hot", 40, transition="newly_hot",
                             previous_tier="cold", computed_at=datetime(2026, 11, 20, 9, tzinfo=UTC))])  # fmt: skip
    digest = build_digest(store, site, DAY)
    assert [c.score for c in digest.sections[0].companies] == [40]
    assert digest.totals.companies == 1 and digest.sections[2].total == 0


def test_no_snapshot_is_said_plainly(store: Store, site: str) -> None:
    digest = build_digest(store, site, DAY)
    assert not digest.scored and digest.empty
    assert render(digest, "text")[0].splitlines()[1] == f"No scores for {site} on 2026-11-20 yet."


def test_text_markdown_json_csv_carry_every_field(store: Store, site: str) -> None:
    insert(store, sample(site))
    digest = build_digest(store, site, DAY, timezone="Europe/Berlin")
    text, ctype = render(digest, "text")
    assert ctype == "text/plain; charset=utf-8"
    assert "NEWLY HOT (1)" in text and "COOLING (2)" in text
    assert "  Acme Robotics (acme.example · DE) · hot · score 54 · hot ≥ 50 (+34, was warm)" in text
    assert "    3 visitors · pricing ×4 (+32) · demo_request yesterday (+20)" in text
    assert (
        "    up to 2 people on one day · 3 active days · last seen 2026-11-20 10:30 CET · " in text
    )
    assert " days ago · top pages: /pricing, /demo" in text
    assert "Steady" not in text and "CUSTOMERS — EXPANSION INTEREST (1)\n  Customer (" in text

    markdown, _ = render(digest, "markdown")
    assert "## Newly hot (1)" in markdown and "### Acme Robotics (acme.example)" in markdown
    assert "- Why: 3 visitors · pricing ×4 (+32) · demo\\_request yesterday (+20)" in markdown

    doc = json.loads(render(digest, "json")[0])
    assert doc["date"] == "2026-11-20" and doc["totals"]["customers"] == 1
    acme = doc["sections"][0]["companies"][0]
    assert acme["name"] == "Acme Robotics" and acme["domain"] == "acme.example"
    assert acme["change"] == 34 and acme["previous_tier"] == "warm"
    assert acme["last_seen"] == "2026-11-20T09:30:00.000Z" and acme["top_pages"] == [
        "/pricing",
        "/demo",
    ]

    body, ctype = render(digest, "csv")
    assert ctype == "text/csv; charset=utf-8"
    rows = list(csv.DictReader(io.StringIO(body)))
    assert [(r["section"], r["company"]) for r in rows] == [
        ("newly_hot", "Acme Robotics"), ("hot", "Globex"), ("newly_warm", "Initech"),
        ("cooling", "Umbrella"), ("cooling", "Hooli"), ("customers", "Customer"),
    ]  # fmt: skip
    assert rows[3]["change"] == "-19" and rows[3]["country"] == "US"

    html, ctype = render(digest, "html")
    assert ctype == "text/html; charset=utf-8"
    assert "Acme Robotics" in html and "pricing ×4 (+32)" in html and "<style" not in html


def test_every_score_a_person_reads_carries_the_sites_scale(store: Store, site: str) -> None:
    insert(store, [score_row(site, "acme", "hot", 131, previous_tier="warm", previous_score=40,
                             transition="newly_hot", visitors=3, active_days=6)])  # fmt: skip
    digest = build_digest(store, site, DAY, rules=parse_rules({"hot": 60, "warm": 25}))
    text = render(digest, "text")[0]
    assert "· hot · score 131 · hot ≥ 60 (+91, was warm)" in text
    assert "\n    up to 3 people on one day · 6 active days · last seen " in text
    markdown = render(digest, "markdown")[0]
    assert "- **hot** · score 131 · hot ≥ 60 (+91, was warm) · DE" in markdown
    assert "- up to 3 people on one day · 6 active days · last seen " in markdown
    html = render(digest, "html")[0]
    assert "score <b>131 · hot ≥ 60</b>" in html
    assert "up to 3 people on one day · 6 active days · last seen" in html
    [block] = [b for b in render_slack(digest)["blocks"] if "Acme" in str(b)]
    assert "· hot · score 131 · hot ≥ 60 (+91, was warm)" in block["text"]["text"]
    assert "\n_up to 3 people on one day · last seen " in block["text"]["text"]
    default = render(build_digest(store, site, DAY), "text")[0]
    assert "score 131 · hot ≥ 50 (+91, was warm)" in default  # the default rules' threshold


def test_script_in_values_is_escaped_in_every_format(store: Store, site: str) -> None:
    insert(store, [score_row(
        site, "evil", "hot", 50, transition="newly_hot", previous_tier="cold",
        company_name=SCRIPT + "\x1b[31m", company_domain=SCRIPT, country=SCRIPT,
        reasons=[f"visited {SCRIPT} ×2"], top_pages=["/" + SCRIPT, '/a"onmouseover="x'],
    )])  # fmt: skip
    digest = build_digest(store, site, DAY)
    for fmt in FORMATS:
        body = render(digest, fmt)[0]
        assert "\x1b" not in body, fmt
        if fmt in ("html", "markdown", "json"):
            assert "<script>" not in body, fmt
    html = render(digest, "html")[0]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert 'onmouseover="x' not in html
    assert "&lt;script&gt;" in render(digest, "markdown")[0]
    doc = json.loads(render(digest, "json")[0])
    assert doc["sections"][0]["companies"][0]["name"] == SCRIPT + " [31m"  # ESC removed only
    slack = json.dumps(render_slack(digest))
    assert "<script>" not in slack and "&lt;script&gt;" in slack
    row = next(csv.DictReader(io.StringIO(render(digest, "csv")[0])))
    assert row["domain"] == SCRIPT  # CSV and text are data, not markup: the value, verbatim


def test_csv_neutralises_formula_cells(store: Store, site: str) -> None:
    names = ['=HYPERLINK("http://x","y")', "+1+2", "-2+3", "@SUM(A1)", "\tx", "\rx"]
    insert(store, [
        score_row(site, f"k{i}", "hot", 50 - i, company_name=name, company_domain=name,
                  reasons=[name], top_pages=[name])
        for i, name in enumerate(names)
    ])  # fmt: skip
    body = render(build_digest(store, site, DAY), "csv")[0]
    rows = list(csv.DictReader(io.StringIO(body)))
    assert len(rows) == len(names)
    for row, name in zip(rows, names, strict=True):
        expected = "'" + name.replace("\t", " ").replace("\r", " ").strip()
        expected = expected if expected[1:2] in "=+-@" else expected[1:]  # tab/CR were cleaned
        for column in ("company", "domain", "reasons", "top_pages"):
            assert row[column] == expected, (column, row[column])
            assert row[column][:1] not in ("=", "+", "-", "@", "\t", "\r")


def test_cli_prints_the_digest(
    store: Store, site: str, make_settings: Any, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    settings = make_settings(site)
    monkeypatch.setenv("INTENT_CONFIG", str(settings.config_path))
    monkeypatch.setenv("INTENT_CLICKHOUSE_URL", settings.clickhouse_url)
    insert(store, sample(site))
    assert cli.main(["digest", "--site", site, "--date", "2026-11-20", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [s["total"] for s in doc["sections"]] == [1, 1, 1, 2, 1]
    assert cli.main(["digest", "--date", "2026-11-20"]) == 0  # the only site is the default
    assert "NEWLY HOT (1)" in capsys.readouterr().out
    assert cli.main(["digest", "--site", "nope", "--date", "2026-11-20"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("intent digest: --site nope: no such site") and err.count("\n") == 1
    assert cli.main(["digest", "--site", site, "--date", "20-11-2026"]) == 1
    assert "expected YYYY-MM-DD" in capsys.readouterr().err


FIREFOX_UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"
SAFARI_UA = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Safari/605.1.15"
)


def test_events_posted_through_the_collector_reach_the_digest(
    server: LiveServer, store: Store, site: str
) -> None:
    """End to end: beacons over HTTP -> pipeline -> events -> rollups -> score -> digest."""
    url = "https://example.com"

    def visit(ua: str, domain: str, *steps: tuple[str, str]) -> None:
        for kind, what in steps:
            body = {"site": site, "type": kind, "url": f"{url}{what}"}
            if kind == "event":
                body = {"site": site, "type": "event", "name": what, "url": f"{url}/demo"}
            assert server.post(body, ua=ua).status_code == 202
        identify = {"site": site, "type": "identify", "email": f"someone@{domain}", "url": url}
        assert server.post(identify, ua=ua).status_code == 202

    buyer = "northwind-robotics.com"
    visit(
        CHROME_UA, buyer, ("pageview", "/pricing"), ("pageview", "/demo"), ("event", "demo_request")
    )
    visit(FIREFOX_UA, buyer, ("pageview", "/pricing"), ("pageview", "/book-demo"))
    visit(SAFARI_UA, "wayne-biotech.com", ("pageview", "/ebook/playbook"),
          ("pageview", "/webinar/intent"), ("pageview", "/case-studies/acme"))  # fmt: skip
    visit(
        CHROME_UA + " x", "aperture-research.com", ("pageview", "/careers"), ("pageview", "/jobs/1")
    )
    visit(FIREFOX_UA + " x", "weyland-freight.com", ("pageview", "/login"), ("pageview", "/pricing"),
          ("pageview", "/demo"), ("event", "demo_request"))  # fmt: skip
    server.flush()
    today = datetime.now(UTC).date()
    score_site(store, server.collector.settings.sites[site], today)

    digest = build_digest(store, site, today)
    got = {s.key: [c.key for c in s.companies] for s in digest.sections}
    assert got == {
        "newly_hot": [buyer],
        "hot": [],
        "newly_warm": ["wayne-biotech.com"],
        "cooling": [],
        "customers": ["weyland-freight.com"],  # logged in, then pricing and a demo request
    }
    northwind = digest.sections[0].companies[0]
    assert northwind.tier == "hot" and northwind.change_text() == "new"
    assert northwind.reasons[0] == "2 people (+5)"
    assert any(r.startswith("demo_request today (+") for r in northwind.reasons)
    assert northwind.top_pages[0] == "/pricing"
    assert digest.totals.customers == 1 and digest.totals.cold == 1
    text = render(digest, "text")[0]
    assert "aperture" not in text and "weyland" in text.split("CUSTOMERS — EXPANSION INTEREST")[1]


def test_long_sections_are_cut_and_counted(store: Store, site: str) -> None:
    insert(store, [score_row(site, f"c{i:03d}", "hot", 100 - i / 10) for i in range(40)])
    digest = build_digest(store, site, DAY, max_per_section=30)
    assert digest.sections[1].total == 40 and len(digest.sections[1].companies) == 30
    assert "  … and 10 more" in render(digest, "text")[0]
    assert len(list(csv.DictReader(io.StringIO(render(digest, "csv")[0])))) == 30
    html = render(digest, "html")[0]
    assert html.count(">C014 <") == 1 and "C015" not in html and "… and 25 more" in html


def test_customers_have_their_own_section_and_never_count_as_prospects(
    store: Store, site: str
) -> None:
    insert(store, [
        score_row(site, "acme", "hot", 54, transition="newly_hot", previous_tier="warm"),
        score_row(site, "initech", "warm", 18, transition="newly_warm", previous_tier="cold"),
        score_row(site, "steady", "warm", 15),
        score_row(site, "hooli", "warm", 30, is_customer=1, company_name="Hooli Customer"),
        score_row(site, "dormant", "cold", 2, is_customer=1),  # a customer showing no interest
    ])  # fmt: skip
    digest = build_digest(store, site, DAY)
    t = digest.totals
    assert (t.hot, t.warm, t.cold, t.customers, t.prospects) == (1, 2, 0, 2, 3)
    assert digest.summary == (
        "1 newly hot, 1 newly warm · 1 hot, 2 warm, 0 cold of 3 prospects "
        "· 2 customers, 1 showing interest"
    )
    customers = digest.sections[-1]
    assert (customers.key, customers.title, customers.total) == (
        "customers", "Customers — expansion interest", 1)  # fmt: skip
    assert [c.key for c in customers.companies] == ["hooli"]
    assert all(c.key != "hooli" for s in digest.sections[:-1] for c in s.companies)

    text = render(digest, "text")[0]
    assert (
        "\nCUSTOMERS — EXPANSION INTEREST (1)\n  Hooli Customer (hooli.example · DE) · warm" in text
    )
    assert "## Customers — expansion interest (1)" in render(digest, "markdown")[0]
    assert ">Customers — expansion interest <span" in render(digest, "html")[0]
    doc = json.loads(render(digest, "json")[0])
    assert doc["sections"][-1]["key"] == "customers"
    assert doc["sections"][-1]["companies"][0]["is_customer"] is True
    assert doc["totals"] == {"companies": 5, "hot": 1, "warm": 2, "cold": 0, "customers": 2,
                             "customers_interested": 1}  # fmt: skip
    rows = list(csv.DictReader(io.StringIO(render(digest, "csv")[0])))
    assert [r["section"] for r in rows] == ["newly_hot", "newly_warm", "customers"]
    slack = render_slack(digest)
    texts = [b["text"]["text"] for b in slack["blocks"] if b["type"] == "section"]
    at = texts.index("*Customers — expansion interest* (1)")
    assert texts[at + 1].startswith("*Hooli Customer*")
    assert email_subject(digest).endswith(
        ": 1 newly hot, 1 newly warm, 1 customer showing interest"
    )


def test_each_section_is_in_the_reps_order(store: Store, site: str) -> None:
    """Freshest buying signal (the site's day), then fit, then score: a company that asked for
    a demo this morning comes before a higher score whose last pricing visit was days ago."""
    tokyo_today = datetime(2026, 11, 19, 16, tzinfo=UTC)  # 01:00 on the 20th in Tokyo
    insert(store, [
        score_row(site, "falling", "hot", 95, buying_at=ch_time(datetime(2026, 11, 17, 9, tzinfo=UTC))),
        score_row(site, "fresh", "hot", 55, buying_at=ch_time(tokyo_today)),
        score_row(site, "fresher", "hot", 52, buying_at=ch_time(datetime(2026, 11, 20, 8, tzinfo=UTC))),
        score_row(site, "higher", "hot", 60, buying_at=ch_time(datetime(2026, 11, 20, 1, tzinfo=UTC))),
        score_row(site, "none", "hot", 99),  # no buying signal in the window (a stale row)
    ])  # fmt: skip
    hot = build_digest(store, site, DAY, timezone="Asia/Tokyo").sections[1]
    # in Tokyo all three are the 20th: by score among them
    assert [c.key for c in hot.companies] == ["higher", "fresh", "fresher", "falling", "none"]
    hot = build_digest(store, site, DAY, timezone="UTC").sections[1]
    assert [c.key for c in hot.companies] == ["higher", "fresher", "fresh", "falling", "none"]
    assert hot.companies[0].to_dict()["buying_signal_at"] == "2026-11-20T01:00:00.000Z"
    assert hot.companies[-1].to_dict()["buying_signal_at"] is None


def test_last_seen_has_the_sites_zone_and_how_long_ago(store: Store, site: str) -> None:
    seen = datetime.now(UTC) - timedelta(hours=2, minutes=5)
    insert(store, [score_row(site, "acme", "hot", 54, transition="newly_hot", last_seen=seen)])
    digest = build_digest(store, site, DAY, timezone="America/New_York")
    local = seen.astimezone(ZoneInfo("America/New_York")).strftime("%Y-%m-%d %H:%M %Z")
    expected = f"last seen {local} · 2 h ago"
    assert local.endswith((" EST", " EDT"))
    assert expected in render(digest, "text")[0]
    assert expected in render(digest, "html")[0]
    assert expected in render(digest, "markdown")[0]
    assert expected in str(render_slack(digest)["blocks"])
    # JSON and CSV keep the one machine format: UTC with milliseconds
    assert json.loads(render(digest, "json")[0])["sections"][0]["companies"][0][
        "last_seen"
    ].endswith("Z")
