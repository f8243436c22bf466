"""Outbound state shared by every sender process: request idempotency, reply windows, touches.

Every limit is enforced by conditional statements whose row count says whether they took
(``UPDATE ... SET n = n + 1 WHERE ... AND n < limit``, ``INSERT ... ON CONFLICT``), so sender
processes sharing the database cannot overspend; no lock in process memory. Times: epoch seconds.

Reply windows (`record_customer_action`, or `customer_action` to write it in another transaction —
the inbound path's dedup claim —, and `take_reply`): a customer-initiated action at ``at``
opens the customer's window until ``at + window``; a later action renews it. The reply count
restarts when a *new* window starts — an action after the previous window expired — or, with
``reset_count_on_action`` (WeChat: "a new user message resets the count"), with every newer action.
Actions older than the last one recorded change nothing (out-of-order delivery is harmless).

Proactive touches (`take_touch`): per customer and calendar month in Asia/Shanghai time (UTC+8,
no daylight saving; months are ``YYYY-MM`` strings). A message joins the current touch while it
is younger than ``touch_seconds`` and has fewer than ``messages_per_touch`` messages; otherwise it
starts the next touch if fewer than ``monthly_touches`` were used this month.

Requests (`claim`, `finish`, `release`): like `gateway.store.dedup`, a request_id is claimed by an
INSERT that loses on the primary key; a finished request (sent or rejected) keeps its receipt for
redeliveries; a failed one (dead-lettered) may be claimed again, so a replay retries it.
"""

from __future__ import annotations

import enum
import functools
import itertools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Literal, Protocol

from sqlalchemy import ColumnElement, Table, and_, case, delete, not_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql.dml import UpdateBase

from gateway.store.dedup import Rider
from gateway.store.driver import execute_many
from gateway.store.engine import insert_for
from gateway.store.group_commit import GroupCommit
from gateway.store.schema import outbound_requests as rq
from gateway.store.schema import outbound_touches as tt
from gateway.store.schema import outbound_windows as ww
from gateway.store.tx import transaction

__all__ = [
    "SHANGHAI",
    "Allowance",
    "ClaimState",
    "OutboundStore",
    "QuotaRule",
    "RequestClaim",
    "Spent",
    "Who",
    "month_of",
    "write_customer_actions",
]

SHANGHAI = timezone(timedelta(hours=8), "Asia/Shanghai")
PENDING, SENT, REJECTED, FAILED = 0, 1, 2, 3
_FINAL = {"sent": SENT, "rejected": REJECTED, "failed": FAILED}
_WHO = ["platform", "account", "customer"]


# platform, account, customer, epoch seconds, and the account's window rule:
# reset_count_on_action, window_seconds
_Action = tuple[str, str, str, float, bool, float]


def month_of(ts: float) -> str:
    """The calendar month of an epoch time in Asia/Shanghai, as ``YYYY-MM``."""
    return datetime.fromtimestamp(ts, SHANGHAI).strftime("%Y-%m")


def write_customer_actions(conn: Connection, actions: Sequence[_Action]) -> None:
    """Customer actions (`OutboundStore.customer_action`), in the caller's transaction: one upsert
    per run of customers under the same window rule. Synchronous and module-level: it rides in
    the dedup flush, which may run in the store's writer process (`gateway.store.writer`).

    Rows are written in key order, so concurrent transactions (gateway workers sharing
    PostgreSQL) lock the windows they share in the same order instead of deadlocking."""
    dialect = conn.dialect.name
    for (reset, window), run in itertools.groupby(sorted(actions), key=_rule_of):
        rows = [
            {"platform": platform, "account": account, "customer": customer,
             "last_action_at": ts, "count_since": ts, "replies": 0}
            for platform, account, customer, ts, _reset, _window in run
        ]  # fmt: skip
        execute_many(conn, _action_statement(dialect, reset, window), rows)


def _rule_of(action: _Action) -> tuple[bool, float]:
    return action[4], action[5]


@functools.cache
def _action_statement(dialect: str, reset_count_on_action: bool, window_s: float) -> UpdateBase:
    """The window upsert of one rule (built once per dialect and rule: a handful)."""
    insert = insert_for(dialect)(ww)
    new, last = insert.excluded.last_action_at, ww.c.last_action_at
    later = new > last
    starts = later if reset_count_on_action else new >= last + window_s
    return insert.on_conflict_do_update(
        index_elements=_WHO,
        set_={
            "replies": case((starts, 0), else_=ww.c.replies),
            "count_since": case((starts, new), else_=ww.c.count_since),
            "last_action_at": case((later, new), else_=last),
        },
    )


class Spent(enum.Enum):
    """Why a quota could not be taken (the receipt reasons)."""

    WINDOW_CLOSED, REPLY_LIMIT, QUOTA_EXHAUSTED = "window_closed", "reply_limit", "quota_exhausted"


