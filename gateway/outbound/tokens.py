"""Access tokens, cached per account with ONE refresher each.

`TokenCache.get` returns the cached token until ``expires_in - margin`` (the margin is at most half
the lifetime); concurrent callers that find it stale wait on one lock and share one fetch, so a
burst of sends never stampedes the token endpoint. `refresh(refused)` is called after the platform
refused a token (WeChat 40001/40014/42001, Douyin 28001008...): if another caller already replaced
that token, the new one is returned without a fetch; otherwise one fetch runs, and if the platform
hands back the very token it refused, a forced rotation follows (WeChat ``force_refresh``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from gateway.outbound.results import Attempt

__all__ = ["Fetch", "TokenCache"]

#: (force) -> (token, expires_in seconds), or the failed Attempt
Fetch = Callable[[bool], Awaitable[tuple[str, float] | Attempt]]


@dataclass(frozen=True, slots=True)
class _Token:
    value: str
    refresh_at: float


class TokenCache:
    def __init__(
        self, fetch: Fetch, *, margin: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._fetch = fetch
        self._margin = margin
        self._clock = clock
        self._lock = asyncio.Lock()
        self._token: _Token | None = None
        self.fetches = 0  #: how many times the token endpoint was called (metrics, tests)

    def _fresh(self) -> str | None:
        token = self._token
        return token.value if token is not None and self._clock() < token.refresh_at else None

    async def get(self) -> str | Attempt:
        """A valid token, fetched if there is none or it is about to expire."""
        cached = self._fresh()
        if cached is not None:
            return cached
        async with self._lock:
            cached = self._fresh()
            return cached if cached is not None else await self._load(force=False)

    async def refresh(self, refused: str) -> str | Attempt:
        """A token other than `refused` (which the platform just rejected)."""
        async with self._lock:
            cached = self._fresh()
            if cached is not None and cached != refused:
                return cached
            self._token = None
            got = await self._load(force=False)
            if got == refused:
                got = await self._load(force=True)
            return got

    async def _load(self, *, force: bool) -> str | Attempt:
        self.fetches += 1
        got = await self._fetch(force)
        if isinstance(got, Attempt):
            return got
        value, expires_in = got
        lifetime = max(expires_in - self._margin, expires_in / 2)
        self._token = _Token(value, self._clock() + lifetime)
        return value
