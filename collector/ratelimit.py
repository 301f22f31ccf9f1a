"""Rate limiting: a token bucket per key (a client address, an API key), and the Retry-After
value a refusal sends."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Hashable


class RateLimiter:
    """Token bucket per client IP; idle buckets are pruned so memory stays bounded."""

    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.clock = clock  # seconds; a test's own clock makes refills not depend on its speed
        self.buckets: dict[Hashable, tuple[float, float]] = {}
        self._pruned = clock()

    def allow(self, key: Hashable, cost: float = 1.0) -> float:
        """0 if allowed, else seconds until it would be."""
        now = self.clock()
        tokens, last = self.buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        if tokens < cost:
            self.buckets[key] = (tokens, now)
            return (cost - tokens) / self.rate
        self.buckets[key] = (tokens - cost, now)
        if now - self._pruned > 60 or len(self.buckets) > 100_000:
            idle = self.burst / self.rate
            self.buckets = {k: v for k, v in self.buckets.items() if now - v[1] < idle}
            self._pruned = now
        return 0.0

    def wait(self, key: Hashable) -> float:
        """Seconds until `allow` would pass, spending nothing."""
        now = self.clock()
        tokens, last = self.buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        return 0.0 if tokens >= 1 else (1 - tokens) / self.rate


def retry_after(wait: float) -> str:
    """A Retry-After value for a limiter's wait: whole seconds, rounded up, at least 1."""
    return str(max(1, math.ceil(wait)))