@dataclass(frozen=True, slots=True)
class Who:
    """One customer of one account."""

    platform: str
    account: str
    customer: str

    def of(self, table: Table) -> ColumnElement[bool]:
        c = table.c
        return and_(
            c.platform == self.platform, c.account == self.account, c.customer == self.customer
        )


@dataclass(frozen=True, slots=True)
class Allowance:
    """One reply or touch message taken; `refund` gives it back if the send did not happen."""

    kind: Literal["reply", "touch"]
    who: Who
    since: float  #: reply: the window's count_since; touch: the touch's start
    month: str = ""
    ordinal: int = 0  #: touch: which touch of the month


class ClaimState(enum.Enum):
    OWNED, DUPLICATE, BUSY = "owned", "duplicate", "busy"


@dataclass(frozen=True, slots=True)
class RequestClaim:
    state: ClaimState
    claimed_at: float = 0.0
    receipt: bytes | None = None


class QuotaRule(Protocol):
    """The numbers of an account's policy (`gateway.outbound.policy.OutboundPolicy`)."""

    @property
    def window_seconds(self) -> float: ...
    @property
    def replies_per_window(self) -> int: ...
    @property
    def reset_count_on_action(self) -> bool: ...
    @property
    def monthly_touches(self) -> int: ...
    @property
    def messages_per_touch(self) -> int: ...
    @property
    def touch_seconds(self) -> float: ...


