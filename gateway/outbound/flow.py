"""Flow control for the sender: per-account rate limits, per-customer ordering, retry backoff.

All of it is per process (the shared, cross-process limits are in the store): `RateLimits` keeps
one token bucket per account, so N sender processes together send at most N x rate; `Lanes` runs
messages of one lane (platform:account:customer) one at a time in arrival order (FIFO
`asyncio.Lock`), while different lanes proceed concurrently; `Backoff` gives exponential backoff
with full jitter (a uniform draw from 0 to min(cap, base x 2^(attempt-1))).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass

__all__ = ["Backoff", "Lanes", "RateLimits", "TokenBucket"]


class TokenBucket:
    """`rate` tokens per second, at most `burst` saved up; rate <= 0 means unlimited."""

    def __init__(
        self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._rate = rate
        self._burst = max(burst, 1.0)
        self._tokens = self._burst
        self._clock = clock
        self._stamp = clock()

    def reserve(self) -> float:
        """Take a token now; returns how many seconds to wait before using it (FIFO)."""
        if self._rate <= 0:
            return 0.0
        now = self._clock()
        self._tokens = min(self._burst, self._tokens + (now - self._stamp) * self._rate)
        self._stamp = now
        self._tokens -= 1.0
        return 0.0 if self._tokens >= 0 else -self._tokens / self._rate

    async def take(self) -> None:
        delay = self.reserve()
        if delay > 0:
            await asyncio.sleep(delay)


class RateLimits:
    """One bucket per ``platform:account``; `overrides` sets a rate for particular accounts."""

    def __init__(self, rate: float, burst: float, overrides: Mapping[str, float]) -> None:
        self._rate = rate
        self._burst = burst
        self._overrides = dict(overrides)
        self._buckets: dict[str, TokenBucket] = {}

    def bucket(self, platform: str, account: str) -> TokenBucket:
        key = f"{platform}:{account}"
        bucket = self._buckets.get(key)
        if bucket is None:
            rate = self._overrides.get(key, self._rate)
            bucket = self._buckets[key] = TokenBucket(rate, self._burst)
        return bucket


class _Lane:
    __slots__ = ("lock", "users")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.users = 0


class Lanes:
    """Per-key FIFO serialization; a key's lock lives only while someone holds or waits on it."""

    def __init__(self) -> None:
        self._lanes: dict[str, _Lane] = {}

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lane = self._lanes.get(key)
        if lane is None:
            lane = self._lanes[key] = _Lane()
        lane.users += 1
        try:
            async with lane.lock:
                yield
        finally:
            lane.users -= 1
            if lane.users == 0:
                del self._lanes[key]

    def __len__(self) -> int:
        return len(self._lanes)


@dataclass(frozen=True, slots=True)
class Backoff:
    attempts: int = 5
    base: float = 0.5
    cap: float = 30.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based): full jitter."""
        return rng.uniform(0.0, min(self.cap, self.base * 2.0 ** (attempt - 1)))
