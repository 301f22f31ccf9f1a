"""What enrichment produces: the network a visit came from and, when known, its company."""

from __future__ import annotations

from dataclasses import dataclass

TRAFFIC_CLASSES = ("business", "education", "government", "isp", "mobile", "hosting", "unknown")
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


@dataclass(frozen=True, slots=True)
class Company:
    key: str  # the domain where known, else a normalised organisation name
    domain: str
    name: str
    source: str  # identify | ranges | maxmind | asn
    confidence: float


UNKNOWN = NetworkInfo()
