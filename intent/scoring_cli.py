"""`intent score` (write a day's snapshot) and `intent rules test` (replay history under new rules)."""

from __future__ import annotations

import argparse
import tomllib
from collections import Counter
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

from collector.settings import Settings
from collector.site_settings import SiteConfig
from intent.command import CliError, command_group, day_arg, open_store, settings, site_arg
from intent.migrate import migrate
from intent.rules import Rules, RulesError, parse_rules
from intent.schedule import score_and_notify
from intent.score_words import score_label
from intent.scoring import TIER_RANK, TIERS, CompanyScore, compute_scores, rules_of

SCORE_CHANGES_SHOWN = 5  # the biggest moves; a rules change can move every company's score


def _sites(s: Settings, name: str | None) -> list[SiteConfig]:
    if name is None:
        if not s.sites:
            raise CliError(f"no sites in {s.config_path}")
        return list(s.sites.values())
    return [site_arg(s, name)]


def tally(scores: Sequence[CompanyScore]) -> str:
    counts = Counter(c.tier for c in scores)
    return ", ".join(f"{counts[t]} {t}" for t in TIERS)


def cmd_score(args: argparse.Namespace) -> int:
    s = settings()
    sites = _sites(s, args.site)
    store = open_store(s)
    migrate(store, s)
    for site in sites:
        rules = rules_of(site)
        day = day_arg(args.date, site)
        scores = score_and_notify(store, site, day)
        print(f"{site.name} {day}: {len(scores)} companies scored ({tally(scores)})")
        for c in scores:
            if c.tier == "cold" and not c.transition:
                continue
            note = f" [{c.transition}]" if c.transition else ""
            customer = " (customer)" if c.is_customer else ""
            print(
                f"  {c.tier:<4} {score_label(c.score, rules):>14}  {c.company_name}{customer}{note}: "
                + " · ".join(c.reasons)
            )
    return 0


