"""`kefu-gateway demo`: a newcomer's tour on the real parts.

Starts a gateway in-process (temporary SQLite store, built-in demo accounts, the RabbitMQ of
`GATEWAY_AMQP_URL`) and a fake Taobao TMC server on loopback, sends one signed callback of every
platform surface exactly as the platform would (`gateway.demo_samples`) — plus a platform retry
and a forged callback — and prints what the gateway answered, where each message was routed and
what was masked.
"""

from __future__ import annotations

import asyncio
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aio_pika
import aiohttp
import orjson
from aio_pika.abc import AbstractIncomingMessage
from aiohttp import web
from pydantic import SecretStr

from gateway.accounts import Accounts, parse_accounts
from gateway.app import create_app
from gateway.broker.topology import INBOUND
from gateway.demo_samples import (
    STEPS,
    TAOBAO_KEY,
    TAOBAO_SECRET,
    HttpStep,
    Post,
    TmcStep,
    demo_accounts,
    wechat_text,
)
from gateway.settings import Settings
from gateway.tmc.fake_server import FakeTmcServer

__all__ = ["run_demo"]

Received = dict[str, list[tuple[str, dict[str, Any]]]]


async def run_demo(settings: Settings, *, as_json: bool = False) -> int:
    tmc = FakeTmcServer(app_key=TAOBAO_KEY, app_secret=TAOBAO_SECRET)
    tmc_url = await tmc.start()
    try:
        with tempfile.TemporaryDirectory(prefix="kefu-demo-") as tmp:
            demo_settings = settings.model_copy(
                update={
                    "database_url": SecretStr(f"sqlite+aiosqlite:///{Path(tmp) / 'demo.db'}"),
                    "host": "127.0.0.1",
                    "port": 0,
                    "outbound_enabled": False,
                }
            )
            accounts = parse_accounts(demo_accounts(tmc_url), {})
            return await _tour(demo_settings, accounts, tmc, _Printer(as_json))
    finally:
        await tmc.close()


async def _tour(settings: Settings, accounts: Accounts, tmc: FakeTmcServer, out: _Printer) -> int:
    runner = web.AppRunner(create_app(settings, accounts), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    out.say(
        f"gateway up on http://127.0.0.1:{port} (store: temporary SQLite, RabbitMQ: "
        f"{settings.amqp_url.get_secret_value().split('@')[-1]}, fake TMC on loopback)"
    )
    received: Received = {}
    connection = await aio_pika.connect(settings.amqp_url.get_secret_value())
    failures = 0
    try:
        channel = await connection.channel()
        tap = await channel.declare_queue(exclusive=True, auto_delete=True)
        await tap.bind(INBOUND, "#")

        async def on_message(message: AbstractIncomingMessage) -> None:
            doc = orjson.loads(message.body)
            await message.ack()
            if isinstance(doc.get("customer"), dict):  # skip advisor-app notifications
                received.setdefault(doc["customer"]["id"], []).append(
                    (message.routing_key or "", doc)
                )

        await tap.consume(on_message)
        async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as http:
            for step in STEPS:
                failures += await _run_step(http, accounts, tmc, step, received, out)
            failures += await _retry_and_forgery(http, accounts, received, out)
    finally:
        await connection.close()
        await runner.cleanup()
    out.say(
        "done: every callback above was answered only after RabbitMQ confirmed it."
        if not failures
        else f"{failures} step(s) did not behave as expected"
    )
    return 1 if failures else 0


async def _run_step(
    http: aiohttp.ClientSession,
    accounts: Accounts,
    tmc: FakeTmcServer,
    step: HttpStep | TmcStep,
    received: Received,
    out: _Printer,
) -> int:
    customer = f"oDemo{secrets.token_hex(4)}"
    if isinstance(step, TmcStep):
        message_id = tmc.publish(step.topic, step.content(customer), user_id=customer)
        status, answer = 200, "TMC confirm"
    else:
        account = next(a for a in accounts.by_key.values() if a.name == step.account)
        post = step.build(account, customer, int(time.time()))
        status, answer = await _post(http, account.platform.value, step.account, post)
    try:
        async with asyncio.timeout(10):
            while customer not in received:
                await asyncio.sleep(0.02)
            if isinstance(step, TmcStep):
                while not tmc.confirmed[message_id]:
                    await asyncio.sleep(0.02)
    except TimeoutError:
        out.step(step.title, status, answer, None, None)
        return 1
    routing_key, doc = received[customer][0]
    out.step(step.title, status, answer, routing_key, doc)
    return 0 if status == 200 else 1


async def _retry_and_forgery(
    http: aiohttp.ClientSession, accounts: Accounts, received: Received, out: _Printer
) -> int:
    account = next(a for a in accounts.by_key.values() if a.name == "demo-oa")
    customer = f"oDemo{secrets.token_hex(4)}"
    post = wechat_text("在吗？")(account, customer, int(time.time()))
    answers = [await _post(http, "wechat", "demo-oa", post) for _ in range(3)]
    await asyncio.sleep(0.5)
    published = len(received.get(customer, []))
    out.say(
        f"platform retry: the same callback sent 3 times -> answers "
        f"{[a[0] for a in answers]}, published {published} time(s)"
    )
    forged = Post({**post.query, "msg_signature": "0" * 40}, post.body, post.headers)
    status, _ = await _post(http, "wechat", "demo-oa", forged)
    out.say(f"forged callback (wrong msg_signature) -> {status}, nothing published")
    return 0 if published == 1 and status == 401 else 1


async def _post(
    http: aiohttp.ClientSession, platform: str, account: str, post: Post
) -> tuple[int, str]:
    async with http.post(
        f"/webhooks/{platform}/{account}", params=post.query, data=post.body, headers=post.headers
    ) as response:
        return response.status, await response.text()


class _Printer:
    def __init__(self, as_json: bool) -> None:
        self._json = as_json
        self._color = sys.stdout.isatty() and not as_json

    def _c(self, code: str, text: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self._color else text

    def say(self, text: str) -> None:
        if self._json:
            print(orjson.dumps({"note": text}).decode())
        else:
            print(self._c("2", "· ") + text)

    def step(
        self,
        title: str,
        status: int,
        answer: str,
        routing_key: str | None,
        doc: dict[str, Any] | None,
    ) -> None:
        if self._json:
            print(
                orjson.dumps(
                    {
                        "step": title,
                        "status": status,
                        "answer": answer,
                        "routing_key": routing_key,
                        "message": doc,
                    }
                ).decode()
            )
            return
        ok = status == 200 and doc is not None
        print(self._c("1;32" if ok else "1;31", "✔ " if ok else "✘ ") + self._c("1", title))
        print(f"    answered {status} {answer!r}; routed to {routing_key or '(nothing arrived)'}")
        if doc is None:
            return
        shown = doc["text"] if doc["text"] is not None else (doc["order"] or doc["event"])
        print(f"    {doc['kind']}: {shown}")
        masked = ", ".join(doc["pii"]) or "nothing"
        print(f"    masked: {self._c('33', masked)}; message id {doc['id']}")
