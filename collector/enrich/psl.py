"""A host name's registrable domain ('mail.eu.example.co.uk' -> 'example.co.uk'), from the public
suffix list that the `publicsuffixlist` package ships (its version names the list's date). The
list is read from the package once; it is never fetched at run time.

Only the list's ICANN section counts: its private section names hosting platforms' customer
zones (`compute-1.amazonaws.com`, `github.io`), and for us the owner of such a name is the
platform, whose registrable domain (`amazonaws.com`) is then refused as a host's. A name under a
suffix the list does not know (`.local`, `.corp`, `.internal`) has no registrable domain, and
neither has one under an internationalised suffix (`xn--p1ai`): the list's punycode forms cost
~1.7 s of start-up to build, for names that reverse zones hardly use.

CRM accounts (intent.accounts) count the private section too (`platforms=True`): a customer's
shop at `acme.myshopify.com` is that customer's account, not one account for every shop.

A lookup reads a host's labels from the right only while they can still reach a rule of the
list (`_rule_tails`): the answer for `company123.co.uk` is the one for any `<label>.co.uk`, kept
per suffix, so a CRM import of 100,000 domains costs a few set lookups each, not the package's
full scan (identical answers: tests/collector/test_psl.py checks every rule of the list).
"""

from __future__ import annotations

from functools import lru_cache

from publicsuffixlist import PSLFILE, PublicSuffixList


@lru_cache(maxsize=2)
def load(platforms: bool = False) -> PublicSuffixList:
    """The list, parsed once (~0.2 s): call it at start-up, not on the event loop."""
    return PublicSuffixList(
        only_icann=not platforms, accept_unknown=False, accept_encoded_idn=False
    )


# Top-level names reserved for documentation and testing (RFC 2606, RFC 6761): never delegated,
# so no real answer carries one; the demo's companies and CRM export use them, as suffixes.
RESERVED_SUFFIXES = frozenset({"example", "test"})


@lru_cache(maxsize=1)
def _rule_tails() -> frozenset[str]:
    """Every rule of the list, both sections, without `*.` or `!`, and every shorter suffix of
    one (`uk`, `co.uk`, `ck` for `*.ck`). A host's tail that is none of these is matched by no
    rule, nor is any longer tail: the labels left of it cannot change the answer."""
    tails: set[str] = set()
    with open(PSLFILE, encoding="utf-8") as f:
        for line in f:
            rule = line.strip().split(" ")[0].lower().removeprefix("!").removeprefix("*.")
            if rule and not rule.startswith("//"):
                labels = rule.split(".")
                tails.update(".".join(labels[i:]) for i in range(len(labels)))
    return frozenset(tails)


_PUBLIC_LABELS: dict[tuple[str, bool], int] = {}  # (suffix, platforms) -> public labels


def _public_labels(suffix: str, label: str, platforms: bool) -> int:
    """How many of the last labels of `<label>.<suffix>` are public (0: under no rule), for a
    `label` that makes it no rule's tail, so the answer holds for every such label."""
    key = (suffix, platforms)
    count = _PUBLIC_LABELS.get(key)
    if count is None:
        found = load(platforms).publicsuffix(f"{label}.{suffix}" if suffix else label)
        count = _PUBLIC_LABELS[key] = found.count(".") + 1 if found else 0
    return count


@lru_cache(maxsize=16384)
def registrable_domain(name: str, platforms: bool = False) -> str:
    """The registrable domain of a host name, lower-cased, or '' when it has none. With
    `platforms`, a hosting platform's customer zone (`acme.github.io`) is its own domain."""
    return find_registrable_domain(name, platforms)


def find_registrable_domain(name: str, platforms: bool = False) -> str:
    """registrable_domain without its cache, for names seen once (a CRM import's domains)."""
    host = name.strip().lower().rstrip(".")
    if not host or ".." in host:
        return ""
    label, dot, rest = host.rpartition(".")
    if rest in RESERVED_SUFFIXES:
        return label.rpartition(".")[2] + "." + rest if dot and label else ""
    labels = host.split(".")
    if "" in labels:  # a leading dot
        return ""
    tails, count = _rule_tails(), len(labels)
    suffix, depth, tail = "", 1, rest
    while tail in tails:
        if depth == count:  # the whole name is a rule or a rule's tail: the package decides
            try:
                return load(platforms).privatesuffix(host) or ""
            except (ValueError, UnicodeError):
                return ""
        suffix, depth = tail, depth + 1
        tail = f"{labels[-depth]}.{tail}"
    public = _public_labels(suffix, labels[-depth], platforms)
    return ".".join(labels[-public - 1 :]) if public and count > public else ""
