"""Token cache (one refresher per account), token bucket, per-customer lanes, backoff."""

from __future__ import annotations

import asyncio
import random

from gateway.outbound.flow import Backoff, Lanes, TokenBucket
from gateway.outbound.results import Attempt
from gateway.outbound.tokens import TokenCache


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Endpoint:
    """A token endpoint that issues t1, t2, ... (or the same token again unless forced)."""

    def __init__(self, *, sticky: bool = False) -> None:
        self.calls: list[bool] = []
        self.sticky = sticky
        self.issued = 0

    async def __call__(self, force: bool) -> tuple[str, float] | Attempt:
        self.calls.append(force)
        await asyncio.sleep(0.01)
        if not (self.sticky and self.issued and not force):
            self.issued += 1
        return f"t{self.issued}", 7200.0


async def test_concurrent_gets_share_one_fetch() -> None:
    """Twenty callers without a token cause one fetch and all get the same token."""
    endpoint = Endpoint()
    cache = TokenCache(endpoint, margin=300, clock=Clock())
    tokens = await asyncio.gather(*(cache.get() for _ in range(20)))
    assert set(tokens) == {"t1"} and endpoint.calls == [False]


async def test_token_is_refreshed_before_it_expires() -> None:
    """The token is reused until expires_in minus the margin, then fetched again."""
    endpoint, clock = Endpoint(), Clock()
    cache = TokenCache(endpoint, margin=300, clock=clock)
    assert await cache.get() == "t1"
    clock.now += 7200 - 301
    assert await cache.get() == "t1"
    clock.now += 2
    assert await cache.get() == "t2" and cache.fetches == 2


async def test_refresh_after_refusal_happens_once() -> None:
    """Ten callers whose token was refused trigger one fetch and all receive the new token."""
    endpoint = Endpoint()
    cache = TokenCache(endpoint, margin=300, clock=Clock())
    old = await cache.get()
    assert isinstance(old, str)
    renewed = await asyncio.gather(*(cache.refresh(old) for _ in range(10)))
    assert set(renewed) == {"t2"} and endpoint.calls == [False, False]


async def test_refresh_forces_rotation_when_the_same_token_comes_back() -> None:
    """If the endpoint hands back the refused token, a forced refresh follows (stable_token)."""
    endpoint = Endpoint(sticky=True)
    cache = TokenCache(endpoint, margin=300, clock=Clock())
    old = await cache.get()
    assert isinstance(old, str)
    assert await cache.refresh(old) == "t2"
    assert endpoint.calls == [False, False, True]


async def test_fetch_failures_are_returned_not_cached() -> None:
    """A failed fetch is returned to the caller and the next call tries again."""
    answers: list[tuple[str, float] | Attempt] = [Attempt("transient", detail="x"), ("ok", 60.0)]

    async def fetch(force: bool) -> tuple[str, float] | Attempt:
        return answers.pop(0)

    cache = TokenCache(fetch, margin=300, clock=Clock())
    assert isinstance(await cache.get(), Attempt)
    assert await cache.get() == "ok"


def test_token_bucket_spaces_out_calls_after_the_burst() -> None:
    """With rate 10/s and burst 2, the third and fourth calls wait 0.1 s and 0.2 s."""
    clock = Clock()
    bucket = TokenBucket(10.0, 2.0, clock)
    waits = [bucket.reserve() for _ in range(4)]
    assert waits[:2] == [0.0, 0.0] and [round(w, 3) for w in waits[2:]] == [0.1, 0.2]
    clock.now += 1.0
    assert bucket.reserve() == 0.0
    assert TokenBucket(0.0, 1.0, clock).reserve() == 0.0  # rate 0: unlimited


async def test_lanes_keep_order_per_key_and_run_keys_concurrently() -> None:
    """Work on one key runs one at a time in arrival order; another key is not held up."""
    lanes, log = Lanes(), []

    async def work(key: str, n: int, pause: float) -> None:
        async with lanes.hold(key):
            log.append((key, n, "start"))
            await asyncio.sleep(pause)
            log.append((key, n, "end"))

    await asyncio.gather(work("a", 1, 0.05), work("a", 2, 0.0), work("b", 1, 0.0))
    assert [e for e in log if e[0] == "a"] == [
        ("a", 1, "start"), ("a", 1, "end"), ("a", 2, "start"), ("a", 2, "end"),
    ]  # fmt: skip
    assert log.index(("b", 1, "end")) < log.index(("a", 1, "end"))
    assert len(lanes) == 0


def test_backoff_is_full_jitter_below_the_cap() -> None:
    """Delays are uniform in [0, min(cap, base x 2^(n-1))]."""
    backoff, rng = Backoff(attempts=5, base=0.5, cap=3.0), random.Random(3)
    for attempt, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 3.0), (9, 3.0)]:
        delays = [backoff.delay(attempt, rng) for _ in range(200)]
        assert min(delays) >= 0 and max(delays) <= ceiling and max(delays) > ceiling * 0.8
