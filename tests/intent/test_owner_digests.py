"""Who is told (docs/accounts.md): each account owner gets their own digest in a real SMTP inbox
(aiosmtpd), the site's recipients get the companies nobody owns, the site's Slack message
@-mentions the owners (a fake Slack under uvicorn), and `intent digest --owner` prints one."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest

from collector.settings import Settings
from collector.store import Store
from intent import cli
from intent.accounts.fields import parse_update
from intent.accounts.table import upsert
from intent.delivery import owners_sent, send_digest
from intent.digest import build_digest
from intent.digest_owners import for_owner, owner_digests, unowned
from tests.conftest import SettingsFactory
from tests.intent.test_delivery import FakeSlack, Inbox, assert_block_kit, slack

from .scores import score_row, write_scores

__all__ = ["slack"]  # fixtures (smtp: tests/intent/conftest.py)

ACCOUNTS = [
    {"domain": "acme.com", "name": "Acme, Inc.", "industry": "Computer Software", "employees": 250,
     "country": "US", "owner": "Ann Smith", "crm_id": "001A"},
    {"domain": "umbrella.com", "name": "Umbrella", "industry": "Computer Software", "employees": 9000,
     "country": "US", "owner": "Ann Smith", "crm_id": "001U"},
    {"domain": "globex.de", "name": "Globex GmbH", "industry": "Machinery", "employees": 1200,
     "country": "DE", "owner": "bob@ourco.example", "stage": "Opportunity", "crm_id": "001B"},
    {"domain": "initech.co.uk", "name": "Initech", "industry": "Computer Software", "employees": 40,
     "country": "GB", "owner": "Carla Díaz", "crm_id": "001C"},  # no mapping: unowned
]  # fmt: skip
DAY = date.today()


def toml(site: str, slack_url: str = "") -> str:
    return (
        f'[sites."{site}"]\ndomains = ["example.com"]\n'
        'digest_recipients = ["sales@ourco.example"]\n'
        + (f'slack_webhook = "{slack_url}"\nslack_allow_private = true\n' if slack_url else "")
        + f'[sites."{site}".owners]\n'
        '"Ann Smith" = { email = "ann@ourco.example", slack = "U024BE7LH" }\n'
        f'[sites."{site}".fit]\nindustries = ["Computer Software"]\nemployees = [50, 5000]\n'
    )


@pytest.fixture
def scored(store: Store, site: str) -> None:
    upsert(store, site, [parse_update(a) for a in ACCOUNTS])
    write_scores(store, [
        score_row(site, "www.acme.com", score=60, tier="hot", transition="newly_hot",
                  company_name="Acme"),
        score_row(site, "umbrella.com", score=95, tier="hot"),  # fit B (9,000 employees)
        score_row(site, "acme.com.example", score=1, tier="cold"),  # not in the digest
        score_row(site, "globex.de", score=90, tier="hot"),
        score_row(site, "initech.co.uk", score=70, tier="hot"),
        score_row(site, "newco.example", score=80, tier="hot"),  # no account
        score_row(site, "hooli.example", score=30, tier="warm", transition="newly_warm"),
    ])  # fmt: skip


def mail_settings(make_settings: SettingsFactory, site: str, port: int, slack_url: str) -> Settings:
    return make_settings(toml=toml(site, slack_url), INTENT_SMTP_HOST="127.0.0.1",
                         INTENT_SMTP_PORT=str(port), INTENT_SMTP_STARTTLS="false",
                         INTENT_SMTP_FROM="intent@ourco.example")  # fmt: skip


def by_recipient(inbox: Inbox) -> dict[str, str]:
    """Each envelope's one recipient (or the sorted list) -> the plain-text body."""
    out = {}
    for i, envelope in enumerate(inbox.received):
        body = inbox.message(i).get_body(("plain",))
        assert body is not None
        out[",".join(sorted(envelope.rcpt_tos))] = str(body.get_content())
    return out


