"""The snippet in a real headless Chromium, against the real collector (uvicorn on loopback, chDB).

What the browser sent is read from Playwright's record of the requests; what was stored is read
from ClickHouse. A check that something was NOT sent waits for a later beacon (a barrier) from the
same test first, so it cannot pass just by looking too early.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Route

from collector.settings import Settings
from collector.store import Store
from tests.conftest import LiveServer, SettingsFactory
from tests.snippet.browsing import Site, Visit, assert_clean, events, html, tag

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]

AUTOMATED = "data-allow-automation"
TALL = '<div style="height:5000px">long page</div><a id="next" href="/other">next</a>'


def barrier(v: Visit, web: Site, collector: str, site: str, name: str = "barrier") -> None:
    """Load a counted page in `v` and wait until its beacon was sent: whatever the browser sent
    before it has been recorded by then."""
    page = v.context.new_page()
    page.goto(web.add(f"/{name}", html(name, tag(collector, site, AUTOMATED))))
    assert v.wait(lambda: any(b.get("url", "").endswith(f"/{name}") for b in v.seen.beacons))


def test_pageview_lands_with_url_title_referrer_once(
    server: LiveServer, store: Store, site: str, website: Site, visit: Callable[..., Visit]
) -> None:
    v, web = visit(), website
    page = v.context.new_page()
    start = web.add(
        "/start", html("Start", body='<a id="go" href="/pricing?utm_source=news">pricing</a>')
    )
    web.add("/pricing", html("Pricing", tag(server.url, site, AUTOMATED)))
    page.goto(start)
    page.click("#go")
    page.wait_for_url("**/pricing?utm_source=news")
    barrier(v, web, server.url, site)
    assert [b["url"] for b in v.seen.of_type("pageview")] == [
        web.url + "/pricing?utm_source=news",
        web.url + "/barrier",
    ]
    rows = events(store, server, site, 2)
    first = rows[0]
    assert first["type"] == "pageview"
    assert first["url"] == web.url + "/pricing?utm_source=news"
    assert first["path"] == "/pricing"
    assert first["title"] == "Pricing"
    assert first["referrer"] == start
    assert first["browser"] == "Chrome"
    assert [r["path"] for r in rows if r["type"] == "pageview"] == ["/pricing", "/barrier"]
    assert_clean(v)


def test_spa_navigation_counts_each_new_path_once(
    server: LiveServer, store: Store, site: str, website: Site, visit: Callable[..., Visit]
) -> None:
    v, web = visit(), website
    page = v.context.new_page()
    page.goto(web.add("/app", html("Home", tag(server.url, site, AUTOMATED), TALL)))
    # A router that rewrites state on start, or changes only the query, adds no view.
    page.evaluate("history.replaceState({ready: 1}, '', location.href)")
    page.evaluate("history.pushState({}, '', '/app/pricing'); document.title = 'Pricing'")
    page.evaluate("history.pushState({tab: 1}, '', '/app/pricing?tab=annual')")
    # A redirect (push, then replace at once) is one view, of where it landed.
    page.evaluate(
        "history.pushState({}, '', '/app/redirecting'); history.replaceState({}, '', '/app/docs');"
        "document.title = 'Docs'"
    )
    assert v.wait(lambda: len(v.seen.of_type("pageview")) == 3)
    page.go_back()  # the back button: popstate to /app/pricing?tab=annual
    assert v.wait(lambda: len(v.seen.of_type("pageview")) == 4)
    barrier(v, web, server.url, site)

    views = [
        (
            b["url"].removeprefix(web.url),
            b.get("title"),
            b.get("referrer", "").removeprefix(web.url),
        )
        for b in v.seen.of_type("pageview")
    ]
    assert views == [
        ("/app", "Home", ""),
        ("/app/pricing", "Pricing", "/app"),
        ("/app/docs", "Docs", "/app/pricing"),
        ("/app/pricing?tab=annual", "Docs", "/app/docs"),
        ("/barrier", "barrier", ""),
    ]
    # Each page left by navigation sends its engagement first.
    assert [b["url"].removeprefix(web.url) for b in v.seen.of_type("engagement")] == [
        "/app",
        "/app/pricing",
        "/app/docs",
    ]
    rows = events(store, server, site, 8)
    assert [r["path"] for r in rows if r["type"] == "pageview"] == [
        "/app",
        "/app/pricing",
        "/app/docs",
        "/app/pricing",
        "/barrier",
    ]
    assert_clean(v)


@pytest.mark.parametrize("leave", ["close", "navigate"])
def test_engagement_sent_once_when_the_page_is_left(
    server: LiveServer,
    store: Store,
    site: str,
    website: Site,
    visit: Callable[..., Visit],
    leave: str,
) -> None:
    v, web = visit(), website
    page = v.context.new_page()
    page.goto(web.add("/long", html("Long", tag(server.url, site, AUTOMATED), TALL)))
    page.evaluate("window.scrollTo(0, 2000)")
    page.wait_for_timeout(300)  # visible time on the page, so engaged_ms is at least this
    page.evaluate("window.scrollTo(0, 100)")  # depth is the deepest point, not the last
    expected = page.evaluate(
        "Math.floor((2000 + innerHeight) * 100 / document.documentElement.scrollHeight)"
    )
    assert 0 < expected < 100
    if leave == "close":
        page.close(run_before_unload=True)
    else:
        page.goto(web.add("/plain", html("Plain")))  # pagehide, then visibilitychange to hidden
    rows = events(store, server, site, 2)
    engagement = [r for r in rows if r["type"] == "engagement"]
    assert len(engagement) == 1, rows
    assert engagement[0]["engaged_ms"] >= 300
    assert engagement[0]["scroll"] == expected
    assert engagement[0]["path"] == "/long"
    barrier(v, web, server.url, site)
    rows = events(store, server, site, 3)
    assert [r["type"] for r in rows].count("engagement") == 1, rows


def test_custom_event_and_identify_send_the_domain_only(
    server: LiveServer, store: Store, site: str, website: Site, visit: Callable[..., Visit]
) -> None:
    v, web = visit(), website
    page = v.context.new_page()
    bodies: list[str] = []

    def record(route: Route) -> None:
        bodies.append(route.request.post_data or "")
        route.continue_()

    page.route("**/api/event", record)
    page.goto(web.add("/demo", html("Demo", tag(server.url, site, AUTOMATED))))
    page.evaluate("intent('event', 'demo_request', {plan: 'pro', seats: 12})")
    page.evaluate("intent('identify', {email: 'Jane.Doe@Northwind.example'})")
    page.evaluate("intent('identify', 'sam@contoso.example')")
    # Calls of the wrong shape do nothing and never throw into the page.
    page.evaluate(
        "const loop = {}; loop.self = loop; intent('event', 'bad', loop); intent('identify');"
        "intent('identify', 42); intent()"
    )
    assert v.wait(lambda: len(bodies) >= 4)
    identify = [b for b in bodies if '"identify"' in b]
    assert len(identify) == 2
    for body in identify:
        assert "@" not in body and "Jane" not in body and "sam" not in body
    assert json.loads(identify[0])["domain"] == "Northwind.example"
    assert json.loads(identify[1])["domain"] == "contoso.example"

    rows = events(store, server, site, 4)
    [event] = [r for r in rows if r["type"] == "event"]
    assert event["name"] == "demo_request"
    assert json.loads(event["props"]) == {"plan": "pro", "seats": 12}
    assert event["path"] == "/demo"
    assert sorted(r["company_domain"] for r in rows if r["type"] == "identify") == [
        "contoso.example",
        "northwind.example",
    ]
    assert_clean(v)


def test_calls_queued_before_the_script_loads_are_delivered(
    server: LiveServer, store: Store, site: str, website: Site, visit: Callable[..., Visit]
) -> None:
    v, web = visit(), website
    stub = (
        "<script>window.intent = window.intent || function () {"
        " (intent.q = intent.q || []).push(arguments) };"
        " intent('event', 'early_call', {from: 'queue'});"
        " intent('identify', {email: 'ops@early.example'});</script>"
    )
    page = v.context.new_page()
    page.goto(web.add("/queued", html("Queued", stub + tag(server.url, site, AUTOMATED))))
    rows = events(store, server, site, 3)
    assert sorted(r["type"] for r in rows) == ["event", "identify", "pageview"]
    [event] = [r for r in rows if r["type"] == "event"]
    assert (event["name"], json.loads(event["props"])) == ("early_call", {"from": "queue"})
    assert [r["company_domain"] for r in rows if r["type"] == "identify"] == ["early.example"]
    assert [b["type"] for b in v.seen.beacons] == ["pageview", "event", "identify"]
    assert_clean(v)


def test_two_copies_of_the_tag_count_once(
    server: LiveServer, store: Store, site: str, website: Site, visit: Callable[..., Visit]
) -> None:
    v, web = visit(), website
    twice = tag(server.url, site, AUTOMATED) + tag(
        server.url, site, AUTOMATED, src=server.url + "/js/intent.js?v=2"
    )
    page = v.context.new_page()
    page.goto(web.add("/twice", html("Twice", twice)))
    page.evaluate("intent('event', 'clicked_once')")
    barrier(v, web, server.url, site)
    assert [(b["type"], b["url"].removeprefix(web.url)) for b in v.seen.beacons] == [
        ("pageview", "/twice"),
        ("event", "/twice"),
        ("pageview", "/barrier"),
    ]
    rows = events(store, server, site, 3)
    assert sorted((r["type"], r["path"]) for r in rows) == [
        ("event", "/twice"),
        ("pageview", "/barrier"),
        ("pageview", "/twice"),
    ]
    assert_clean(v)


def test_opt_out_flag_stops_everything(
    server: LiveServer, store: Store, site: str, website: Site, visit: Callable[..., Visit]
) -> None:
    v, web = visit(), website
    page = v.context.new_page()
    page.goto(web.add("/optout", html("Opt out", tag(server.url, site, AUTOMATED), TALL)))
    assert v.wait(lambda: len(v.seen.beacons) == 1)
    # The documented way: in the browser console on the site. It works at once, without a reload.
    page.evaluate("localStorage.intent_ignore = 'true'")
    page.evaluate("intent('event', 'ignored'); intent('identify', {email: 'me@ignored.example'})")
    page.evaluate("window.scrollTo(0, 3000); history.pushState({}, '', '/optout/next')")
    page.reload()  # no engagement for the view being left, no view of the reloaded page
    page.close()
    barrier(visit(), web, server.url, site)  # a visitor who did not opt out
    assert [b["type"] for b in v.seen.beacons] == ["pageview"]
    rows = events(store, server, site, 2)
    assert [(r["type"], r["path"]) for r in rows] == [
        ("pageview", "/optout"),
        ("pageview", "/barrier"),
    ]


GPC = "Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', {get: () => true})"
DNT = "Object.defineProperty(Navigator.prototype, 'doNotTrack', {get: () => '1'})"


@pytest.mark.parametrize("signal", [GPC, DNT], ids=["gpc", "dnt"])
def test_dnt_and_gpc_respected_when_the_tag_asks(
    server: LiveServer,
    store: Store,
    site: str,
    website: Site,
    visit: Callable[..., Visit],
    signal: str,
) -> None:
    v, web = visit(), website
    v.context.add_init_script(signal)  # the visitor's browser setting
    page = v.context.new_page()
    page.goto(
        web.add("/private", html("Private", tag(server.url, site, AUTOMATED, "data-respect-dnt")))
    )
    assert page.evaluate("typeof intent") == "function"
    page.evaluate("intent('event', 'ignored')")
    # The same visitor on a tag that does not ask to respect the signal is counted.
    page.goto(web.add("/default", html("Default", tag(server.url, site, AUTOMATED))))
    assert v.wait(lambda: len(v.seen.beacons) >= 1)
    assert [(b["type"], b["url"].removeprefix(web.url)) for b in v.seen.beacons] == [
        ("pageview", "/default")
    ]
    rows = events(store, server, site, 1)
    assert [(r["type"], r["path"]) for r in rows] == [("pageview", "/default")]


def test_automated_browsers_are_not_counted_unless_the_tag_allows(
    server: LiveServer, store: Store, site: str, website: Site, visit: Callable[..., Visit]
) -> None:
    v, web = visit(), website
    page = v.context.new_page()
    assert page.evaluate("navigator.webdriver") is True
    page.goto(web.add("/robot", html("Robot", tag(server.url, site))))
    assert page.evaluate("typeof intent") == "function"
    page.evaluate("intent('event', 'robot_click')")
    page.close()
    barrier(v, web, server.url, site)
    assert [b["url"].removeprefix(web.url) for b in v.seen.beacons] == ["/barrier"]
    assert [r["path"] for r in events(store, server, site, 1)] == ["/barrier"]


def test_file_pages_send_nothing(
    server: LiveServer,
    store: Store,
    site: str,
    website: Site,
    visit: Callable[..., Visit],
    tmp_path: Path,
) -> None:
    v, web = visit(), website
    saved = tmp_path / "saved.html"
    saved.write_text(html("Saved", tag(server.url, site, AUTOMATED)), encoding="utf-8")
    page = v.context.new_page()
    page.goto(saved.as_uri())
    assert page.evaluate("typeof intent") == "function"
    page.evaluate("intent('event', 'offline')")
    page.close()
    barrier(v, web, server.url, site)
    assert [b["url"].removeprefix(web.url) for b in v.seen.beacons] == ["/barrier"]
    assert [r["path"] for r in events(store, server, site, 1)] == ["/barrier"]


def test_localhost_is_counted_only_when_the_site_lists_it(
    make_settings: SettingsFactory,
    serve: Callable[[Settings], LiveServer],
    store: Store,
    site: str,
    website: Site,
    visit: Callable[..., Visit],
) -> None:
    server = serve(make_settings(site, toml=f'[sites."{site}"]\ndomains = ["127.0.0.1"]\n'))
    v, web = visit(), website
    path = web.add("/local", html("Local", tag(server.url, site, AUTOMATED))).removeprefix(web.url)
    page = v.context.new_page()
    page.goto(web.url.replace("127.0.0.1", "localhost") + path)  # a developer's machine
    page.close()
    barrier(v, web, server.url, site)  # the same page on a listed host
    assert [b["url"] for b in v.seen.beacons] == [
        web.url.replace("127.0.0.1", "localhost") + "/local",
        web.url + "/barrier",
    ]
    assert [r["url"] for r in events(store, server, site, 1)] == [web.url + "/barrier"]


def test_self_hosted_script_sends_to_data_api(
    server: LiveServer, store: Store, site: str, website: Site, visit: Callable[..., Visit]
) -> None:
    v, web = visit(), website
    # The script served from the site's own origin, the beacons sent to the collector.
    own = tag(
        server.url, site, AUTOMATED, f'data-api="{server.url}/api/event"', src="/js/intent.js"
    )
    page = v.context.new_page()
    page.goto(web.add("/own", html("Own", own)))
    rows = events(store, server, site, 1)
    assert [(r["type"], r["path"]) for r in rows] == [("pageview", "/own")]
    assert_clean(v)


def test_back_to_a_previous_page_is_counted(
    server: LiveServer, store: Store, site: str, website: Site, visit: Callable[..., Visit]
) -> None:
    v, web = visit(), website
    page = v.context.new_page()
    body = '<a id="go" href="/second">second</a>'
    page.goto(web.add("/first", html("First", tag(server.url, site, AUTOMATED), body)))
    web.add("/second", html("Second", tag(server.url, site, AUTOMATED)))
    page.click("#go")
    page.wait_for_url("**/second")
    page.go_back()
    page.wait_for_url("**/first")
    assert v.wait(lambda: len(v.seen.of_type("pageview")) == 3)
    rows = events(store, server, site, 5)  # three views, and the engagement of each page left
    views = [r["path"] for r in rows if r["type"] == "pageview"]
    assert [r["path"] for r in rows if r["type"] == "engagement"] == ["/first", "/second"]
    # Playwright starts Chromium with its back/forward cache off, so the page loads again here;
    # the next test covers a restore from that cache.
    assert views == ["/first", "/second", "/first"]


def test_back_to_a_page_restored_from_the_back_forward_cache_is_counted(
    server: LiveServer, store: Store, site: str, website: Site
) -> None:
    web = website
    body = '<a id="go" href="/second">second</a>'
    first = web.add("/first", html("First", tag(server.url, site, AUTOMATED), body))
    web.add("/second", html("Second", tag(server.url, site, AUTOMATED)))
    run = subprocess.run(
        [sys.executable, "-m", "tests.snippet.bfcache_visit", first],
        cwd=ROOT, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    assert json.loads(run.stdout.strip().splitlines()[-1]) == {"restored": True}
    rows = events(store, server, site, 4)  # three views, the engagement of /first (and /second)
    assert [r["path"] for r in rows if r["type"] == "pageview"] == ["/first", "/second", "/first"]


def test_manual_pageview_for_hash_routers(
    server: LiveServer, store: Store, site: str, website: Site, visit: Callable[..., Visit]
) -> None:
    v, web = visit(), website
    page = v.context.new_page()
    page.goto(web.add("/hashapp", html("Hash app", tag(server.url, site, AUTOMATED))))
    page.evaluate("location.hash = '#/settings'")  # same path: not a page view by itself
    page.evaluate("intent('pageview')")
    barrier(v, web, server.url, site)
    views = [
        (b["url"].removeprefix(web.url), b["referrer"].removeprefix(web.url))
        for b in v.seen.of_type("pageview")
    ]
    assert views == [("/hashapp", ""), ("/hashapp#/settings", "/hashapp"), ("/barrier", "")]
