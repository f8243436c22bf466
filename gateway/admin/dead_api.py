"""Admin API of dead letters (``kefu.dead``): list without removing, replay, discard.

A dead letter is addressed by its ``id``: the AMQP message id (for an outbound message its
request id, for an inbound one the stable message id), or ``sha256:<digest>`` of the body when
the message has none. How peeking avoids losing or reordering messages, where a replay goes and
why it is at-least-once: `gateway.mass.dead_letters` and docs/mass-send.md.
"""

from __future__ import annotations

from typing import Annotated, Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from gateway.admin.http import Page, json_response, parse_query, read_model
from gateway.keys import DEAD_LETTERS
from gateway.mass.dead_letters import Outcome

__all__ = ["add_dead_letter_routes"]

LetterId = Annotated[str, StringConstraints(min_length=1, max_length=200)]
MAX_SELECTED = 1000


class Selection(BaseModel):
    """Either explicit ids, or ``all`` with a ``limit`` (the first messages of the queue)."""

    model_config = ConfigDict(extra="forbid")

    message_ids: list[LetterId] | None = Field(default=None, min_length=1, max_length=MAX_SELECTED)
    all: bool = False
    limit: int = Field(default=100, ge=1, le=MAX_SELECTED)

    @model_validator(mode="after")
    def _one_way(self) -> Selection:
        if (self.message_ids is None) == (not self.all):
            raise ValueError("give either message_ids or all: true")
        return self


def add_dead_letter_routes(app: web.Application, prefix: str) -> None:
    app.router.add_get(f"{prefix}/dead-letters", list_dead_letters)
    app.router.add_post(f"{prefix}/dead-letters/_replay", replay_dead_letters)
    app.router.add_delete(f"{prefix}/dead-letters", discard_dead_letters)


async def list_dead_letters(request: web.Request) -> web.Response:
    """The first `limit` dead letters after `cursor` (a dead-letter id), in queue order."""
    query = parse_query(request, Page)
    items, depth = await request.app[DEAD_LETTERS].peek(query.limit, query.cursor)
    return json_response({**query.envelope(items), "depth": depth})


async def replay_dead_letters(request: web.Request) -> web.Response:
    body = await read_model(request, Selection)
    outcome = await request.app[DEAD_LETTERS].replay(body.message_ids, body.limit)
    return json_response(_report(outcome, "replayed"))


async def discard_dead_letters(request: web.Request) -> web.Response:
    body = await read_model(request, Selection)
    outcome = await request.app[DEAD_LETTERS].discard(body.message_ids, body.limit)
    return json_response(_report(outcome, "discarded"))


def _report(outcome: Outcome, verb: str) -> dict[str, Any]:
    return {
        verb: outcome.done,
        "failed": [{"id": i, "error": e} for i, e in outcome.failed.items()],
        "not_found": outcome.missing,
        "scanned": outcome.scanned,
    }
