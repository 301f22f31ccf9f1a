"""Every company carries its `account` and fit: the companies API (list with owner=/fit=
filters, and detail) and the digest in each format, through the real server and store."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import date
from typing import Any

import httpx
import pytest

from collector import keys
from collector.settings import Settings
from collector.store import Store
from intent.accounts.fields import parse_update
from intent.accounts.table import upsert
from intent.digest import build_digest
from intent.digest_render import render
from tests.conftest import LiveServer, SettingsFactory

from .scores import score_row, write_scores

ACCOUNTS = [
    {"domain": "acme.com", "name": "Acme, Inc.", "industry": "Computer Software", "employees": 250,
     "country": "US", "owner": "Ann Smith", "stage": "Customer", "crm_id": "001A"},
    {"domain": "globex.de", "name": "Globex GmbH", "industry": "Machinery", "employees": 1200,
     "country": "DE", "owner": "bob@ourco.example", "stage": "Opportunity", "crm_id": "001B"},
    {"domain": "initech.co.uk", "name": "Initech", "industry": "Computer Software", "employees": 40,
     "country": "GB", "owner": "Carla Díaz", "crm_id": "001C"},
]  # fmt: skip


def toml(site: str) -> str:
    return (f'[sites."{site}"]\ndomains = ["example.com"]\n'
            f'[sites."{site}".owners]\n"Ann Smith" = "ann@ourco.example"\n'
            f'[sites."{site}".fit]\nindustries = ["Computer Software"]\nemployees = [50, 5000]\n'
            f'countries = ["US", "GB"]\n')  # fmt: skip


@pytest.fixture
def scored(store: Store, site: str) -> None:
    upsert(store, site, [parse_update(a) for a in ACCOUNTS])
    write_scores(store, [
        score_row(site, "www.acme.com", score=60, tier="hot", country="US"),
        score_row(site, "globex-industries.example", score=90, tier="hot",
                  company_name="GLOBEX GMBH", country="DE"),  # matched by name
        score_row(site, "initech.co.uk", score=70, tier="hot", country="GB"),
        score_row(site, "newco.example", score=80, tier="hot", country="US"),  # no account
        score_row(site, "hooli.example", score=30, tier="warm", country="FR", transition="newly_warm"),
    ])  # fmt: skip


class Api:
    def __init__(self, live: LiveServer, token: str, site: str) -> None:
        self.live, self.token, self.site = live, token, site

    def get(self, path: str, **params: Any) -> httpx.Response:
        return httpx.get(f"{self.live.url}/api/v1/sites/{self.site}{path}", params=params, timeout=30,
                         headers={"Authorization": f"Bearer {self.token}"})  # fmt: skip

    def keys(self, **params: Any) -> list[str]:
        r = self.get("/companies", **params)
        assert r.status_code == 200, r.text
        return sorted(c["key"] for c in r.json()["data"])


@pytest.fixture
def api(
    make_settings: SettingsFactory, serve: Callable[[Settings], LiveServer], store: Store,
    site: str, scored: None,
) -> Api:  # fmt: skip
    live = serve(make_settings(site, toml=toml(site), INTENT_API_RATE_LIMIT_BURST="10000"))
    token, _ = keys.create(store, [site], "read")
    return Api(live, token, site)


def test_companies_carry_their_account_and_fit(api: Api) -> None:
    companies = {c["key"]: c for c in api.get("/companies").json()["data"]}
    acme = companies["www.acme.com"]
    assert acme["account"] == {
        "crm_id": "001A", "name": "Acme, Inc.", "domain": "acme.com", "owner": "Ann Smith",
        "owner_email": "ann@ourco.example", "stage": "customer", "crm_stage": "Customer", "fit": "A",
        "fit_reasons": ["Computer Software ✓", "250 employees ✓", "US ✓"], "match": "domain",
    }  # fmt: skip
    assert acme["fit"] == "A"
    globex = companies["globex-industries.example"]
    assert (globex["account"]["match"], globex["account"]["stage"], globex["fit"]) == (
        "name",
        "opportunity",
        "C",  # Machinery ✗ · 1,200 employees ✓ · DE ✗
    )
    assert companies["newco.example"]["account"] is None
    assert companies["newco.example"]["fit"] == "?"  # only its country is known: US ✓
    assert companies["newco.example"]["fit_reasons"] == [
        "industry unknown",
        "employees unknown",
        "US ✓",
    ]
    detail = api.get("/companies/initech.co.uk").json()
    assert detail["account"]["owner"] == "Carla Díaz" and detail["account"]["owner_email"] is None
    assert detail["fit"] == "B"  # Computer Software ✓ · 40 employees ✗ · GB ✓


def test_owner_and_fit_filter_the_list(api: Api) -> None:
    assert api.keys(owner="ann@ourco.example") == ["www.acme.com"]
    assert api.keys(owner="ANN smith") == ["www.acme.com"]
    assert api.keys(owner="bob@ourco.example") == ["globex-industries.example"]
    assert api.keys(owner="none") == ["hooli.example", "initech.co.uk", "newco.example"]
    assert api.keys(fit="A") == ["www.acme.com"]
    assert api.keys(fit="A,B", tier="hot") == ["initech.co.uk", "www.acme.com"]
    assert api.keys(fit=["A", "B"], tier="hot") == ["initech.co.uk", "www.acme.com"]  # explode
    assert api.keys(fit="?") == ["hooli.example", "newco.example"]
    assert api.get("/companies", fit="E").json()["error"]["field"] == "fit"
    # A filtered list pages like any other: every company once.
    seen: list[str] = []
    params: dict[str, Any] = {"owner": "none", "limit": 1}
    for _page in range(10):
        body = api.get("/companies", **params).json()
        seen += [c["key"] for c in body["data"]]
        if not body["has_more"]:
            break
        params = {"owner": "none", "limit": 1, "cursor": body["next_cursor"]}
    assert sorted(seen) == ["hooli.example", "initech.co.uk", "newco.example"]


def test_the_digest_carries_accounts_in_every_format(api: Api, store: Store, site: str) -> None:
    body = api.get("/digest").json()
    hot = next(s for s in body["sections"] if s["key"] == "hot")
    # Best fit first, then score: A (60), B (70), C (90), then ? (80).
    assert [(c["key"], c["fit"]) for c in hot["companies"]] == [
        ("www.acme.com", "A"), ("initech.co.uk", "B"), ("globex-industries.example", "C"),
        ("newco.example", "?")]  # fmt: skip
    assert hot["companies"][0]["account"]["owner_email"] == "ann@ourco.example"
    text = api.get("/digest/text").text
    assert ("fit A (Computer Software ✓ · 250 employees ✓ · US ✓) · owner Ann Smith · "
            "existing customer (expansion)") in text  # fmt: skip
    assert "owner Carla Díaz (unmapped)" in text and "open opportunity" in text
    assert "- Account: fit A" in api.get("/digest/markdown").text
    assert "owner Ann Smith" in api.get("/digest/html").text
    rows = list(csv.DictReader(io.StringIO(api.get("/digest/csv").text)))
    acme = next(r for r in rows if r["company_key"] == "www.acme.com")
    assert (acme["fit"], acme["owner"], acme["owner_email"], acme["stage"], acme["crm_id"]) == (
        "A", "Ann Smith", "ann@ourco.example", "customer", "001A")  # fmt: skip
    # Without the site's settings (no owners, no fit) accounts still match; nothing is graded.
    bare = build_digest(store, site, date.today())
    first = bare.sections[1].companies[0]
    assert first.account is not None and first.fit is None
    assert "owner Ann Smith (unmapped) · existing customer" in render(bare, "text")[0]
