"""A rep acts on a company from every place it appears: website, LinkedIn search, CRM record
(the site's crm_url) and, off the server, its dashboard page under INTENT_PUBLIC_URL. Built from
real rows in the session chDB and real accounts; read back the way each format's reader would
(an HTML parser, CommonMark link syntax, Slack's <url|text>, JSON, the dashboard over HTTP)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import date
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from collector import keys
from collector.settings import Settings
from collector.site_settings import SiteConfig
from collector.store import Store
from intent import company_links as links
from intent.accounts.fields import parse_update
from intent.accounts.table import upsert
from intent.digest import build_digest
from intent.digest_render import md_url, render, render_slack
from tests.conftest import LiveServer, SettingsFactory
from tests.intent.dashboard_data import make_user, sign_in
from tests.intent.scores import score_row, write_scores

Serve = Callable[[Settings], LiveServer]
NAME = 'Smith & <Sons> | "Ltd" [x](y)'  # every character a format could read as markup
DOMAIN = "smith-sons.com"
CRM_ID = '7&x=<b>|"1" /2'
CRM_URL = "https://crm.example/(co)/view?id={crm_id}&tab=1"
PUBLIC = "https://intent.ourco.example"
LINKEDIN = (
    "https://www.linkedin.com/search/results/companies/?keywords="
    "Smith+%26+%3CSons%3E+%7C+%22Ltd%22+%5Bx%5D%28y%29"
)
CRM = "https://crm.example/(co)/view?id=7%26x%3D%3Cb%3E%7C%221%22%20%2F2&tab=1"


def toml(site: str) -> str:
    return f'[sites."{site}"]\ndomains = ["example.com"]\ncrm_url = "{CRM_URL}"\n'


def seed(store: Store, site: str) -> None:
    write_scores(store, [
        score_row(site, DOMAIN, 70.0, "hot", company_name=NAME, transition="newly_hot"),
        score_row(site, "no-account.com", 60.0, "hot", company_name="No Account GmbH"),
        score_row(site, "asn:Odd Org", 55.0, "hot", company_name="Odd Org", company_domain="<b>.com"),
    ])  # fmt: skip
    upsert(store, site, [parse_update({"domain": DOMAIN, "name": "Smith and Sons",
                                       "crm_id": CRM_ID})])  # fmt: skip


def dashboard(site: str, key: str) -> str:
    return f"{PUBLIC}/dashboard/sites/{site}/companies/{key}"


class Hrefs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[str, str]] = []  # (href, text)
        self._href: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._href = dict(attrs).get("href") or ""
            self.links.append((self._href, ""))

    def handle_data(self, data: str) -> None:
        if self._href is not None:
            href, text = self.links[-1]
            self.links[-1] = (href, text + data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a":
            self._href = None


def hrefs(html: str) -> list[tuple[str, str]]:
    parser = Hrefs()
    parser.feed(html)
    return parser.links


def test_each_link_is_built_from_checked_or_encoded_parts() -> None:
    assert links.website("Acme.COM.") == "https://acme.com"
    for bad in ("<b>.example", "acme", "javascript:alert(1)", "a b.example", "ac me.com", ""):
        assert links.website(bad) == "", bad
    assert links.linkedin(NAME) == LINKEDIN and links.linkedin("  ") == ""
    assert parse_qs(urlsplit(links.linkedin(NAME)).query) == {"keywords": [NAME]}
    assert links.crm(CRM_URL, CRM_ID) == CRM and links.crm(CRM_URL, "") == ""
    assert links.crm("", CRM_ID) == ""
    assert links.dashboard_link("", "s", "k") == ""
    assert links.dashboard_link(PUBLIC, "my site", "a/b?c") == (
        f"{PUBLIC}/dashboard/sites/my%20site/companies/a%2Fb%3Fc")  # fmt: skip
    config = SiteConfig("s", (), crm_url=CRM_URL)
    got = links.company_links(config, DOMAIN, DOMAIN, NAME, {"crm_id": CRM_ID}, None)
    assert got.to_dict() == {"website": f"https://{DOMAIN}", "linkedin": LINKEDIN, "crm": CRM,
                             "dashboard": None}  # fmt: skip
    assert links.company_links(config, DOMAIN, DOMAIN, NAME, None, "").dashboard == (
        f"/dashboard/sites/s/companies/{DOMAIN}")  # fmt: skip


def test_every_digest_format_carries_the_links_escaped_for_it(store: Store, site: str) -> None:
    seed(store, site)
    config = SiteConfig(site, ("example.com",), crm_url=CRM_URL)
    digest = build_digest(store, site, date.today(), config=config, dashboard_base=PUBLIC)
    want = {"website": f"https://{DOMAIN}", "linkedin": LINKEDIN, "crm": CRM,
            "dashboard": dashboard(site, DOMAIN)}  # fmt: skip

    data = json.loads(render(digest, "json")[0])
    companies = {c["key"]: c for s in data["sections"] for c in s["companies"]}
    assert companies[DOMAIN]["links"] == want
    assert companies["no-account.com"]["links"]["crm"] is None  # no account, no CRM record
    odd = companies["asn:Odd Org"]["links"]
    assert odd["website"] is None and odd["dashboard"] == dashboard(site, "asn%3AOdd%20Org")

    html = render(digest, "html")[0]
    found = hrefs(html)
    for label, url in ((DOMAIN, want["website"]), ("LinkedIn", LINKEDIN), ("CRM", CRM),
                       ("Open in intent", want["dashboard"])):  # fmt: skip
        assert (url, label) in found, (url, label, found)
    assert all(h.startswith("https://") for h, _ in found), found
    assert "https://<b>.com" not in html and "https://&lt;b&gt;.com" not in html

    text = render(digest, "text")[0]
    assert f"Website: https://{DOMAIN} · LinkedIn: {LINKEDIN} · CRM: {CRM} · " \
           f"Open in intent: {want['dashboard']}" in text  # fmt: skip

    markdown = render(digest, "markdown")[0]
    destinations = re.findall(r"\]\(([^)\s]+)\)", markdown)
    assert md_url(CRM) == CRM.replace("(", "%28").replace(")", "%29") in destinations
    assert {want["website"], LINKEDIN, want["dashboard"]} <= set(destinations)
    assert f"[{DOMAIN}](https://{DOMAIN})" in markdown

    slack = render_slack(digest)
    texts = [b["text"]["text"] for b in slack["blocks"] if b["type"] == "section"]
    [smith] = [t for t in texts if DOMAIN in t]
    slack_links = re.findall(r"<([^<>|]+)\|([^<>]+)>", smith)
    assert slack_links == [
        (want["website"], DOMAIN), (LINKEDIN, "LinkedIn"),
        (CRM.replace("&", "&amp;"), "CRM"), (want["dashboard"], "Open in intent"),
    ]  # fmt: skip
    assert "&lt;Sons&gt;" in smith and "<Sons>" not in smith

    unset = build_digest(store, site, date.today(), config=config)  # INTENT_PUBLIC_URL unset
    assert "Open in intent" not in render(unset, "html")[0]
    assert json.loads(render(unset, "json")[0])["sections"][0]["companies"][0]["links"][
        "dashboard"] is None  # fmt: skip


def test_the_dashboard_list_and_company_page_link_out(
    make_settings: SettingsFactory, serve: Serve, store: Store, site: str
) -> None:
    live = serve(make_settings(site, toml=toml(site)))
    seed(store, site)
    client = sign_in(live.url, make_user(store, site))
    listing = hrefs(client.get(f"/dashboard/sites/{site}/companies").text)
    assert (f"https://{DOMAIN}", DOMAIN) in listing and (LINKEDIN, "LinkedIn") in listing
    assert (CRM, "CRM") in listing
    assert sum(text == "CRM" for _, text in listing) == 1  # only the company with an account
    page = hrefs(client.get(f"/dashboard/sites/{site}/companies/{DOMAIN}").text)
    assert (f"https://{DOMAIN}", DOMAIN) in page and (LINKEDIN, "LinkedIn") in page
    assert (CRM, "CRM") in page
    digest = hrefs(client.get(f"/dashboard/sites/{site}/digest").text)
    assert (f"/dashboard/sites/{site}/companies/{DOMAIN}", "Open in intent") in digest


def test_the_api_gives_each_company_its_links(
    make_settings: SettingsFactory, serve: Serve, store: Store, site: str
) -> None:
    live = serve(make_settings(site, toml=toml(site), INTENT_PUBLIC_URL=PUBLIC + "/"))
    seed(store, site)
    token, _ = keys.create(store, [site], "read")

    def get(path: str) -> Any:
        r = httpx.get(f"{live.url}/api/v1/sites/{site}{path}",
                      headers={"Authorization": f"Bearer {token}"}, timeout=10)  # fmt: skip
        assert r.status_code == 200, r.text
        return r.json()

    want = {"website": f"https://{DOMAIN}", "linkedin": LINKEDIN, "crm": CRM,
            "dashboard": dashboard(site, DOMAIN)}  # fmt: skip
    listed = {c["key"]: c["links"] for c in get("/companies")["data"]}
    assert listed[DOMAIN] == want and listed["no-account.com"]["crm"] is None
    assert get(f"/companies/{DOMAIN}")["links"] == want
    digest = get("/digest")
    assert digest["sections"][0]["companies"][0]["links"] == want
