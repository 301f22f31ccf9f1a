"""The realistic workload every benchmark shares: user agents, client addresses, beacon bodies,
and the test GeoIP database (built with mmdb-writer, like the tests do).

Deterministic (seeded) so two runs send the same traffic.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

# The agents most traffic comes from (repeated); `unique_agent` makes the long tail.
COMMON_AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (iPad; CPU OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.81 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/129.0.0.0 Safari/537.36 OPR/115.0.0.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "curl/8.5.0",
]

_WINDOWS = ["Windows NT 10.0; Win64; x64", "Windows NT 10.0; WOW64", "Windows NT 6.1; Win64; x64"]
_MACS = [
    "Macintosh; Intel Mac OS X 10_15_7",
    "Macintosh; Intel Mac OS X 14_6_1",
    "Macintosh; Intel Mac OS X 13_5",
]
_ANDROID = [
    "SM-G991B",
    "SM-A536B",
    "Pixel 8",
    "Pixel 7a",
    "M2101K6G",
    "CPH2451",
    "moto g(60)",
    "SM-X710",
]


def unique_agent(rng: random.Random, n: int) -> str:
    """A browser agent with a random build number: realistic, and (with `n`) never repeated."""
    kind = rng.randrange(6)
    build, patch = rng.randrange(6000, 7000), n
    if kind == 0:
        return (f"Mozilla/5.0 ({rng.choice(_WINDOWS)}) AppleWebKit/537.36 (KHTML, like Gecko) "
                f"Chrome/{rng.randrange(110, 132)}.0.{build}.{patch} Safari/537.36")  # fmt: skip
    if kind == 1:
        return (f"Mozilla/5.0 ({rng.choice(_MACS)}) AppleWebKit/605.1.15 (KHTML, like Gecko) "
                f"Version/{rng.randrange(15, 19)}.{patch % 10} Safari/605.1.15 Build/{patch}")  # fmt: skip
    if kind == 2:
        v = rng.randrange(110, 134)
        return (
            f"Mozilla/5.0 ({rng.choice(_WINDOWS)}; rv:{v}.0) Gecko/{20100101 + patch} Firefox/{v}.0"
        )
    if kind == 3:
        return (f"Mozilla/5.0 (Linux; Android {rng.randrange(9, 15)}; {rng.choice(_ANDROID)}) "
                f"AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{rng.randrange(110, 132)}.0.{build}.{patch} "
                "Mobile Safari/537.36")  # fmt: skip
    if kind == 4:
        ios = f"{rng.randrange(15, 19)}_{rng.randrange(0, 7)}"
        return (f"Mozilla/5.0 (iPhone; CPU iPhone OS {ios} like Mac OS X) AppleWebKit/605.1.15 "
                f"(KHTML, like Gecko) Version/{ios.split('_')[0]}.0 Mobile/15E{patch} Safari/604.1")  # fmt: skip
    return (f"Mozilla/5.0 ({rng.choice(_WINDOWS)}) AppleWebKit/537.36 (KHTML, like Gecko) "
            f"Chrome/{rng.randrange(110, 132)}.0.{build}.{patch} Safari/537.36 Edg/{rng.randrange(110, 132)}.0.{patch}.0")  # fmt: skip


def unique_agents(count: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    return [unique_agent(rng, i) for i in range(count)]


# -- client addresses and the GeoIP database -------------------------------------------------

COMPANIES = 2000  # one /24 each in 45.0.0.0/13 (the scale benchmark uses the same count)


def company_net(i: int) -> str:
    return f"45.{i // 256}.{i % 256}.0/24"


def client_ips(count: int, seed: int = 11) -> list[str]:
    """Mostly business addresses (skewed to few big companies), some ISP, a few hosting."""
    rng = random.Random(seed)
    ips = []
    for _ in range(count):
        r = rng.random()
        if r < 0.60:
            i = int(COMPANIES * rng.random() ** 3)  # a few companies visit a lot
            ips.append(f"45.{i // 256}.{i % 256}.{rng.randrange(1, 255)}")
        elif r < 0.95:
            ips.append(f"81.{rng.randrange(0, 16)}.{rng.randrange(256)}.{rng.randrange(1, 255)}")
        else:
            ips.append(f"34.{rng.randrange(0, 16)}.{rng.randrange(256)}.{rng.randrange(1, 255)}")
    return ips


# An ISP's and a cloud's /12, their organization the ISP: (cidr, country code, country, ASN,
# AS organization, ISP, connection type, user type).
PROVIDER_NETS = (
    ("81.0.0.0/12", "DE", "Germany", 3320, "Deutsche Telekom AG", "Deutsche Telekom", "Cable/DSL", "residential"),
    ("34.0.0.0/12", "US", "United States", 396982, "GOOGLE-CLOUD-PLATFORM", "Google Cloud", "Corporate", "hosting"),
)  # fmt: skip


def build_geoip(path: Path) -> Path:
    """A GeoIP2-Enterprise database: 2,000 company /24s, an ISP /12 and a hosting /12."""
    import netaddr
    from mmdb_writer import MMDBWriter

    w = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoIP2-Enterprise")
    countries = [
        ("US", "United States"),
        ("DE", "Germany"),
        ("GB", "United Kingdom"),
        ("FR", "France"),
    ]
    for i in range(COMPANIES):
        code, name = countries[i % len(countries)]
        w.insert_network(netaddr.IPSet([company_net(i)]), {
            "country": {"iso_code": code, "names": {"en": name}},
            "city": {"names": {"en": f"City {i % 50}"}},
            "subdivisions": [{"iso_code": "R1", "names": {"en": f"Region {i % 10}"}}],
            "traits": {
                "autonomous_system_number": 64000 + i, "autonomous_system_organization": f"Company {i} AS",
                "isp": f"Company {i} Networks", "organization": f"Company {i} Inc",
                "domain": f"company{i}.example", "connection_type": "Corporate", "user_type": "business",
            },
        })  # fmt: skip
    for cidr, code, name, asn, as_org, isp, connection_type, user_type in PROVIDER_NETS:
        w.insert_network(netaddr.IPSet([cidr]), {
            "country": {"iso_code": code, "names": {"en": name}},
            "traits": {"autonomous_system_number": asn, "autonomous_system_organization": as_org,
                       "isp": isp, "organization": isp, "connection_type": connection_type,
                       "user_type": user_type},
        })  # fmt: skip
    w.to_db_file(str(path))
    return path


# -- beacon bodies ---------------------------------------------------------------------------

PATHS = ["/", "/pricing", "/product", "/product/integrations", "/docs/getting-started", "/blog/intent-data",
         "/customers", "/demo", "/careers", "/about", "/security", "/docs/api", "/blog/b2b-sales"]  # fmt: skip


def bodies(site: str, count: int = 200, seed: int = 3) -> list[str]:
    """Mixed bodies as the snippet sends them: pageviews, engagement, custom events, a few
    batched arrays and identify calls."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        path = rng.choice(PATHS)
        url = f"https://example.com{path}"
        if rng.random() < 0.2:
            url += "?utm_source=linkedin&utm_medium=paid&utm_campaign=q4-launch"
        r = rng.random()
        pageview = {"site": site, "type": "pageview", "url": url, "title": f"Example - {path.strip('/') or 'home'}",
                    "referrer": rng.choice(["", "https://www.google.com/", "https://www.linkedin.com/feed/"])}  # fmt: skip
        doc: object
        if r < 0.55:
            doc = pageview
        elif r < 0.80:
            doc = {"site": site, "type": "engagement", "url": url,
                   "engaged_ms": rng.randrange(1000, 120_000), "scroll": rng.randrange(0, 101)}  # fmt: skip
        elif r < 0.90:
            doc = {"site": site, "type": "event", "name": rng.choice(["signup_click", "demo_request", "download"]),
                   "url": url, "props": {"plan": rng.choice(["team", "business"]), "position": "hero"}}  # fmt: skip
        elif r < 0.98:
            doc = [pageview, {"site": site, "type": "engagement", "url": url, "engaged_ms": 15000, "scroll": 60},
                   {"site": site, "type": "event", "name": "cta_click", "url": url}]  # fmt: skip
        else:
            doc = {
                "site": site,
                "type": "identify",
                "email": f"person{rng.randrange(100)}@company{rng.randrange(50)}.example",
            }
        out.append(json.dumps(doc, separators=(",", ":")))
    return out
