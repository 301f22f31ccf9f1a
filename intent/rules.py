"""Scoring rules as code: parsed from a site's `[sites.NAME.rules]` table (docs/scoring.md).

Every key is optional; a missing key keeps its default. A `signals` table, when given, replaces
the default signals entirely (what is written is what is scored), and so does `customer`.
Invalid rules raise `RulesError(rule, reason)` naming the rule's path, e.g. `signals.demo.points`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


class RulesError(Exception):
    def __init__(self, rule: str, reason: str) -> None:
        super().__init__(f"{rule}: {reason}")
        self.rule = rule
        self.reason = reason


def page_regex(paths: tuple[str, ...], regex: str) -> str:
    """Globs and a regex on the path as one RE2-compatible alternation ('' if none)."""
    parts = [glob_to_regex(p) for p in paths]
    if regex:
        parts.append(f"(?:{regex})")
    return "|".join(parts)


@dataclass(frozen=True)
class Signal:
    """Points for a page (glob or regex on the path) or a custom event name."""

    name: str
    points: float
    paths: tuple[str, ...] = ()
    regex: str = ""
    events: tuple[str, ...] = ()
    buying: bool = False  # counts as the recent buying signal that hot requires

    @property
    def page_regex(self) -> str:
        """One RE2-compatible pattern for every page this signal matches ('' if none)."""
        return page_regex(self.paths, self.regex)


@dataclass(frozen=True)
class Customer:
    """Pages or events only existing customers see (login, the app): such companies are
    flagged `is_customer` and left out of the digest."""

    paths: tuple[str, ...] = ()
    regex: str = ""
    events: tuple[str, ...] = ()

    @property
    def page_regex(self) -> str:
        return page_regex(self.paths, self.regex)


DEFAULT_SIGNALS: tuple[Signal, ...] = (
    Signal("demo_request", 20, events=("demo_request",), buying=True),
    Signal("demo", 15, paths=("/demo*", "/request-demo*", "/book-demo*"), buying=True),
    Signal("pricing", 10, paths=("/pricing*", "/plans*"), buying=True),
    Signal("webinar", 10, paths=("/webinar*",)),
    Signal("case_studies", 5, paths=("/case-stud*", "/customers/*")),
    Signal("ebook", 5, paths=("/ebook*", "/resources/ebook*", "/whitepaper*")),
    Signal("blog", 1, paths=("/blog/*",)),
    Signal("careers", -10, paths=("/careers*", "/jobs*")),
)
DEFAULT_CUSTOMER = Customer(paths=("/login*", "/signin*", "/app", "/app/*"), events=("login",))


@dataclass(frozen=True)
class Rules:
    signals: tuple[Signal, ...] = DEFAULT_SIGNALS
    customer: Customer = DEFAULT_CUSTOMER
    cap_per_visitor_day: float = 40.0  # positive points one visitor can add in one day
    breadth_points: float = 5.0  # per extra person seen on one day (visitor ids are daily)
    breadth_max: float = 20.0
    frequency_points: float = 3.0  # per distinct active day beyond the first
    frequency_max: float = 15.0
    half_life_days: float = 7.0
    hot: float = 50.0
    warm: float = 20.0
    buying_window_days: int = 7  # hot needs a buying signal at most N - 1 days ago (today is 0)
    window_days: int = 30  # days of rollups read per scoring run
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False)

    def signal(self, name: str) -> Signal | None:
        return next((s for s in self.signals if s.name == name), None)


def glob_to_regex(glob: str) -> str:
    """`*` is any text (slashes included), `?` one character; the whole path must match."""
    out = []
    for ch in glob:
        if ch == "*":
            out.append(".*")
        elif ch == "?":
            out.append(".")
        else:
            out.append(re.escape(ch))
    return "^" + "".join(out) + "$"


# ClickHouse matches with RE2 and Vectorscan: no look-around, back-references, atomic groups,
# conditionals or possessive quantifiers.
_NOT_RE2 = re.compile(r"\(\?[=!>(]|\(\?<[=!]|\\[1-9]|\(\?P=|(?<!\\)[*+?}]\+")

_TOP_KEYS = {
    "signals", "customer", "cap_per_visitor_day", "breadth", "frequency", "half_life_days",
    "hot", "warm", "buying_window_days", "window_days",
}  # fmt: skip


def parse_rules(raw: Any) -> Rules:
    if not isinstance(raw, dict):
        raise RulesError("rules", "expected a table")
    for key in raw:
        if key not in _TOP_KEYS:
            raise RulesError(key, f"unknown rule (known: {', '.join(sorted(_TOP_KEYS))})")
    d = Rules()
    values: dict[str, Any] = {"raw": raw}
    if "signals" in raw:
        values["signals"] = _signals(raw["signals"])
    if "customer" in raw:
        values["customer"] = _customer(raw["customer"])
    values["cap_per_visitor_day"] = _number(
        raw, "cap_per_visitor_day", d.cap_per_visitor_day, 1, 10_000
    )
    for name, default_points, default_max in (
        ("breadth", d.breadth_points, d.breadth_max),
        ("frequency", d.frequency_points, d.frequency_max),
    ):
        table = raw.get(name, {})
        if not isinstance(table, dict):
            raise RulesError(name, "expected a table with points and max")
        for key in table:
            if key not in ("points", "max"):
                raise RulesError(f"{name}.{key}", "unknown rule (known: max, points)")
        values[f"{name}_points"] = _number(table, "points", default_points, 0, 1000, f"{name}.")
        values[f"{name}_max"] = _number(table, "max", default_max, 0, 10_000, f"{name}.")
    values["half_life_days"] = _number(raw, "half_life_days", d.half_life_days, 0.1, 365)
    values["hot"] = _number(raw, "hot", d.hot, 0.1, 100_000)
    values["warm"] = _number(raw, "warm", d.warm, 0.1, 100_000)
    if values["warm"] > values["hot"]:
        raise RulesError("warm", f"must not be above hot ({values['hot']:g})")
    values["buying_window_days"] = _whole(raw, "buying_window_days", d.buying_window_days, 1, 365)
    values["window_days"] = _whole(raw, "window_days", d.window_days, 1, 365)
    rules = Rules(**values)
    if not any(s.buying for s in rules.signals):
        raise RulesError(
            "signals", "at least one signal must have buying = true (hot requires one)"
        )
    return rules


def _number(
    table: Mapping[str, Any], key: str, default: float, low: float, high: float, prefix: str = ""
) -> float:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RulesError(prefix + key, f"expected a number, got {value!r}")
    if not low <= value <= high:
        raise RulesError(prefix + key, f"must be between {low:g} and {high:g}, got {value:g}")
    return float(value)


def _whole(table: Mapping[str, Any], key: str, default: int, low: int, high: int) -> int:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise RulesError(key, f"expected a whole number of days, got {value!r}")
    if not low <= value <= high:
        raise RulesError(key, f"must be between {low} and {high}, got {value}")
    return value


def _strings(table: Mapping[str, Any], single: str, plural: str, at: str) -> tuple[str, ...]:
    out: list[str] = []
    if single in table:
        value = table[single]
        if not isinstance(value, str) or not value.strip():
            raise RulesError(f"{at}.{single}", "expected a non-empty string")
        out.append(value.strip())
    if plural in table:
        value = table[plural]
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise RulesError(f"{at}.{plural}", "expected a list of non-empty strings")
        out.extend(v.strip() for v in value)
    return tuple(out)


def _paths(table: Mapping[str, Any], at: str) -> tuple[str, ...]:
    paths = _strings(table, "path", "paths", at)
    for p in paths:
        if not p.startswith(("/", "*")):
            raise RulesError(f"{at}.paths", f"a path glob starts with '/' or '*', got {p!r}")
    return paths


def _regex(table: Mapping[str, Any], at: str) -> str:
    value = table.get("regex", "")
    if not isinstance(value, str):
        raise RulesError(f"{at}.regex", "expected a string")
    if value:
        if _NOT_RE2.search(value):
            raise RulesError(
                f"{at}.regex",
                "look-around, back-references, atomic groups and possessive quantifiers are not supported",
            )
        try:
            re.compile(value)
        except re.error as exc:
            raise RulesError(f"{at}.regex", f"invalid regular expression: {exc}") from None
    return value


_SIGNAL_KEYS = {"path", "paths", "regex", "event", "events", "points", "buying"}
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_ .-]{0,63}$")


def _signals(raw: Any) -> tuple[Signal, ...]:
    if not isinstance(raw, dict) or not raw:
        raise RulesError("signals", "expected a table of signals ([rules.signals.NAME])")
    out = []
    for name, table in raw.items():
        at = f"signals.{name}"
        if not _NAME.match(name):
            raise RulesError(at, "signal names are letters, digits, '_', '-', '.' or spaces")
        if not isinstance(table, dict):
            raise RulesError(at, 'expected a table, e.g. { paths = ["/pricing*"], points = 10 }')
        for key in table:
            if key not in _SIGNAL_KEYS:
                raise RulesError(
                    f"{at}.{key}", f"unknown key (known: {', '.join(sorted(_SIGNAL_KEYS))})"
                )
        paths = _paths(table, at)
        regex = _regex(table, at)
        events = _strings(table, "event", "events", at)
        if not (paths or regex or events):
            raise RulesError(at, "needs paths (globs), regex or events to match")
        if "points" not in table:
            raise RulesError(
                f"{at}.points", "missing (e.g. points = 10, or -10 for a negative signal)"
            )
        points = _number(table, "points", 0, -1000, 1000, f"{at}.")
        if points == 0:
            raise RulesError(f"{at}.points", "must not be 0 (remove the signal instead)")
        buying = table.get("buying", False)
        if not isinstance(buying, bool):
            raise RulesError(f"{at}.buying", "expected true or false")
        if buying and points < 0:
            raise RulesError(f"{at}.buying", "a buying signal must have positive points")
        out.append(Signal(name, points, paths, regex, events, buying))
    return tuple(out)


def _customer(raw: Any) -> Customer:
    if not isinstance(raw, dict):
        raise RulesError("customer", "expected a table with paths, regex or events")
    for key in raw:
        if key not in ("path", "paths", "regex", "event", "events"):
            raise RulesError(f"customer.{key}", "unknown key (known: events, paths, regex)")
    return Customer(
        _paths(raw, "customer"),
        _regex(raw, "customer"),
        _strings(raw, "event", "events", "customer"),
    )
