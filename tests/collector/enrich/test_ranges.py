from __future__ import annotations

import ipaddress
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from collector.enrich import Enricher
from collector.enrich.ranges import RangeTable, import_csv, load, parse_csv
from collector.store import Store
from intent.cli import main
from intent.server import create_app
from tests.conftest import SettingsFactory, free_port, start_server, wait_until

ip = ipaddress.ip_address


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "ranges.csv"
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def test_parse_keeps_good_rows_and_reports_bad_ones_by_line() -> None:
    ranges, errors = parse_csv(textwrap.dedent("""\
        cidr,domain,name
        172.16.1.0/24,globex.example,Globex
        # a comment line
        not-a-cidr,globex.example,Globex
        172.16.2.0/24,not a domain,Globex

        172.16.3.0/24,,
        2001:db8:f100::/48,Initech.Example.,Initech
        172.16.4.7,,Hooli Inc.
        172.16.5.0/24,a.example,A,extra
        """).splitlines(keepends=True))  # fmt: skip
    assert [(str(r.network), r.domain, r.name) for r in ranges] == [
        ("172.16.1.0/24", "globex.example", "Globex"),
        ("2001:db8:f100::/48", "initech.example", "Initech"),
        ("172.16.4.7/32", "", "Hooli Inc."),
    ]
    assert [line for line, _ in errors] == [4, 5, 7, 10]
    assert "not an IP range" in errors[0][1]
    assert "not a domain name" in errors[1][1]
    assert "needs a domain or a name" in errors[2][1]
    assert "3 columns" in errors[3][1]


def test_most_specific_range_wins_for_v4_and_v6() -> None:
    ranges, errors = parse_csv([
        "172.17.0.0/16,bigcorp.example,BigCorp\n",
        "172.17.5.0/24,subsidiary.example,Subsidiary\n",
        "172.17.5.128/25,,Lab Team\n",
        "2001:db8:f200::/32,bigcorp.example,BigCorp\n",
        "2001:db8:f200:1::/64,subsidiary.example,Subsidiary\n",
    ])  # fmt: skip
    assert not errors
    table = RangeTable(ranges)
    assert len(table) == 5
    found = {a: table.lookup(ip(a)) for a in ("172.17.9.9", "172.17.5.1", "172.17.5.200",
                                              "2001:db8:f200:2::1", "2001:db8:f200:1::9")}  # fmt: skip
    assert {a: c.key if c else None for a, c in found.items()} == {
        "172.17.9.9": "bigcorp.example",
        "172.17.5.1": "subsidiary.example",
        "172.17.5.200": "lab-team",  # no domain: the normalised name is the key
        "2001:db8:f200:2::1": "bigcorp.example",
        "2001:db8:f200:1::9": "subsidiary.example",
    }
    lab = found["172.17.5.200"]
    assert lab is not None and (lab.source, lab.confidence, lab.name) == (
        "ranges",
        0.95,
        "Lab Team",
    )
    assert table.lookup(ip("172.18.0.1")) is None
    assert table.lookup(ip("2001:db9::1")) is None
    assert table.lookup(None) is None


def test_import_stores_good_rows_and_a_reimport_replaces_a_cidr(
    store: Store, tmp_path: Path
) -> None:
    path = write(tmp_path, """
        cidr,domain,name
        172.19.0.0/16,umbrella.example,Umbrella
        172.19.7.0/24,umbrella-labs.example,Umbrella Labs
        bogus,umbrella.example,Umbrella
        2001:db8:f300::/48,umbrella.example,Umbrella
        """)  # fmt: skip
    report = import_csv(store, path)
    assert (report.imported, [n for n, _ in report.errors]) == (3, [4])
    table = load(store)
    assert table.lookup(ip("172.19.7.1")).domain == "umbrella-labs.example"  # type: ignore[union-attr]
    assert table.lookup(ip("2001:db8:f300::1")).name == "Umbrella"  # type: ignore[union-attr]
    import_csv(
        store, write(tmp_path, "172.19.7.0/24,umbrella-research.example,Umbrella Research\n")
    )
    assert load(store).lookup(ip("172.19.7.1")).domain == "umbrella-research.example"  # type: ignore[union-attr]


def test_a_running_enricher_picks_up_an_import(store: Store, tmp_path: Path) -> None:
    enricher = Enricher()
    enricher.load_ranges(store, refresh_s=0.05)
    try:
        assert enricher.company(ip("172.20.1.1"), enricher.network(ip("172.20.1.1")), None) is None  # type: ignore[arg-type]
        import_csv(store, write(tmp_path, "172.20.0.0/16,vandelay.example,Vandelay Industries\n"))

        def seen() -> bool:
            addr = ip("172.20.1.1")
            company = enricher.company(addr, enricher.network(addr), None)  # type: ignore[arg-type]
            return company is not None and company.domain == "vandelay.example"

        assert wait_until(seen)
        # the owner says it is a company's range, so it is business traffic whatever else we know
        assert enricher.network(ip("172.20.1.1")).traffic_class == "business"
    finally:
        enricher.close()


