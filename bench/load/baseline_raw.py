"""Baseline (a): plain aiohttp + aio-pika publish-with-confirm of the raw callback body.

No verification, no parsing: the floor of "receive an HTTP callback, hand it to RabbitMQ safely,
answer". Same broker contract as the gateway: a durable topic exchange, a durable quorum queue,
persistent messages, publisher confirms, `mandatory`.

    python bench/load/baseline_raw.py --port 8101 --amqp-url amqp://guest:guest@127.0.0.1/
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator

import aio_pika
from aiohttp import web

EXCHANGE = "bench.inbound"
QUEUE = "bench.inbound"
ROUTING_KEY = "advisor.bench"
EXCHANGE_KEY = web.AppKey("exchange", aio_pika.abc.AbstractExchange)


async def callback(request: web.Request) -> web.Response:
    body = await request.read()
    await request.app[EXCHANGE_KEY].publish(
        aio_pika.Message(
            body,
            content_type=request.content_type,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        ),
        routing_key=ROUTING_KEY,
        mandatory=True,
    )
    return web.Response(text="success")


def make_app(amqp_url: str) -> web.Application:
    app = web.Application()

    async def rabbitmq(app: web.Application) -> AsyncIterator[None]:
        connection = await aio_pika.connect_robust(amqp_url)
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        exchange = await channel.declare_exchange(
            EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True
        )
        queue = await channel.declare_queue(
            QUEUE, durable=True, arguments={"x-queue-type": "quorum"}
        )
        await queue.bind(exchange, routing_key="#")
        app[EXCHANGE_KEY] = exchange
        yield
        await connection.close()

    app.cleanup_ctx.append(rabbitmq)
    app.router.add_post("/webhooks/wechat/{account}", callback)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8101)
    parser.add_argument("--amqp-url", default="amqp://guest:guest@127.0.0.1:5672/")
    args = parser.parse_args()
    web.run_app(make_app(args.amqp_url), host=args.host, port=args.port, print=None)


if __name__ == "__main__":
    main()
