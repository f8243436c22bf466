"""Small helpers shared by admin handlers: validated bodies and queries, paginated lists."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

import orjson
from aiohttp import web
from pydantic import BaseModel, Field, ValidationError

from gateway.errors import InvalidRequest

__all__ = ["Page", "json_response", "parse_query", "read_model", "validation_errors"]

M = TypeVar("M", bound=BaseModel)

MAX_LIMIT = 500


def validation_errors(exc: ValidationError) -> list[dict[str, object]]:
    """Pydantic errors in a stable, secret-free shape: location, message, type."""
    return [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]


async def read_model(request: web.Request, model: type[M]) -> M:
    """The JSON body validated as `model`; InvalidRequest (422) otherwise."""
    raw = await request.read()
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise InvalidRequest("request body does not validate", validation_errors(exc)) from exc


def parse_query(request: web.Request, model: type[M]) -> M:
    """The query string validated as `model`."""
    try:
        return model.model_validate(dict(request.query))
    except ValidationError as exc:
        raise InvalidRequest("query does not validate", validation_errors(exc)) from exc


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


class Page(BaseModel):
    """Query of a paginated list: `limit` items after the opaque `cursor` (an id)."""

    limit: int = Field(default=100, ge=1, le=MAX_LIMIT)
    cursor: str | None = Field(default=None, max_length=200)

    def envelope(self, items: Sequence[Any], key: str = "id") -> dict[str, Any]:
        """``{"items": [...], "next_cursor": ...}`` given up to limit+1 fetched rows."""
        page = list(items[: self.limit])
        more = len(items) > self.limit
        last = page[-1] if page else None
        cursor = (last[key] if isinstance(last, dict) else getattr(last, key)) if more else None
        return {"items": page, "next_cursor": cursor}
