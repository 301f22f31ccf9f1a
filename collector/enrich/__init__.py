"""IP -> network (geo, ASN, organisation, traffic class) -> company.

The readers are opened once at start-up and held by the pipeline context; lookups are pure.
"""

from __future__ import annotations

from dataclasses import dataclass

from collector.clientip import IPAddress
from collector.settings import Settings, SiteConfig

TRAFFIC_CLASSES = ("business", "education", "government", "isp", "mobile", "hosting", "unknown")


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


@dataclass(frozen=True, slots=True)
class Company:
    key: str  # the domain where known, else a normalised organisation name
    domain: str
    name: str
    source: str  # identify | ranges | maxmind | asn
    confidence: float


UNKNOWN = NetworkInfo()


class Enricher:
    """Holds every configured reader. Placeholder: the identification issue fills it in."""

    def network(self, ip: IPAddress | None) -> NetworkInfo:
        return UNKNOWN

    def company(
        self, ip: IPAddress | None, network: NetworkInfo, site: SiteConfig
    ) -> Company | None:
        return None


def build_enricher(settings: Settings) -> Enricher:
    """Open every configured reader once (placeholder until the identification issue)."""
    return Enricher()