def test_each_owner_gets_their_accounts_and_the_recipients_the_rest(
    store: Store, site: str, make_settings: SettingsFactory, scored: None,
    smtp: tuple[Inbox, int], slack: tuple[FakeSlack, str],
) -> None:  # fmt: skip
    inbox, port = smtp
    fake, url = slack
    settings = mail_settings(make_settings, site, port, url)
    results = send_digest(settings, store, site, DAY)
    assert sorted(str(r) for r in results) == [
        "email to 1 recipient: sent (1 attempt)",
        "email to an owner: sent (1 attempt)",  # bob@ has no name: his address is not printed
        "email to owner Ann Smith: sent (1 attempt)",
        "slack to 127.0.0.1: sent (1 attempt)",
    ]
    mails = by_recipient(inbox)
    assert sorted(mails) == ["ann@ourco.example", "bob@ourco.example", "sales@ourco.example"]
    ann = mails["ann@ourco.example"]
    assert "Acme" in ann and "Umbrella" in ann
    assert "Globex" not in ann and "Initech" not in ann and "Newco" not in ann
    assert ann.splitlines()[0].startswith(f"intent digest · {site} · Ann Smith · ")
    assert "1 newly hot, 1 hot among the accounts of Ann Smith" in ann
    bob = mails["bob@ourco.example"]
    assert "Globex" in bob and "Acme" not in bob and "Umbrella" not in bob
    sales = mails["sales@ourco.example"]  # nobody's: no account, or an unmapped owner name
    assert "Initech" in sales and "Newco" in sales and "Hooli" in sales
    assert "Acme" not in sales and "Globex" not in sales and "Umbrella" not in sales
    assert "(3 more went to their owners)" in sales
    subjects = {str(inbox.message(i)["To"]): str(inbox.message(i)["Subject"])
                for i in range(len(inbox.received))}  # fmt: skip
    assert "Ann Smith" in subjects["ann@ourco.example"]

    # Slack: the whole digest, Ann @-mentioned at the top and beside each of her companies.
    [payload] = fake.received
    assert_block_kit(payload)
    texts = [json.dumps(b) for b in payload["blocks"]]
    assert any('"For <@U024BE7LH> (2)"' in t for t in texts)
    acme = next(t for t in texts if "*Acme*" in t)
    assert "owner Ann Smith <@U024BE7LH>" in acme
    assert any("*Globex*" in t for t in texts) and any("*Initech*" in t for t in texts)

    # A second run the same day (a restart, a retry) does not email the owners again.
    assert owners_sent(store, site, DAY) == {"ann@ourco.example", "bob@ourco.example"}
    again = send_digest(settings, store, site, DAY)
    assert not any("owner" in str(r) for r in again)
    assert len(inbox.received) == 4  # the recipients' part again, no owner's
    forced = send_digest(settings, store, site, DAY, force=True)
    assert sum("owner" in str(r) for r in forced) == 2 and len(inbox.received) == 7


def test_sections_keep_fit_then_score_for_an_owner(
    store: Store, site: str, make_settings: SettingsFactory, scored: None
) -> None:
    config = make_settings(toml=toml(site)).sites[site]
    digest = build_digest(store, site, DAY, config=config)
    [ann, bob] = owner_digests(digest)
    assert (ann.email, ann.name, ann.slack) == ("ann@ourco.example", "Ann Smith", "U024BE7LH")
    assert [s.key for s in ann.digest.sections if s.total] == ["newly_hot", "hot"]
    assert bob.digest.sections[1].companies[0].key == "globex.de" and bob.slack == ""
    # The site's hot section: fit first, then score (newco scores 80 but its fit is unknown).
    hot = [(c.key, c.fit) for c in digest.sections[1].companies]
    assert hot == [("umbrella.com", "B"), ("globex.de", "B"), ("initech.co.uk", "B"),
                   ("newco.example", "?")]  # fmt: skip
    rest = unowned(digest)
    assert [c.key for s in rest.sections for c in s.companies] == [
        "initech.co.uk", "newco.example", "hooli.example"]  # fmt: skip
    assert rest.ai_agents is digest.ai_agents and ann.digest.ai_agents is None
    # By name as well as by address; `none` is the recipients' part.
    assert for_owner(digest, "ann smith").to_dict()["sections"] == ann.digest.to_dict()["sections"]
    assert for_owner(digest, "none").routed == 3


def test_cli_prints_one_owners_digest(
    store: Store, site: str, make_settings: SettingsFactory, scored: None,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    settings = make_settings(toml=toml(site))
    monkeypatch.setenv("INTENT_CONFIG", str(settings.config_path))
    monkeypatch.setenv("INTENT_CLICKHOUSE_URL", settings.clickhouse_url)
    argv = ["digest", "--site", site, "--date", DAY.isoformat(), "--owner", "ann@ourco.example"]
    assert cli.main(argv) == 0
    text = capsys.readouterr().out
    assert "Acme" in text and "Umbrella" in text and "Globex" not in text
    assert cli.main([*argv, "--format", "json"]) == 0
    body: dict[str, Any] = json.loads(capsys.readouterr().out)
    keys = [c["key"] for s in body["sections"] for c in s["companies"]]
    assert keys == ["www.acme.com", "umbrella.com"]
    assert all(c["account"]["owner_email"] == "ann@ourco.example"
               for s in body["sections"] for c in s["companies"])  # fmt: skip
    assert cli.main([*argv, "--send"]) == 1
    assert "--owner prints one owner's digest" in capsys.readouterr().err
