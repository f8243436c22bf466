"""Inbound records ride in one dedup flush per interval, not in every claim's flush.

Where callbacks arrive one at a time every claim is a flush of its own; a record in each made
it ≈ 40 % of the store writer's CPU. `InboundRecords` keeps the bodies for `every` seconds and
then posts them together; `post` (shutdown) hands on what is kept at once.
"""

from __future__ import annotations

import asyncio
from typing import Any

from gateway.models import Envelope
from gateway.recorder import InboundRecords, write_inbound


class _Rides:
    """The one method of `DedupStore` that `InboundRecords` uses, recorded."""

    def __init__(self) -> None:
        self.items: list[tuple[Any, Any]] = []

    def ride(self, write: Any, item: Any) -> None:
        self.items.append((write, item))


def _envelope(n: int) -> Envelope:
    return Envelope(routing_key="advisor.a1", message_id=f"{n:032x}", body=b'{"n": %d}' % n)


async def test_bodies_are_kept_for_the_interval_then_posted_together() -> None:
    rides = _Rides()
    records = InboundRecords(rides, every=0.05)  # type: ignore[arg-type]
    for n in range(3):
        records.add(_envelope(n))
    await asyncio.sleep(0)
    assert rides.items == []  # not one ride per record
    await asyncio.sleep(0.1)
    assert rides.items == [(write_inbound, b'{"n": %d}' % n) for n in range(3)]
    records.add(_envelope(3))  # a new interval starts with the next record
    await asyncio.sleep(0.1)
    assert [item for _, item in rides.items][3:] == [b'{"n": 3}']


async def test_post_hands_on_what_is_kept_at_once_and_cancels_the_timer() -> None:
    rides = _Rides()
    records = InboundRecords(rides, every=0.05)  # type: ignore[arg-type]
    records.add(_envelope(1))
    records.post()
    assert rides.items == [(write_inbound, b'{"n": 1}')]
    await asyncio.sleep(0.1)
    assert len(rides.items) == 1  # the timer did not post it again
