"""`_wait_for_confirm`: the confirm's outcome, or `ConfirmPending` in time; never cancels it."""

from __future__ import annotations

import asyncio
import gc

import pytest

from gateway.broker.publisher import ConfirmPending, _wait_for_confirm
from gateway.errors import BrokerUnavailable


async def test_returns_once_confirmed_and_raises_what_the_confirm_raises() -> None:
    loop = asyncio.get_running_loop()
    confirm: asyncio.Future[None] = loop.create_future()
    loop.call_later(0.01, confirm.set_result, None)
    await _wait_for_confirm(confirm, 5.0)

    refused: asyncio.Future[None] = loop.create_future()
    loop.call_later(0.01, refused.set_exception, BrokerUnavailable("nack"))
    with pytest.raises(BrokerUnavailable, match="nack"):
        await _wait_for_confirm(refused, 5.0)

    done: asyncio.Future[None] = loop.create_future()
    done.set_result(None)
    await _wait_for_confirm(done, 0.0)


async def test_times_out_with_the_publish_still_running() -> None:
    """After `timeout`: ConfirmPending carrying the same future, left running; its late
    failure is marked as retrieved (no 'exception was never retrieved' at collection)."""
    loop = asyncio.get_running_loop()
    confirm: asyncio.Future[None] = loop.create_future()
    started = loop.time()
    with pytest.raises(ConfirmPending) as raised:
        await _wait_for_confirm(confirm, 0.05)
    assert 0.04 <= loop.time() - started < 1.0
    assert raised.value.confirm is confirm and not confirm.done()
    errors: list[dict[str, object]] = []
    loop.set_exception_handler(lambda _loop, context: errors.append(context))
    try:
        confirm.set_exception(BrokerUnavailable("connection lost"))
        await asyncio.sleep(0)
        del confirm, raised
        gc.collect()
        await asyncio.sleep(0)
    finally:
        loop.set_exception_handler(None)
    assert errors == []


async def test_cancelling_the_caller_leaves_the_confirm_alone() -> None:
    loop = asyncio.get_running_loop()
    confirm: asyncio.Future[None] = loop.create_future()
    waiting = asyncio.ensure_future(_wait_for_confirm(confirm, 5.0))
    await asyncio.sleep(0.01)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert not confirm.done()
    confirm.set_result(None)
