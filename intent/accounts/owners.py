"""Account owners: the CRM's owner column holds an email address or a name; names map to people
in `[sites.S.owners]`:

    [sites.shop.owners]
    "Ann Smith" = "ann@ourco.example"
    "Bob Jones" = { email = "bob@ourco.example", slack = "U024BE7LH" }
    "cy@ourco.example" = { slack = "U0G9QF9C6" }   # an owner the CRM gives by address

A name with no mapping leaves its accounts unowned (they go to the site's digest recipients).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
SLACK_ID = re.compile(r"^[UW][A-Z0-9]{6,20}$")
MAX_NAME = 200


class OwnersError(Exception):
    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"{key}: {reason}")
        self.key = key
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Owner:
    name: str  # as written in intent.toml (the address when the CRM gave only that)
    email: str
    slack: str = ""  # Slack member id, for an @-mention


def fold(name: str) -> str:
    """Owner names compare ignoring case and repeated spaces."""
    return " ".join(name.split()).casefold()


@dataclass(frozen=True)
class Owners:
    by_name: Mapping[str, Owner] = field(default_factory=dict)  # folded name -> owner
    by_email: Mapping[str, Owner] = field(default_factory=dict)

    def resolve(self, owner: str) -> Owner | None:
        """The person an account's owner value names; None when it names nobody we can reach
        (empty, or a name with no mapping)."""
        value = owner.strip()
        if EMAIL.match(value):
            email = value.lower()
            return self.by_email.get(email) or Owner(email, email)
        return self.by_name.get(fold(value)) if value else None

    def unmapped(self, owner: str) -> bool:
        """A name (not an address) that no `[sites.S.owners]` entry maps."""
        return bool(owner.strip()) and self.resolve(owner) is None


def parse_owners(raw: Any) -> Owners:
    if not isinstance(raw, dict):
        raise OwnersError("", "expected a table of name = email")
    by_name: dict[str, Owner] = {}
    by_email: dict[str, Owner] = {}
    for key, value in raw.items():
        name = " ".join(key.split())
        if not name or len(name) > MAX_NAME:
            raise OwnersError(key, f"an owner name is 1 to {MAX_NAME} characters")
        email, slack = _person(key, value)
        if fold(name) in by_name:
            raise OwnersError(key, "listed twice (names ignore case and spaces)")
        owner = Owner(name, email, slack)
        by_name[fold(name)] = owner
        by_email.setdefault(email, owner)
    return Owners(by_name, by_email)


def _person(key: str, value: Any) -> tuple[str, str]:
    if isinstance(value, str):
        value = {"email": value}
    if not isinstance(value, dict):
        raise OwnersError(key, 'expected "email" or { email = "...", slack = "U..." }')
    for k in value:
        if k not in ("email", "slack"):
            raise OwnersError(f"{key}.{k}", "unknown setting (known: email, slack)")
    email = value.get("email", key if EMAIL.match(key.strip()) else None)
    if not isinstance(email, str) or not EMAIL.match(email.strip()):
        raise OwnersError(key, f"not an email address: {email!r}")
    slack = value.get("slack", "")
    if not isinstance(slack, str) or (slack and not SLACK_ID.match(slack)):
        raise OwnersError(
            f"{key}.slack", f"expected a Slack member id such as U024BE7LH, got {slack!r}"
        )
    return email.strip().lower(), slack
