"""The client's IP: the socket peer, or X-Forwarded-For when (and only when) the peer is trusted."""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from collector.settings import Network

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class _IPv4(ipaddress.IPv4Address):
    """An address that computes its hash once: ipaddress computes hash(hex(int(ip))) on
    every dictionary probe, and a request probes ~7 dictionaries keyed by its address (the
    proxy check, the rate limiter, the network and visitor caches). Equal to, and hashing as,
    the plain ipaddress object."""

    __slots__ = ("_hash",)

    def __init__(self, address: object) -> None:
        super().__init__(address)
        self._hash = super().__hash__()

    def __hash__(self) -> int:
        return self._hash


class _IPv6(ipaddress.IPv6Address):
    __doc__ = _IPv4.__doc__
    __slots__ = ("_hash",)

    def __init__(self, address: object) -> None:
        super().__init__(address)
        self._hash = super().__hash__()

    def __hash__(self) -> int:
        return self._hash


@lru_cache(maxsize=65536)  # parsing costs ~3 µs and visitors' addresses repeat
def _addr(text: str) -> IPAddress | None:
    try:
        ip = ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return _IPv4(ip.ipv4_mapped)
        return _IPv6(str(ip)) if ip.scope_id else _IPv6(int(ip))
    return _IPv4(int(ip))


# Whether an address is a trusted proxy, for the proxy list last asked about (the process
# has one; a lru_cache keyed by the list would hash each of its networks on every call).
_proxy_memo: tuple[tuple[Network, ...], dict[IPAddress, bool]] = ((), {})


def _trusted(ip: IPAddress, proxies: tuple[Network, ...]) -> bool:
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
    ip = _addr(peer) if peer else None
    if ip is None or not forwarded_for or not _trusted(ip, proxies):
        return ip
    for hop in reversed(forwarded_for.split(",")):
        candidate = _addr(hop)
        if candidate is None:
            return ip
        ip = candidate
        if not _trusted(ip, proxies):
            return ip
    return ip
