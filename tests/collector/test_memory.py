"""What a flood from ever-new addresses and client ids leaves in the collector's per-process
memories once each is full: measured with tracemalloc, so the figures are the same on any
machine (how fast they fill is bench's business)."""

from __future__ import annotations

import ipaddress
import random
import tracemalloc
import uuid
from collections.abc import Callable, Iterator

import pytest

from collector.clientip import parse_ip
from collector.dedup import RecentIds
from collector.enrich.enricher import CACHE_SIZE, Enricher

MB = 1 << 20


@pytest.fixture
def traced() -> Iterator[Callable[[], int]]:
    """Bytes allocated (and still held) since the fixture started."""
    tracemalloc.start()
    start = tracemalloc.get_traced_memory()[0]
    yield lambda: tracemalloc.get_traced_memory()[0] - start
    tracemalloc.stop()


def addresses(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [str(ipaddress.IPv4Address(rng.randrange(1 << 24, 223 << 24))) for _ in range(n)]


def test_the_client_id_memory_is_bounded_small(traced: Callable[[], int]) -> None:
    recent = RecentIds()
    for _ in range(recent.size + 10_000):
        recent.seen(str(uuid.uuid4()))
    assert len(recent.ids) == recent.size == 50_000
    assert traced() < 8 * MB  # 200,000 ids in an OrderedDict were ~35 MB


def test_the_address_caches_are_bounded_small() -> None:
    """Per entry, measured on 2,048 ever-new addresses, times the bound (filling them whole
    takes minutes under tracemalloc)."""
    parse_ip.cache_clear()
    enricher = Enricher()
    for text in addresses(256, seed=2):  # what the first lookups load once (ranges, tables)
        enricher.network(parse_ip(text))
    texts = addresses(2048, seed=1)
    tracemalloc.start()
    start = tracemalloc.get_traced_memory()[0]
    for text in texts:
        ip = parse_ip(text)
        assert ip is not None
        enricher.network(ip)
    per_address = (tracemalloc.get_traced_memory()[0] - start) / len(texts)
    tracemalloc.stop()
    assert parse_ip.cache_info().maxsize == CACHE_SIZE == 16384
    # both caches full: 65,536 parsed addresses and 65,536 network lookups were ~25 MB
    assert CACHE_SIZE * per_address < 8 * MB, per_address  # ~390 B an address
    parse_ip.cache_clear()
