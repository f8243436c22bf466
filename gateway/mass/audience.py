"""Who a mass-send task reaches: a filter's customers, and each recipient's decision.

- `matching`: the customers bound to the advisor that match the filter (a tag value, optionally
  of one tag kind, and/or a region), in id order, at most 15,000;
- `decide`: per pending recipient, skipped (``not_bound`` — not bound to the task's advisor now;
  ``no_handle`` — no id on the task's platform account; ``recently_touched``) or queued with the
  platform id to send to.

"Touched recently" (``skip_recent``) is read from the outbound sender's tables (docs/mass-send.md):
a proactive touch that started since `since` (``outbound_touches``: a touch's messages all go out
within its first minute), or a reply window that was open at any time since `since`
(``outbound_windows``: replies are counted per window, not time-stamped, so an open window is
taken to mean the customer may have been answered — the safe side for a mass send).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.mass.model import MAX_CUSTOMERS
from gateway.store.schema import bindings as b
from gateway.store.schema import customer_handles as h
from gateway.store.schema import customers as c
from gateway.store.schema import outbound_touches as tt
from gateway.store.schema import outbound_windows as ww

__all__ = ["Queued", "Run", "decide", "matching"]


@dataclass(frozen=True, slots=True)
class Run:
    """A leased task as its worker sees it."""

    id: str
    state: str
    advisor_id: str
    platform: str
    account: str
    material: dict[str, Any]
    skip_recent: bool
    batch: int
    published: int


@dataclass(frozen=True, slots=True)
class Queued:
    customer_id: str
    external_id: str
    request_id: str


async def matching(conn: AsyncConnection, advisor_id: str, rule: dict[str, Any]) -> list[str]:
    """Customers bound to the advisor matching the filter, in id order, at most 15,000."""
    query = (
        select(c.c.id, c.c.tags)
        .select_from(c.join(b, b.c.customer_id == c.c.id))
        .where(b.c.advisor_id == advisor_id)
        .order_by(c.c.id)
    )
    tag, kind, region = rule.get("tag"), rule.get("tag_kind"), rule.get("region")
    if region is not None:
        query = query.where(c.c.region == region)
    if tag is not None:  # a prefilter; the exact check is below
        query = query.where(c.c.tags.contains(orjson.dumps(tag).decode(), autoescape=True))
    ids: list[str] = []
    for row in (await conn.execute(query)).all():
        tags: dict[str, list[str]] = orjson.loads(row.tags)
        kinds = [tags.get(kind, [])] if kind is not None else tags.values()
        if tag is None or any(tag in values for values in kinds):
            ids.append(row.id)
        if len(ids) == MAX_CUSTOMERS:
            break
    return ids


async def decide(
    conn: AsyncConnection, run: Run, pending: Sequence[Any], since: float, window: float
) -> tuple[list[Queued], dict[str, list[str]]]:
    """Queued recipients, and skipped ones by reason: not_bound, no_handle, recently_touched."""
    ids = [row.customer_id for row in pending]
    bound = set(
        (
            await conn.execute(
                select(b.c.customer_id).where(
                    b.c.customer_id.in_(ids), b.c.advisor_id == run.advisor_id
                )
            )
        ).scalars()
    )
    rows = await conn.execute(
        select(h.c.customer_id, func.min(h.c.external_id).label("external_id"))
        .where(h.c.customer_id.in_(ids))
        .where(h.c.platform == run.platform, h.c.account == run.account)
        .group_by(h.c.customer_id)
    )
    handles = {row.customer_id: row.external_id for row in rows}
    touched = await _touched(conn, run, list(handles.values()), since, window)
    queued: list[Queued] = []
    skipped: dict[str, list[str]] = {}
    for row in pending:
        external = handles.get(row.customer_id)
        if row.customer_id not in bound:
            skipped.setdefault("not_bound", []).append(row.customer_id)
        elif external is None:
            skipped.setdefault("no_handle", []).append(row.customer_id)
        elif run.skip_recent and external in touched:
            skipped.setdefault("recently_touched", []).append(row.customer_id)
        else:
            queued.append(Queued(row.customer_id, external, row.request_id))
    return queued, skipped


async def _touched(
    conn: AsyncConnection, run: Run, externals: list[str], since: float, window: float
) -> set[str]:
    if not run.skip_recent or not externals:
        return set()
    touches = select(tt.c.customer).where(
        tt.c.platform == run.platform, tt.c.account == run.account,
        tt.c.customer.in_(externals), tt.c.touches > 0, tt.c.touch_started_at > since,
    )  # fmt: skip
    replies = select(ww.c.customer).where(
        ww.c.platform == run.platform, ww.c.account == run.account,
        ww.c.customer.in_(externals), ww.c.last_action_at > since - window,
    )  # fmt: skip
    found = set((await conn.execute(touches)).scalars())
    return found | set((await conn.execute(replies)).scalars())
