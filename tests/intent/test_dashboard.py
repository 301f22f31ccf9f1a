"""The dashboard, server side: each page over real HTTP against the real app and real chDB."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from functools import partial
from html import unescape
from pathlib import Path

import httpx
import pytest
from starlette.requests import Request

from collector import keys
from collector.ratelimit import RateLimiter
from collector.settings import Settings
from collector.site_settings import site_today
from collector.store import Store
from intent import dashboard, dashboard_http, digest_render, signin, users
from intent.digest import build_digest
from intent.server import create_app
from tests.conftest import LiveServer, SettingsFactory, free_port, start_server
from tests.intent.dashboard_data import (
    PASSWORD,
    Company,
    event_rows,
    make_user,
    score_rows,
    seed,
    sign_in,
)

Serve = Callable[[Settings], LiveServer]


def _csrf(html: str) -> str:
    return html.split('name="csrf" value="', 1)[1].split('"', 1)[0]


def test_pages_need_sign_in_and_redirect_back(server: LiveServer, site: str) -> None:
    for path in ("/dashboard/", f"/dashboard/sites/{site}/companies?tier=hot",
                 f"/dashboard/sites/{site}/coverage", f"/dashboard/sites/{site}/companies/acme.com"):  # fmt: skip
        r = httpx.get(server.url + path)
        assert r.status_code == 303, path
        assert r.headers["location"].startswith("/dashboard/login?next=")
    r = httpx.get(server.url + "/")
    assert r.status_code == 307 and r.headers["location"] == "/dashboard/"


def test_sign_in_sets_a_strict_session_cookie(server: LiveServer, store: Store, site: str) -> None:
    email = make_user(store, site)
    client = httpx.Client(base_url=server.url)
    page = client.get("/dashboard/login")
    assert page.status_code == 200
    assert page.headers["content-security-policy"] == dashboard_http.CSP
    assert (
        "frame-ancestors 'none'" in dashboard_http.CSP and "script-src 'none'" in dashboard_http.CSP
    )
    target = f"/dashboard/sites/{site}/companies"
    r = client.post("/dashboard/login", data={"csrf": _csrf(page.text), "email": email.upper(),
                                              "password": PASSWORD, "next": target})  # fmt: skip
    assert r.status_code == 303 and r.headers["location"] == target
    cookie = next(c for c in r.headers.get_list("set-cookie") if c.startswith("intent_session="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/dashboard" in cookie
    assert "Secure" not in cookie  # plain http on loopback
    page = client.get(target)
    assert page.status_code == 200 and "Companies" in page.text
    again = client.get("/dashboard/login", params={"next": target})  # signed in: straight on
    assert again.status_code == 303 and again.headers["location"] == target
    assert "s…@example.com" in page.text  # the masked address, never the address itself


def test_wrong_password_unknown_user_and_bad_key_are_refused(
    server: LiveServer, store: Store, site: str
) -> None:
    email = make_user(store, site)
    client = httpx.Client(base_url=server.url)
    csrf = _csrf(client.get("/dashboard/login").text)
    for form in ({"email": email, "password": "not the password"},
                 {"email": "nobody@example.com", "password": PASSWORD},
                 {"api_key": "ik_not_a_real_key"}):  # fmt: skip
        r = client.post("/dashboard/login", data={"csrf": csrf, **form})
        assert r.status_code == 401, form
        assert "did not match" in r.text
        assert "intent_session" not in client.cookies


def test_sign_in_needs_the_csrf_token_and_our_origin(
    server: LiveServer, store: Store, site: str
) -> None:
    email = make_user(store, site)
    client = httpx.Client(base_url=server.url)
    csrf = _csrf(client.get("/dashboard/login").text)
    form = {"email": email, "password": PASSWORD}
    assert client.post("/dashboard/login", data=form).status_code == 403
    assert client.post("/dashboard/login", data={**form, "csrf": "forged"}).status_code == 403
    r = client.post(
        "/dashboard/login", data={**form, "csrf": csrf}, headers={"Origin": "https://evil.example"}
    )
    assert r.status_code == 403
    r = client.post("/dashboard/login", data={**form, "csrf": csrf}, headers={"Origin": server.url})
    assert r.status_code == 303


def test_next_never_leaves_the_dashboard(server: LiveServer, store: Store, site: str) -> None:
    email = make_user(store, site)
    for evil in (
        "https://evil.example/",
        "//evil.example/x",
        "/dashboard/\\evil",
        "javascript:alert(1)",
    ):
        client = httpx.Client(base_url=server.url)
        csrf = _csrf(client.get("/dashboard/login", params={"next": evil}).text)
        r = client.post(
            "/dashboard/login",
            data={"csrf": csrf, "email": email, "password": PASSWORD, "next": evil},
        )
        assert r.headers["location"] == "/dashboard/", evil


def test_secure_cookie_behind_a_trusted_https_proxy_only(make_settings: SettingsFactory, serve: Serve,
                                                         store: Store, site: str) -> None:  # fmt: skip
    live = serve(make_settings(site, INTENT_TRUSTED_PROXIES="127.0.0.1/32"))
    email = make_user(store, site)
    client = httpx.Client(base_url=live.url)
    csrf = _csrf(client.get("/dashboard/login").text)
    r = client.post("/dashboard/login", headers={"X-Forwarded-Proto": "https"},
                    data={"csrf": csrf, "email": email, "password": PASSWORD})  # fmt: skip
    cookie = next(c for c in r.headers.get_list("set-cookie") if c.startswith("intent_session="))
    assert "Secure" in cookie

    untrusted = serve(make_settings(site))  # no trusted proxies: the headers are ignored
    client = httpx.Client(base_url=untrusted.url)
    csrf = _csrf(client.get("/dashboard/login").text)
    r = client.post("/dashboard/login", headers={"X-Forwarded-Proto": "https"},
                    data={"csrf": csrf, "email": email, "password": PASSWORD})  # fmt: skip
    cookie = next(c for c in r.headers.get_list("set-cookie") if c.startswith("intent_session="))
    assert "Secure" not in cookie
    # and from a peer that is not a trusted proxy, built directly (tests run on loopback)
    app = live.app
    scope = {"type": "http", "method": "GET", "path": "/", "headers": [(b"x-forwarded-proto", b"https")],
             "client": ("203.0.113.9", 5000), "scheme": "http", "server": ("127.0.0.1", 80), "app": app}  # fmt: skip
    assert not dashboard_http.is_https(Request(scope))
    scope["client"] = ("127.0.0.1", 5000)
    assert dashboard_http.is_https(Request(scope))

    # a proxy that rewrites Host: the form's Origin matches its X-Forwarded-Host
    form = {"csrf": csrf, "email": email, "password": PASSWORD}
    client = httpx.Client(base_url=live.url)
    form["csrf"] = _csrf(client.get("/dashboard/login").text)
    proxied = {"Origin": "https://intent.example.com", "X-Forwarded-Host": "intent.example.com"}
    assert client.post("/dashboard/login", headers=proxied, data=form).status_code == 303
    client = httpx.Client(base_url=untrusted.url)
    form["csrf"] = _csrf(client.get("/dashboard/login").text)
    assert client.post("/dashboard/login", headers=proxied, data=form).status_code == 403


def test_companies_by_tier_with_filters_and_search(
    server: LiveServer, store: Store, site: str
) -> None:
    seed(store, site)
    client = sign_in(server.url, make_user(store, site))
    base = f"/dashboard/sites/{site}/companies"
    r = client.get(base)
    assert r.status_code == 200
    assert r.headers["content-security-policy"] == dashboard_http.CSP
    assert r.headers["cache-control"] == "no-store"
    names = re.findall(r'/companies/[^"]+">([^<]+)</a>', r.text)
    assert names[:2] == ["Acme Corporation", "Globex"]  # hot first, by score
    assert set(names[2:5]) == {"Initech", "Umbrella Corporation", "Hooli"}
    assert re.search(r"Hot <b>2</b>", r.text) and re.search(r"Warm <b>3</b>", r.text)
    assert re.search(r"Cold <b>4</b>", r.text) and re.search(r"All <b>9</b>", r.text)
    assert "newly hot" in r.text and "pricing ×6 (+38)" in r.text
    assert '<td data-label="Score" class="num">58 · hot ≥ 50</td>' in r.text  # with its scale

    hot = client.get(base, params={"tier": "hot"}).text
    assert "Acme Corporation" in hot and "Initech" not in hot and "Stark Industries" not in hot
    us = client.get(base, params={"country": "us"}).text
    assert "Acme Corporation" in us and "Globex" not in us
    assert re.search(r"Hot <b>1</b>", us)  # tier counts follow the country filter
    found = client.get(base, params={"q": "GLOBEX"}).text
    assert "Globex" in found and "Acme Corporation" not in found
    by_domain = client.get(base, params={"q": "tyrell.jp"}).text
    assert "Tyrell Corp" in by_domain
    nothing = client.get(base, params={"q": "no such company"})
    assert nothing.status_code == 200 and "No companies match these filters" in nothing.text


def test_company_page_reasons_chart_timeline_pages(
    server: LiveServer, store: Store, site: str
) -> None:
    companies = seed(store, site)
    internal = Company(**{**companies[0].__dict__, "referrer": "https://www.example.com/pricing"})
    store.insert_rows("events", event_rows(site, internal, days=1))  # navigation inside the site
    client = sign_in(server.url, make_user(store, site))
    r = client.get(f"/dashboard/sites/{site}/companies/acme.com")
    assert r.status_code == 200, r.text
    html = r.text
    assert "<title>Acme Corporation · " in html
    assert "demo request yesterday (+20)" in html and "4 visitors" in html
    assert "<dd>58 · hot ≥ 50</dd>" in html  # the score with the site's scale
    assert "<dt>People</dt><dd>up to 4 people on one day</dd>" in html  # visitor ids are daily
    polyline = re.search(r'<polyline class="line" points="([^"]+)"', html)
    assert polyline is not None and len(polyline.group(1).split()) == 6  # one point per scored day
    assert html.count('<circle class="dot') == 6
    assert html.count('class="dot tier-hot"') == 2  # 41 yesterday, 58 today
    assert "Book a demo" in html and "<code>/demo</code>" in html  # pages with their titles
    assert "event <b>demo_request</b>" in html
    assert "https://www.google.com/" in html and "Chrome on Windows (desktop)" in html
    assert "https://www.example.com/pricing" not in html  # own pages are not "where from"
    assert len(re.findall(r"<li>\s*<h3>", html)) == 3  # three days of visits

    assert client.get(f"/dashboard/sites/{site}/companies/nobody.example").status_code == 404


def test_sites_are_private_to_their_users(
    make_settings: SettingsFactory, serve: Serve, store: Store, site: str
) -> None:
    other = site + "-other"
    toml = f'[sites."{site}"]\ndomains = ["example.com"]\n[sites."{other}"]\ndomains = ["example.org"]\n'
    live = serve(make_settings(site, toml=toml))
    seed(store, other)
    limited = sign_in(live.url, make_user(store, site, sites=(site,)))
    assert limited.get(f"/dashboard/sites/{site}/companies").status_code == 200
    for path in (f"/dashboard/sites/{other}/companies", f"/dashboard/sites/{other}/companies/acme.com",
                 "/dashboard/sites/not-configured/companies"):  # fmt: skip
        r = limited.get(path)
        assert r.status_code == 404 and "Acme" not in r.text
        assert r.headers["content-security-policy"] == dashboard_http.CSP
    # one site: straight to it; two: the picker, and ?site= picks
    assert limited.get("/dashboard/").headers["location"] == f"/dashboard/sites/{site}/companies"
    everyone = sign_in(live.url, make_user(store, other))
    picker = everyone.get("/dashboard/")
    assert picker.status_code == 200 and site in picker.text and other in picker.text
    assert (
        everyone.get("/dashboard/", params={"site": other}).headers["location"]
        == f"/dashboard/sites/{other}/companies"
    )
    companies = everyone.get(f"/dashboard/sites/{other}/companies").text
    assert 'id="site-picker"' in companies and f'<option value="{other}" selected>' in companies


def test_coverage_shares_by_traffic_class_and_source(
    server: LiveServer, store: Store, site: str
) -> None:
    seed(store, site)
    client = sign_in(server.url, make_user(store, site))
    r = client.get(f"/dashboard/sites/{site}/coverage", params={"days": 7})
    assert r.status_code == 200
    # seed: companies' page views over 3 days + 3 unidentified ISP visitors x 2 pages today
    html = r.text
    rows = dict(re.findall(r"<tr><td>([^<]+)</td><td class=\"num\">(\d+)</td>", html))
    assert rows["isp"] == "6" and rows["not identified"] == "6"
    assert int(rows["business"]) == int(rows["maxmind"]) + int(rows["asn"])
    assert rows["asn"] == "3"  # Cyberdyne: 1 page x 1 visitor x 3 days
    total = int(rows["business"]) + 6
    assert (
        f"of {total} page views" in html and "(19 of 22 visitors)" in html
    )  # 19 company visitors + 3 anonymous
    assert "55 events were dropped" in html
    assert '<meter min="0" max="1" value="' in html and "style=" not in html


def test_dropped_events_by_reason(server: LiveServer, store: Store, site: str) -> None:
    seed(store, site)
    client = sign_in(server.url, make_user(store, site))
    html = client.get(f"/dashboard/sites/{site}/dropped", params={"days": 7}).text
    reasons = re.findall(r"<td><code>([^<]+)</code></td><td class=\"num\">(\d+)</td>", html)
    assert reasons == [("bot:ua", "40"), ("bot:hosting", "12"), ("excluded:customer", "3")]
    assert "55 of " in html
    today_only = client.get(f"/dashboard/sites/{site}/dropped", params={"days": 1}).text
    assert "bot:ua" in today_only


def test_install_page_shows_the_script_tag_and_whether_events_arrive(
    server: LiveServer, store: Store, site: str
) -> None:
    client = sign_in(server.url, make_user(store, site))
    html = client.get(f"/dashboard/sites/{site}/install").text
    tag = f'<script defer data-site="{site}" src="{server.url}/js/intent.js"></script>'
    assert tag in unescape(html) and "<script" not in html  # shown as text, never run
    assert "No events in the last 24 hours" in html
    seed(store, site, [Company("a.com", "A", "a.com", "US", "cold", [1], ["x"])])
    assert "Receiving events" in client.get(f"/dashboard/sites/{site}/install").text


def test_digest_page_shows_the_emailed_digest_in_the_page(
    server: LiveServer, store: Store, site: str
) -> None:
    seed(store, site)
    client = sign_in(server.url, make_user(store, site))
    r = client.get(f"/dashboard/sites/{site}/digest")
    assert r.status_code == 200
    assert "<iframe" not in r.text and '<div class="digest">' in r.text  # no frame of its own
    assert "Acme Corporation" in r.text and "Initech" in r.text  # today's hot and warm
    # the very markup of the email (its digest block), company pages linked within the dashboard
    email = digest_render.render_html(build_digest(store, site, site_today(
        server.collector.settings.sites[site]), config=server.collector.settings.sites[site]))  # fmt: skip
    start = email.index('<table role="presentation"')
    first_company = email.index("Acme Corporation")
    assert email[start:first_company] in r.text
    assert f'href="/dashboard/sites/{site}/companies/acme.com"' in r.text
    # its inline style attributes may apply; nothing else is loosened
    csp = r.headers["content-security-policy"]
    assert csp == dashboard_http.DIGEST_CSP and "style-src-attr 'unsafe-inline'" in csp
    assert csp.replace(" style-src-attr 'unsafe-inline';", "") == dashboard_http.CSP
    assert "script-src 'none'" in csp and "frame-src 'none'" in csp
    assert "<style" not in r.text and "<script" not in r.text
    yesterday = client.get(f"/dashboard/sites/{site}/digest", params={"date": "2001-01-01"})
    assert 'value="2001-01-01"' in yesterday.text and "No scores for" in yesterday.text
    assert (
        client.get(f"/dashboard/sites/{site}/digest", params={"date": "garbage"}).status_code == 200
    )
    assert client.get(f"/dashboard/sites/{site}/digest.html").status_code == 404  # the old frame


def test_sign_out_ends_the_session(server: LiveServer, store: Store, site: str) -> None:
    client = sign_in(server.url, make_user(store, site))
    page = client.get(f"/dashboard/sites/{site}/companies")
    token = client.cookies["intent_session"]
    assert client.post("/dashboard/logout", data={"csrf": "wrong"}).status_code == 403
    r = client.post("/dashboard/logout", data={"csrf": _csrf(page.text)})
    assert r.status_code == 303
    assert users.session(store, token) is None
    replay = httpx.get(
        server.url + f"/dashboard/sites/{site}/companies", cookies={"intent_session": token}
    )
    assert replay.status_code == 303  # the old cookie no longer signs anyone in


def test_password_change_and_deletion_end_sessions(
    server: LiveServer, store: Store, site: str
) -> None:
    email = make_user(store, site)
    client = sign_in(server.url, email)
    assert client.get(f"/dashboard/sites/{site}/companies").status_code == 200
    users.set_password(store, email, "a brand new passphrase")
    assert client.get(f"/dashboard/sites/{site}/companies").status_code == 303
    client = sign_in(server.url, email, "a brand new passphrase")
    assert client.get(f"/dashboard/sites/{site}/companies").status_code == 200
    users.delete_user(store, email)
    assert client.get(f"/dashboard/sites/{site}/companies").status_code == 303
    assert users.authenticate(store, email, "a brand new passphrase") is None


def test_sign_in_attempts_are_rate_limited(
    monkeypatch: pytest.MonkeyPatch, server: LiveServer, store: Store, site: str
) -> None:
    # The limiter's clock stands still: a slow machine's attempts earn no refill meanwhile.
    monkeypatch.setattr(signin, "RateLimiter", partial(RateLimiter, clock=lambda: 0.0))
    client = httpx.Client(base_url=server.url)
    csrf = _csrf(client.get("/dashboard/login").text)
    codes = [client.post("/dashboard/login", data={"csrf": csrf, "email": "x@example.com",
                                                   "password": "wrong password"}).status_code
             for _ in range(12)]  # fmt: skip
    assert codes[:10] == [401] * 10 and codes[-1] == 429


def test_users_are_stored_without_the_address_or_password(store: Store, site: str) -> None:
    email = f"Jane.Doe-{site}@Example.com"
    users.create_user(store, email, PASSWORD)
    rows = store.query("SELECT * FROM dashboard_users FINAL")
    text = repr(rows).lower()
    assert email.lower() not in text and PASSWORD not in text
    stored = store.query_dicts("SELECT email_hint, password_hash FROM dashboard_users FINAL "
                               "WHERE email_hash = {h:String}", {"h": users.email_hash(email)})[0]  # fmt: skip
    assert stored["email_hint"] == "j…@example.com"
    assert stored["password_hash"].startswith("scrypt$15$8$1$")
    assert users.check_password(PASSWORD, stored["password_hash"])
    assert not users.check_password(PASSWORD + "x", stored["password_hash"])
    with pytest.raises(users.UserError, match="already exists"):
        users.create_user(store, email.lower(), PASSWORD)
    with pytest.raises(users.UserError, match="at least 10"):
        users.create_user(store, "short-" + email, "short")


def test_unknown_dashboard_addresses_get_the_html_404(server: LiveServer) -> None:
    r = httpx.get(server.url + "/dashboard/no/such/page")
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
    assert r.headers["content-security-policy"] == dashboard_http.CSP and "Not found" in r.text
    assert httpx.get(server.url + "/api/v1/no-such").headers["content-type"] == "application/json"


def test_static_css_and_no_inline_styles(server: LiveServer) -> None:
    r = httpx.get(server.url + "/dashboard/static/dashboard.css")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/css")
    assert "@media (max-width: 640px)" in r.text  # phones get the one-column layout
    assert httpx.get(server.url + "/dashboard/static/nope.js").status_code == 404
    ours = [t for t in Path(dashboard.__file__).parent.joinpath("templates").glob("*.html")
            if t.name in ("base.html", "_days.html") or 'extends "base.html"' in t.read_text()]  # fmt: skip
    assert len(ours) >= 9
    for template in ours:  # (the digest's email template has inline styles: mail clients need them)
        text = template.read_text()
        assert "<script" not in text and "style=" not in text and "<style" not in text, template


def test_users_cli_creates_with_password_stdin(tmp_path: Path) -> None:
    env = {"INTENT_CLICKHOUSE_URL": f"chdb://{tmp_path / 'db'}", "INTENT_CONFIG": str(tmp_path / "none.toml"),
           "PATH": "/usr/bin:/bin"}  # fmt: skip

    def intent(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "intent", *args], input=stdin, env=env,
                              capture_output=True, text=True, timeout=120, cwd=Path(__file__).parents[2])  # fmt: skip

    assert intent("migrate").returncode == 0
    r = intent(
        "users", "create", "--email", "ann@corp.example", "--password-stdin", stdin=PASSWORD + "\n"
    )
    assert r.returncode == 0, r.stderr
    assert "created a…@corp.example" in r.stdout
    r = intent(
        "users", "create", "--email", "ann@corp.example", "--password-stdin", stdin=PASSWORD + "\n"
    )
    assert r.returncode == 1 and "already exists" in r.stderr and "Traceback" not in r.stderr
    r = intent("users", "create", "--email", "bob@corp.example", stdin="")
    assert r.returncode == 1 and "--password-stdin" in r.stderr
    r = intent("users", "create", "--email", "not-an-address", "--password-stdin", stdin=PASSWORD)
    assert r.returncode == 1 and "not an email address" in r.stderr
    listed = intent("users", "list")
    assert "a…@corp.example\tall sites" in listed.stdout and "ann@" not in listed.stdout
    assert intent("users", "delete", "--email", "ann@corp.example").returncode == 0
    assert "no dashboard users" in intent("users", "list").stdout


def test_sign_in_with_an_api_key_sees_only_its_sites(make_settings: SettingsFactory, serve: Serve,
                                                      store: Store, site: str) -> None:  # fmt: skip
    other = site + "-other"
    toml = f'[sites."{site}"]\ndomains = ["example.com"]\n[sites."{other}"]\ndomains = ["example.org"]\n'
    live = serve(make_settings(site, toml=toml))
    token, _ = keys.create(store, [site], "read", "dashboard test")
    client = httpx.Client(base_url=live.url)
    csrf = _csrf(client.get("/dashboard/login").text)
    r = client.post("/dashboard/login", data={"csrf": csrf, "api_key": token})
    assert r.status_code == 303
    assert client.get("/dashboard/").headers["location"] == f"/dashboard/sites/{site}/companies"
    page = client.get(f"/dashboard/sites/{site}/companies")
    assert page.status_code == 200 and f"key {token.split('_')[1]}…" in page.text
    assert token not in page.text and token.split("_")[2] not in repr(
        store.query("SELECT * FROM dashboard_sessions")
    )
    assert client.get(f"/dashboard/sites/{other}/companies").status_code == 404
    keys.revoke(store, token.split("_")[1])
    assert (
        client.get(f"/dashboard/sites/{site}/companies").status_code == 303
    )  # revoked: signed out


def test_users_cli_while_the_server_holds_the_database(
    make_settings: SettingsFactory, store: Store, site: str
) -> None:
    """The CLI cannot open the embedded database the server holds: it hashes the password
    itself and the server runs the command (only the hash travels, the stdin stays ours)."""
    port = free_port()
    settings = make_settings(site, INTENT_PORT=str(port))
    live = start_server(create_app(settings), port=port)
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith("INTENT_")}
        env.update({"INTENT_CONFIG": str(settings.config_path), "INTENT_CLICKHOUSE_URL": settings.clickhouse_url,
                    "INTENT_SPOOL_DIR": str(settings.spool_dir), "INTENT_PORT": str(port)})  # fmt: skip
        email = f"held-{site}@example.com"
        r = subprocess.run([sys.executable, "-m", "intent", "users", "create", "--email", email, "--site", site,
                            "--password-stdin"], input=PASSWORD + "\n", env=env, capture_output=True,
                           text=True, timeout=120)  # fmt: skip
        assert r.returncode == 0, r.stderr
        assert f"created h…@example.com ({site})" in r.stdout
        client = sign_in(live.url, email)
        assert client.get(f"/dashboard/sites/{site}/companies").status_code == 200
        bad = subprocess.run([sys.executable, "-m", "intent", "users", "password", "--email", email,
                              "--password-hash", "plain"], env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
        assert bad.returncode == 1 and "not a password hash" in bad.stderr
    finally:
        live.stop()


def test_companies_page_through_every_company_once(
    server: LiveServer, store: Store, site: str
) -> None:
    many = [Company(f"c{i:03}.example", f"Company {i:03}", f"c{i:03}.example", "US", "cold", [float(i % 7)],
                    [f"{i} visits"]) for i in range(130)]  # fmt: skip
    store.insert_rows("company_scores", [r for c in many for r in score_rows(site, c)])
    client = sign_in(server.url, make_user(store, site))
    seen: list[str] = []
    url = f"/dashboard/sites/{site}/companies?tier=cold"
    for _ in range(5):
        html = client.get(url).text
        seen += re.findall(r'/companies/(c\d+\.example)"', html)
        nxt = re.search(r'<a href="\?([^"]+)" rel="next">', html)
        if nxt is None:
            break
        url = f"/dashboard/sites/{site}/companies?" + unescape(nxt.group(1))
    assert len(seen) == 130 and len(set(seen)) == 130
    assert "Page 2 · 101–130" in html and 'rel="prev"' in html
