"""IP -> network (geo, ASN, organisation, traffic class) -> company.

The readers are opened once at start-up and held by the pipeline context. A lookup does no I/O
on the request path: the MaxMind files are memory-mapped, the owner's ranges are in memory, and
answers are cached per address; a background thread reloads the ranges and re-opens replaced
files, and each reload starts a new `generation` so nothing cached outlives what made it.
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
