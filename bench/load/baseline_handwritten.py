"""Baseline (b): the WeChat callback handler a merchant writes by hand.

aiohttp; WeChat safe mode checked and decrypted like WXBizMsgCrypt (sha1 `signature` and
`msg_signature`, AES-256-CBC with IV = key[:16], PKCS#7, receive-id = AppID); the envelope and
the message parsed with xmltodict; the fields the merchant's systems need put into JSON and
published with a publisher confirm (persistent, `mandatory`, message_id = MsgId) to the same kind
of durable topic exchange and quorum queue as the gateway uses. No timestamp window, no dedup,
no masking, no rules, no routing: what "just forward it to MQ" looks like.

    python bench/load/baseline_handwritten.py --port 8102 --token T --aes-key K --app-id A
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import struct
from collections.abc import AsyncIterator, Mapping

import aio_pika
import xmltodict
from aiohttp import web
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

EXCHANGE = "bench.inbound"
QUEUE = "bench.inbound"
ROUTING_KEY = "advisor.bench"
EXCHANGE_KEY = web.AppKey("exchange", aio_pika.abc.AbstractExchange)
CONFIG_KEY = web.AppKey("config", argparse.Namespace)


def check_signature(signature: str, *parts: str) -> bool:
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest() == signature


def decrypt(aes_key: str, encrypted: str) -> tuple[bytes, str]:
    """The message XML and the receive-id (AppID) of a safe-mode `Encrypt` value."""
    key = base64.b64decode(aes_key + "=")
    decryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
    plain = decryptor.update(base64.b64decode(encrypted)) + decryptor.finalize()
    plain = plain[: -plain[-1]]  # PKCS#7
    (length,) = struct.unpack(">I", plain[16:20])
    return plain[20 : 20 + length], plain[20 + length :].decode()


class Refused(Exception):
    """A callback the handler answers 403."""


def handle(
    query: Mapping[str, str], body: bytes, token: str, aes_key: str, app_id: str
) -> tuple[str, bytes]:
    """Verify, decrypt and parse one callback: its MsgId and the JSON document to publish (the
    handler's whole per-message work but the publish; bench/bench_pipeline.py times it)."""
    timestamp, nonce = query.get("timestamp", ""), query.get("nonce", "")
    if not check_signature(query.get("signature", ""), token, timestamp, nonce):
        raise Refused("bad signature")
    envelope = xmltodict.parse(body)["xml"]
    encrypted = envelope["Encrypt"]
    if not check_signature(query.get("msg_signature", ""), token, timestamp, nonce, encrypted):
        raise Refused("bad msg_signature")
    xml, received_app_id = decrypt(aes_key, encrypted)
    if received_app_id != app_id:
        raise Refused("wrong appid")
    msg = xmltodict.parse(xml)["xml"]
    doc = {
        "msg_id": msg["MsgId"],
        "from_user": msg["FromUserName"],
        "to_user": msg["ToUserName"],
        "msg_type": msg["MsgType"],
        "content": msg.get("Content"),
        "create_time": int(msg["CreateTime"]),
    }
    return msg["MsgId"], json.dumps(doc, ensure_ascii=False).encode()


async def callback(request: web.Request) -> web.Response:
    config = request.app[CONFIG_KEY]
    try:
        msg_id, body = handle(
            request.query, await request.read(), config.token, config.aes_key, config.app_id
        )
    except Refused as exc:
        return web.Response(status=403, text=str(exc))
    await request.app[EXCHANGE_KEY].publish(
        aio_pika.Message(
            body,
            content_type="application/json",
            message_id=msg_id,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        ),
        routing_key=ROUTING_KEY,
        mandatory=True,
    )
    return web.Response(text="success")


def make_app(config: argparse.Namespace) -> web.Application:
    app = web.Application()
    app[CONFIG_KEY] = config

    async def rabbitmq(app: web.Application) -> AsyncIterator[None]:
        connection = await aio_pika.connect_robust(config.amqp_url)
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
    parser.add_argument("--port", type=int, default=8102)
    parser.add_argument("--amqp-url", default="amqp://guest:guest@127.0.0.1:5672/")
    parser.add_argument("--token", required=True)
    parser.add_argument("--aes-key", required=True, help="the 43-character EncodingAESKey")
    parser.add_argument("--app-id", required=True)
    args = parser.parse_args()
    web.run_app(make_app(args), host=args.host, port=args.port, print=None)


if __name__ == "__main__":
    main()
