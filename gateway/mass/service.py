"""`MassService`: one gateway process's mass-send machinery — store, worker, receipt consumer."""

from __future__ import annotations

import asyncio
import contextlib

from aio_pika.abc import AbstractChannel, AbstractRobustConnection
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.broker.publisher import CONNECTION_ERRORS
from gateway.broker.topology import declare_topology
from gateway.mass.ledger import Ledger
from gateway.mass.model import MassConfig
from gateway.mass.receipts import ReceiptConsumer
from gateway.mass.worker import MassWorker
from gateway.outbound.policy import PolicyBook
from gateway.store.mass import MassStore

__all__ = ["MassService"]


class MassService:
    def __init__(
        self,
        store: MassStore,
        worker: MassWorker,
        receipts: ReceiptConsumer,
        channel: AbstractChannel,
    ) -> None:
        self.store = store
        self._worker = worker
        self._receipts = receipts
        self._channel = channel

    @classmethod
    async def start(
        cls,
        connection: AbstractRobustConnection,
        engine: AsyncEngine,
        *,
        policies: PolicyBook,
        config: MassConfig,
    ) -> MassService:
        """Open two channels, start consuming receipts and the worker; `close` at shutdown."""
        publish = await connection.channel(publisher_confirms=True, on_return_raises=True)
        consume = await connection.channel()
        store = MassStore(engine)
        try:
            await declare_topology(publish)
            outbound = await publish.get_exchange(config.outbound_exchange, ensure=True)
            receipts = ReceiptConsumer(consume, store, config)
            await receipts.start()
        except BaseException:
            for channel in (consume, publish):
                with contextlib.suppress(*CONNECTION_ERRORS):
                    await channel.close()
            raise
        worker = MassWorker(Ledger(engine), outbound, policies=policies, config=config)
        worker.start()
        return cls(store, worker, receipts, publish)

    def wake(self) -> None:
        """A task was created or changed here: the worker looks at once."""
        self._worker.wake()

    async def close(self) -> None:
        """Stop the worker (leases given up) and the consumer, then close the channels."""
        await self._worker.close()
        # bounded: with RabbitMQ unreachable the robust channel would wait for it forever
        with contextlib.suppress(*CONNECTION_ERRORS, TimeoutError):
            async with asyncio.timeout(1.0):
                await self._receipts.close()
        with contextlib.suppress(*CONNECTION_ERRORS, TimeoutError):
            async with asyncio.timeout(1.0):
                await self._channel.close()