class OutboundStore:
    def __init__(
        self,
        engine: AsyncEngine,
        *,
        rules: Callable[[str, str], QuotaRule],
        request_ttl: float = 30 * 86400.0,
        stale_after: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._engine = engine
        self._rules = rules
        self._ttl = request_ttl
        self._stale_after = stale_after
        self._clock = clock
        self._insert = insert_for(engine.dialect.name)
        self._actions = GroupCommit(self._write_actions, "outbound-actions")

    async def claim(self, request_id: str) -> RequestClaim:
        """OWNED (send it), DUPLICATE (finished: its receipt) or BUSY (another sender has it)."""
        now = self._clock()
        stmt = (
            self._insert(rq)
            .values(
                request_id=request_id, state=PENDING, claimed_at=now, expires_at=now + self._ttl
            )
            .on_conflict_do_nothing(index_elements=["request_id"])
        )
        async with transaction(self._engine, "outbound claim") as conn:
            if (await conn.execute(stmt)).rowcount == 1:
                return RequestClaim(ClaimState.OWNED, now)
            query = select(rq.c.state, rq.c.claimed_at, rq.c.receipt)
            row = (await conn.execute(query.where(rq.c.request_id == request_id))).one_or_none()
            if row is None:
                return RequestClaim(ClaimState.BUSY)
            if row.state in (SENT, REJECTED):
                return RequestClaim(ClaimState.DUPLICATE, row.claimed_at, row.receipt.encode())
            if row.state == PENDING and row.claimed_at > now - self._stale_after:
                return RequestClaim(ClaimState.BUSY)
            taken = await conn.execute(
                update(rq)
                .where(rq.c.request_id == request_id, rq.c.claimed_at == row.claimed_at)
                .values(state=PENDING, claimed_at=now, expires_at=now + self._ttl, receipt=None)
            )
        if taken.rowcount == 1:
            return RequestClaim(ClaimState.OWNED, now)
        return RequestClaim(ClaimState.BUSY)

    async def finish(self, request_id: str, claimed_at: float, status: str, receipt: bytes) -> bool:
        """Record the outcome; False when another sender took the claim over meanwhile."""
        stmt = (
            update(rq)
            .where(rq.c.request_id == request_id, rq.c.claimed_at == claimed_at)
            .values(state=_FINAL[status], receipt=receipt.decode())
        )
        async with transaction(self._engine, "outbound finish") as conn:
            return (await conn.execute(stmt)).rowcount == 1

    async def release(self, request_id: str, claimed_at: float) -> None:
        """Give up an unfinished claim (nothing was sent), so a redelivery can start at once."""
        stmt = delete(rq).where(
            rq.c.request_id == request_id, rq.c.claimed_at == claimed_at, rq.c.state == PENDING
        )
        async with transaction(self._engine, "outbound release") as conn:
            await conn.execute(stmt)

    async def record_customer_action(
        self, platform: str, account: str, customer_id: str, at: datetime
    ) -> None:
        """A customer-initiated action (message, menu click, follow, scan, payment) at `at`.
        Concurrent actions are written together (group commit); returns once committed."""
        _write, action = self.customer_action(platform, account, customer_id, at)
        await self._actions.submit(action)

    def customer_action(
        self, platform: str, account: str, customer_id: str, at: datetime
    ) -> tuple[Rider, _Action]:
        """`record_customer_action` as a write that rides in another transaction (the dedup
        claim of the message: `gateway.store.dedup.DedupStore.claim`). Idempotent: the same
        action twice leaves the window as once. The account's window rule is looked up here, so
        the write itself needs nothing but its items (it may run in the store's writer process,
        `gateway.store.writer`)."""
        platform = str(getattr(platform, "value", platform))  # a str-Enum member or a str
        ts = (at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp()
        rule = self._rules(platform, account)
        reset, window = rule.reset_count_on_action, rule.window_seconds
        return write_customer_actions, (platform, account, customer_id, ts, reset, window)

    async def _write_actions(self, actions: Sequence[_Action]) -> None:
        async with transaction(self._engine, "outbound customer action") as conn:
            await conn.run_sync(write_customer_actions, actions)

    async def take_reply(self, who: Who, rule: QuotaRule, now: float) -> Allowance | Spent:
        """One reply of the customer's open window, or why not."""
        opened = ww.c.last_action_at > now - rule.window_seconds
        took = (
            update(ww)
            .where(who.of(ww), opened, ww.c.replies < rule.replies_per_window)
            .values(replies=ww.c.replies + 1)
        )
        query = select(ww.c.last_action_at, ww.c.count_since).where(who.of(ww))
        async with transaction(self._engine, "outbound reply quota") as conn:
            taken = (await conn.execute(took)).rowcount == 1
            row = (await conn.execute(query)).one_or_none()
        if taken and row is not None:
            return Allowance("reply", who, since=row.count_since)
        if row is None or row.last_action_at <= now - rule.window_seconds:
            return Spent.WINDOW_CLOSED
        return Spent.REPLY_LIMIT

    async def take_touch(self, who: Who, rule: QuotaRule, now: float) -> Allowance | Spent:
        """One message of the current touch, or of a new touch of this month, or why not."""
        month = month_of(now)
        key = and_(who.of(tt), tt.c.month == month)
        active = and_(
            tt.c.touches > 0,
            tt.c.touch_started_at > now - rule.touch_seconds,
            tt.c.touch_messages < rule.messages_per_touch,
        )
        ensure = self._insert(tt).values(
            platform=who.platform, account=who.account, customer=who.customer, month=month,
            touches=0, touch_started_at=0.0, touch_messages=0,
        )  # fmt: skip
        ensure = ensure.on_conflict_do_nothing(index_elements=[*_WHO, "month"])
        join = update(tt).where(key, active).values(touch_messages=tt.c.touch_messages + 1)
        start = (
            update(tt)
            .where(key, tt.c.touches < rule.monthly_touches, not_(active))
            .values(touches=tt.c.touches + 1, touch_started_at=now, touch_messages=1)
        )
        query = select(tt.c.touches, tt.c.touch_started_at).where(key)
        async with transaction(self._engine, "outbound touch quota") as conn:
            await conn.execute(ensure)
            for _ in range(3):  # PostgreSQL: a concurrent sender may have just started a touch
                for attempt in (join, start):
                    if (await conn.execute(attempt)).rowcount == 1:
                        row = (await conn.execute(query)).one()
                        return Allowance("touch", who, row.touch_started_at, month, row.touches)
        return Spent.QUOTA_EXHAUSTED

    async def refund(self, allowance: Allowance) -> None:
        """Give back a reply or touch message whose send did not happen (never below zero)."""
        a, stmt = allowance, None
        if a.kind == "reply":
            mine = and_(a.who.of(ww), ww.c.count_since == a.since, ww.c.replies > 0)
            stmt = update(ww).where(mine).values(replies=ww.c.replies - 1)
        else:
            mine = and_(a.who.of(tt), tt.c.month == a.month, tt.c.touches == a.ordinal,
                        tt.c.touch_started_at == a.since, tt.c.touch_messages > 0)  # fmt: skip
            last = tt.c.touch_messages == 1  # the touch had only this message: give it back too
            stmt = (
                update(tt)
                .where(mine)
                .values(
                    touch_messages=tt.c.touch_messages - 1,
                    touches=case((last, tt.c.touches - 1), else_=tt.c.touches),
                    touch_started_at=case((last, 0.0), else_=tt.c.touch_started_at),
                )
            )
        async with transaction(self._engine, "outbound refund") as conn:
            await conn.execute(stmt)

    async def purge(self, *, idle_after: float = 30 * 86400.0, batch: int = 5000) -> int:
        """Delete expired requests, windows idle for `idle_after` and touches of past months."""
        now = self._clock()
        first_kept_month = month_of(now - 32 * 86400.0)
        ids = select(rq.c.request_id).where(rq.c.expires_at < now).limit(batch).scalar_subquery()
        async with transaction(self._engine, "outbound purge") as conn:
            deleted = (await conn.execute(delete(rq).where(rq.c.request_id.in_(ids)))).rowcount
            stale = ww.c.last_action_at < now - idle_after
            deleted += (await conn.execute(delete(ww).where(stale))).rowcount
            old = tt.c.month < first_kept_month
            deleted += (await conn.execute(delete(tt).where(old))).rowcount
        return int(deleted)
