"""HTTP surface for platform callbacks: ``/webhooks/{platform}/{account}``.

Refusals are raised as `GatewayError`s and answered by `gateway.middleware.error_middleware`.
"""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web

from gateway.errors import PayloadError, PayloadTooLarge, UnknownAccount
from gateway.keys import ADAPTERS, INGEST, SETTINGS
from gateway.logs import log_context
from gateway.models import Platform, WebhookRequest

__all__ = ["webhook"]


async def webhook(request: web.Request) -> web.Response:
    """GET: the platform's URL verification; POST: a callback, answered after the hand-off."""
    try:
        platform = Platform(request.match_info["platform"])
    except ValueError:
        raise UnknownAccount("unknown platform") from None
    account = request.match_info["account"]
    adapter = request.app[ADAPTERS].get((platform, account))
    if adapter is None:
        raise UnknownAccount("unknown account")
    body = await _read_body(request) if request.method == "POST" else b""
    incoming = WebhookRequest(
        method=request.method,
        headers={k.lower(): v for k, v in request.headers.items()},
        query=_query(request),
        body=body,
        content_type=request.content_type,
    )
    with log_context(platform=platform.value, account=account):
        if request.method == "GET":
            reply = adapter.handshake(incoming)
        else:
            reply = await request.app[INGEST].handle(adapter, incoming)
    return web.Response(body=reply.body, status=reply.status, content_type=reply.content_type)


async def _read_body(request: web.Request) -> bytes:
    """The body, refused with 413 as soon as it exceeds the webhook limit (streamed, so a huge
    chunked body is never held in memory)."""
    limit = request.app[SETTINGS].max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(f"body exceeds {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    try:
        while chunk := await request.content.readany():
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(f"body exceeds {limit} bytes")
            chunks.append(chunk)
    except web.RequestPayloadError as exc:
        # A body that does not decode with its Content-Encoding, or a truncated chunked body.
        raise PayloadError(f"unreadable body: {type(exc.__cause__ or exc).__name__}") from exc
    if not size:
        raise PayloadError("empty body")
    return b"".join(chunks)


def _query(request: web.Request) -> Mapping[str, tuple[str, ...]]:
    return {key: tuple(request.query.getall(key)) for key in request.query}
