"""Bearer-token protection of ``/api/v1``: no token configured means the API refuses everything."""

from __future__ import annotations

import hmac

from aiohttp import web
from aiohttp.typedefs import Middleware

from gateway.errors import Unauthorized
from gateway.middleware import Handler

__all__ = ["API_PREFIX", "admin_auth_middleware"]

API_PREFIX = "/api/v1"


def admin_auth_middleware(token: str | None) -> Middleware:
    """A middleware checking ``Authorization: Bearer <token>`` on admin paths, constant-time."""
    expected = token.encode() if token else None

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith(API_PREFIX):
            return await handler(request)
        if expected is None:
            raise Unauthorized("the admin API is disabled: set GATEWAY_ADMIN_TOKEN", disabled=True)
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected):
            raise Unauthorized("missing or wrong bearer token")
        return await handler(request)

    return middleware
