"""`Unsettled`: publishes that timed out and may still be confirmed later."""

from __future__ import annotations

import asyncio

from gateway.broker.publisher import Settled, Unsettled
from gateway.errors import BrokerUnavailable


async def test_settle_reports_late_confirms_and_forgets_failures() -> None:
    loop = asyncio.get_running_loop()
    confirmed, refused, waiting = loop.create_future(), loop.create_future(), loop.create_future()
    unsettled = Unsettled()
    unsettled.add("a", confirmed)
    unsettled.add("b", refused)
    unsettled.add("c", waiting)
    first = unsettled.settle()
    assert (first.confirmed, first.pending) == (frozenset(), 3)
    confirmed.set_result(None)
    refused.set_exception(BrokerUnavailable("nack"))
    second = unsettled.settle()
    assert (second.confirmed, second.pending) == (frozenset({"a"}), 1)
    assert unsettled.settle().confirmed == frozenset()  # reported once
    waiting.set_result(None)
    assert unsettled.settle().confirmed == frozenset({"c"})
    assert len(unsettled) == 0


async def test_a_wedged_publish_is_given_up() -> None:
    """Past `give_up_after` the confirm is cancelled and its copy may be sent again."""
    wedged: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    unsettled = Unsettled(give_up_after=0.0)
    unsettled.add("a", wedged)
    settled = unsettled.settle()
    assert (settled.confirmed, settled.pending) == (frozenset(), 0)
    assert wedged.cancelled()


async def test_wait_then_cancel_the_rest() -> None:
    loop = asyncio.get_running_loop()
    quick: asyncio.Future[None] = loop.create_future()
    stuck: asyncio.Future[None] = loop.create_future()
    unsettled = Unsettled()
    unsettled.add("quick", quick)
    unsettled.add("stuck", stuck)
    loop.call_later(0.01, quick.set_result, None)
    await unsettled.wait(0.5)
    assert unsettled.settle() == Settled(frozenset({"quick"}), 1)
    unsettled.cancel()
    assert stuck.cancelled() and len(unsettled) == 0
