"""Who is told: the site's digest split by account owner (docs/accounts.md, "Who is told").

Each owner gets the companies whose CRM account they own, in the site digest's sections and
order; the site's `digest_recipients` get the rest (no account, no owner, or an owner name that
`[sites.S.owners]` does not map), with a count of what went to owners. The site's Slack message
stays whole and @-mentions each owner who has a Slack id (intent.digest_render.render_slack).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from intent.accounts.matching import NO_OWNER, owned_by
from intent.digest_model import Digest, DigestCompany, Section


@dataclass(frozen=True)
class OwnerDigest:
    """One owner's digest and where it goes."""

    email: str
    name: str
    slack: str
    digest: Digest


def owner_email(c: DigestCompany) -> str:
    """The address of the company's owner, or '' when it has none we can reach."""
    return str((c.account or {}).get("owner_email") or "")


def restrict(
    digest: Digest, keep: Callable[[DigestCompany], bool], audience: str = "", routed: int = 0
) -> Digest:
    """The digest with only the companies `keep` accepts, in the same sections and order."""
    sections = []
    for s in digest.sections:
        chosen = [c for c in s.every if keep(c)]
        cut = digest.max_per_section
        sections.append(
            Section(s.key, s.title, tuple(chosen[:cut]), len(chosen), tuple(chosen[cut:]))
        )
    # AI agents' reads are the site's, not an account's: the recipients' part keeps them.
    ai = None if audience else digest.ai_agents
    return replace(digest, sections=tuple(sections), audience=audience, routed=routed, ai_agents=ai)


def for_owner(digest: Digest, owner: str) -> Digest:
    """`intent digest --owner`: the companies of one owner (an address or a name), or with
    `none` what the site's recipients get."""
    if owner.strip().casefold() == NO_OWNER:
        return unowned(digest)
    found = [c for s in digest.sections for c in s.every if owned_by(c.account, owner)]
    name = str(found[0].account["owner"]) if found and found[0].account else owner.strip()
    return restrict(digest, lambda c: owned_by(c.account, owner), audience=name)


def unowned(digest: Digest) -> Digest:
    """What the site's digest_recipients get: the companies no reachable owner has."""
    owned = sum(1 for s in digest.sections for c in s.every if owner_email(c))
    return restrict(digest, lambda c: not owner_email(c), routed=owned)


def owner_digests(digest: Digest) -> list[OwnerDigest]:
    """One digest per owner who has a company in the site's digest, by address."""
    people: dict[str, DigestCompany] = {}
    for s in digest.sections:
        for c in s.every:
            email = owner_email(c)
            if email:
                people.setdefault(email, c)
    out = []
    for email, first in sorted(people.items()):
        name = str((first.account or {}).get("owner") or email)
        mine = restrict(digest, _owned_by(email), audience=name)
        out.append(OwnerDigest(email, name, first.owner_slack, mine))
    return out


def _owned_by(email: str) -> Callable[[DigestCompany], bool]:
    return lambda c: owner_email(c) == email


def mentions(digest: Digest) -> list[tuple[str, int]]:
    """(Slack member id, companies) for each owner with a Slack id in the digest."""
    counts: dict[str, int] = {}
    for s in digest.sections:
        for c in s.every:
            if c.owner_slack:
                counts[c.owner_slack] = counts.get(c.owner_slack, 0) + 1
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
