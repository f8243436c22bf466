"""Fault: a gateway process SIGKILLed mid-stream, with the platform retrying everything that did
not get 200 (and some callbacks that did).

What is asserted, precisely (at-least-once with dedup):
- nothing is lost: every callback is eventually answered 200 and its message is on RabbitMQ;
- a callback never in flight at the kill, or answered 200 more than `MARK_WINDOW` before it, is
  on RabbitMQ exactly once — its retries, including those sent after a success, are
  deduplicated;
- only a callback whose request was in flight at the kill, or answered just before it, may be on
  RabbitMQ twice (published and confirmed, but the process died before its dedup row was marked
  done — the mark is written with the dedup flush after the answer; after the claim goes stale
  — 10 s — a retry publishes it again), never more than twice;
- every copy carries the same AMQP message_id (= the body's id) and callbacks never share one, so
  a consumer that deduplicates on message_id sees each callback exactly once.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.faults.conftest import GatewayFactory
from tests.faults.platform import Callback as PlatformCallback
from tests.faults.platform import (
    Ledger,
    Platform,
    Report,
    Snapshot,
    assert_consumer_can_dedup,
    make_callbacks,
)

pytestmark = [pytest.mark.rabbitmq, pytest.mark.timeout(90)]

COUNT = 200
KILL_AFTER = 60
# A done mark is written by the dedup flush that follows the answer (milliseconds); generous.
MARK_WINDOW = 0.5


def marked_at_kill(
    callbacks: list[PlatformCallback], at_kill: Snapshot, killed_at: float
) -> set[str]:
    """Callbacks answered 200 long enough before the kill for their done mark to be written."""
    return {
        c.key
        for c in callbacks
        if c.key in at_kill.answered and (c.first_success() or killed_at) < killed_at - MARK_WINDOW
    }


def assert_at_least_once(
    callbacks: list[PlatformCallback],
    ledger: Ledger,
    report: Report,
    at_kill: Snapshot,
    killed_at: float,
) -> None:
    """The module docstring's assertions, for one killed process."""
    assert report.lost == []
    counts = ledger.counts()
    marked = marked_at_kill(callbacks, at_kill, killed_at)
    may_duplicate = (at_kill.in_flight | at_kill.answered) - marked
    assert set(report.duplicated) <= may_duplicate, (report.duplicated, may_duplicate)
    assert max(counts.values()) <= 2
    for key in marked:
        assert counts[key] == 1, key
    assert_consumer_can_dedup(callbacks, ledger)


@pytest.mark.postgres
async def test_sigkill_mid_stream_then_restart_on_the_same_store(
    gateways: GatewayFactory, database_url: str, ledger: Ledger, tag: str
) -> None:
    """SIGKILL with ~16 callbacks in flight, restart on the same SQLite file / PostgreSQL
    database: nothing lost, duplicates only among the in-flight ones, all deduplicable."""
    gateway = await gateways("gw", database_url)
    callbacks = make_callbacks(tag, COUNT)
    platform = Platform(callbacks, lambda _index, _attempt: gateway.url, concurrency=16)
    stream = asyncio.create_task(platform.run(deadline=time.monotonic() + 60))
    await platform.wait_answered(KILL_AFTER)
    at_kill = platform.snapshot()
    await gateway.kill()
    killed_at = time.monotonic()
    await asyncio.sleep(0.5)  # the platform meets a dead port meanwhile
    await gateway.start()
    restarted_after = time.monotonic() - killed_at
    await stream
    assert all(c.succeeded for c in callbacks), [c.key for c in callbacks if not c.succeeded]
    # a platform that lost our answers retries some callbacks that did succeed (one answered
    # just before the kill may still be claimed, its mark unwritten: a retry gets 503 until the
    # claim is stale — the duplicate case above)
    marked = marked_at_kill(callbacks, at_kill, killed_at)
    again = [c for c in callbacks if c.key in at_kill.answered][::4] + callbacks[-20::4]
    await platform.resend(again, lambda _index: gateway.url)
    assert all(
        c.answers[-1].status == 200
        or (c.key not in marked and c.answers[-1].error == "broker_unavailable")
        for c in again
    )
    await ledger.wait_for(c.key for c in callbacks)
    await ledger.settle()
    report = Report.of(
        f"sigkill+restart {database_url.split(':')[0]}",
        callbacks,
        ledger,
        in_flight_at_kill=len(at_kill.in_flight),
        resent_after_success=len(again),
        downtime_s=round(restarted_after, 1),
        last_success_after_kill_s=round(
            max(c.first_success() or 0 for c in callbacks) - killed_at, 1
        ),
    )
    print(report.line())
    assert_at_least_once(callbacks, ledger, report, at_kill, killed_at)
    assert await gateway.stop() == 0


