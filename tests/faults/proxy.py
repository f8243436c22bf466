"""A TCP proxy on loopback that tests control: forward, cut every connection, refuse, restore,
and stall (accept and hold traffic without forwarding it, then deliver it late)."""

from __future__ import annotations

import asyncio
import contextlib


class TcpProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self._target = (target_host, target_port)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._requests = asyncio.Event()  # client -> target traffic may flow
        self._responses = asyncio.Event()  # target -> client traffic may flow
        self._requests.set()
        self._responses.set()
        self._resume: asyncio.TimerHandle | None = None
        self.refusing = False
        self.port = 0

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def close(self) -> None:
        self.resume()
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def cut(self) -> None:
        """Drop every open connection (no goodbye) and refuse new ones until `restore`."""
        self.refusing = True
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    def restore(self) -> None:
        self.refusing = False

    def stall(
        self, seconds: float | None = None, *, requests: bool = True, responses: bool = True
    ) -> None:
        """Keep accepting connections and reading, but forward nothing — a hung broker, or a
        network that buffers — until `resume` (or for `seconds`). Traffic held meanwhile is
        delivered, in order, when forwarding resumes. `requests`/`responses` choose the
        direction held: client to target, target to client (both by default)."""
        if requests:
            self._requests.clear()
        if responses:
            self._responses.clear()
        if self._resume is not None:
            self._resume.cancel()
            self._resume = None
        if seconds is not None:
            self._resume = asyncio.get_running_loop().call_later(seconds, self.resume)

    def resume(self) -> None:
        """Forward again in both directions, held traffic first."""
        if self._resume is not None:
            self._resume.cancel()
            self._resume = None
        self._requests.set()
        self._responses.set()

    @property
    def stalled(self) -> bool:
        return not (self._requests.is_set() and self._responses.is_set())

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.refusing:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._target)
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, up_writer}

        async def pipe(
            src: asyncio.StreamReader, dst: asyncio.StreamWriter, flowing: asyncio.Event
        ) -> None:
            with contextlib.suppress(ConnectionError, OSError):
                while data := await src.read(65536):
                    await flowing.wait()
                    dst.write(data)
                    await dst.drain()
            dst.transport.abort()

        await asyncio.gather(
            pipe(reader, up_writer, self._requests), pipe(up_reader, writer, self._responses)
        )
        self._writers -= {writer, up_writer}
