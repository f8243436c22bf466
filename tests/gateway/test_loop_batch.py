"""LoopBatch: the items of one loop iteration go through each stage together, each in its own
context, and an error reaches only its own waiter."""

from __future__ import annotations

import asyncio
import contextvars

import pytest

from gateway.loop_batch import LoopBatch

REQUEST = contextvars.ContextVar("request", default="-")


class Boom(BaseException):
    """Not an Exception: what a stage must never swallow."""


async def _submit(batch: LoopBatch[str, str], value: str) -> str:
    REQUEST.set(f"req-{value}")
    return await batch(value)


async def test_one_iteration_goes_through_each_stage_together() -> None:
    """Three items submitted in one iteration: stage 1 for all, then stage 2 for all; an item
    submitted after that batch started goes in the next one."""
    calls: list[str] = []

    def upper(value: str) -> str:
        calls.append(f"upper {value}")
        return value.upper()

    def tagged(value: str) -> str:
        calls.append(f"tag {value}")
        return f"<{value}>"

    batch: LoopBatch[str, str] = LoopBatch(upper, tagged)
    first = await asyncio.gather(*(_submit(batch, v) for v in "abc"))
    assert first == ["<A>", "<B>", "<C>"]
    assert calls == ["upper a", "upper b", "upper c", "tag A", "tag B", "tag C"]
    calls.clear()
    assert await batch("d") == "<D>"
    assert calls == ["upper d", "tag D"]


async def test_each_item_runs_in_its_submitters_context() -> None:
    """A stage sees the context variables of the task that submitted the item (log fields)."""
    seen: dict[str, str] = {}

    def record(value: str) -> str:
        seen[value] = REQUEST.get()
        return value

    batch: LoopBatch[str, str] = LoopBatch(record, record)
    await asyncio.gather(*(_submit(batch, v) for v in "xyz"))
    assert seen == {"x": "req-x", "y": "req-y", "z": "req-z"}


async def test_an_error_reaches_only_its_own_waiter() -> None:
    """An item whose stage raises gets that exception and skips the later stages; the others of
    its batch go on."""
    later: list[str] = []

    def check(value: str) -> str:
        if value == "bad":
            raise ValueError("refused")
        return value

    def after(value: str) -> str:
        later.append(value)
        return value * 2

    batch: LoopBatch[str, str] = LoopBatch(check, after)
    results = await asyncio.gather(
        *(_submit(batch, v) for v in ("ok", "bad", "fine")), return_exceptions=True
    )
    assert results[0] == "okok" and results[2] == "finefine"
    assert isinstance(results[1], ValueError)
    assert later == ["ok", "fine"]


async def test_a_cancelled_waiter_is_skipped() -> None:
    """A waiter cancelled before its batch runs: its item is not processed, the others are."""
    processed: list[str] = []

    def stage(value: str) -> str:
        processed.append(value)
        return value

    batch: LoopBatch[str, str] = LoopBatch(stage)
    gone = asyncio.ensure_future(_submit(batch, "gone"))
    kept = asyncio.ensure_future(_submit(batch, "kept"))
    await asyncio.sleep(0)  # both submitted; the batch runs in the next iteration
    gone.cancel()
    assert await kept == "kept"
    with pytest.raises(asyncio.CancelledError):
        await gone
    assert processed == ["kept"]


async def test_a_base_exception_fails_every_waiter_and_reaches_the_loop() -> None:
    """Something that is not an Exception (KeyboardInterrupt and kin) leaves no waiter hanging
    and is not swallowed: the loop's exception handler gets it."""
    loop = asyncio.get_running_loop()
    reported: list[object] = []
    loop.set_exception_handler(lambda _loop, context: reported.append(context.get("exception")))

    def stage(value: str) -> str:
        if value == "b":
            raise Boom
        return value

    try:
        batch: LoopBatch[str, str] = LoopBatch(stage)
        results = await asyncio.wait_for(
            asyncio.gather(*(_submit(batch, v) for v in "abc"), return_exceptions=True), 5
        )
    finally:
        loop.set_exception_handler(None)
    assert all(isinstance(r, Boom) for r in results)
    assert any(isinstance(r, Boom) for r in reported)


def test_a_batch_needs_a_stage() -> None:
    with pytest.raises(ValueError, match="at least one stage"):
        LoopBatch()
