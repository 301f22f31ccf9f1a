"""Rate limiting: a token bucket per key (a client address, an API key), and the Retry-After
value a refusal sends."""

from __future__ import annotations

import math
import time
from collections.abc import Hashable


class RateLimiter:
    """Token bucket per client IP; idle buckets are pruned so memory stays bounded."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.buckets: dict[Hashable, tuple[float, float]] = {}
        self._pruned = time.monotonic()

    def allow(self, key: Hashable, cost: float = 1.0) -> float:
        """0 if allowed, else seconds until it would be."""
        now = time.monotonic()
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
        now = time.monotonic()
        tokens, last = self.buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        return 0.0 if tokens >= 1 else (1 - tokens) / self.rate


def retry_after(wait: float) -> str:
    """A Retry-After value for a limiter's wait: whole seconds, rounded up, at least 1."""
    return str(max(1, math.ceil(wait)))
