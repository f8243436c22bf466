"""The log lines of one event-loop iteration, written with one system call.

A busy gateway logs a line per webhook; written and flushed one by one, each line is a
``write(2)``, and CPython releases the GIL around every such call — which hands the interpreter
to any other thread waiting for it (the store writer, when it was a thread), so the request then
waits for that thread's next stretch of Python (the effect measured for ``os.urandom`` in
bench/results/2026-12-07-hotpath.md, fourth round). `LoopBatchedStream` keeps what the loop's
thread logs during one iteration and writes it in one call at the start of the next
(``loop.call_soon``).

Lines logged where no event loop runs (another thread, start-up, shutdown after the loop has
stopped) are written at once, after anything still kept, so the order of lines is
kept. Whoever owns the process calls `drain` before it exits (the CLI does, and registers it
with `atexit`): a line is never held longer than one loop iteration, unless the process is
killed outright (SIGKILL), which loses at most that iteration's lines.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import TextIO

__all__ = ["LoopBatchedStream"]


class LoopBatchedStream:
    """A write-only text stream for `structlog.PrintLogger` and `logging.StreamHandler`."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._kept: list[str] = []
        self._lock = threading.Lock()
        self._drain_on: asyncio.AbstractEventLoop | None = None  # a drain is scheduled there

    def write(self, text: str) -> int:
        with self._lock:
            self._kept.append(text)
        return len(text)

    def flush(self) -> None:
        """Write now, unless the calling thread runs an event loop: then with the next drain."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.drain()
            return
        # A drain scheduled on a loop that has stopped since never runs: schedule on this one.
        if self._drain_on is not loop:
            self._drain_on = loop
            loop.call_soon(self.drain)

    def drain(self) -> None:
        """Write what is kept, in one call."""
        with self._lock:
            self._drain_on = None
            if not self._kept:
                return
            text = "".join(self._kept)
            self._kept.clear()
            # Where stderr is gone (a closed pipe), the lines are dropped: raising here would
            # only reach the loop's exception handler, whose own log line would fail the same.
            with contextlib.suppress(OSError, ValueError):
                self._out.write(text)
                self._out.flush()

    def isatty(self) -> bool:
        return self._out.isatty()
