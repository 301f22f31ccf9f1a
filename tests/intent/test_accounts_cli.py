"""`intent accounts import|list` in real subprocesses: on a database of their own, and through
the running server that holds the session's embedded database."""

from __future__ import annotations

import csv
import io
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from collector.settings import Settings
from collector.store import Store
from intent.accounts.table import every
from tests.conftest import LiveServer, SettingsFactory, free_port
from tests.intent.test_remote import holding

DATA = Path(__file__).parent / "data"
OWNERS = '"Ann Smith" = "ann@ourco.example"\n"Bob Jones" = { email = "bob@ourco.example", slack = "U024BE7LH" }\n'


def run(
    env: dict[str, str], *argv: str, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "intent", *argv], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=180)  # fmt: skip


def test_import_dry_run_reimport_and_list_on_a_database_of_its_own(tmp_path: Path) -> None:
    config = tmp_path / "intent.toml"
    config.write_text('[sites.shop]\ndomains = ["shop.example"]\n[sites.shop.owners]\n' + OWNERS
                      + '[sites.shop.fit]\nindustries = ["Computer Software"]\ncountries = ["US", "GB"]\n',
                      encoding="utf-8")  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTENT_")}
    env.update({"INTENT_CLICKHOUSE_URL": f"chdb://{tmp_path / 'ch'}", "INTENT_CONFIG": str(config),
                "INTENT_SPOOL_DIR": str(tmp_path / "spool")})  # fmt: skip
    shutil.copy(DATA / "hubspot_companies.csv", tmp_path / "companies.csv")
    shutil.copy(DATA / "salesforce_accounts.csv", tmp_path / "accounts.csv")

    dry = run(
        env, "accounts", "import", "companies.csv", "--site", "shop", "--dry-run", cwd=tmp_path
    )
    assert dry.returncode == 1, dry.stderr  # bad rows: reported, and the status says so
    assert dry.stderr.splitlines() == [
        "line 6: Company Domain Name / Website URL: no domain or website",
        "line 7: Number of Employees: 'lots' is not a number of employees",
        "line 8: Company Domain Name / Website URL: not a web address: 'http://'",
    ]
    assert "+ acme.com  Acme, Inc." in dry.stdout.splitlines()
    assert (
        "owners not in [sites.shop.owners], so their accounts count as unowned: Carla Díaz (1 account)"
        in dry.stdout
    )
    assert dry.stdout.splitlines()[-1] == (
        "would add 5, would update 0, unchanged 0, skipped 3 bad row(s) (dry run: nothing written)"
    )
    listed = run(env, "accounts", "list", "--site", "shop", cwd=tmp_path)
    assert listed.returncode == 0 and listed.stdout.splitlines()[1:] == [], listed.stderr
    assert "no accounts for shop" in listed.stderr

    done = run(env, "accounts", "import", "companies.csv", "--site", "shop", cwd=tmp_path)
    assert done.stdout.splitlines()[-1] == "added 5, updated 0, unchanged 0, skipped 3 bad row(s)"
    done = run(env, "accounts", "import", "accounts.csv", "--site", "shop", cwd=tmp_path)
    assert done.stdout.splitlines()[-1] == "added 4, updated 1, unchanged 0, skipped 2 bad row(s)"
    assert "Renée Dupont (1 account)" in done.stdout  # read from Windows-1252

    listed = run(env, "accounts", "list", "--site", "shop", cwd=tmp_path)
    rows = {r["domain"]: r for r in csv.DictReader(io.StringIO(listed.stdout))}
    assert len(rows) == 9
    assert rows["acme.com"] == {"domain": "acme.com", "name": "Acme, Inc.", "industry": "Computer Software",
                                "employees": "300", "revenue": "25000000", "country": "US", "owner": "Ann Smith",
                                "stage": "Customer - Direct", "crm_id": "0015g00000AbCdHAAV", "fit": "A"}  # fmt: skip
    assert rows["initech.co.uk"]["fit"] == "A" and rows["globex.de"]["fit"] == "C"
    assert rows["wonka.co.uk"]["fit"] == "?"  # no country: B or C

    # The list is a plain export: it imports back unchanged.
    (tmp_path / "listed.csv").write_text(listed.stdout, encoding="utf-8")
    back = run(env, "accounts", "import", "listed.csv", "--site", "shop", cwd=tmp_path)
    assert (
        back.returncode == 0 and back.stdout.splitlines()[-1] == "added 0, updated 0, unchanged 9"
    )


def test_errors_are_one_line(tmp_path: Path) -> None:
    config = tmp_path / "intent.toml"
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTENT_")}
    env.update({"INTENT_CLICKHOUSE_URL": f"chdb://{tmp_path / 'ch'}", "INTENT_CONFIG": str(config)})
    (tmp_path / "no-domain.csv").write_text("name,industry\nAcme,Software\n", encoding="utf-8")
    cases = [
        ("[sites.shop.fit]\nemployees = [10, 1]\n", "list --site shop",
         "sites.shop.fit.employees: expected [lowest, highest]"),
        ("", "import missing.csv --site shop", "cannot read missing.csv"),
        ("", "import no-domain.csv --site shop", "line 1: no domain column"),
        ("", "list --site nope", "--site: unknown site 'nope'"),
    ]  # fmt: skip
    for extra, argv, message in cases:
        config.write_text("[sites.shop]\n" + extra, encoding="utf-8")
        done = run(env, "accounts", *argv.split(), cwd=tmp_path)
        assert done.returncode == 1 and "Traceback" not in done.stderr
        assert done.stderr.strip().splitlines() == [done.stderr.strip()], done.stderr
        assert done.stderr.startswith("intent accounts: " + message), done.stderr


@pytest.fixture
def held(
    make_settings: SettingsFactory, site: str
) -> Iterator[tuple[LiveServer, Settings, dict[str, str]]]:
    port = free_port()
    toml = f'[sites."{site}"]\ndomains = ["example.com"]\n[sites."{site}".owners]\n' + OWNERS
    yield from holding(make_settings(site, toml=toml, INTENT_PORT=str(port)), port)


def test_import_runs_through_the_server_holding_the_database(
    held: tuple[LiveServer, Settings, dict[str, str]], store: Store, site: str, tmp_path: Path
) -> None:
    _live, _settings, env = held
    shutil.copy(DATA / "salesforce_accounts.csv", tmp_path / "accounts.csv")
    done = run(env, "accounts", "import", "accounts.csv", "--site", site, cwd=tmp_path)
    assert (
        done.stdout.splitlines()[-1] == "added 5, updated 0, unchanged 0, skipped 2 bad row(s)"
    ), done.stderr
    assert "line 6: Website: not a web address: 'htp:/broken'" in done.stderr
    stored = {a.domain: a for a in every(store, site)}
    assert stored["cafe-creme.fr"].name == "Café Crème, SARL"
    listed = run(env, "accounts", "list", "--site", site, cwd=tmp_path)
    assert listed.returncode == 0 and "zurich-versicherung.ch" in listed.stdout
