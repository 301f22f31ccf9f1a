"""The client's IP: the socket peer, or X-Forwarded-For when (and only when) the peer is trusted."""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from collector.site_settings import Network

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class _HashOnce:
    """An address that computes its hash once: ipaddress computes hash(hex(int(ip))) on
    every dictionary probe, and a request probes ~7 dictionaries keyed by its address (the
    proxy check, the rate limiter, the network and visitor caches). Equal to, and hashing as,
    the plain ipaddress object."""

    __slots__ = ()
    _hash: int

    def __init__(self, address: object) -> None:
        super().__init__(address)  # type: ignore[call-arg]
        self._hash = super().__hash__()  # type: ignore[misc]  # the subclasses hold the slot

    def __hash__(self) -> int:
        return self._hash


class _IPv4(_HashOnce, ipaddress.IPv4Address):
    __slots__ = ("_hash",)


class _IPv6(_HashOnce, ipaddress.IPv6Address):
    __slots__ = ("_hash",)


# Parsing costs ~3 µs and visitors' addresses repeat; 16,384 like the visitor cache in front
# of it (65,536 held ~10 MB under a flood from ever-new addresses).
@lru_cache(maxsize=16384)
def parse_ip(text: str) -> IPAddress | None:
    text = text.strip().strip("[]")
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address):
        return _IPv6(text) if ip.ipv4_mapped is None else _IPv4(ip.ipv4_mapped)
    return _IPv4(text)


# Whether an address is a trusted proxy, for the proxy list last asked about (the process
# has one; a lru_cache keyed by the list would hash each of its networks on every call).
_proxy_memo: tuple[tuple[Network, ...], dict[IPAddress, bool]] = ((), {})


def is_trusted_proxy(ip: IPAddress, proxies: tuple[Network, ...]) -> bool:
    global _proxy_memo
    known, answers = _proxy_memo
    if known is not proxies:
        answers = {}
        _proxy_memo = (proxies, answers)
    found = answers.get(ip)
    if found is None:
        if len(answers) >= 4096:
            answers.clear()
        found = answers[ip] = any(ip.version == net.version and ip in net for net in proxies)
    return found


def client_ip(
    peer: str | None, forwarded_for: str | None, proxies: tuple[Network, ...]
) -> IPAddress | None:
    """Walk X-Forwarded-For from the right, skipping trusted proxies; a spoofed left part
    written by the client is never reached unless every hop after it is trusted."""
    ip = parse_ip(peer) if peer else None
    if ip is None or not forwarded_for or not is_trusted_proxy(ip, proxies):
        return ip
    for hop in reversed(forwarded_for.split(",")):
        candidate = parse_ip(hop)
        if candidate is None:
            return ip
        ip = candidate
        if not is_trusted_proxy(ip, proxies):
            return ip
    return ip
