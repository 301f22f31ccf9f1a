"""Accounts without a database: CRM exports read, values parsed, owners, fit grades, matching."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector.enrich.psl import registrable_domain
from collector.settings import load_settings
from collector.settings_error import SettingsError
from intent.accounts.config import check, site_config
from intent.accounts.csvfile import decode, parse_text, read_file
from intent.accounts.fields import (
    Account,
    FieldError,
    name_key,
    parse_domain,
    parse_employees,
    parse_revenue,
    parse_update,
    stage_class,
)
from intent.accounts.fit import Fit, grade, parse_fit
from intent.accounts.matching import AccountIndex
from intent.accounts.owners import Owner, parse_owners

DATA = Path(__file__).parent / "data"


@pytest.mark.parametrize(
    ("given", "domain"),
    [
        ("https://www.acme.co.uk/", "acme.co.uk"),
        ("www.acme.com", "acme.com"),
        ("HTTPS://WWW.ACME.COM/pricing?x=1", "acme.com"),
        ("http://eu.shop.acme.com:8080/", "acme.com"),
        ("acme.com:8080", "acme.com"),
        ("//cdn.acme.com/x#top", "acme.com"),
        ("wonka.co.uk/about", "wonka.co.uk"),
        ("acme.github.io", "acme.github.io"),  # the list's private section: its own owner
        ("bücher.de", "xn--bcher-kva.de"),
    ],
)
def test_a_web_address_becomes_its_registrable_domain(given: str, domain: str) -> None:
    assert parse_domain(given) == domain


@pytest.mark.parametrize("given", ["http://", "htp:/acme", "not a url", "acme", "co.uk",
                                   "ftp://acme.com", "ann@acme.com", "http://10.0.0.1/", "http://acme.com:99999",
                                   "http://[::1]/", "mailto:acme.com", "http:///acme.com", "https://acme .com"])  # fmt: skip
def test_a_broken_web_address_is_refused(given: str) -> None:
    with pytest.raises(FieldError) as err:
        parse_domain(given)
    assert err.value.field == "domain"


def test_registrable_domain_is_empty_for_what_no_company_owns() -> None:
    for name in ("co.uk", "localhost", "192.0.2.1", "", "::1"):
        assert registrable_domain(name, platforms=True) == "", name
    assert registrable_domain("Mail.Corp.Example.CO.UK.", platforms=True) == "example.co.uk"
    assert registrable_domain("shop.acme.myshopify.com", platforms=True) == "acme.myshopify.com"
    assert registrable_domain("shop.acme.myshopify.com") == "myshopify.com"  # reverse DNS's view


def test_numbers_as_crms_write_them() -> None:
    assert [parse_employees(v) for v in ("250", "1,200", "1 200", "250.0", "10000+", "", 42)] == [
        250, 1200, 1200, 250, 10000, None, 42]  # fmt: skip
    for bad in ("lots", "-5", "51-200", 3.5, True):
        with pytest.raises(FieldError, match=r"employees|number"):
            parse_employees(bad)
    assert [parse_revenue(v) for v in ("25000000", "$45,000,000", "EUR 120000000", "CHF 3.5B", "5M", None)] == [
        25e6, 45e6, 120e6, 3.5e9, 5e6, None]  # fmt: skip
    with pytest.raises(FieldError):
        parse_revenue("plenty")


def test_countries_as_names_or_codes() -> None:
    def country(value: str) -> object:
        return parse_update({"domain": "a.com", "country": value}).values["country"]

    assert [country(v) for v in ("Germany", "United States", "USA", "us", "UK", "The Netherlands", "")] == [
        "DE", "US", "US", "US", "GB", "NL", ""]  # fmt: skip
    with pytest.raises(FieldError, match="unknown country 'Narnia'"):
        country("Narnia")


def test_stage_classes_from_hubspot_and_salesforce() -> None:
    assert {s: stage_class(s) for s in ("Customer", "evangelist", "Customer - Direct", "Customer - Channel",
                                        "Opportunity", "salesqualifiedlead", "Sales Qualified Lead", "Prospect",
                                        "Channel Partner / Reseller", "Other", "Former customer", "")} == {
        "Customer": "customer", "evangelist": "customer", "Customer - Direct": "customer",
        "Customer - Channel": "customer", "Opportunity": "opportunity", "salesqualifiedlead": "lead",
        "Sales Qualified Lead": "lead", "Prospect": "lead", "Channel Partner / Reseller": "partner",
        "Other": "other", "Former customer": "other", "": ""}  # fmt: skip


def test_names_lose_their_legal_form() -> None:
    keys = {name_key(n) for n in ("ACME Corp.", "Acme, Inc.", "Acme S.A.", "Acme S.A. de C.V.",
                                  "The Acme Company Ltd", "acme llc", "Acme L.L.C.")}  # fmt: skip
    assert keys == {"acme"}
    assert name_key("Müller GmbH & Co. KG") == "müller"
    assert name_key("Foo Sp. z o.o.") == "foo"
    assert name_key("Deutsche Bank AG") != name_key("Deutsche Telekom AG")


def test_a_hubspot_export_with_a_bom_quoted_commas_and_bad_rows() -> None:
    parsed = read_file(DATA / "hubspot_companies.csv")
    got = {u.domain: (line, u.values) for line, u in parsed.updates}
    assert list(got) == ["acme.com", "globex.de", "initech.co.uk", "sg-tech.fr", "wonka.co.uk"]
    assert got["acme.com"][1]["name"] == "Acme, Inc."  # a quoted comma stays in the name
    assert got["acme.com"][1]["crm_id"] == "5123001"  # "Record ID": the BOM did not hide it
    assert got["globex.de"][1]["country"] == "DE"  # Website URL when the domain is empty
    assert got["initech.co.uk"][1]["employees"] == 1200
    assert got["sg-tech.fr"] == (9, got["sg-tech.fr"][1])  # after a record spanning two lines
    assert got["sg-tech.fr"][1]["name"] == "Société Générale Tech"
    assert parsed.errors == [
        (6, "Company Domain Name / Website URL: no domain or website"),
        (7, "Number of Employees: 'lots' is not a number of employees"),
        (8, "Company Domain Name / Website URL: not a web address: 'http://'"),
    ]


def test_a_salesforce_export_in_windows_1252() -> None:
    raw = (DATA / "salesforce_accounts.csv").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")  # the file really is Excel's encoding
    parsed = read_file(DATA / "salesforce_accounts.csv")
    got = {u.domain: u.values for _line, u in parsed.updates}
    assert got["mueller-maschinen.de"]["name"] == "Müller Maschinenbau GmbH"
    assert got["mueller-maschinen.de"]["revenue"] == 45e6
    assert got["cafe-creme.fr"]["name"] == "Café Crème, SARL"
    assert got["nordstrom-example.se"]["stage"] == "Channel Partner / Reseller"
    assert got["zurich-versicherung.ch"]["owner"] == "Renée Dupont"
    assert got["acme.com"]["country"] == "US" and got["acme.com"]["crm_id"] == "0015g00000AbCdHAAV"
    assert [(line, why.split(":")[0]) for line, why in parsed.errors] == [
        (6, "Website"),
        (7, "Employees"),
    ]


def test_headers_match_ignoring_case_and_punctuation_and_any_delimiter() -> None:
    text = "DOMAIN;Account_Name;NumberOfEmployees;billing country\nacme.com;Acme;12;de\n"
    parsed = parse_text(text)
    assert parsed.updates[0][1].values == {"name": "Acme", "employees": 12, "country": "DE"}
    tabs = parse_text("Website\tName\nhttps://www.x.io\tX\n")
    assert tabs.updates[0][1].domain == "x.io"
    assert decode("\ufeffdomain\n".encode("utf-16")) == "\ufeffdomain\n".encode("utf-16").decode(
        "utf-16"
    )
    assert decode(b"caf\xe9") == "café" and decode(b"\x81") == "\x81"


def test_a_file_without_a_domain_column_is_refused_whole() -> None:
    with pytest.raises(ValueError, match="line 1: no domain column"):
        parse_text("name,industry\nAcme,Software\n")
    with pytest.raises(ValueError, match="empty"):
        parse_text("\n\n")


def test_a_repeated_domain_keeps_the_later_row() -> None:
    parsed = parse_text("domain,employees\nacme.com,10\nwww.acme.com,20\n")
    assert [(line, u.values) for line, u in parsed.updates] == [(3, {"employees": 20})]
    assert parsed.repeated == 1


def test_a_missing_column_leaves_the_stored_field_and_an_empty_one_clears_it() -> None:
    stored = Account("acme.com", name="Acme", industry="Software", employees=10)
    update = parse_update({"domain": "acme.com", "employees": "", "name": "Acme Inc"})
    assert update.applied_to(stored) == Account("acme.com", "Acme Inc", "Software", None)


OWNERS = {"Ann Smith": "ann@ourco.example",
          "Bob Jones": {"email": "Bob@OurCo.example", "slack": "U024BE7LH"},
          "cy@ourco.example": {"slack": "U0G9QF9C6"}}  # fmt: skip


def test_owner_names_and_addresses_resolve_to_people() -> None:
    owners = parse_owners(OWNERS)
    assert owners.resolve("ann  SMITH") == Owner("Ann Smith", "ann@ourco.example")
    assert owners.resolve("bob@ourco.example") == Owner(
        "Bob Jones", "bob@ourco.example", "U024BE7LH"
    )
    assert owners.resolve("cy@ourco.example") == Owner(
        "cy@ourco.example", "cy@ourco.example", "U0G9QF9C6"
    )
    assert owners.resolve("dee@ourco.example") == Owner("dee@ourco.example", "dee@ourco.example")
    assert owners.resolve("Carla Díaz") is None and owners.unmapped("Carla Díaz")
    assert owners.resolve("") is None and not owners.unmapped("")


def test_grades_and_their_reasons() -> None:
    fit = Fit(("Computer Software", "Internet"), (50, 5000), ("US", "GB"))
    a = grade(fit, "Computer Software", 250, "DE")
    assert a.grade == "B"
    assert " · ".join(a.reasons) == "Computer Software ✓ · 250 employees ✓ · DE ✗ (want US, GB)"
    assert grade(fit, "COMPUTER_SOFTWARE", 50, "us").grade == "A"
    assert grade(fit, "Retail", 5001, "GB").grade == "C"
    assert grade(fit, "Retail", 12, "FR").reasons == (
        "Retail ✗ (want Computer Software, Internet)", "12 employees ✗ (want 50–5,000)",
        "FR ✗ (want US, GB)")  # fmt: skip
    assert grade(fit, "Retail", 12, "FR").grade == "D"
    # A missing field: ? whenever it could change the grade, never a silent D.
    unknown = grade(fit, "Internet", None, "US")
    assert unknown.grade == "?" and "employees unknown" in unknown.reasons
    assert grade(fit, country="DE").grade == "?"
    assert grade(Fit(countries=("US",)), country="US").grade == "A"
    assert grade(Fit(countries=("US",)), country="DE").grade == "B"  # all criteria but one
    assert grade(Fit(countries=("US",))).grade == "?"
    assert grade(Fit(), "Retail", 1, "US").grade is None  # no ideal customer described


def test_fit_settings_are_checked() -> None:
    assert parse_fit({"countries": ["Germany", "gb"], "employees": [0, 10]}).countries == (
        "DE",
        "GB",
    )
    for raw, key in (({"employees": [100, 10]}, "employees"), ({"countries": ["Narnia"]}, "countries"),
                     ({"industries": "Software"}, "industries"), ({"size": 1}, "size")):  # fmt: skip
        with pytest.raises(Exception) as err:
            parse_fit(raw)
        assert getattr(err.value, "key", None) == key


def test_bad_owners_and_fit_fail_at_start_up_naming_the_setting(tmp_path: Path) -> None:
    def load(extra: str) -> None:
        config = tmp_path / "intent.toml"
        config.write_text('[sites.shop]\ndomains = ["shop.example"]\n' + extra, encoding="utf-8")
        check(load_settings({"INTENT_CONFIG": str(config)}))

    cases = {
        '[sites.shop.owners]\n"Ann Smith" = "not-an-address"\n': 'sites.shop.owners."Ann Smith"',
        '[sites.shop.owners]\n"Bob" = { email = "b@o.example", slack = "bob" }\n': "sites.shop.owners.Bob.slack",
        '[sites.shop.owners]\n"Bob" = { email = "b@o.example", phone = "1" }\n': "sites.shop.owners.Bob.phone",
        "[sites.shop.fit]\nemployees = [50]\n": "sites.shop.fit.employees",
        '[sites.shop.fit]\ncountries = ["Atlantis"]\n': "sites.shop.fit.countries",
        'owners = "ann"\n': "sites.shop.owners",
    }
    for extra, setting in cases.items():
        with pytest.raises(SettingsError) as err:
            load(extra)
        assert err.value.setting == setting, extra
    load(
        '[sites.shop.owners]\n"Ann Smith" = "ann@o.example"\n[sites.shop.fit]\ncountries = ["US"]\n'
    )


def test_matching_by_domain_then_by_a_unique_name() -> None:
    index = AccountIndex([
        Account("acme.com", "Acme, Inc."), Account("globex.de", "Globex GmbH"),
        Account("umbrella.com", "Umbrella Corp"), Account("umbrella.co.uk", "Umbrella Ltd"),
    ])  # fmt: skip
    assert index.match("acme.com", "").method == "domain"  # type: ignore[union-attr]
    www = index.match("www.acme.com", "Something Else")
    sub = index.match("eu.mail.acme.com", "")
    assert (
        www is not None
        and sub is not None
        and www.account.domain == sub.account.domain == "acme.com"
    )
    by_name = index.match("globex-industries.com", "GLOBEX GMBH")
    assert by_name is not None and (by_name.account.domain, by_name.method) == ("globex.de", "name")
    assert index.match("", "Globex") is not None
    assert index.match("", "Umbrella") is None  # two accounts share the name: neither
    assert index.match("initech.com", "Initech") is None


def test_site_config_reads_both_tables() -> None:
    from collector.site_settings import SiteConfig

    config = site_config(
        SiteConfig("shop", ("shop.example",), owners=OWNERS, fit={"countries": ["US"]})
    )
    assert config.fit.countries == ("US",) and config.owners.resolve("Ann Smith") is not None
