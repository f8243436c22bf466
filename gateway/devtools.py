"""Developer tools behind the CLI: `send-test` (act like a platform) and `tail` (a consumer)."""

from __future__ import annotations

import asyncio
import secrets
import sys
import time
from dataclasses import dataclass

import aiohttp
import orjson
from aio_pika.abc import AbstractIncomingMessage

from adapters.douyin.simulate import doudian_push, douyin_im_text, douyin_webhook
from adapters.wechat.simulate import signed_callback, store_kf_text, text_message_xml
from gateway.accounts import DouyinAccount, WeChatAccount, load_accounts
from gateway.broker.publisher import connect
from gateway.errors import ConfigError
from gateway.models import Platform
from gateway.settings import Settings

__all__ = ["send_test", "tail"]


@dataclass(frozen=True, slots=True)
class _Request:
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    description: str


async def send_test(
    settings: Settings,
    platform: str,
    text: str,
    *,
    customer: str,
    account: str | None = None,
    url: str | None = None,
) -> int:
    """POST one correctly signed callback to a running gateway; 0 when it answered 200."""
    accounts = load_accounts(settings.config)
    candidates = [a for a in accounts.of(Platform(platform)) if account in (None, a.name)]
    if not candidates:
        where = settings.config or "(no GATEWAY_CONFIG)"
        raise ConfigError(f"no {platform} account {account or ''} in {where}".replace("  ", " "))
    chosen = candidates[0]
    now = int(time.time())
    if isinstance(chosen, WeChatAccount):
        request = _wechat(chosen, text, customer, now)
    elif isinstance(chosen, DouyinAccount):
        request = _douyin(chosen, text, customer, now)
    else:
        raise ConfigError(
            "Taobao sends through TMC (a WebSocket the gateway opens), not webhooks; "
            "send-test cannot act as TMC"
        )
    base = url or f"http://{settings.host}:{settings.port}"
    target = f"{base.rstrip('/')}/webhooks/{platform}/{chosen.name}"
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            target, params=request.query, data=request.body, headers=request.headers
        ) as response,
    ):
        answer = await response.text()
    print(f"POST {target} [{request.description}] -> {response.status} {answer}")
    return 0 if response.status == 200 else 1


def _wechat(account: WeChatAccount, text: str, customer: str, now: int) -> _Request:
    msg_id = secrets.randbits(62)
    aes_key = account.encoding_aes_key.get_secret_value() if account.encoding_aes_key else None
    store = account.surface == "channels_store"
    maker = store_kf_text if store else text_message_xml
    plaintext = maker(to="gh_kefu_demo", sender=customer, text=text, msg_id=msg_id, created=now)
    callback = signed_callback(
        plaintext,
        token=account.token.get_secret_value(),
        timestamp=now,
        app_id=account.app_id,
        encoding_aes_key=aes_key,
        json_envelope=store,
    )
    mode = "safe mode (AES)" if aes_key else "plaintext"
    return _Request(
        callback.query,
        {"Content-Type": callback.content_type},
        callback.body,
        f"{account.surface}, {mode}",
    )


def _douyin(account: DouyinAccount, text: str, customer: str, now: int) -> _Request:
    if account.flavor == "open":
        assert account.client_key and account.client_secret
        envelope = douyin_im_text(
            client_key=account.client_key,
            sender=customer,
            receiver="shop",
            text=text,
            created_ms=now * 1000,
        )
        callback = douyin_webhook(
            envelope,
            client_secret=account.client_secret.get_secret_value(),
            msg_id=secrets.token_hex(8),
        )
        description = "Douyin open platform, im_receive_msg"
    else:
        assert account.app_key and account.app_secret
        record = {
            "tag": "100",
            "msg_id": secrets.token_hex(10),
            "data": {
                "p_id": str(secrets.randbits(62)),
                "shop_id": 1,
                "biz": 2,
                "order_status": 1,
                "buyer_id": customer,
                "buyer_words": text,
                "create_time": now,
            },
        }
        callback = doudian_push(
            [record], app_key=account.app_key, app_secret=account.app_secret.get_secret_value()
        )
        description = "Doudian push, tag 100 (order created; TEXT as the buyer's note)"
    headers = {**callback.headers, "Content-Type": callback.content_type}
    return _Request({}, headers, callback.body, description)


async def tail(
    settings: Settings, queue_name: str, *, count: int = 0, raw_json: bool = False
) -> int:
    """Consume `queue_name`, print each message, ack it; stop after `count` (0: never)."""
    connection = await connect(settings.amqp_url.get_secret_value(), name="kefu-gateway-tail")
    seen = 0
    finished = asyncio.Event()
    async with connection:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=10)
        queue = await channel.get_queue(queue_name, ensure=True)

        async def on_message(message: AbstractIncomingMessage) -> None:
            nonlocal seen
            async with message.process():
                print(message.body.decode() if raw_json else _pretty(message), flush=True)
                seen += 1
                if count and seen >= count:
                    finished.set()

        await queue.consume(on_message)
        if not raw_json:
            print(f"waiting for messages on {queue_name} (Ctrl-C to stop)", file=sys.stderr)
        await finished.wait()
    return 0


def _pretty(message: AbstractIncomingMessage) -> str:
    try:
        doc = orjson.loads(message.body)
    except orjson.JSONDecodeError:
        return f"{message.routing_key}  (not JSON, {len(message.body)} bytes)"
    route = doc.get("route") or {}
    who = (doc.get("customer") or {}).get("id")
    what = doc.get("text") if doc.get("text") is not None else doc.get("kind")
    masked = f"  masked={','.join(doc['pii'])}" if doc.get("pii") else ""
    return (
        f"{message.routing_key:28} {doc.get('platform')}/{doc.get('account')} "
        f"customer={who} route={route.get('target')}({route.get('reason')}) "
        f"{what!r}{masked}"
    )
