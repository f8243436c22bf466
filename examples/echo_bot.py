"""An echo bot: answers every customer message on ``kefu.bots`` with 「收到：<text>」.

Run the gateway (``make run``) in one terminal, this bot in another::

    .venv/bin/python examples/echo_bot.py
    .venv/bin/kefu-gateway send-test wechat "你好" --account shop1     # a third terminal

Events and messages without text are acknowledged without an answer. ``--bind`` gives the bot
a queue of its own (``--queue my.bot --bind bot.wechat``) instead of sharing ``kefu.bots``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import Sequence

import structlog

from gateway.consumer import Consumer, Incoming
from gateway.errors import GatewayError, InvalidReply
from gateway.logs import configure_logging

log = structlog.get_logger("echo_bot")

DESCRIPTION = "An echo bot: answers every customer message on kefu.bots with 收到：<text>."


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=DESCRIPTION)
    parser.add_argument("--name", default="echo", help="replies are sent as bot:NAME")
    parser.add_argument("--queue", default="kefu.bots", help="queue to consume")
    parser.add_argument(
        "--bind",
        action="append",
        default=[],
        metavar="KEY",
        help="declare QUEUE as your own, bound to kefu.inbound with KEY (repeatable)",
    )
    parser.add_argument("--url", help="RabbitMQ URL (default: GATEWAY_AMQP_URL)")
    parser.add_argument("--prefetch", type=int, default=10)
    return parser.parse_args(argv)


async def echo(incoming: Incoming) -> str | None:
    """Answer a text message; returns the reply's request id (None: nothing to answer)."""
    message = incoming.message
    if not message.text:
        return None
    try:
        sent = await incoming.reply(f"收到：{message.text}")
    except InvalidReply as exc:  # e.g. a text the outbound schema refuses (too long)
        log.warning("echo.unanswerable", message_id=message.id, error=str(exc))
        return None
    return sent.request_id


async def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    consumer = Consumer(
        args.queue, sender=f"bot:{args.name}", bind=args.bind, url=args.url, prefetch=args.prefetch
    )
    async with consumer:
        print(f"bot:{args.name} waiting on {consumer.queue} (Ctrl-C to stop)", flush=True)
        async for incoming in consumer:
            answered = await echo(incoming)
            await incoming.ack()  # after the reply is confirmed: a crash before means a retry
            if answered:
                print(f"{incoming.message.customer.id} <- {answered}", flush=True)
    return 0


def cli() -> None:
    configure_logging(level="info", fmt="console")  # on stderr
    try:
        raise SystemExit(asyncio.run(main()))
    except GatewayError as exc:
        raise SystemExit(f"echo_bot: {exc}") from exc


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        cli()
