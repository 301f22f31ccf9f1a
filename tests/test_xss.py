"""An XSS payload corpus in every visitor-controlled field (page titles, URLs, referrers, user
agents' parsed names, company names, reasons) and in request parameters never executes in the
dashboard or the digest HTML, in real headless Chromium.

The browser runs with the Content-Security-Policy bypassed, so what is tested is the escaping
itself; the CSP is a second wall, asserted by the server-side tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest
from playwright.sync_api import Browser, BrowserContext, Dialog, Page

from collector import keys
from collector.store import Store
from intent import scoring
from tests.conftest import CHROME_UA, LiveServer
from tests.intent.dashboard_data import PASSWORD, Company, event_rows, make_user, score_rows

pytestmark = pytest.mark.browser

PAYLOADS = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(2)>',
    "javascript:alert(3)",
    "</title><svg onload=alert(4)>",
    "'><svg/onload=alert(5)>",
    "<iframe src=javascript:alert(6)></iframe>",
    '" onmouseover="alert(7)" autofocus onfocus="alert(8)',
    "</textarea></code></pre><script>alert(9)</script>",
    "<a href=javascript:alert(10)>click</a>",
    "{{ 7*7 }}${alert(11)}",
    "<math><mi//xlink:href=javascript:alert(12)>x",
    "<body onload=alert(13)>",
]
# Nothing a payload could create may exist in a page; our own markup has none of these.
INJECTED = (
    "script, img, iframe, object, embed, math, "
    "body [onload], [onerror], [onmouseover], [onfocus], [autofocus], a[href^='javascript'], "
    "svg:not(.chart)"
)


def xss_company(i: int, payload: str) -> Company:
    return Company(
        key=f"xss{i}.example" if i % 2 else payload,  # half of them have a payload as their key
        name=payload, domain=f"xss{i}.example", country="US", tier=("hot", "warm", "cold")[i % 3],
        scores=[5.0, 20.0, 45.0], reasons=[payload, f"pricing ×{i} (+{i})"], visitors=1,
        pages=[("/" + payload, payload), ("/pricing?q=" + payload, "Pricing " + payload)],
        events=[payload], referrer=payload,
    )  # fmt: skip


def seed_payloads(store: Store, site: str) -> list[Company]:
    companies = [xss_company(i, p) for i, p in enumerate(PAYLOADS)]
    events: list[dict[str, Any]] = []
    for i, c in enumerate(companies):
        events += event_rows(site, c, days=1, ua=(PAYLOADS[i], PAYLOADS[-1 - i], "desktop"))
    for e in events:
        e["url"] = "https://example.com/" + e["title"]
    store.insert_rows("company_scores", [r for c in companies for r in score_rows(site, c)])
    store.insert_rows("events", events)
    day = (datetime.now(UTC) - timedelta(hours=1)).date().isoformat()
    store.insert_rows(
        "dropped_events", [{"site": site, "day": day, "reason": p, "count": 1} for p in PAYLOADS]
    )
    return companies


class Guard:
    def __init__(self, context: BrowserContext) -> None:
        self.page: Page = context.new_page()
        self.dialogs: list[str] = []
        self.page.on("dialog", self._dialog)

    def _dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message} on {self.page.url}")
        dialog.dismiss()

    def visit(self, url: str, page: bool = True) -> str:
        self.page.goto(url)
        self.page.wait_for_load_state("load")
        injected = self.page.locator(INJECTED).count()
        assert injected == 0, f"{url}: {injected} injected element(s)"
        if page:  # a whole dashboard page rendered, not an empty or error body
            assert self.page.locator("main").count() == 1, url
        text: str = self.page.inner_text("body")
        return text


@pytest.fixture
def guard(browser: Browser) -> Iterator[Guard]:
    context = browser.new_context(bypass_csp=True)  # escaping alone must hold
    yield Guard(context)
    context.close()


def sign_in(g: Guard, base: str, email: str) -> None:
    g.page.goto(base + "/dashboard/login")
    g.page.fill("#email", email)
    g.page.fill("#password", PASSWORD)
    g.page.click("text=Sign in >> nth=1")
    g.page.wait_for_load_state()


def test_payloads_never_run_in_the_dashboard(
    guard: Guard, server: LiveServer, store: Store, site: str
) -> None:
    companies = seed_payloads(store, site)
    sign_in(guard, server.url, make_user(store, site))
    base = f"{server.url}/dashboard/sites/{quote(site)}"

    listing = guard.visit(base + "/companies")
    for p in PAYLOADS:
        assert p in listing, p  # shown as the text it is
    for p in PAYLOADS:
        text = guard.visit(
            base + "/companies?" + f"q={quote(p)}&country={quote(p)}&days={quote(p)}"
        )
        assert "Companies" in text

    for c in companies:
        text = guard.visit(f"{base}/companies/{quote(c.key, safe='')}")
        assert c.name in text and c.reasons[0] in text
        assert "/" + c.name in text  # the path, and its title
        assert c.referrer in text  # the referrer, as text (never a link)
        assert f"{c.name} on " in text  # the parsed user agent

    # the links to company pages lead to the right page even for hostile keys
    guard.visit(base + "/companies")
    hostile = guard.page.locator("table.companies a").filter(has_text=PAYLOADS[1]).first
    hostile.click()
    guard.page.wait_for_load_state()
    assert guard.page.locator("h1").inner_text().startswith(PAYLOADS[1])

    for page in ("/coverage", "/install"):
        guard.visit(base + page)
    dropped = guard.visit(base + "/dropped")
    assert all(p in dropped for p in PAYLOADS)

    text = guard.visit(base + "/digest")  # the digest as emailed, in the page
    assert sum(p in text for p in PAYLOADS) >= 3, text[:500]
    # its links (website, LinkedIn, the company's page) go where they should, whatever the name
    hrefs = guard.page.locator("main .digest a").evaluate_all("as => as.map(a => a.href)")
    assert hrefs and all(h.startswith(("https://www.linkedin.com/search/results/companies/?keywords=",
                                       "https://xss", f"{base}/companies/")) for h in hrefs), hrefs  # fmt: skip

    for p in PAYLOADS:
        # an unknown site: our 404 page, or the JSON 404 when the name holds a '/'
        guard.visit(
            f"{server.url}/dashboard/sites/{quote(p, safe='')}/companies", page="/" not in p
        )
        guard.visit(f"{server.url}/dashboard/?site={quote(p)}")
    assert guard.dialogs == []


def test_payloads_never_run_on_the_sign_in_page(guard: Guard, server: LiveServer) -> None:
    for p in PAYLOADS:
        guard.visit(f"{server.url}/dashboard/login?next={quote(p)}")
        guard.page.fill("#email", "x@example.com")
        guard.page.fill("#password", p)
        guard.page.click("text=Sign in >> nth=1")
        guard.page.wait_for_load_state()
        assert guard.page.locator(INJECTED).count() == 0
        assert guard.page.locator(".error").count() == 1
    assert guard.dialogs == []


def test_the_guard_would_see_an_injection(guard: Guard, server: LiveServer) -> None:
    """The detector itself works: unescaped markup is found and a dialog is recorded."""
    guard.page.set_content("<p>x</p><img src=x onerror=alert(1)>")
    for _ in range(100):  # the dialog arrives asynchronously
        if guard.dialogs:
            break
        guard.page.wait_for_timeout(50)
    assert guard.page.locator(INJECTED).count() == 1
    assert guard.dialogs and "alert: 1" in guard.dialogs[0]


def test_payloads_never_run_in_the_api_html_digest(
    browser: Browser, server: LiveServer, store: Store, site: str
) -> None:
    seed_payloads(store, site)
    token, _ = keys.create(store, [site], "read", "xss test")
    context = browser.new_context(
        bypass_csp=True, extra_http_headers={"Authorization": f"Bearer {token}"}
    )
    try:
        guard = Guard(context)
        text = guard.visit(f"{server.url}/api/v1/sites/{quote(site)}/digest/html", page=False)
        shown = [p for p in PAYLOADS if p in text]
        assert len(shown) >= 3, text[:500]  # the hot and warm companies, as text
        assert guard.page.locator("table, h1, h2, p").count() > 0  # it rendered as HTML
        assert guard.dialogs == []
    finally:
        context.close()


def test_payloads_from_real_beacons_never_run(
    guard: Guard, server: LiveServer, store: Store, site: str
) -> None:
    """The whole path: beacons with payloads in title, URL, referrer and user agent go through
    the real collector; the visitor identifies as a company; the real scoring run scores it."""
    ua = CHROME_UA + " " + PAYLOADS[3]
    for i, p in enumerate(PAYLOADS):
        r = server.post({"site": site, "type": "pageview", "title": p, "referrer": PAYLOADS[-1 - i],
                         "url": f"https://example.com/pricing/{quote(p, safe='')}?q={quote(p)}"}, ua=ua)  # fmt: skip
        assert r.status_code == 202 and r.json()["accepted"] == 1, r.text
    r = server.post({"site": site, "type": "identify", "domain": "xss-corp.example"}, ua=ua)
    assert r.status_code == 202 and r.json()["accepted"] == 1, r.text
    server.flush()
    config = server.collector.settings.sites[site]
    scored = scoring.score_site(store, config, datetime.now(UTC).date())
    assert [s.company_domain for s in scored] == ["xss-corp.example"]

    sign_in(guard, server.url, make_user(store, site))
    base = f"{server.url}/dashboard/sites/{quote(site)}"
    guard.visit(base + "/companies")
    guard.page.click("table.companies a")
    guard.page.wait_for_load_state()
    text = guard.visit(guard.page.url)
    for p in PAYLOADS:
        assert p in text, p  # each title (and its path, and the referrers) shown as text
    guard.visit(base + "/coverage")
    assert guard.dialogs == []
