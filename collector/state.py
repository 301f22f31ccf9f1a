"""What the collector's endpoints share: one `Collector` per app, created with it and filled
in by its start-up (collector.app.start)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import Counter
from starlette.applications import Starlette

from collector import pipeline
from collector.enrich import Enricher
from collector.enrich.rdns import ReverseDNS
from collector.logsummary import WarningSummary
from collector.metrics import Metrics
from collector.ratelimit import RateLimiter
from collector.settings import Settings
from collector.spool import Spool
from collector.store import Store, StoreError
from collector.writer import DropCounter, Writer

# Called on the event loop with the rows of each request once they are on disk in the spool
# (the product marks companies to re-score; intent.server registers it): must be quick.
AcceptedHook = Callable[[Sequence[Mapping[str, Any]]], None]


@dataclass
class Collector:
    """Everything the endpoints share, created once per app."""

    settings: Settings
    enricher: Enricher
    metrics: Metrics = field(default_factory=Metrics)
    drops: DropCounter = field(default_factory=DropCounter)
    # One WARNING line per reason per interval, not one per refused request.
    refusals: WarningSummary = field(
        default_factory=lambda: WarningSummary(
            logging.getLogger("intent.collector"), "answering 503"
        )
    )
    store: Store | None = None
    spool: Spool | None = None
    writer: Writer | None = None
    context: pipeline.Context | None = None
    limiter: RateLimiter | None = None
    snippet: tuple[bytes, bytes, str] | None = None  # plain, gzipped, etag
    rdns: ReverseDNS | None = None  # background reverse DNS (INTENT_RDNS)
    # Set by the lifespan: on Python 3.11 each asyncio.get_running_loop() is a getpid() system
    # call (strace under load: 0.8 per request, the only one the bare app does not make).
    loop: asyncio.AbstractEventLoop | None = None
    on_accepted: list[AcceptedHook] = field(default_factory=list)
    _accepted: dict[str, Counter] = field(default_factory=dict)
    _dropped: dict[str, Counter] = field(default_factory=dict)

    def accepted_counter(self, site: str) -> Counter:
        """The site's accepted-events counter (labels() costs a few µs; kept per site)."""
        counter = self._accepted.get(site)
        if counter is None:
            counter = self._accepted[site] = self.metrics.accepted.labels(site)
        return counter

    def dropped_counter(self, reason: str) -> Counter:
        """The dropped-events counter of one reason, kept like `accepted_counter`."""
        counter = self._dropped.get(reason)
        if counter is None:
            counter = self._dropped[reason] = self.metrics.dropped.labels(reason)
        return counter


def store_of(app: Starlette) -> Store:
    store: Store | None = app.state.collector.store
    if store is None:
        raise StoreError("the store is not open yet")
    return store