def load_rules_file(path: Path, site: str) -> Rules:
    """A rules file: a whole intent.toml (its [sites.SITE.rules]), a [rules] table, or bare rules."""
    try:
        doc: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CliError(f"--rules: {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise CliError(f"--rules: {path} is not valid TOML: {exc}") from None
    raw: Any = doc
    prefix = ""
    if isinstance(doc.get("sites"), dict):
        site_table = doc["sites"].get(site)
        if not isinstance(site_table, dict):
            raise CliError(f"--rules: {path} has no [sites.{site}] table")
        raw, prefix = site_table.get("rules", {}), f"sites.{site}.rules."
    elif "rules" in doc:
        raw, prefix = doc["rules"], "rules."
    try:
        return parse_rules(raw)
    except RulesError as exc:
        raise CliError(f"{path}: {prefix}{exc.rule}: {exc.reason}") from None


def rule_changes(old: Rules, new: Rules) -> list[str]:
    """What differs between two rule sets, in words: "hot 50 -> 40", "signals added: docs"."""
    out = []
    for f in fields(Rules):
        if f.name in ("signals", "customer", "raw"):
            continue
        a, b = getattr(old, f.name), getattr(new, f.name)
        if a != b:
            out.append(f"{f.name} {a:g} -> {b:g}")
    before = {s.name: s for s in old.signals}
    after = {s.name: s for s in new.signals}
    if added := [n for n in after if n not in before]:
        out.append("signals added: " + ", ".join(added))
    if removed := [n for n in before if n not in after]:
        out.append("signals removed: " + ", ".join(removed))
    if changed := [n for n in after if n in before and after[n] != before[n]]:
        out.append("signals changed: " + ", ".join(changed))
    if old.customer != new.customer:
        out.append("customer pages/events changed")
    return out


def _pairs(
    before: Sequence[CompanyScore], after: Sequence[CompanyScore]
) -> list[tuple[CompanyScore, CompanyScore]]:
    """(before, after) of each company scored in both runs."""
    old = {c.company_key: c for c in before}
    return [(old[c.company_key], c) for c in after if c.company_key in old]


def tier_changes(
    before: Sequence[CompanyScore], after: Sequence[CompanyScore]
) -> list[tuple[CompanyScore, CompanyScore]]:
    """Companies whose tier differs, the biggest moves first."""
    changed = [(a, b) for a, b in _pairs(before, after) if a.tier != b.tier]
    changed.sort(
        key=lambda p: (
            -abs(TIER_RANK[p[1].tier] - TIER_RANK[p[0].tier]),
            -p[1].score,
            p[1].company_key,
        )
    )
    return changed


def score_changes(
    before: Sequence[CompanyScore], after: Sequence[CompanyScore]
) -> list[tuple[CompanyScore, CompanyScore]]:
    """Companies whose score moves but whose tier does not, the biggest moves first."""
    changed = [(a, b) for a, b in _pairs(before, after) if a.tier == b.tier and a.score != b.score]
    changed.sort(key=lambda p: (-abs(p[1].score - p[0].score), p[1].company_key))
    return changed


def cmd_rules_test(args: argparse.Namespace) -> int:
    s = settings()
    [site] = _sites(s, args.site)
    new_rules = load_rules_file(Path(args.rules), site.name)
    if not 1 <= args.days <= 365:
        raise CliError(f"--days: must be 1..365, got {args.days}")
    day = day_arg(args.date, site)
    store = open_store(s)  # held by the server: intent.cli.main forwards the command
    before = compute_scores(store, site.name, rules_of(site), day, args.days)
    after = compute_scores(store, site.name, new_rules, day, args.days)
    print(f"{site.name} {day}, replaying {args.days} days: {len(after)} companies")
    print("  rules changed: " + ("; ".join(rule_changes(rules_of(site), new_rules)) or "nothing"))
    print(f"  current rules: {tally(before)}")
    print(f"  new rules:     {tally(after)}")
    old_rules = rules_of(site)
    changes = tier_changes(before, after)
    if not changes:
        print("no company would change tier")
    else:
        print(f"{_companies(len(changes))} would change tier:")
    for a, b in changes:
        customer = " (customer)" if b.is_customer else ""
        print(
            f"  {b.company_name}{customer}: {a.tier} -> {b.tier} "
            f"(score {score_label(a.score, old_rules)} -> {score_label(b.score, new_rules)})"
        )
        print(f"      now: {' · '.join(a.reasons)}")
        print(f"      new: {' · '.join(b.reasons)}")
    moved = score_changes(before, after)
    if moved:
        same = len(after) - len(changes) - len(moved)
        print(f"{_companies(len(moved))} would change score ({same} unchanged):")
    for a, b in moved[:SCORE_CHANGES_SHOWN]:
        customer = " (customer)" if b.is_customer else ""
        print(f"  {b.company_name}{customer}: {b.tier}, score {a.score:g} -> {b.score:g}")
        print(f"      now: {' · '.join(a.reasons)}")
        print(f"      new: {' · '.join(b.reasons)}")
    if len(moved) > SCORE_CHANGES_SHOWN:
        print(f"  … and {len(moved) - SCORE_CHANGES_SHOWN} more")
    return 0


def _companies(n: int) -> str:
    return f"{n} compan{'y' if n == 1 else 'ies'}"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("score", help="score companies and write the day's snapshot")
    p.add_argument("--site", help="one site (default: every site)")
    p.add_argument("--date", help="YYYY-MM-DD (default: today in the site's time zone)")
    p.set_defaults(func=cmd_score)

    rules_sub = command_group(sub, "rules", "scoring rules", metavar="COMMAND")
    t = rules_sub.add_parser(
        "test", help="replay stored history under new rules; show tier changes"
    )
    t.add_argument("--site", required=True)
    t.add_argument("--rules", required=True, help="a TOML file with the new rules")
    t.add_argument("--days", type=int, default=30, help="days of history to replay (default 30)")
    t.add_argument("--date", help="YYYY-MM-DD to score (default: today in the site's time zone)")
    t.set_defaults(func=cmd_rules_test)
