"""Rules as code: parsing, defaults, errors naming the rule, and `intent rules test` / `intent score`."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from collector.settings_error import SettingsError
from collector.store import Store
from intent.cli import main
from intent.rules import DEFAULT_SIGNALS, Rules, RulesError, parse_rules
from intent.scoring import compute_scores
from intent.server import create_app
from intent.starter import STARTER_CONFIG
from tests.conftest import SettingsFactory, free_port, start_server
from tests.intent.activity import event


def test_no_rules_table_means_the_defaults() -> None:
    rules = parse_rules({})
    assert rules == Rules()
    assert [(s.name, s.points) for s in rules.signals] == [
        ("demo_request", 20), ("demo", 15), ("pricing", 10), ("webinar", 10),
        ("case_studies", 5), ("ebook", 5), ("blog", 1), ("careers", -10),
    ]  # fmt: skip
    assert (rules.half_life_days, rules.hot, rules.warm, rules.buying_window_days) == (7, 50, 20, 7)


def test_the_commented_example_written_by_init_is_the_defaults() -> None:
    block = STARTER_CONFIG[STARTER_CONFIG.index("# [sites.localhost.rules]") :]
    uncommented = "\n".join(line.removeprefix("# ") for line in block.splitlines())
    raw = tomllib.loads(uncommented)["sites"]["localhost"]["rules"]
    rules = parse_rules(raw)
    assert rules.signals[:-1] == DEFAULT_SIGNALS
    assert rules.signals[-1].name == "integrations"
    assert rules == Rules(signals=rules.signals)


def test_pages_match_globs_and_regexes_case_insensitively_first_signal_wins(
    store: Store, site: str
) -> None:
    """Classification runs in ClickHouse (multiMatchAllIndices), so this goes through it."""
    rules = parse_rules({
        "signals": {
            "pricing": {"paths": ["/pricing*"], "points": 10, "buying": True},
            "docs": {"regex": "^/docs/(api|sdk)/", "points": 2},
            "anything": {"path": "/?*", "points": 1},
            "signup": {"event": "signup", "points": 8},
        },
        "customer": {"paths": ["/app/*"], "events": ["login"]},
    })  # fmt: skip
    day = datetime.now(UTC).date() - timedelta(days=5)
    visits = {
        "pricing.com": [("/Pricing/enterprise", "")],
        "docs.com": [("/docs/API/x", "")],
        "guide.com": [("/docs/guide", "")],  # the regex does not match; the catch-all does
        "home.com": [("/", "")],  # '/?*' needs a character after the slash
        "signup.com": [("/", "signup")],
        "app.com": [("/app/home", "")],
        "apple.com": [("/apple", "")],
        "login.com": [("/", "login")],
    }
    store.insert_rows(
        "events",
        [event(site, day, ck, "v1", p, name=n) for ck, vs in visits.items() for p, n in vs],
    )
    scores = {c.company_key: c for c in compute_scores(store, site, rules, day)}
    assert scores["pricing.com"].reasons[1] == "pricing today (+10)"
    assert scores["docs.com"].reasons[1] == "docs today (+2)"
    assert scores["guide.com"].reasons[1] == "anything today (+1)"
    assert scores["home.com"].reasons == ["1 person", "1 active day"]
    assert scores["signup.com"].reasons[1] == "signup today (+8)"
    assert sorted(c for c, s in scores.items() if s.is_customer) == ["app.com", "login.com"]
    assert scores["apple.com"].reasons[1] == "anything today (+1)"


@pytest.mark.parametrize(
    ("raw", "rule"),
    [
        ("nope", "rules"),
        ({"hot": "fifty"}, "hot"),
        ({"hot": 10, "warm": 20}, "warm"),
        ({"half_life_days": 0}, "half_life_days"),
        ({"bogus": 1}, "bogus"),
        ({"breadth": {"points": -1}}, "breadth.points"),
        ({"breadth": {"pts": 1}}, "breadth.pts"),
        ({"buying_window_days": 2.5}, "buying_window_days"),
        ({"signals": {"pricing": {"paths": ["/pricing"]}}}, "signals.pricing.points"),
        ({"signals": {"pricing": {"points": 10}}}, "signals.pricing"),
        ({"signals": {"pricing": {"paths": "/pricing", "points": 10}}}, "signals.pricing.paths"),
        ({"signals": {"pricing": {"paths": ["pricing"], "points": 10}}}, "signals.pricing.paths"),
        ({"signals": {"p": {"regex": "([a-", "points": 1, "buying": True}}}, "signals.p.regex"),
        ({"signals": {"p": {"regex": "^/(?!x)", "points": 1, "buying": True}}}, "signals.p.regex"),
        ({"signals": {"p": {"regex": "^/(?>a+)", "points": 1, "buying": True}}}, "signals.p.regex"),
        ({"signals": {"p": {"regex": "^/a++", "points": 1, "buying": True}}}, "signals.p.regex"),
        ({"signals": {"p": {"event": "x", "points": -5, "buying": True}}}, "signals.p.buying"),
        ({"signals": {"p": {"event": "x", "points": 5, "weight": 2}}}, "signals.p.weight"),
        ({"signals": {"blog": {"paths": ["/blog/*"], "points": 1}}}, "signals"),  # no buying signal
        ({"customer": {"paths": [1]}}, "customer.paths"),
    ],
)
def test_invalid_rules_name_the_rule(raw: object, rule: str) -> None:
    with pytest.raises(RulesError) as err:
        parse_rules(raw)
    assert err.value.rule == rule


def test_invalid_rules_fail_at_start_up_naming_the_setting(
    make_settings: SettingsFactory, site: str
) -> None:
    toml = (
        f'[sites."{site}".rules.signals.demo]\npaths = ["/demo"]\npoints = "lots"\nbuying = true\n'
    )
    with pytest.raises(SettingsError) as err:
        make_settings(site, toml=toml)
    assert err.value.setting == f"sites.{site}.rules.signals.demo.points"


# --- the CLI, in this process against the session database (chDB opens one path per process) ---


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, ch_url: str, tmp_path: Path, site: str) -> Path:
    config = tmp_path / "intent.toml"
    config.write_text(f'[sites."{site}"]\ndomains = ["example.com"]\n', encoding="utf-8")
    monkeypatch.setenv("INTENT_CONFIG", str(config))
    monkeypatch.setenv("INTENT_CLICKHOUSE_URL", ch_url)
    return tmp_path


def seed(store: Store, site: str) -> str:
    day = datetime.now(UTC).date() - timedelta(days=4)
    rows = [
        event(site, day, "acme.com", v, p)
        for v in ("a1", "a2", "a3")
        for p in ("/ebook/guide", "/webinar")
    ]
    rows += [event(site, day, "globex.com", v, "/pricing") for v in ("g1", "g2")]
    rows += [event(site, day, "initech.com", "i1", "/blog/post")]
    store.insert_rows("events", rows)
    return day.isoformat()


NEW_RULES = """
[rules]
warm = 30

