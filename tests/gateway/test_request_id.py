"""The request id middleware: a sane client id is kept, anything else gets a fresh random one,
and the id is on every log line of the request and on the response."""

from __future__ import annotations

import os
from typing import Any

import pytest
from aiohttp import web
from structlog.contextvars import get_contextvars

from gateway.middleware import request_id_middleware


async def seen(request: web.Request) -> web.Response:
    return web.Response(text=str(get_contextvars().get("request_id")))


@pytest.fixture
async def client(aiohttp_client: Any) -> Any:
    app = web.Application(middlewares=[request_id_middleware])
    app.router.add_get("/", seen)
    return await aiohttp_client(app)


async def test_a_sane_client_id_is_kept(client: Any) -> None:
    response = await client.get("/", headers={"X-Request-Id": "abc123XYZ"})
    assert await response.text() == "abc123XYZ"
    assert response.headers["X-Request-Id"] == "abc123XYZ"


@pytest.mark.parametrize("given", [None, "", "has space", "a-b", "x" * 65, "日志"])
async def test_anything_else_gets_a_fresh_128_bit_id(client: Any, given: str | None) -> None:
    headers = {} if given is None else {"X-Request-Id": given}
    ids = set()
    for _ in range(50):
        response = await client.get("/", headers=headers)
        request_id = await response.text()
        assert response.headers["X-Request-Id"] == request_id
        assert len(request_id) == 32 and int(request_id, 16) >= 0
        ids.add(request_id)
    assert len(ids) == 50
    assert "request_id" not in get_contextvars()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_forked_workers_do_not_repeat_each_others_ids() -> None:
    """`random` is reseeded in a forked child, so workers forked from one parent draw different
    ids (the property the middleware relies on instead of os.urandom)."""
    import random

    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.write(write, f"{random.getrandbits(128):032x}".encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    child = os.read(read, 64).decode()
    os.close(read)
    assert child != f"{random.getrandbits(128):032x}"
