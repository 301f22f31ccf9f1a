"""Forward-confirmed reverse DNS with dnspython's asyncio resolver: the PTR names of an address,
and the first of them whose A (IPv4) or AAAA (IPv6) records hold the address again. A name that
does not resolve back is whatever the address's owner chose to write in its reverse zone, so it
proves nothing and is ignored."""

from __future__ import annotations

import ipaddress

import dns.asyncresolver
import dns.exception
import dns.nameserver
import dns.resolver

MAX_NAMES = 3  # PTR names tried per address; more is a misconfigured zone

# A definite "no" (no PTR, no such name): cached for the negative time. Anything else that goes
# wrong (timeout, SERVFAIL, a refused or unreachable server) is a LookupFailed.
_NO_ANSWER = (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer)


class LookupFailed(Exception):
    """The resolver gave no usable answer (timeout, SERVFAIL, unreachable)."""


def make_resolver(
    servers: tuple[tuple[str, int], ...], timeout_s: float
) -> dns.asyncresolver.Resolver:
    """Resolvers at (address, port), or the system's (/etc/resolv.conf) when none are given.
    Raises dns.resolver.NoResolverConfiguration when there is neither."""
    if servers:
        resolver = dns.asyncresolver.Resolver(configure=False)
        resolver.nameservers = [dns.nameserver.Do53Nameserver(a, port) for a, port in servers]
    else:
        resolver = dns.asyncresolver.Resolver()
    # One try per query within the time allowed: a resolver that answers late (a slow reverse
    # zone) is still heard, and an unanswered address is tried again after the failure TTL.
    resolver.lifetime = timeout_s
    resolver.timeout = timeout_s
    return resolver


async def confirmed_name(
    resolver: dns.asyncresolver.Resolver, ip: ipaddress.IPv4Address | ipaddress.IPv6Address
) -> str:
    """The address's forward-confirmed host name (lower-case, no trailing dot), or '' when it
    has none. Raises LookupFailed when the resolver did not answer."""
    try:
        pointers = await resolver.resolve_address(str(ip))
        record_type = "A" if ip.version == 4 else "AAAA"
        for pointer in list(pointers)[:MAX_NAMES]:
            target = pointer.target
            try:
                forward = await resolver.resolve(target, record_type)
            except _NO_ANSWER:
                continue
            if any(ipaddress.ip_address(r.address) == ip for r in forward):
                return str(target.to_text(omit_final_dot=True)).lower()
        return ""
    except _NO_ANSWER:
        return ""
    except (dns.exception.DNSException, OSError) as exc:
        raise LookupFailed(f"{type(exc).__name__}: {exc}") from None