def test_cli_import_prints_bad_lines_and_a_summary(
    store: Store, ch_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    monkeypatch.setenv("INTENT_CLICKHOUSE_URL", ch_url)
    monkeypatch.setenv("INTENT_CONFIG", str(tmp_path / "absent.toml"))
    path = write(tmp_path, "172.21.0.0/16,wonka.example,Wonka\n172.21.0.0/33,wonka.example,Wonka\n")
    assert main(["ranges", "import", str(path)]) == 1
    out, err = capsys.readouterr()
    assert "imported 1 range(s), skipped 1 bad row(s)" in out
    assert err.strip() == "line 2: not an IP range: '172.21.0.0/33'"
    assert main(["ranges", "import", str(tmp_path / "missing.csv")]) == 1
    assert "cannot read" in capsys.readouterr().err
    assert main(["ranges", "list"]) == 0
    assert "172.21.0.0/16,wonka.example,Wonka" in capsys.readouterr().out


@pytest.mark.slow
def test_replace_and_a_locked_database_in_their_own_database(tmp_path: Path) -> None:
    """--replace empties the table but for the file (own database: the session one is shared),
    and while another process holds the database the CLI says so in one line."""
    env = {"INTENT_CLICKHOUSE_URL": f"chdb://{tmp_path / 'ch'}", "INTENT_CONFIG": str(tmp_path / "x.toml"),
           "PATH": "/usr/bin:/bin"}  # fmt: skip
    a = tmp_path / "a.csv"
    a.write_text("172.22.1.0/24,a.example,A\n172.22.2.0/24,b.example,B\n")
    b = tmp_path / "b.csv"
    b.write_text("172.22.3.0/24,c.example,C\n")

    def intent(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "intent", *args], env=env, capture_output=True,
                              text=True, timeout=120, cwd=Path(__file__).parents[3])  # fmt: skip

    assert intent("migrate").returncode == 0
    assert intent("ranges", "import", str(a)).returncode == 0
    done = intent("ranges", "import", "--replace", str(b))
    assert done.returncode == 0, done.stderr
    assert intent("ranges", "list").stdout.splitlines() == ["172.22.3.0/24,c.example,C"]

    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from collector.store import connect; "
         "connect(sys.argv[1]); print('open', flush=True); time.sleep(60)", env["INTENT_CLICKHOUSE_URL"]],
        stdout=subprocess.PIPE, text=True, env=env, cwd=Path(__file__).parents[3],
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        locked = intent("ranges", "import", str(a))
        assert locked.returncode == 1
        assert "Traceback" not in locked.stderr
        last = locked.stderr.strip().splitlines()[-1]
        assert last.startswith("intent ranges: ") and "in use by another process" in last
    finally:
        holder.kill()
        holder.wait(10)


def test_import_through_the_running_server_that_holds_the_database(
    make_settings: SettingsFactory, store: Store, site: str, tmp_path: Path
) -> None:
    """A CLI subprocess cannot open chDB while the server (this process) holds it: the server runs
    the import, reading the CSV by the CLI's relative path made absolute."""
    port = free_port()
    settings = make_settings(site, INTENT_PORT=str(port))
    live = start_server(create_app(settings), port=port)
    try:
        cwd = tmp_path / "elsewhere"
        cwd.mkdir()
        domain = f"{site}.forwarded.example"
        (cwd / "mine.csv").write_text(f"cidr,domain,name\n198.51.100.64/27,{domain},Fwd\n")
        env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(Path(__file__).parents[3]),
               "INTENT_CONFIG": str(settings.config_path),
               "INTENT_CLICKHOUSE_URL": settings.clickhouse_url,
               "INTENT_SPOOL_DIR": str(settings.spool_dir), "INTENT_PORT": str(port)}  # fmt: skip
        r = subprocess.run([sys.executable, "-m", "intent", "ranges", "import", "mine.csv"], env=env,
                           cwd=cwd, capture_output=True, text=True, timeout=120)  # fmt: skip
        assert r.returncode == 0, r.stderr
        found = store.query(
            "SELECT domain FROM company_ranges FINAL WHERE domain = {d:String}", {"d": domain}
        )
        assert found == [(domain,)]
    finally:
        live.stop()
