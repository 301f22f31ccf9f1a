"""What enrichment produces: the network a visit came from and, when known, its company."""

from __future__ import annotations

from dataclasses import dataclass, field

# ai-agent comes from the user agent, not the network (collector/aiagents.py).
TRAFFIC_CLASSES = ("business", "education", "government", "isp", "mobile", "hosting", "ai-agent",
                   "unknown")  # fmt: skip
SOURCES = ("identify", "ranges", "maxmind", "asn")  # strongest first


@dataclass(frozen=True, slots=True)
class NetworkInfo:
    country: str = ""
    region: str = ""
    city: str = ""
    asn: int = 0
    as_org: str = ""
    isp: str = ""
    organization: str = ""
    domain: str = ""
    connection_type: str = ""
    traffic_class: str = "unknown"
    user_type: str = ""  # MaxMind Enterprise's, when known (not stored; it sets confidence)
    anonymous: bool = False  # VPN, hosting provider, proxy or Tor exit (not stored; a class)
    # The `events` row fields above, made once (a network is cached per address and reused).
    fields: dict[str, str | int] = field(
        default_factory=dict, compare=False, hash=False, repr=False
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "fields", {
            "country": self.country, "region": self.region, "city": self.city, "asn": self.asn,
            "as_org": self.as_org, "isp": self.isp, "organization": self.organization,
            "connection_type": self.connection_type, "traffic_class": self.traffic_class,
        })  # fmt: skip


@dataclass(frozen=True, slots=True)
class Company:
    key: str  # the domain where known, else a normalised organisation name
    domain: str
    name: str
    source: str  # identify | ranges | maxmind | asn
    confidence: float
    fields: dict[str, str | float] = field(
        default_factory=dict, compare=False, hash=False, repr=False
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "fields", {
            "company_key": self.key, "company_domain": self.domain, "company_name": self.name,
            "company_source": self.source, "confidence": self.confidence,
        })  # fmt: skip


NO_COMPANY = Company("", "", "", "", 0.0).fields  # the row fields of a visit with no company


UNKNOWN = NetworkInfo()  # nothing known: GeoIP.lookup returns this one object (`is UNKNOWN`)
