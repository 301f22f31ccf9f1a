"""Scores in words, wherever a person reads one (reasons, the digest, alerts, the dashboard, the
CLI): points, ages, counts, the score with its scale and the buying window."""

from __future__ import annotations

from intent.rules import Rules


def fmt_points(points: float) -> str:
    """+32, +7.4, -10: whole numbers from 10 up, one decimal below."""
    sign = "-" if points < 0 else "+"
    size = abs(points)
    text = f"{size:.0f}" if size >= 9.95 else f"{size:.1f}".rstrip("0").rstrip(".")
    return sign + text


def when(age: int) -> str:
    return "today" if age == 0 else "yesterday" if age == 1 else f"{age} days ago"


def buying_window(rules: Rules) -> str:
    """When hot's buying signal must have happened, as ages read: 'at most 6 days ago'."""
    newest = rules.buying_window_days - 1
    return {0: "today", 1: "today or yesterday"}.get(newest, f"at most {newest} days ago")


def number(value: float) -> str:
    """Scores as people write them: 54, 12.5, -3."""
    text = f"{value:.1f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def score_label(score: float, rules: Rules) -> str:
    """A score with its scale, wherever a person reads it: '131 · hot ≥ 50', '12 · warm ≥ 20'
    (the hot threshold from warm up, the warm one below)."""
    threshold = f"hot ≥ {rules.hot:g}" if score >= rules.warm else f"warm ≥ {rules.warm:g}"
    return f"{number(score)} · {threshold}"


def plural(n: int, noun: str) -> str:
    return f"{n} {noun}{'s' if n != 1 else ''}"


def with_points(text: str, points: float) -> str:
    return text + (f" ({fmt_points(points)})" if points >= 0.05 else "")


def people(max_visitors_per_day: int, active_days: int) -> str:
    """Breadth as a rep reads it: ids are daily, so the most people seen on one day."""
    n = max_visitors_per_day
    if n == 0:
        return "no visits"
    if active_days <= 1:
        return "1 person" if n == 1 else f"{n} people"
    return "1 person a day" if n == 1 else f"up to {n} people on one day"


def activity_label(max_visitors_per_day: int, active_days: int) -> str:
    """'up to 3 people on one day · 6 active days': the digest's and dashboard's summary line."""
    return f"{people(max_visitors_per_day, active_days)} · {plural(active_days, 'active day')}"
