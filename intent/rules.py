"""Scoring rules as code: parsed from a site's `[sites.NAME.rules]` table.

Placeholder until the scoring issue lands: accepts a table and keeps it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class RulesError(Exception):
    def __init__(self, rule: str, reason: str) -> None:
        super().__init__(f"{rule}: {reason}")
        self.rule = rule
        self.reason = reason


@dataclass(frozen=True)
class Rules:
    raw: dict[str, Any] = field(default_factory=dict)


def parse_rules(raw: Any) -> Rules:
    if not isinstance(raw, dict):
        raise RulesError("rules", "expected a table")
    return Rules(raw=raw)