@pytest.mark.postgres
async def test_two_processes_one_killed(
    gateways: GatewayFactory, postgres_url: str, ledger: Ledger, tag: str
) -> None:
    """Two gateways share PostgreSQL behind a round-robin balancer; one is SIGKILLed mid-stream
    and not restarted. The other keeps answering every callback it gets (503 only for retries of
    the killed one's in-flight callbacks while their claim is fresh), retries of the killed one's
    callbacks are deduplicated, nothing is lost."""
    first, second = await asyncio.gather(
        gateways("gw-a", postgres_url), gateways("gw-b", postgres_url)
    )
    urls = [first.url, second.url]
    callbacks = make_callbacks(tag, COUNT)
    # attempt n of callback i goes to urls[(i + n) % 2]: a retry lands on the other process
    platform = Platform(callbacks, lambda index, attempt: urls[(index + attempt) % 2])
    stream = asyncio.create_task(platform.run(deadline=time.monotonic() + 60))
    await platform.wait_answered(KILL_AFTER)
    at_kill = platform.snapshot()
    await first.kill()
    killed_at = time.monotonic()
    await stream
    assert all(c.succeeded for c in callbacks)
    answered_by_first = [
        c for c in callbacks if any(a.status == 200 and a.target == first.url for a in c.answers)
    ]
    await platform.resend(answered_by_first, lambda _index: second.url)
    assert answered_by_first
    # one answered just before the kill may still be claimed (its mark unwritten): the survivor
    # answers 503 until the claim is stale, then publishes it again (the duplicate case above)
    marked = marked_at_kill(callbacks, at_kill, killed_at)
    assert all(
        c.answers[-1].status == 200
        or (c.key not in marked and c.answers[-1].error == "broker_unavailable")
        for c in answered_by_first
    )
    await ledger.wait_for(c.key for c in callbacks)
    await ledger.settle()
    second_answers = [a for c in callbacks for a in c.answers if a.target == second.url]
    refused_by_second = {
        c.key for c in callbacks for a in c.answers if a.target == second.url and a.status != 200
    }
    report = Report.of(
        "two processes, one sigkill",
        callbacks,
        ledger,
        in_flight_at_kill=len(at_kill.in_flight),
        answered_by_survivor=sum(a.status == 200 for a in second_answers),
        survivor_503=len(refused_by_second),
        resent_after_success=len(answered_by_first),
        last_success_after_kill_s=round(
            max(c.first_success() or 0 for c in callbacks) - killed_at, 1
        ),
    )
    print(report.line())
    # a claim of the dead process is still pending: in flight, or answered before its mark
    marked = marked_at_kill(callbacks, at_kill, killed_at)
    unmarked = (at_kill.in_flight | at_kill.answered) - marked
    assert refused_by_second <= unmarked
    assert all(
        a.error == "broker_unavailable"  # InFlight: the claim of the dead process is fresh
        for c in callbacks
        for a in c.answers
        if a.target == second.url and a.status != 200
    )
    assert_at_least_once(callbacks, ledger, report, at_kill, killed_at)
    assert await second.stop() == 0
