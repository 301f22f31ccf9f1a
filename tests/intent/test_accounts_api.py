"""`/api/v1/sites/{site}/accounts` through the real server: CRM sync writes accounts (PUT) and
reads them back in keyset pages (GET)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from collector import keys
from collector.settings import Settings
from collector.store import Store
from tests.conftest import LiveServer, SettingsFactory


class Client:
    def __init__(self, live: LiveServer, token: str, site: str) -> None:
        self.live, self.token, self.site = live, token, site

    def url(self) -> str:
        return f"{self.live.url}/api/v1/sites/{self.site}/accounts"

    def get(self, token: str | None = None, **params: Any) -> httpx.Response:
        return httpx.get(self.url(), params=params, timeout=10,
                         headers={"Authorization": f"Bearer {token or self.token}"})  # fmt: skip

    def put(self, body: Any, token: str | None = None) -> httpx.Response:
        content = body if isinstance(body, bytes) else httpx.Request("PUT", "/", json=body).content
        return httpx.put(self.url(), content=content, timeout=30,
                         headers={"Authorization": f"Bearer {token or self.token}",
                                  "Content-Type": "application/json"})  # fmt: skip


@pytest.fixture
def api(
    make_settings: SettingsFactory, serve: Callable[[Settings], LiveServer], store: Store, site: str
) -> Client:
    toml = (f'[sites."{site}"]\ndomains = ["example.com"]\n'
            f'[sites."{site}".owners]\n"Ann Smith" = "ann@ourco.example"\n'
            f'[sites."{site}".fit]\nindustries = ["Computer Software"]\ncountries = ["US", "GB"]\n')  # fmt: skip
    live = serve(make_settings(site, toml=toml, INTENT_API_RATE_LIMIT_BURST="10000"))
    token, _ = keys.create(store, [site], "write")
    return Client(live, token, site)


ACCOUNTS = [
    {"domain": "https://www.acme.com/", "name": "Acme, Inc.", "industry": "Computer Software",
     "employees": 250, "revenue": 25000000, "country": "United States", "owner": "Ann Smith",
     "stage": "Customer", "crm_id": "001A"},
    {"domain": "globex.de", "name": "Globex GmbH", "employees": "lots"},
    {"name": "No Domain Ltd"},
    "not an object",
    {"domain": "initech.co.uk", "owner": "Carla Díaz", "country": "GB", "stage": "Opportunity",
     "website": "https://initech.co.uk"},
    {"domain": "initech.co.uk", "owner": "Carla Díaz", "country": "GB", "stage": "Opportunity"},
    {"domain": "htp:/broken"},
]  # fmt: skip


def test_put_stores_the_good_accounts_and_names_each_bad_one(api: Client) -> None:
    r = api.put({"accounts": ACCOUNTS})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["added"], body["updated"], body["unchanged"], body["skipped"]) == (2, 0, 0, 5)
    assert [(e["index"], e["field"]) for e in body["errors"]] == [
        (1, "employees"), (2, "domain"), (3, None), (4, "website"), (6, "domain")]  # fmt: skip
    assert body["errors"][0]["message"] == "'lots' is not a number of employees"
    assert body["unmapped_owners"] == ["Carla Díaz"]

    listed = api.get().json()
    acme, initech = listed["data"][0], listed["data"][1]
    assert (acme["domain"], acme["owner"], acme["owner_email"], acme["stage"], acme["country"]) == (
        "acme.com", "Ann Smith", "ann@ourco.example", "customer", "US")  # fmt: skip
    assert acme["fit"] == "A" and acme["fit_reasons"] == ["Computer Software ✓", "US ✓"]
    assert acme["employees"] == 250 and acme["revenue"] == 25000000 and acme["crm_id"] == "001A"
    assert (initech["owner"], initech["owner_email"], initech["stage"]) == (
        "Carla Díaz",
        None,
        "opportunity",
    )
    assert initech["fit"] == "?" and initech["fit_reasons"] == ["industry unknown", "GB ✓"]

    again = api.put({"accounts": [ACCOUNTS[0], {"domain": "acme.com", "employees": 300}]}).json()
    assert (again["added"], again["updated"], again["unchanged"]) == (0, 1, 0)
    acme_after = api.get().json()["data"][-1]  # changed last: the end of the (updated_at) order
    assert (acme_after["domain"], acme_after["employees"], acme_after["name"]) == (
        "acme.com",
        300,
        "Acme, Inc.",
    )
    since = api.get(updated_since=acme_after["updated_at"]).json()["data"]
    assert [a["domain"] for a in since] == ["acme.com"]


def test_subdomains_are_one_account_and_the_later_object_wins(api: Client) -> None:
    body = api.put(
        {"accounts": [{"domain": f"https://c{i}.acme.co.uk/", "employees": i} for i in range(4)]}
    )
    assert body.json()["added"] == 1
    [acme] = api.get().json()["data"]
    assert (acme["domain"], acme["employees"]) == ("acme.co.uk", 3)


def test_pages_of_many_accounts_return_each_once(api: Client) -> None:
    api.put(
        {"accounts": [{"domain": f"company{i:02d}.io", "name": f"Company {i}"} for i in range(7)]}
    )
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 3}
    for _page in range(5):
        page = api.get(**params).json()
        seen += [a["domain"] for a in page["data"]]
        if not page["has_more"]:
            break
        params = {"limit": 3, "cursor": page["next_cursor"]}
    assert seen == [f"company{i:02d}.io" for i in range(7)]


def test_writing_needs_a_write_key_for_the_site(api: Client, store: Store) -> None:
    read_only, _ = keys.create(store, [api.site], "read")
    r = api.put({"accounts": [{"domain": "acme.com"}]}, token=read_only)
    assert r.status_code == 403 and r.json()["error"]["code"] == "insufficient_scope"
    assert api.get(token=read_only).status_code == 200
    other, _ = keys.create(store, ["another-site"], "write")
    assert api.put({"accounts": []}, token=other).status_code == 404
    assert api.get().json()["data"] == []


def test_bad_bodies_are_refused_with_the_one_error_shape(api: Client) -> None:
    too_many = api.put({"accounts": [{"domain": f"c{i}.io"} for i in range(1001)]})
    assert too_many.status_code == 400 and too_many.json()["error"]["field"] == "accounts"
    assert "at most 1000" in too_many.json()["error"]["message"]
    for body in (b"{not json", b"[]", b'{"accounts": {}}', b'{"accounts": [], "x": 1}'):
        r = api.put(body)
        assert r.status_code == 400 and set(r.json()["error"]) == {
            "status",
            "code",
            "message",
            "field",
        }
    huge = api.put(b'{"accounts": [' + b" " * (5 * 1024 * 1024) + b"]}")
    assert huge.status_code == 413
    assert api.get(owner="x").status_code == 400
    assert api.get(cursor="nonsense").json()["error"]["field"] == "cursor"
