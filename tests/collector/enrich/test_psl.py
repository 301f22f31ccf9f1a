"""collector.enrich.psl's short cut (read a host's labels only while a rule can still match)
gives the package's own answer for every rule of the list, above and below it."""

from __future__ import annotations

import pytest
from publicsuffixlist import PSLFILE

from collector.enrich.psl import load, registrable_domain


def _hosts() -> list[str]:
    """Each rule (wildcards filled in, exceptions as written), as a host and under one and two
    more labels, plus names no rule knows."""
    hosts = ["localhost", "acme", "192.0.2.1", "acme.corp", "a.b.c.unknowntld", ".acme.com"]
    with open(PSLFILE, encoding="utf-8") as f:
        for line in f:
            rule = line.strip().split(" ")[0].lower()
            if not rule or rule.startswith("//"):
                continue
            rule = rule.removeprefix("!").replace("*", "wild")
            hosts += [rule, f"acme.{rule}", f"www.acme.{rule}", f"a.b.c.d.e.{rule}"]
    return hosts


@pytest.mark.parametrize("platforms", [False, True])
def test_every_rule_gets_the_packages_answer(platforms: bool) -> None:
    psl, hosts = load(platforms), _hosts()
    assert len(hosts) > 30_000  # the whole list was read
    wrong = []
    for host in hosts:
        want = psl.privatesuffix(host) or ""
        if host.rpartition(".")[2] in ("example", "test"):  # reserved: read as suffixes here
            continue
        if registrable_domain(host, platforms) != want:
            wrong.append((host, registrable_domain(host, platforms), want))
    assert wrong == []
    # the rules that look past their own labels: wildcards and their exceptions
    assert registrable_domain("www.ck", platforms) == "www.ck"  # !www.ck
    assert registrable_domain("shop.acme.ck", platforms) == "shop.acme.ck"  # *.ck
    assert registrable_domain("a.b.city.kawasaki.jp", platforms) == "city.kawasaki.jp"
