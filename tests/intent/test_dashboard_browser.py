"""The dashboard in real headless Chromium: sign in, see tiers, open a company, no console
errors (a CSP violation would be one), readable on a phone. Takes docs/dashboard.png when
INTENT_UPDATE_SCREENSHOT=1 (otherwise into the test's tmp dir, so tests never dirty the clone)."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, BrowserContext, Page

from collector.settings import Settings
from collector.store import Store, ch_time
from intent.accounts.fields import parse_update
from intent.accounts.table import upsert
from tests.conftest import LiveServer, SettingsFactory
from tests.intent.dashboard_data import PASSWORD, REALISTIC, Company, make_user, seed
from tests.intent.scores import score_row, write_scores

pytestmark = pytest.mark.browser
Serve = Callable[[Settings], LiveServer]
SCREENSHOT = Path(__file__).parents[2] / "docs" / "dashboard.png"


class Watched:
    """A page whose console errors, page errors, failed requests and dialogs are recorded."""

    def __init__(self, context: BrowserContext) -> None:
        self.page: Page = context.new_page()
        self.problems: list[str] = []
        self.dialogs: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.problems.append(m.text))
        self.page.on("pageerror", lambda e: self.problems.append(str(e)))
        # a request cut short by the next navigation (net::ERR_ABORTED) is not a failure
        self.page.on("requestfailed", lambda r: "ERR_ABORTED" not in (r.failure or "")
                     and self.problems.append(f"failed {r.url}: {r.failure}"))  # fmt: skip
        self.page.on(
            "response", lambda r: r.status >= 400 and self.problems.append(f"{r.status} {r.url}")
        )

        def dialog(d: object) -> None:
            self.dialogs.append(getattr(d, "message", "?"))
            d.dismiss()  # type: ignore[attr-defined]

        self.page.on("dialog", dialog)


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, device_scale_factor=1)
    yield ctx
    ctx.close()


def sign_in(w: Watched, base: str, email: str) -> None:
    w.page.goto(base + "/dashboard/")
    assert w.page.url.startswith(base + "/dashboard/login?next=")
    w.page.fill("#email", email)
    w.page.fill("#password", PASSWORD)
    w.page.click("text=Sign in >> nth=1")  # the button, not the heading
    w.page.wait_for_load_state()


def test_sign_in_see_tiers_open_a_company(context: BrowserContext, make_settings: SettingsFactory,
                                          serve: Serve, store: Store, tmp_path: Path) -> None:  # fmt: skip
    site = "www.example-saas.com"  # a realistic name for the screenshot; once per session
    server = serve(make_settings(site))
    seed(store, site)
    w = Watched(context)
    sign_in(w, server.url, make_user(store, site))
    assert w.page.url == f"{server.url}/dashboard/sites/{site}/companies"
    assert w.page.locator(".tiers a.tier-hot b").inner_text() == "2"
    assert w.page.locator(".tiers a.tier-warm b").inner_text() == "3"
    assert w.page.locator("table.companies tbody tr").count() == 9
    first = w.page.locator("table.companies tbody tr").first
    assert (
        "Acme Corporation" in first.inner_text()
        and first.locator(".tier").inner_text().lower() == "hot"
    )
    # the stylesheet applied (no inline styles are allowed, so this proves it loaded)
    bg = w.page.locator(".tier.tier-hot").first.evaluate("e => getComputedStyle(e).backgroundColor")
    assert bg == "rgb(217, 72, 15)"

    shot = tmp_path / "dashboard.png"
    w.page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    if os.environ.get("INTENT_UPDATE_SCREENSHOT") == "1":
        shutil.copyfile(shot, SCREENSHOT)

    w.page.click(".tiers a.tier-warm")
    assert w.page.locator("table.companies tbody tr").count() == 3
    w.page.click(".tiers a >> nth=0")
    w.page.fill("input[name=q]", "globex")
    w.page.click("button:has-text('Filter')")
    assert w.page.locator("table.companies tbody tr").count() == 1

    w.page.click("table.companies a:has-text('Globex')")
    assert w.page.locator("h1").inner_text().startswith("Globex")
    assert w.page.locator("svg.chart circle").count() == 6
    assert w.page.locator("ul.reasons li").first.inner_text() == "3 visitors"
    assert w.page.locator("ol.timeline > li").count() == 3
    assert "Salesforce integration" in w.page.locator("section", has_text="Pages").last.inner_text()

    for tab in ("Digest", "Coverage", "Dropped", "Install", "Companies"):
        w.page.click(f"nav.tabs >> text={tab}")
        assert w.page.locator("nav.tabs a[aria-current=page]").inner_text() == tab

    w.page.click("button:has-text('Sign out')")
    w.page.wait_for_url(f"{server.url}/dashboard/login")
    w.page.goto(f"{server.url}/dashboard/sites/{site}/companies")
    assert "/dashboard/login" in w.page.url
    assert w.problems == [] and w.dialogs == []


LONG_DOMAIN = "procurement-and-logistics-intelligence.international-holdings-group.example.co.uk"
# The text of each line an element is laid out on (a new line: a character's top moves down).
LINES = """e => {
  const lines = []; let top = null;
  const walk = document.createTreeWalker(e, NodeFilter.SHOW_TEXT);
  for (let n = walk.nextNode(); n; n = walk.nextNode()) {
    for (let i = 0; i < n.length; i++) {
      const r = document.createRange(); r.setStart(n, i); r.setEnd(n, i + 1);
      const t = Math.round(r.getBoundingClientRect().top);
      if (top === null || t > top + 2) { lines.push(""); top = t; }
      lines[lines.length - 1] += n.data[i];
    }
  }
  return lines;
}"""


def test_a_phone_reads_the_list_a_company_and_the_digest_without_sideways_scrolling(
    browser: Browser, server: LiveServer, store: Store, site: str
) -> None:
    """390 px (an iPhone 14): a long domain wraps at its dots, and the digest is in the page
    with no frame and no scroll bar of its own."""
    long = Company(LONG_DOMAIN, "", LONG_DOMAIN, "GB", "hot", [10, 30, 60],
                   ["demo_request today (+20)", "pricing ×4 (+30)"], 2, "newly_hot",
                   [("/pricing/enterprise-plan-comparison-for-procurement-teams", "Pricing")])  # fmt: skip
    seed(store, site, [*REALISTIC, long])
    ctx = browser.new_context(
        viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True
    )
    try:
        w = Watched(ctx)
        sign_in(w, server.url, make_user(store, site))
        base = f"{server.url}/dashboard/sites/{site}"
        for path in ("/companies", f"/companies/{LONG_DOMAIN}", "/digest"):
            w.page.goto(base + path)
            width = w.page.evaluate("document.documentElement.scrollWidth")
            wide = w.page.evaluate(
                "[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > 390)"
                ".map(e => e.tagName + '.' + e.className + ' ' + (e.textContent || '').slice(0, 60)).slice(-5)"
            )
            assert width <= 390, f"{path} is {width}px wide on a 390px phone: {wide}"
        w.page.goto(base + "/companies")
        link = w.page.locator("table.companies a", has_text="international-holdings").first
        assert link.inner_text() == LONG_DOMAIN  # nothing added to what a rep copies
        lines = link.evaluate(LINES)
        assert len(lines) >= 2 and "".join(lines) == LONG_DOMAIN, lines  # it wrapped...
        # ...before a dot or after a hyphen, never mid-word
        assert all(a.endswith("-") or b.startswith(".") for a, b in pairwise(lines)), lines
        assert any(line.startswith(".") for line in lines[1:]), lines
        w.page.goto(base + "/digest")
        assert w.page.locator("iframe").count() == 0
        assert w.page.locator("main .digest", has_text=LONG_DOMAIN).count() == 1
        assert w.page.locator("main .digest", has_text="Acme Corporation").count() == 1
        # the email's own inline styles apply (the page's policy lets style attributes through)
        badge = w.page.locator("main .digest span", has_text="hot").first
        assert badge.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(201, 42, 42)"
        # the page scrolls as one: nothing in the digest has a scroll bar of its own
        inner = w.page.evaluate(
            "[...document.querySelectorAll('main .digest *')].filter("
            "e => e.scrollHeight > e.clientHeight + 1 && getComputedStyle(e).overflowY !== 'visible').length"
        )
        assert inner == 0
        assert w.problems == [] and w.dialogs == []  # no CSP violation either
    finally:
        ctx.close()


def test_wrong_password_shows_an_error(
    context: BrowserContext, server: LiveServer, store: Store, site: str
) -> None:
    email = make_user(store, site)
    w = Watched(context)
    w.page.goto(server.url + "/dashboard/login")
    w.page.fill("#email", email)
    w.page.fill("#password", "not the password")
    w.page.click("text=Sign in >> nth=1")
    assert "did not match" in w.page.locator(".error").inner_text()
    # the refused form answers 401, which Chromium logs; nothing else may go wrong
    assert [p for p in w.problems if "401" not in p] == []


def test_readable_on_a_phone(browser: Browser, server: LiveServer, store: Store, site: str) -> None:
    seed(store, site)
    ctx = browser.new_context(
        viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True
    )
    try:
        w = Watched(ctx)
        sign_in(w, server.url, make_user(store, site))
        for path in ("companies", "companies/acme.com", "coverage", "dropped", "install"):
            w.page.goto(f"{server.url}/dashboard/sites/{site}/{path}")
            overflow = w.page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"{path} scrolls sideways by {overflow}px on a phone"
        w.page.goto(f"{server.url}/dashboard/sites/{site}/companies")
        # one card per company: the header row is hidden and cells are labelled
        assert not w.page.locator("table.companies thead").is_visible()
        label = w.page.locator("table.companies td").first.evaluate(
            "e => getComputedStyle(e, '::before').content"
        )
        assert label == '"Company"'
        assert w.problems == []
    finally:
        ctx.close()


def test_fit_column_owner_filter_and_my_accounts(
    context: BrowserContext, make_settings: SettingsFactory, serve: Serve, store: Store, site: str
) -> None:
    email = f"sales-{site}@example.com"  # the signed-in rep owns Acme through a mapped name
    toml = (f'[sites."{site}"]\ndomains = ["example.com"]\n[sites."{site}".owners]\n'
            f'"Rita Rep" = "{email}"\n"Bob Jones" = "bob@ourco.example"\n'
            f'[sites."{site}".fit]\ncountries = ["US"]\n')  # fmt: skip
    server = serve(make_settings(toml=toml))
    seed(store, site)
    upsert(store, site, [parse_update(a) for a in (
        {"domain": "acme.com", "name": "Acme Corporation", "owner": "Rita Rep", "country": "US"},
        {"domain": "globex.io", "name": "Globex", "owner": "Bob Jones", "country": "DE"},
        {"domain": "initech.com", "name": "Initech", "owner": "Carla Díaz", "country": "US"},
    )])  # fmt: skip
    w = Watched(context)
    sign_in(w, server.url, make_user(store, site))
    rows = w.page.locator("table.companies tbody tr")
    assert rows.count() == 9
    acme = rows.filter(has_text="Acme Corporation")
    assert acme.locator("td.fit").inner_text() == "A"
    assert acme.locator("td.fit .grade").get_attribute("title") == "US ✓"
    assert "Rita Rep" in acme.locator("small.owner").inner_text()
    assert rows.filter(has_text="Globex").locator("td.fit").inner_text() == "B"  # DE ✗

    w.page.click(".tiers a.mine")  # My accounts: only hers
    assert w.page.locator(".tiers a.mine").get_attribute("aria-current") == "true"
    assert [t.split("\n")[0] for t in rows.all_inner_texts()] == ["Acme Corporation"]

    w.page.select_option("select[name=owner]", "bob@ourco.example")
    w.page.click("button:has-text('Filter')")
    assert rows.count() == 1 and "Globex" in rows.first.inner_text()
    w.page.select_option("select[name=owner]", "none")  # unowned: Carla is not mapped
    w.page.click("button:has-text('Filter')")
    assert rows.count() == 7 and rows.filter(has_text="Initech").count() == 1
    w.page.select_option("select[name=fit]", "A")
    w.page.click("button:has-text('Filter')")
    names = {t.split("\n")[0] for t in rows.all_inner_texts()}
    assert "Initech" in names and "Acme Corporation" not in names  # unowned and US
    assert all(g == "A" for g in rows.locator("td.fit").all_inner_texts())
    # The tier links keep the filters.
    assert "owner=none" in (w.page.locator(".tiers a.tier-hot").get_attribute("href") or "")
    assert w.problems == [] and w.dialogs == []


def test_customers_have_their_own_tab_and_the_list_puts_todays_call_first(
    context: BrowserContext, make_settings: SettingsFactory, serve: Serve, store: Store,
    site: str,
) -> None:  # fmt: skip
    toml = f'[sites."{site}"]\ndomains = ["example.com"]\ntimezone = "Asia/Tokyo"\n'
    server = serve(make_settings(site, toml=toml))
    now = datetime.now(UTC)
    today = now.astimezone(ZoneInfo("Asia/Tokyo")).date()
    at = lambda hours: ch_time(now - timedelta(hours=hours))  # noqa: E731
    row = lambda key, score, tier, **extra: score_row(site, key, score, tier, day=today, **extra)  # noqa: E731
    write_scores(store, [
        row("falling.example", 95.0, "hot", transition="still_hot", buying_at=at(72), last_seen=at(30)),
        row("fresh.example", 70.0, "hot", transition="still_hot", buying_at=at(1), last_seen=at(1)),
        row("newly.example", 52.0, "hot", transition="newly_hot", buying_at=at(2), last_seen=at(2)),
        row("warm1.example", 30.0, "warm"),
        row("warm2.example", 25.0, "warm"),
        row("client.example", 35.0, "warm", is_customer=1),  # logs in to the app
        row("crmclient.example", 80.0, "hot", is_customer=1),  # CRM stage customer
    ])  # fmt: skip
    w = Watched(context)
    sign_in(w, server.url, make_user(store, site))
    tabs = {t: w.page.locator(f".tiers a.{t} b").inner_text()
            for t in ("tier-hot", "tier-warm", "segment-customers")}  # fmt: skip
    assert tabs == {"tier-hot": "3", "tier-warm": "2", "segment-customers": "2"}
    assert w.page.locator(".tiers a >> nth=0").inner_text() == "All 5"
    listed = w.page.locator("table.companies tbody tr td[data-label=Company] > a").all_inner_texts()
    assert listed == ["Newly", "Fresh", "Falling", "Warm1", "Warm2"]  # no customer among them
    seen = w.page.locator("table.companies tbody tr >> nth=0").locator("td.last-seen")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d JST\s+2 h ago", seen.inner_text())
    assert "(Asia/Tokyo)" in (w.page.locator("table.companies thead").text_content() or "")

    w.page.click(".tiers a.segment-customers")
    assert w.page.locator("h2").inner_text() == "Customers — expansion interest"
    customers = w.page.locator("table.companies tbody tr td[data-label=Company] > a")
    assert customers.all_inner_texts() == ["Crmclient", "Client"]
    assert w.page.locator(".tiers a[aria-current]").inner_text() == "Customers 2"
    w.page.fill("input[name=q]", "crm")  # the search stays within customers
    w.page.click("button:has-text('Filter')")
    assert customers.all_inner_texts() == ["Crmclient"]
    assert w.problems == [] and w.dialogs == []
