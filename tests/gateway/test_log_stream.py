"""LoopBatchedStream: one write per event-loop iteration, at once outside a loop, order kept."""

from __future__ import annotations

import asyncio
import io
import threading

import orjson
import structlog

from gateway.log_stream import LoopBatchedStream
from gateway.logs import configure_logging


class CountingOut(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


def emit(stream: LoopBatchedStream, line: str) -> None:
    """What PrintLogger and StreamHandler do per line."""
    stream.write(line + "\n")
    stream.flush()


def test_without_a_loop_every_line_is_written_at_once() -> None:
    out = CountingOut()
    stream = LoopBatchedStream(out)
    emit(stream, "a")
    assert out.getvalue() == "a\n"
    emit(stream, "b")
    assert (out.getvalue(), out.writes) == ("a\nb\n", 2)


async def test_one_iterations_lines_are_written_in_one_call_at_the_next() -> None:
    out = CountingOut()
    stream = LoopBatchedStream(out)
    for n in range(100):
        emit(stream, f"line {n}")
    assert out.getvalue() == ""  # kept until the loop turns
    await asyncio.sleep(0)
    assert out.getvalue() == "".join(f"line {n}\n" for n in range(100))
    assert out.writes == 1
    emit(stream, "later")
    await asyncio.sleep(0)
    assert out.getvalue().endswith("line 99\nlater\n") and out.writes == 2


async def test_a_line_from_another_thread_is_written_after_what_the_loop_kept() -> None:
    out = CountingOut()
    stream = LoopBatchedStream(out)
    emit(stream, "from the loop")
    thread = threading.Thread(target=emit, args=(stream, "from the writer thread"))
    thread.start()
    thread.join()
    assert out.getvalue() == "from the loop\nfrom the writer thread\n"
    await asyncio.sleep(0)  # the scheduled drain finds nothing left
    assert out.writes == 1


def test_lines_kept_by_a_loop_that_stopped_are_written_by_the_next_one_or_by_drain() -> None:
    out = CountingOut()
    stream = LoopBatchedStream(out)

    async def log_and_stop(line: str) -> None:
        asyncio.get_running_loop().stop()  # the loop ends with this iteration, as at shutdown
        emit(stream, line)  # so the drain scheduled here never runs

    loop = asyncio.new_event_loop()
    loop.run_until_complete(log_and_stop("first"))
    loop.close()
    assert out.getvalue() == ""

    async def log_and_turn(line: str) -> None:
        emit(stream, line)
        await asyncio.sleep(0)

    asyncio.run(log_and_turn("second"))  # a new loop schedules its own drain
    assert out.getvalue() == "first\nsecond\n"

    loop = asyncio.new_event_loop()
    loop.run_until_complete(log_and_stop("third"))
    loop.close()
    assert out.getvalue() == "first\nsecond\n"
    stream.drain()  # what the CLI does when the worker's loop has ended
    assert out.getvalue() == "first\nsecond\nthird\n"


async def test_structlog_and_stdlib_lines_through_configure_logging() -> None:
    import logging

    out = CountingOut()
    stream = LoopBatchedStream(out)
    configure_logging(level="info", stream=stream, cache=False)
    try:
        structlog.get_logger("t").info("one", n=1)
        logging.getLogger("aiohttp.server").warning("two")
        assert out.getvalue() == ""
        await asyncio.sleep(0)
        events = [orjson.loads(line)["event"] for line in out.getvalue().splitlines()]
        assert events == ["one", "two"] and out.writes == 1
    finally:
        structlog.reset_defaults()
        logging.getLogger().handlers.clear()


async def test_a_closed_stderr_drops_the_lines_without_raising_into_the_loop() -> None:
    class Broken(io.StringIO):
        def write(self, text: str) -> int:
            raise BrokenPipeError(32, "Broken pipe")

    stream = LoopBatchedStream(Broken())
    handled: list[object] = []
    asyncio.get_running_loop().set_exception_handler(lambda _loop, ctx: handled.append(ctx))
    emit(stream, "lost")
    await asyncio.sleep(0)
    emit(stream, "lost too")  # outside the loop's callback as well
    stream.drain()
    assert handled == []
