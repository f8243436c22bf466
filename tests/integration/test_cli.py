"""The `kefu-gateway` command as an operator runs it: serve, send-test, tail, check-config."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aio_pika
import aiohttp
import orjson
import pytest

from gateway.broker.topology import INBOUND
from tests.conftest import AMQP_URL

pytestmark = [pytest.mark.rabbitmq]

ROOT = Path(__file__).parents[2]
EXAMPLE = ROOT / "examples" / "accounts.toml"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def log_events(text: str) -> list[dict[str, Any]]:
    """The JSON log lines of a captured server output (anything else, e.g. a traceback, skipped)."""
    events: list[dict[str, Any]] = []
    for line in text.splitlines():
        with contextlib.suppress(orjson.JSONDecodeError):
            parsed = orjson.loads(line)
            if isinstance(parsed, dict):
                events.append(parsed)
    return events


def cli(*args: str, env: dict[str, str], timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "GATEWAY_AMQP_URL": AMQP_URL,
        "GATEWAY_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}",
        "GATEWAY_CONFIG": str(EXAMPLE),
        "GATEWAY_PORT": str(free_port()),
        "SHOP1_APP_SECRET": "demo-secret",
    }


@pytest.fixture
def server(env: dict[str, str], tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    with (tmp_path / "serve.log").open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gateway", "serve"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
    url = f"http://127.0.0.1:{env['GATEWAY_PORT']}/readyz"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    break
        except OSError:
            time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail("gateway did not become ready:\n" + (tmp_path / "serve.log").read_text())
    yield proc
    if proc.poll() is None:
        proc.kill()
        proc.wait()


@pytest.fixture
def tail_queue() -> Iterator[str]:
    """A durable queue bound to bot.wechat that a `tail` subprocess can consume."""
    name = f"test.tail.{uuid.uuid4().hex[:8]}"

    async def declare() -> None:
        async with await aio_pika.connect(AMQP_URL) as connection:
            channel = await connection.channel()
            queue = await channel.declare_queue(name)
            await queue.bind(INBOUND, "bot.wechat")

    async def delete() -> None:
        async with await aio_pika.connect(AMQP_URL) as connection:
            channel = await connection.channel()
            await channel.queue_delete(name)

    asyncio.run(declare())
    yield name
    asyncio.run(delete())


def test_serve_send_test_tail_and_graceful_stop(
    server: subprocess.Popen[str], env: dict[str, str], tmp_path: Path, tail_queue: str
) -> None:
    """serve gets ready; send-test gets success; tail shows messages masked; SIGTERM exits 0."""
    customer = f"oCli{os.getpid()}{int(time.time())}"
    sent = cli(
        "send-test",
        "wechat",
        "我的手机是13812345678，在吗",
        "--account",
        "shop1",
        "--customer",
        customer,
        env=env,
    )
    assert sent.returncode == 0, sent.stderr
    assert "-> 200 success" in sent.stdout
    store = cli(
        "send-test", "wechat", "有货吗", "--account", "store1", "--customer", customer, env=env
    )
    assert "-> 200 success" in store.stdout, store.stderr
    # The queue sees every bot-routed WeChat message on this broker (other gateways may share
    # it): tail until this test's two have come by.
    docs: list[dict[str, Any]] = []
    for _ in range(10):
        tailed = cli("tail", tail_queue, "--json", "--count", "2", env=env, timeout=20)
        assert tailed.returncode == 0, tailed.stderr
        lines = [orjson.loads(line) for line in tailed.stdout.splitlines()]
        docs += [d for d in lines if d["customer"]["id"] == customer]
        if len(docs) >= 2:
            break
    assert [d["customer"]["id"] for d in docs] == [customer, customer]
    assert docs[0]["text"] == "我的手机是138****5678,在吗"  # NFKC: full-width comma → ","
    assert docs[0]["pii"] == ["phone"]
    assert {d["account"] for d in docs} == {"shop1", "store1"}
    server.send_signal(signal.SIGTERM)
    assert server.wait(timeout=30) == 0
    logs = (tmp_path / "serve.log").read_text()
    assert "13812345678" not in logs
    assert "inbound.published" in {line.get("event") for line in log_events(logs)}
    assert "gw_demo_token" not in logs


def test_serve_without_rabbitmq_explains_how_to_start_one(env: dict[str, str]) -> None:
    """With RabbitMQ unreachable, serve exits 3 and says how to start one, without the password."""
    env["GATEWAY_AMQP_URL"] = "amqp://guest:hunter2@127.0.0.1:1/"
    result = cli("serve", env=env)
    assert result.returncode == 3
    assert "rabbitmq-server -detached" in result.stderr
    assert "hunter2" not in result.stderr


def test_bad_accounts_file_names_the_key(env: dict[str, str], tmp_path: Path) -> None:
    """A bad accounts file stops check-config and serve with exit 2, naming account and key."""
    bad = tmp_path / "accounts.toml"
    bad.write_text('[accounts.shop1]\nplatform = "wechat"\ntoken = "t"\n')
    env["GATEWAY_CONFIG"] = str(bad)
    for command in ("check-config", "serve"):
        result = cli(command, env=env)
        assert result.returncode == 2
        assert "accounts.shop1.app_id: missing" in result.stderr


def test_check_config_lists_accounts_without_secrets(env: dict[str, str]) -> None:
    """check-config validates the example file and prints no secret."""
    result = cli("check-config", env=env)
    assert result.returncode == 0, result.stderr
    assert "5 account(s) valid" in result.stdout
    assert "gw_demo_token" not in result.stdout


def test_demo_tours_every_surface(env: dict[str, str]) -> None:
    """demo --json: every step answered 200, routed, masked; the retry published once."""
    result = cli("demo", "--json", env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    lines = [orjson.loads(line) for line in result.stdout.splitlines()]
    steps = [line for line in lines if "step" in line]
    assert len(steps) == 8
    assert all(s["status"] == 200 and s["message"] is not None for s in steps)
    keys = [s["routing_key"] for s in steps]
    assert keys == [
        "bot.wechat",
        "event.wechat.subscribe",
        "bot.wechat",
        "event.wechat.channels_ec_order_pay",
        "bot.wechat",
        "event.douyin.doudian_trade_create",
        "bot.douyin",
        "event.taobao.taobao_trade_tradebuyerpay",
    ]
    assert "13812345678" not in result.stdout.replace(" ", "")
    assert [s["message"]["pii"] for s in steps] == [
        ["phone"],
        [],
        ["bank_card", "email"],
        [],
        ["id_card"],
        ["address", "name", "phone"],
        [],
        ["phone"],
    ]
    notes = " ".join(line["note"] for line in lines if "note" in line)
    assert "published 1 time(s)" in notes
    assert "-> 401" in notes


def test_sigterm_under_load_loses_nothing(
    server: subprocess.Popen[str], env: dict[str, str], tail_queue: str
) -> None:
    """SIGTERM while callbacks stream in: every callback answered 200 is on RabbitMQ, the
    process exits 0 within the shutdown timeout."""
    from adapters.wechat.simulate import signed_callback, text_message_xml

    base = f"http://127.0.0.1:{env['GATEWAY_PORT']}/webhooks/wechat/mp1"
    tag = f"oStop{uuid.uuid4().hex[:6]}"

    async def stream() -> list[str]:
        answered: list[str] = []
        async with aiohttp.ClientSession() as session:

            async def one(n: int) -> None:
                now = int(time.time())
                body = text_message_xml(
                    to="gh", sender=f"{tag}-{n}", text="hi", msg_id=n + 1, created=now
                )
                cb = signed_callback(body, token="gw_mp_token", timestamp=now)
                try:
                    async with session.post(base, params=cb.query, data=cb.body) as response:
                        if response.status == 200:
                            answered.append(f"{tag}-{n}")
                except aiohttp.ClientError:
                    pass  # refused once the listener closed: the platform would retry

            tasks = [asyncio.create_task(one(n)) for n in range(300)]
            async with asyncio.timeout(20):
                while len(answered) < 20:  # stop in the middle of the stream
                    await asyncio.sleep(0.005)
            server.send_signal(signal.SIGTERM)
            await asyncio.gather(*tasks)
        return answered

    answered = asyncio.run(stream())
    assert server.wait(timeout=30) == 0
    assert answered, "no callback was answered before the shutdown"

    async def drain() -> set[str]:
        seen: set[str] = set()
        async with await aio_pika.connect(AMQP_URL) as connection:
            channel = await connection.channel()
            queue = await channel.get_queue(tail_queue)
            while (message := await queue.get(fail=False, timeout=2)) is not None:
                seen.add(orjson.loads(message.body)["customer"]["id"])
                await message.ack()
        return seen

    on_queue = asyncio.run(drain())
    assert set(answered) <= on_queue


def test_two_workers_share_the_port_and_the_metrics(
    env: dict[str, str], postgres_url: str, tmp_path: Path
) -> None:
    """serve --workers 2 on PostgreSQL: both answer on one port, /metrics sums both, SIGTERM
    stops both cleanly."""
    from adapters.wechat.simulate import signed_callback, text_message_xml

    env = {**env, "GATEWAY_DATABASE_URL": postgres_url}
    with (tmp_path / "workers.log").open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gateway", "serve", "--workers", "2"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # so the finally below can stop the workers too
        )
    base = f"http://127.0.0.1:{env['GATEWAY_PORT']}"
    try:
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{base}/readyz", timeout=1) as response:
                    if response.status == 200:
                        break
            except OSError:
                time.sleep(0.2)

        async def stream() -> list[int]:
            async with aiohttp.ClientSession() as session:

                async def one(n: int) -> int:
                    now = int(time.time())
                    body = text_message_xml(
                        to="gh", sender=f"oW{n}", text="hi", msg_id=10**12 + n, created=now
                    )
                    cb = signed_callback(body, token="gw_mp_token", timestamp=now)
                    async with session.post(
                        f"{base}/webhooks/wechat/mp1", params=cb.query, data=cb.body
                    ) as response:
                        return response.status

                return await asyncio.gather(*(one(n) for n in range(40)))

        assert asyncio.run(stream()) == [200] * 40
        with urllib.request.urlopen(f"{base}/metrics", timeout=5) as response:
            metrics = response.read().decode()
        assert 'kefu_callbacks_total{platform="wechat",status="200"} 40.0' in metrics
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=40) == 0
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # no worker may outlive a failed test
        proc.wait()
    log_text = (tmp_path / "workers.log").read_text()
    started = [line for line in log_events(log_text) if line.get("event") == "worker.started"]
    assert len(started) == 2
    assert len({line["pid"] for line in started}) == 2
