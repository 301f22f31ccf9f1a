"""The client's IP: the socket peer, or X-Forwarded-For when (and only when) the peer is trusted."""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from collector.settings import Network

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@lru_cache(maxsize=65536)  # parsing costs ~3 µs and visitors' addresses repeat
def _addr(text: str) -> IPAddress | None:
    try:
        ip = ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


@lru_cache(maxsize=4096)
def _trusted(ip: IPAddress, proxies: tuple[Network, ...]) -> bool:
    return any(ip.version == net.version and ip in net for net in proxies)


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
