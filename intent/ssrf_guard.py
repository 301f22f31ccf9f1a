"""The SSRF guard of every POST to a URL a site's settings name (webhooks, the Slack digest):
each address the host resolves to must be public, embedded IPv4 addresses included (NAT64,
6to4, Teredo), unless the setting allows private targets; the request goes to the address
that was checked, so DNS cannot change between check and request.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

import httpx


class Refused(Exception):
    """The target may not be called (a final outcome, not retried)."""


# IPv6 prefixes whose addresses carry an IPv4 address a packet may end up at (RFC 6052 NAT64,
# RFC 8215 local-use NAT64, RFC 4291 IPv4-compatible); 6to4 and Teredo are read by ipaddress.
NAT64 = ipaddress.ip_network("64:ff9b::/96")
LOCAL_NAT64 = ipaddress.ip_network("64:ff9b:1::/48")  # its embedding is the operator's choice
IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


def embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address embeds (mapped, NAT64, 6to4, Teredo, compatible)."""
    if ip.ipv4_mapped is not None:
        return [ip.ipv4_mapped]
    if ip in NAT64 or ip in IPV4_COMPATIBLE:
        return [ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)]
    if ip.sixtofour is not None:
        return [ip.sixtofour]
    if ip.teredo is not None:
        return list(ip.teredo)  # the relay server and the (de-obfuscated) client
    return []


def _not_public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    # is_global is False for loopback, private, link-local (169.254.169.254 metadata),
    # shared (100.64/10), unique-local (fd00:ec2::254), documentation and reserved ranges.
    return not ip.is_global or ip.is_multicast


def not_public(address: str) -> bool:
    """True unless the address, and every IPv4 address it embeds, is public: 64:ff9b::a9fe:a9fe
    reaches 169.254.169.254 through a NAT64 gateway, 2002:7f00:1::1 is 127.0.0.1 in 6to4."""
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv4Address):
        return _not_public(ip)
    if ip.ipv4_mapped is not None:  # ::ffff:a.b.c.d is the IPv4 address itself
        return _not_public(ip.ipv4_mapped)
    if ip in LOCAL_NAT64:  # private by definition (RFC 8215), whatever it embeds
        return True
    return _not_public(ip) or any(_not_public(v4) for v4 in embedded_ipv4(ip))


def resolve_target(url: str, allow_private: bool, setting: str = "allow_private") -> str:
    """The address to connect to: every address the host resolves to must be public (unless
    `allow_private`, named `setting` in the refusal)."""
    parts = urlsplit(url)
    host = parts.hostname
    if parts.scheme not in ("http", "https") or not host:
        raise Refused(f"not an http(s) URL: {url}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses = [str(info[4][0]) for info in infos]
    if not addresses:
        raise OSError(f"{host} has no address")
    if not allow_private:
        for address in addresses:
            if not_public(address):
                raise Refused(
                    f"{host} resolves to non-public address {address} (set {setting} to allow it)"
                )
    return addresses[0]


def post_checked(
    client: httpx.Client,
    url: str,
    allow_private: bool,
    content: bytes,
    headers: dict[str, str],
    setting: str = "allow_private",
) -> httpx.Response:
    """POST to the address resolve_target checked (so DNS cannot change between check and
    request), with the URL's own Host and TLS name. Webhooks and the Slack digest use it."""
    address = resolve_target(url, allow_private, setting)
    target = httpx.URL(url)
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    return client.post(
        target.copy_with(host=address),
        content=content,
        headers={"Host": target.netloc.decode("ascii"), **headers},
        extensions=extensions,
    )