[rules.signals]
demo_request = { event = "demo_request", points = 20, buying = true }
pricing = { paths = ["/pricing*"], points = 10, buying = true }
webinar = { paths = ["/webinar*"], points = 10, buying = true }
ebook = { regex = "^/EBOOKS?/", points = 5 }
"""


def test_rules_test_shows_which_companies_would_change_tier(
    cli_env: Path, store: Store, site: str, capsys: pytest.CaptureFixture[str]
) -> None:
    day = seed(store, site)
    new = cli_env / "new.toml"
    new.write_text(NEW_RULES, encoding="utf-8")
    assert main(["rules", "test", "--site", site, "--rules", str(new), "--date", day]) == 0
    out = capsys.readouterr().out
    assert (
        "rules changed: warm 20 -> 30; signals removed: demo, case_studies, blog, careers; signals changed: pricing, webinar, ebook"
        in out
    )
    assert "current rules: 0 hot, 2 warm, 1 cold" in out
    assert "new rules:     1 hot, 0 warm, 2 cold" in out
    assert "2 companies would change tier" in out
    assert "Acme: warm -> hot (score 55 · hot ≥ 50 -> 55 · hot ≥ 50)" in out
    assert (
        "now: 3 people (+10) · webinar ×3 (+30) · ebook ×3 (+15) · 1 active day · not hot: no demo_request/demo/pricing, hot needs one at most 6 days ago"
        in out
    )
    assert "Globex: warm -> cold (score 25 · hot ≥ 50 -> 25 · warm ≥ 30)" in out
    assert "1 company would change score (0 unchanged):\n  Initech: cold, score 1 -> 0" in out
    # nothing was written: rules test only replays
    assert (
        store.scalar("SELECT count() FROM company_scores WHERE site = {s:String}", {"s": site}) == 0
    )


def test_rules_test_shows_score_changes_that_move_no_tier(
    cli_env: Path, store: Store, site: str, capsys: pytest.CaptureFixture[str]
) -> None:
    day = seed(store, site)
    new = cli_env / "breadth.toml"
    new.write_text("[rules]\nbreadth = { points = 10, max = 40 }\n", encoding="utf-8")
    assert main(["rules", "test", "--site", site, "--rules", str(new), "--date", day]) == 0
    out = capsys.readouterr().out
    assert "rules changed: breadth_points 5 -> 10; breadth_max 20 -> 40" in out
    assert "no company would change tier" in out
    # breadth counts the most people seen on one day: Acme had 3, Globex 2, Initech 1
    assert "2 companies would change score (1 unchanged):" in out
    assert "  Acme: warm, score 55 -> 65\n      now: 3 people (+10) · " in out
    assert "      new: 3 people (+20) · webinar ×3 (+30)" in out
    assert "  Globex: warm, score 25 -> 30\n" in out and "Initech" not in out


def test_rules_test_names_the_bad_rule(
    cli_env: Path, store: Store, site: str, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = cli_env / "bad.toml"
    bad.write_text('[rules]\nhot = "very"\n', encoding="utf-8")
    assert main(["rules", "test", "--site", site, "--rules", str(bad)]) == 1
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [
        f"intent rules: {bad}: rules.hot: expected a number, got 'very'"
    ]


def test_score_command_writes_and_prints_the_snapshot(
    cli_env: Path, store: Store, site: str, capsys: pytest.CaptureFixture[str]
) -> None:
    day = seed(store, site)
    assert main(["score", "--site", site, "--date", day]) == 0
    out = capsys.readouterr().out
    assert f"{site} {day}: 3 companies scored (0 hot, 2 warm, 1 cold)" in out
    assert "warm  55 · hot ≥ 50  Acme [newly_warm]: 3 people (+10)" in out
    tiers = store.query(
        "SELECT company_key, tier FROM company_scores FINAL WHERE site = {s:String} ORDER BY company_key",
        {"s": site},
    )
    assert tiers == [("acme.com", "warm"), ("globex.com", "warm"), ("initech.com", "cold")]
    assert main(["score", "--site", "nosuch"]) == 1
    assert "--site: no site 'nosuch'" in capsys.readouterr().err


def test_score_while_the_server_holds_the_database_is_one_line(
    ch_url: str, tmp_path: Path, store: Store
) -> None:
    config = tmp_path / "intent.toml"
    config.write_text('[sites.x]\ndomains = ["example.com"]\n', encoding="utf-8")
    env = {
        "PATH": "/usr/bin:/bin",
        "INTENT_CONFIG": str(config),
        "INTENT_CLICKHOUSE_URL": ch_url,
        "INTENT_SPOOL_DIR": str(tmp_path / "spool"),  # no server token here: nothing to forward to
    }
    r = subprocess.run(
        [sys.executable, "-m", "intent", "score"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 1
    assert len(r.stderr.strip().splitlines()) == 1
    assert "in use by another process" in r.stderr


def test_score_and_rules_test_run_through_the_server_holding_the_database(
    make_settings: SettingsFactory, store: Store, site: str, tmp_path: Path
) -> None:
    """A real CLI subprocess cannot open chDB (this process holds it): the real server runs the
    commands, and a relative --rules path is the CLI's, not the server's working directory."""
    port = free_port()
    settings = make_settings(site, INTENT_PORT=str(port))
    live = start_server(create_app(settings), port=port)
    try:
        day = seed(store, site)
        cwd = tmp_path / "elsewhere"
        cwd.mkdir()
        (cwd / "new.toml").write_text(NEW_RULES, encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if not k.startswith("INTENT_")}
        env.update({"INTENT_CONFIG": str(settings.config_path), "INTENT_CLICKHOUSE_URL": settings.clickhouse_url,
                    "INTENT_SPOOL_DIR": str(settings.spool_dir), "INTENT_PORT": str(port)})  # fmt: skip

        def intent(*argv: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run([sys.executable, "-m", "intent", *argv], env=env, cwd=cwd,
                                  capture_output=True, text=True, timeout=120)  # fmt: skip

        tested = intent("rules", "test", "--site", site, "--rules", "new.toml", "--date", day)
        assert tested.returncode == 0, tested.stderr
        assert "Acme: warm -> hot" in tested.stdout
        scored = intent("score", "--site", site, "--date", day)
        assert scored.returncode == 0, scored.stderr
        assert "3 companies scored (0 hot, 2 warm, 1 cold)" in scored.stdout
    finally:
        live.stop()
