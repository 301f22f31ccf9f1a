"""API keys. Placeholder until the API issue lands: no key is valid."""

from __future__ import annotations

from dataclasses import dataclass

from intent.store import Store


@dataclass(frozen=True)
class ApiKey:
    prefix: str
    sites: tuple[str, ...]
    scope: str  # read | write


def verify(store: Store, token: str) -> ApiKey | None:
    return None
