"""A client generated from /api/v1/openapi.json by openapi-python-client runs the README's sync
loop and calls every operation against the real server, so spec and server cannot drift: a
field the spec does not declare, a value outside an enum, a body in the wrong media type or a
timestamp the client cannot parse fails here.

The client is generated once per test session (a few seconds) into a temporary directory and
imported from there."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from types import ModuleType
from typing import Any

import attrs
import pytest

from collector import keys
from collector.settings import Settings
from collector.store import Store
from intent.openapi import document, spec
from tests.conftest import LiveServer, SettingsFactory

from .scores import score_row, write_scores

PACKAGE = "intent_api_client"
OPERATIONS = (
    "list_companies", "get_company", "get_digest", "render_digest", "list_accounts",
    "put_accounts", "forget_visitor", "openapi", "claim_company", "unclaim_company",
)  # fmt: skip


@pytest.fixture(scope="session")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """The generated package, imported; --fail-on-warning: every part of the spec is understood."""
    root = tmp_path_factory.mktemp("client")
    (root / "openapi.json").write_bytes(document())
    (root / "config.json").write_text(json.dumps({"post_hooks": []}))  # no ruff run on it
    done = subprocess.run(
        [sys.executable, "-m", "openapi_python_client", "generate", "--path", "openapi.json", "--meta", "none",
         "--config", "config.json", "--fail-on-warning", "--output-path", PACKAGE],
        cwd=root, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    sys.path.insert(0, str(root))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(root))


def operation(name: str) -> Any:
    return importlib.import_module(f"{PACKAGE}.api.default.{name}")


def model(name: str) -> Any:
    return getattr(importlib.import_module(f"{PACKAGE}.models"), name)


def undeclared(value: Any, where: str = "") -> list[str]:
    """Fields the server sent that the spec does not declare, anywhere in a parsed answer."""
    if isinstance(value, list):
        return [f for i, item in enumerate(value) for f in undeclared(item, f"{where}[{i}]")]
    if not attrs.has(type(value)):
        return []
    declared = [f for f in attrs.fields(type(value)) if f.name != "additional_properties"]
    if not declared:  # a map (additionalProperties with a schema): its keys are its data
        return []
    found = [f"{where}.{k}" for k in getattr(value, "additional_properties", {})]
    for field in declared:
        found += undeclared(getattr(value, field.name), f"{where}.{field.name}")
    return found


@pytest.fixture
def client(
    generated: ModuleType, make_settings: SettingsFactory,
    serve: Callable[[Settings], LiveServer], store: Store, site: str,
) -> Any:  # fmt: skip
    live = serve(make_settings(site, INTENT_API_RATE_LIMIT_BURST="10000"))
    token, _ = keys.create(store, [site], "write")
    return generated.AuthenticatedClient(
        base_url=live.url, token=token, raise_on_unexpected_status=True
    )


def test_every_operation_has_a_generated_function(generated: ModuleType) -> None:
    ids = {op["operationId"] for ops in spec()["paths"].values() for op in ops.values()}
    snake = {"".join("_" + c.lower() if c.isupper() else c for c in i) for i in ids}
    assert snake == set(OPERATIONS)
    for name in OPERATIONS:
        assert callable(operation(name).sync_detailed)


def test_the_readme_sync_loop_and_every_endpoint_through_the_generated_client(
    client: Any, store: Store, site: str
) -> None:
    served = client.get_httpx_client().get("/api/v1/openapi.json")
    assert served.content == document()  # the client was generated from what the server serves
    assert operation("openapi").sync(client=client) is not None
    today = date.today()
    news = {
        "hot": ("newly_hot", "still_hot"),
        "warm": ("newly_warm", "cooling"),
        "cold": ("cooling", ""),
    }
    tiers = [("hot", "warm", "cold")[i % 3] for i in range(12)]
    write_scores(store, [
        score_row(site, f"c{i:02d}.example", score=float(i * 9), tier=tier, transition=news[tier][i % 2])
        for i, tier in enumerate(tiers)
    ])  # fmt: skip

    # The README's loop: since 1970-01-01 (a date), page by cursor, remember the last changed_at.
    def sync(since: date | datetime) -> tuple[list[str], datetime]:
        seen: list[str] = []
        last: list[datetime] = []
        cursor: Any = None
        while True:
            page = operation("list_companies").sync(
                site, client=client, updated_since=since, limit=5,
                **({"cursor": cursor} if cursor else {}),
            )  # fmt: skip
            assert type(page).__name__ == "CompanyPage", page
            assert undeclared(page) == []
            seen += [c.key for c in page.data]
            last += [c.changed_at for c in page.data[-1:]]
            cursor = page.next_cursor
            if not cursor:
                return seen, max(last)

    seen, newest = sync(date(1970, 1, 1))
    assert sorted(seen) == [f"c{i:02d}.example" for i in range(12)]
    assert newest.tzinfo is not None and newest <= datetime.now(UTC)
    write_scores(store, [score_row(site, "c03.example", score=77.0, tier="hot")])
    again, _ = sync(newest)  # inclusive: the boundary company comes again, and the rescored one
    assert again == ["c11.example", "c03.example"]
    hot = operation("list_companies").sync(site, client=client, tier=model("ListCompaniesTier").HOT)
    assert {c.tier.value for c in hot.data} == {"hot"} and len(hot.data) == 4
    grade = model("ListCompaniesFitItem")
    fitted = operation("list_companies").sync(site, client=client, fit=[grade.A, grade.B])
    assert type(fitted).__name__ == "CompanyPage" and fitted.data == []  # no fit configured
    # the rep's order, prospects only: newly hot today first, then the hot by score
    calls = operation("list_companies").sync(site, client=client, limit=3,
                                             sort=model("ListCompaniesSort").PRIORITY,
                                             customer=model("ListCompaniesCustomer").FALSE)  # fmt: skip
    assert [c.key for c in calls.data] == ["c06.example", "c00.example", "c09.example"]
    assert undeclared(calls) == [] and calls.data[0].buying_signal_at is None

    profile = operation("get_company").sync(site, "c06.example", client=client, days=7)
    assert undeclared(profile) == []
    assert (profile.key, profile.transition.value, profile.window_days) == (
        "c06.example", "newly_hot", 7)  # fmt: skip
    assert [h.transition.value for h in profile.score_history] == ["newly_hot"]
    missing = operation("get_company").sync(site, "nobody.example", client=client)
    assert missing.error.status == 404 and missing.error.field == "company"
    bad = operation("list_companies").sync(site, client=client, cursor="garbage!")
    assert bad.error.status == 400 and bad.error.field == "cursor"

    digest = operation("get_digest").sync(site, client=client, date=today)
    assert undeclared(digest) == []
    assert digest.date == today and digest.totals.companies == 12
    sections = {s.key.value: [c.key for c in s.companies] for s in digest.sections}
    assert sections["newly_hot"] == ["c06.example", "c00.example"]
    for fmt in model("RenderDigestFormat"):
        body = operation("render_digest").sync(site, fmt, client=client, date=today)
        assert isinstance(body, str) and "c06.example" in body, fmt

    written = operation("put_accounts").sync(site, client=client, body=model("PutAccountsBody")(
        accounts=[model("AccountInput")(domain="https://www.acme.com/", name="Acme", employees=50)]))  # fmt: skip
    assert (written.added, written.skipped) == (1, 0) and undeclared(written) == []
    accounts = operation("list_accounts").sync(site, client=client, updated_since=date(1970, 1, 1))
    assert undeclared(accounts) == []
    assert [(a.domain, a.employees) for a in accounts.data] == [("acme.com", 50)]

    body = model("ClaimCompanyBody")(who="ann@ourco.example", note="calling today")
    claim = operation("claim_company").sync(site, "c06.example", client=client, body=body)
    assert (claim.company, claim.claimed, claim.claimed_by) == (
        "c06.example",
        True,
        "ann@ourco.example",
    )
    assert undeclared(claim) == [] and claim.note == "calling today"
    other = model("ClaimCompanyBody")(who="bob@ourco.example")
    taken = operation("claim_company").sync(site, "c06.example", client=client, body=other)
    assert taken.error.status == 409
    released = operation("unclaim_company").sync(site, "c06.example", client=client)
    assert (released.company, released.claimed) == ("c06.example", False)

    forgotten = operation("forget_visitor").sync(site, "aaaa1111aaaa1111", client=client)
    assert forgotten.site == site and forgotten.deleted.events == 0 and undeclared(forgotten) == []
