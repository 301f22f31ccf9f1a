"""IP -> network (geo, ASN, organisation, traffic class) -> company.

The readers are opened once at start-up and held by the pipeline context; lookups are pure.
"""

from collector.enrich.enricher import Enricher, build_enricher
from collector.enrich.model import SOURCES, TRAFFIC_CLASSES, UNKNOWN, Company, NetworkInfo

__all__ = [
    "SOURCES",
    "TRAFFIC_CLASSES",
    "UNKNOWN",
    "Company",
    "Enricher",
    "NetworkInfo",
    "build_enricher",
]
