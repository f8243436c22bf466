"""Run a pipeline's synchronous stages over every item of one event-loop iteration, stage by stage.

A busy gateway starts many webhook requests in one iteration of the event loop. Run one request
at a time through verify → decrypt → parse → normalize → rules, each callback evicts the code and
data of the stages from the CPU's caches for the next: measured in one process with nothing else
running, the same work costs ≈ 1.3× when every stage runs per callback instead of per group of 8
or more, ≈ 1.65× against each stage over all callbacks (bench/bench_pipeline.py,
bench/results/2026-12-07-hotpath.md, eighth round).

`LoopBatch` collects what is submitted during one iteration and, in a callback of the next,
runs the first stage over all of it, then the second, and so on. Each item runs in the context
(`contextvars`) of the task that submitted it, so its log lines carry its own request's fields;
an exception raised for one item goes to that item's waiter only. The cost is one future per
item and one loop iteration of latency.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

__all__ = ["LoopBatch"]

In = TypeVar("In")
Out = TypeVar("Out")


class _Item:
    __slots__ = ("context", "future", "value")

    def __init__(self, value: Any, future: asyncio.Future[Any]) -> None:
        self.value = value
        self.future = future
        self.context = contextvars.copy_context()


class LoopBatch(Generic[In, Out]):
    """``await batch(item)``: `item` passed through `stages` in turn (each maps the previous
    stage's value to the next), together with the items submitted in the same iteration."""

    __slots__ = ("_pending", "_stages")

    def __init__(self, *stages: Callable[[Any], Any]) -> None:
        if not stages:
            raise ValueError("a LoopBatch needs at least one stage")
        self._stages = stages
        self._pending: list[_Item] = []

    async def __call__(self, value: In) -> Out:
        loop = asyncio.get_running_loop()
        item = _Item(value, loop.create_future())
        if not self._pending:
            loop.call_soon(self._run)
        self._pending.append(item)
        result: Out = await item.future
        return result

    def _run(self) -> None:
        live, self._pending = self._pending, []
        try:
            for stage in self._stages:
                live = _apply(stage, live)
        except BaseException as exc:  # KeyboardInterrupt and the like: no waiter is left hanging
            for item in live:
                if not item.future.done():
                    item.future.set_exception(exc)
            raise
        for item in live:
            if not item.future.done():
                item.future.set_result(item.value)


def _apply(stage: Callable[[Any], Any], items: Sequence[_Item]) -> list[_Item]:
    """Run `stage` for every item still awaited; the items that go on to the next stage."""
    kept = []
    for item in items:
        if item.future.done():  # its waiter was cancelled
            continue
        try:
            item.value = item.context.run(stage, item.value)
        except Exception as exc:  # handed to this item's waiter, raised there
            item.future.set_exception(exc)
        else:
            kept.append(item)
    return kept
