"""Rate limits and backoff for the gate: token buckets (rpm, tpm) and retry delays."""

from __future__ import annotations

import asyncio
import random
import time


class TokenBucket:
    """A token bucket refilled at ``per_minute / 60`` tokens a second.

    ``acquire(n)`` waits until ``n`` tokens are there (``n`` is capped at the bucket size, so a
    request larger than a second's worth is not starved). ``debit(n)`` takes tokens after the
    fact (the real token count of a reply), possibly into debt that later calls wait out.
    """

    def __init__(self, per_minute: float, *, burst_s: float = 1.0) -> None:
        self.rate = per_minute / 60.0
        self.capacity = max(1.0, self.rate * burst_s)
        self.tokens = self.capacity
        self.updated = time.monotonic()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now

    async def acquire(self, n: float = 1.0) -> None:
        n = min(n, self.capacity)
        async with self._lock:  # first come, first served
            while True:
                self._refill()
                if self.tokens >= n:
                    self.tokens -= n
                    return
                await asyncio.sleep((n - self.tokens) / self.rate)

    def debit(self, n: float) -> None:
        self._refill()
        self.tokens -= n


def backoff_delay(
    attempt: int,
    *,
    base_s: float,
    max_s: float,
    retry_after_s: float | None,
    rng: random.Random,
) -> float:
    """Seconds to wait before retry number ``attempt`` (0-based).

    Exponential with "equal jitter" (half fixed, half random) capped at ``max_s``; a server's
    Retry-After is honoured as a lower bound (capped at 10 minutes).
    """
    exp = min(max_s, base_s * (2**attempt))
    delay = exp / 2 + rng.uniform(0, exp / 2)
    if retry_after_s is not None:
        delay = max(delay, min(retry_after_s, 600.0))
    return delay
