"""The Enricher: every configured reader, opened once, behind two calls the pipeline makes per
event, `network(ip)` and `company(ip, network, site)`. Lookups are cached per IP, so a busy
office or a returning visitor costs a dictionary probe.

A background thread (started with `load_ranges`) re-reads the owner's ranges when the table
changes and re-opens the MaxMind files when one is replaced (geoipupdate renames a new file
into place), so neither needs a restart."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import replace
from functools import lru_cache
from pathlib import Path

from collector.clientip import IPAddress
from collector.enrich import ranges as owner_ranges
from collector.enrich.company import from_network
from collector.enrich.geoip import Database, GeoIP, open_databases
from collector.enrich.model import UNKNOWN, Company, NetworkInfo
from collector.enrich.published import available as published_available
from collector.enrich.published import published_class
from collector.enrich.traffic import classify
from collector.settings import Settings
from collector.site_settings import SiteConfig
from collector.store import Store, StoreError

log = logging.getLogger("intent.enrich")

# Addresses' network lookups kept: 16,384, like the visitor cache in front of it (65,536 held
# 15-30 MB under a flood from ever-new addresses, with hits rare past the visitor cache).
CACHE_SIZE = 16384
REFRESH_S = 30.0


class Enricher:
    def __init__(
        self,
        databases: list[Database] | None = None,
        failed: list[tuple[Path, str]] | None = None,
        ranges: owner_ranges.RangeTable | None = None,
        paths: tuple[Path, ...] = (),
    ) -> None:
        self.geoip = GeoIP(databases or [])
        self.failed = failed or []
        self.paths = paths  # files to re-open when they change (build_enricher's)
        self._geoip_stamp = _stamps(paths)
        self.ranges = ranges or owner_ranges.RangeTable()
        self._network: Callable[[IPAddress], NetworkInfo] = lru_cache(CACHE_SIZE)(self._lookup)
        self._ranges_version: tuple[int, str] | None = None
        self.generation = 0  # bumped whenever a lookup may answer differently (ranges, files)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def network(self, ip: IPAddress | None) -> NetworkInfo:
        return UNKNOWN if ip is None else self._network(ip)

    def company(
        self, ip: IPAddress | None, network: NetworkInfo, site: SiteConfig
    ) -> Company | None:
        """The owner's ranges, then MaxMind's organisation, then the AS organisation."""
        return self.ranges.lookup(ip) or from_network(network)

    def _lookup(self, ip: IPAddress) -> NetworkInfo:
        found = self.geoip.lookup(ip) if self.geoip.databases else UNKNOWN
        traffic_class = classify(found, published_class(ip))
        if traffic_class not in ("education", "government") and self.ranges.lookup(ip):
            traffic_class = "business"  # the owner knows this range is a company's
        if traffic_class == found.traffic_class:
            return found
        return replace(found, traffic_class=traffic_class)

    # The owner's ranges live in ClickHouse; the running server picks up an import by itself.
    def set_ranges(self, table: owner_ranges.RangeTable) -> None:
        self.ranges = table
        self._network = lru_cache(CACHE_SIZE)(self._lookup)  # cached classes may have changed
        self.generation += 1

    def load_ranges(self, store: Store, refresh_s: float = REFRESH_S) -> None:
        """Load `company_ranges` now and, with refresh_s > 0, re-check it and the MaxMind files
        in the background."""
        self.refresh_ranges(store)
        if refresh_s > 0 and self._thread is None:
            self._stop = threading.Event()
            self._thread = threading.Thread(
                target=self._watch, args=(store, refresh_s), name="intent-ranges", daemon=True
            )
            self._thread.start()

    def refresh_ranges(self, store: Store) -> bool:
        """Reload if the table changed since the last load; True when it reloaded."""
        current = owner_ranges.version(store)
        if current == self._ranges_version:
            return False
        self.set_ranges(owner_ranges.load(store))
        self._ranges_version = current
        log.info("loaded %d company range(s)", len(self.ranges))
        return True

    def refresh_geoip(self) -> bool:
        """Re-open the MaxMind files if any was replaced, appeared or vanished; True if so."""
        stamp = _stamps(self.paths)
        if stamp == self._geoip_stamp:
            return False
        databases, failed = open_databases(self.paths)
        # The old readers are left to the garbage collector: a lookup may still be using them.
        self.geoip, self.failed, self._geoip_stamp = GeoIP(databases), failed, stamp
        self._network = lru_cache(CACHE_SIZE)(self._lookup)
        self.generation += 1
        log.info("re-opened %d GeoIP database(s)", len(databases))
        return True

    def _watch(self, store: Store, every_s: float) -> None:
        while not self._stop.wait(every_s):
            try:
                self.refresh_ranges(store)
            except StoreError as exc:
                log.warning("could not reload company ranges: %s", exc)
            except Exception:  # the watcher must outlive any surprise; the old data stays in use
                log.exception("could not reload company ranges")
            try:
                self.refresh_geoip()
            except Exception:
                log.exception("could not re-open the GeoIP databases")

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None


def build_enricher(settings: Settings) -> Enricher:
    """Open every configured MaxMind database once; a bad file is skipped with a warning."""
    databases, failed = open_databases(settings.geoip_paths)
    published_available()  # the published ranges load now (~0.2 s), not on the first request
    for db in databases:
        log.info("GeoIP %s: %s, built %s", db.path, db.database_type, db.build.date())
    return Enricher(databases, failed, paths=settings.geoip_paths)


def _stamps(paths: tuple[Path, ...]) -> tuple[tuple[int, int, int] | None, ...]:
    """Identity of each file (inode, mtime, size); None where it cannot be read."""
    out: list[tuple[int, int, int] | None] = []
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            out.append(None)
        else:
            out.append((st.st_ino, st.st_mtime_ns, st.st_size))
    return tuple(out)
