"""`/healthz` (the process is up) and `/readyz` (RabbitMQ connected and the store reachable)."""

from __future__ import annotations

import asyncio

from aiohttp import web

from gateway.broker.publisher import broker_up
from gateway.errors import StoreError
from gateway.keys import CONNECTION, ENGINE, METRICS, OUTBOX, PUBLISHER, TMC_CLIENTS
from gateway.store.engine import ping

__all__ = ["healthz", "metrics", "readyz"]


async def healthz(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    checks: dict[str, str] = {}
    connection = request.app[CONNECTION]
    publisher = request.app.get(PUBLISHER)
    linked = publisher is None or publisher.ready  # the webhook path's own connection
    checks["broker"] = "ok" if broker_up(connection) and linked else "disconnected"
    for client in request.app.get(TMC_CLIENTS, []):
        checks[f"tmc:{client.account}"] = "ok" if client.connected else "disconnected"
    try:
        await ping(request.app[ENGINE])
        checks["store"] = "ok"
    except StoreError:
        checks["store"] = "unreachable"
    ready = all(v == "ok" for v in checks.values())
    body = {
        "status": "ready" if ready else "not_ready",
        "checks": checks,
        "outbox": request.app[OUTBOX].waiting,
    }
    return web.json_response(body, status=200 if ready else 503)


async def metrics(request: web.Request) -> web.Response:
    """Prometheus exposition; queue depths and TMC state are read at scrape time."""
    registry = request.app[METRICS]
    registry.outbox_depth.set(await request.app[OUTBOX].depth())
    registry.asyncio_tasks.set(len(asyncio.all_tasks()))
    for client in request.app.get(TMC_CLIENTS, []):
        registry.tmc_connected.labels(client.account).set(1 if client.connected else 0)
    connection = request.app[CONNECTION]
    if broker_up(connection):
        async with connection.channel() as channel:
            await registry.refresh_queue_depths(channel)
    return registry.response()
