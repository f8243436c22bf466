"""A terminal desk for one advisor (顾问): read customers' messages, type replies, see receipts.

Run the gateway (``make run``) in one terminal and, in another::

    .venv/bin/python examples/advisor_desk.py a-1024

The desk consumes its own queue ``kefu.advisor.<id>`` (bound to ``advisor.<id>`` on
``kefu.inbound``, so it keeps the advisor's messages while the desk is closed), prints each
message, and sends every line you type to the customer who wrote last. Receipts of its own
replies (sent, or rejected with the reason) are printed as they arrive (a private queue bound
to the ``kefu.receipts`` exchange).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator, Sequence

from gateway.consumer import Consumer, Incoming, ReceiptConsumer
from gateway.errors import GatewayError
from gateway.logs import configure_logging
from gateway.models import Message

DESCRIPTION = "A terminal desk for one advisor: read messages, type replies, see receipts."


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=DESCRIPTION)
    parser.add_argument("advisor_id", help="the advisor's id, as in the admin API")
    parser.add_argument("--queue", help="queue to consume (default: kefu.advisor.ADVISOR_ID)")
    parser.add_argument("--url", help="RabbitMQ URL (default: GATEWAY_AMQP_URL)")
    return parser.parse_args(argv)


async def stdin_lines() -> AsyncIterator[str]:
    """Lines typed on the terminal, read without blocking the event loop."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        yield line.decode(errors="replace")


class Desk:
    def __init__(self, advisor_id: str) -> None:
        self.sender = f"advisor:{advisor_id}"
        self.last: Incoming | None = None  # the customer a typed line answers
        self.sent: set[str] = set()

    async def messages(self, consumer: Consumer) -> None:
        async for incoming in consumer:
            self.show(incoming.message)
            await incoming.ack()
            if incoming.message.text is not None:
                self.last = incoming

    def show(self, message: Message) -> None:
        who = message.customer.nickname or message.customer.id
        what = message.text if message.text is not None else f"[{message.kind.value}]"
        print(f"{message.platform.value}/{message.account} {who}: {what}", flush=True)

    async def typing(self, lines: AsyncIterator[str]) -> None:
        async for line in lines:
            text = line.strip()
            if not text:
                continue
            if self.last is None:
                print("(no customer to answer yet)", flush=True)
                continue
            try:
                sent = await self.last.reply(text)
            except GatewayError as exc:
                print(f"(not sent: {exc})", flush=True)
                continue
            self.sent.add(sent.request_id)
            print(f"-> {sent.customer} [{sent.request_id}]", flush=True)

    async def receipts(self, receipts: ReceiptConsumer) -> None:
        async for delivery in receipts:
            receipt = delivery.body
            await delivery.ack()
            if receipt.request_id in self.sent or receipt.sender == self.sender:
                why = f" ({receipt.reason}: {receipt.detail})" if receipt.reason else ""
                print(f"<- receipt [{receipt.request_id}] {receipt.status}{why}", flush=True)


async def main(
    argv: Sequence[str] | None = None, *, lines: AsyncIterator[str] | None = None
) -> int:
    args = parse_args(argv)
    desk = Desk(args.advisor_id)
    consumer = Consumer.for_advisor(args.advisor_id, queue=args.queue, url=args.url)
    async with consumer, ReceiptConsumer(url=args.url) as receipts:
        print(
            f"{desk.sender} at the desk, reading {consumer.queue}; type a reply + Enter", flush=True
        )
        async with asyncio.TaskGroup() as tasks:
            readers = [
                tasks.create_task(desk.messages(consumer)),
                tasks.create_task(desk.receipts(receipts)),
            ]
            await desk.typing(lines if lines is not None else stdin_lines())
            for reader in readers:  # input ended (Ctrl-D): leave the desk
                reader.cancel()
    return 0


def cli() -> None:
    configure_logging(level="warning", fmt="console")  # on stderr
    try:
        raise SystemExit(asyncio.run(main()))
    except* GatewayError as group:
        raise SystemExit(f"advisor_desk: {group.exceptions[0]}") from None


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        cli()
