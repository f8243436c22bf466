"""GroupCommit: concurrent writes share a group; failures reach the waiting callers."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from gateway.errors import StoreError
from gateway.store.group_commit import GroupCommit


class Writer:
    def __init__(self, fail: bool = False) -> None:
        self.groups: list[list[int]] = []
        self.fail = fail

    async def __call__(self, items: Sequence[int]) -> None:
        self.groups.append(list(items))
        await asyncio.sleep(0.01)  # a transaction in flight: later submits gather
        if self.fail:
            raise StoreError("disk full")


async def test_writes_arriving_during_a_flush_share_the_next_one() -> None:
    writer = Writer()
    commits = GroupCommit(writer, "test")
    first = asyncio.create_task(commits.submit(0))
    await asyncio.sleep(0)  # the first group is in flight
    await asyncio.gather(first, *(commits.submit(i) for i in range(1, 50)))
    assert writer.groups == [[0], list(range(1, 50))]


async def test_a_failed_group_fails_its_callers_only() -> None:
    writer = Writer(fail=True)
    commits = GroupCommit(writer, "test")
    results = await asyncio.gather(*(commits.submit(i) for i in range(3)), return_exceptions=True)
    assert all(isinstance(r, StoreError) for r in results)
    writer.fail = False
    await commits.submit(9)  # the writer recovered: the next group goes through
    assert writer.groups[-1] == [9]


async def test_post_does_not_wait_and_drain_does() -> None:
    writer = Writer(fail=True)
    commits = GroupCommit(writer, "test")
    commits.post(1)
    commits.post(2)
    assert writer.groups == []
    await commits.drain()  # a failure of posted items is logged, not raised
    assert writer.groups == [[1, 2]]


async def test_a_caller_that_gives_up_does_not_cancel_the_group() -> None:
    writer = Writer()
    commits = GroupCommit(writer, "test")
    waiting = asyncio.create_task(commits.submit(1))
    await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await commits.drain()
    assert writer.groups == [[1]]
