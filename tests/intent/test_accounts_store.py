"""Accounts in the real (embedded) ClickHouse: upsert by domain, what changed, one query to
attach accounts to many companies."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from collector.site_settings import SiteConfig
from collector.store import Store
from intent.accounts.csvfile import read_file
from intent.accounts.fields import parse_update
from intent.accounts.matching import attach_accounts
from intent.accounts.table import every, upsert

DATA = Path(__file__).parent / "data"
OWNERS = {
    "Ann Smith": "ann@ourco.example",
    "Bob Jones": {"email": "bob@ourco.example", "slack": "U024BE7LH"},
}
FIT = {
    "industries": ["Computer Software", "Internet"],
    "employees": [50, 5000],
    "countries": ["US", "GB"],
}


def test_a_reimport_updates_changed_accounts_only(store: Store, site: str) -> None:
    hubspot = [u for _line, u in read_file(DATA / "hubspot_companies.csv").updates]
    first = upsert(store, site, hubspot)
    assert (len(first.added), len(first.updated), first.unchanged) == (5, 0, 0)
    again = upsert(store, site, hubspot)
    assert (len(again.added), len(again.updated), again.unchanged) == (0, 0, 5)

    salesforce = [u for _line, u in read_file(DATA / "salesforce_accounts.csv").updates]
    dry = upsert(store, site, salesforce, dry_run=True)
    assert (len(dry.added), len(dry.updated)) == (4, 1)
    assert len(every(store, site)) == 5  # a dry run writes nothing
    assert dry.lines()[-1] == ("~ acme.com  employees: 250 -> 300, stage: Customer -> Customer - Direct, "
                               "crm_id: 5123001 -> 0015g00000AbCdHAAV")  # fmt: skip
    assert "+ zurich-versicherung.ch  Zürich Versicherung AG" in dry.lines()
    upsert(store, site, salesforce)
    stored = {a.domain: a for a in every(store, site)}
    assert len(stored) == 9
    assert stored["acme.com"].employees == 300 and stored["acme.com"].stage == "Customer - Direct"
    assert stored["zurich-versicherung.ch"].name == "Zürich Versicherung AG"


def test_a_partial_update_keeps_the_fields_it_does_not_carry(store: Store, site: str) -> None:
    upsert(store, site, [parse_update({"domain": "acme.com", "name": "Acme", "industry": "Internet",
                                       "employees": 10})])  # fmt: skip
    changes = upsert(
        store, site, [parse_update({"domain": "https://acme.com/", "owner": "Ann Smith"})]
    )
    assert len(changes.updated) == 1
    [acme] = every(store, site)
    assert (acme.name, acme.industry, acme.employees, acme.owner) == (
        "Acme",
        "Internet",
        10,
        "Ann Smith",
    )


class CountingStore(Store):
    """The real store, counting the queries it is asked (one per site, not one per company)."""

    def __init__(self, inner: Store) -> None:  # share the open connection
        self.__dict__.update(inner.__dict__)
        self.queries = 0

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        self.queries += 1
        return super().query(sql, params)


def test_companies_carry_their_account_with_owner_fit_and_match(store: Store, site: str) -> None:
    upsert(store, site, [u for _line, u in read_file(DATA / "hubspot_companies.csv").updates])
    config = SiteConfig(site, ("shop.example",), owners=OWNERS, fit=FIT)
    rows: list[dict[str, Any]] = [
        {"company_domain": "www.acme.com", "company_name": "ACME", "country": "US"},
        {"company_domain": "", "company_name": "Globex GmbH", "country": "DE"},
        {"company_domain": "mail.initech.co.uk", "company_name": "", "country": "GB"},
        {"company_domain": "sg-tech.fr", "company_name": "", "country": "FR"},
        {"company_domain": "newco.example", "company_name": "NewCo", "country": "GB"},
        {"company_domain": "", "company_name": "", "country": ""},
    ]
    counting = CountingStore(store)
    attach_accounts(counting, config, rows)
    assert counting.queries == 1
    acme, globex, initech, sg, newco, nobody = rows
    assert acme["account"] == {
        "crm_id": "5123001", "name": "Acme, Inc.", "domain": "acme.com", "owner": "Ann Smith",
        "owner_email": "ann@ourco.example", "stage": "customer", "crm_stage": "Customer", "fit": "A",
        "fit_reasons": ["Computer Software ✓", "250 employees ✓", "US ✓"], "match": "domain",
    }  # fmt: skip
    assert acme["fit"] == "A"
    assert globex["account"]["match"] == "name" and globex["account"]["stage"] == "opportunity"
    assert globex["account"]["owner_email"] == "bob@ourco.example"
    assert globex["fit"] == "C"  # Machinery ✗, 1,200 employees ✓, DE ✗: all but two
    assert initech["account"]["owner"] == "Ann Smith"  # the CRM gave her address
    assert initech["fit"] == "A"  # HubSpot's internal COMPUTER_SOFTWARE is Computer Software
    assert (
        sg["account"]["owner"] == "Carla Díaz" and sg["account"]["owner_email"] is None
    )  # unowned
    assert newco["account"] is None and newco["fit"] == "?" and "GB ✓" in newco["fit_reasons"]
    assert nobody["account"] is None and nobody["fit"] == "?"
