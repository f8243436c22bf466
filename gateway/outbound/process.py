"""What happens to one outbound message, from its bytes to a durable outcome.

1. parse ``gateway.outbound/1``; an invalid message is answered ``rejected``/``invalid`` (and
   dead-lettered too when it has no usable ``request_id``, since no client could correlate it);
2. claim its ``request_id`` in the store: a finished request publishes its stored receipt again
   and is not sent again; one another sender is working on is waited for (up to its staleness);
3. admit: Taobao → ``unsupported``; unknown account → ``invalid``; content the surface cannot
   carry → ``unsupported``; then the `PolicyGuard` (binding, sensitive words, quotas);
4. deliver: the account's rate limit, then the platform call; transient failures are retried with
   exponential backoff and full jitter, at most ``attempts`` calls in all;
5. conclude: not sent → the quota is refunded; retries exhausted or credentials refused → dead
   letter (confirmed); the outcome and receipt are stored, then the receipt is published
   (confirmed). Only then does the sender ack the AMQP message.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import orjson
import structlog
from pydantic import ValidationError

from gateway.errors import StoreError
from gateway.outbound.amqp import Sink
from gateway.outbound.clients import TAOBAO_UNSUPPORTED, PlatformClient
from gateway.outbound.flow import Backoff, RateLimits
from gateway.outbound.policy import Permit, PolicyGuard, Refusal
from gateway.outbound.results import Attempt
from gateway.outbound.schema import OutboundMessage, Receipt, describe_errors
from gateway.store.outbound import ClaimState, OutboundStore, RequestClaim

__all__ = ["Invalid", "OutboundProcessor", "Verdict", "parse"]

log = structlog.get_logger("gateway.outbound")

MAX_BODY = 64 * 1024
Verdict = Literal["ack", "requeue"]
_STATUS = {"sent": "sent", "refused": "rejected", "transient": "failed", "failed": "failed"}


@dataclass(frozen=True, slots=True)
class Invalid:
    request_id: str | None
    detail: str


def parse(body: bytes) -> OutboundMessage | Invalid:
    """The message, or why it is not a valid ``gateway.outbound/1`` (never echoing values)."""
    if len(body) > MAX_BODY:
        return Invalid(_request_id_of(body), f"the message is larger than {MAX_BODY} bytes")
    try:
        return OutboundMessage.model_validate_json(body)
    except ValidationError as exc:
        return Invalid(_request_id_of(body), describe_errors(exc))


def _request_id_of(body: bytes) -> str | None:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    rid = doc.get("request_id") if isinstance(doc, dict) else None
    return rid if isinstance(rid, str) and 0 < len(rid) <= 128 else None


class OutboundProcessor:
    def __init__(
        self,
        *,
        store: OutboundStore,
        guard: PolicyGuard,
        clients: Mapping[tuple[str, str], PlatformClient],
        limits: RateLimits,
        backoff: Backoff,
        sink: Sink,
        busy_wait: float,
        busy_poll: float = 0.5,
        source_queue: str = "kefu.outbound",
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self._store = store
        self._guard = guard
        self._clients = clients
        self._limits = limits
        self._backoff = backoff
        self._sink = sink
        self._busy_wait = busy_wait
        self._busy_poll = busy_poll
        self._source_queue = source_queue
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()
        self.outcomes: Counter[str] = Counter()  #: receipts published by status (metrics)

    async def handle(self, body: bytes, parsed: OutboundMessage | Invalid) -> Verdict:
        """Process one delivery; "ack" once its outcome is durable, "requeue" to try later."""
        if isinstance(parsed, Invalid):
            await self._invalid(body, parsed)
            return "ack"
        claim = await self._claim(parsed.request_id)
        if claim.state is ClaimState.BUSY:
            log.warning("outbound.busy", request_id=parsed.request_id)
            return "requeue"
        if claim.state is ClaimState.DUPLICATE and claim.receipt is not None:
            status = str(orjson.loads(claim.receipt).get("status"))
            await self._sink.receipt(claim.receipt, status=status, request_id=parsed.request_id)
            log.info("outbound.duplicate", request_id=parsed.request_id, status=status)
            return "ack"
        await self._process(parsed, body, claim.claimed_at)
        return "ack"

    async def _process(self, msg: OutboundMessage, body: bytes, claimed_at: float) -> None:
        try:
            admitted = await self._admit(msg)
        except BaseException:
            await self._release(msg.request_id, claimed_at)
            raise
        if isinstance(admitted, Refusal):
            receipt = self._receipt(msg, "rejected", admitted.reason, admitted.detail, 0)
            receipt = receipt.model_copy(update={"word": admitted.word})
        else:
            client, permit = admitted
            attempt, tries = await self._deliver(client, msg, permit)
            status = _STATUS[attempt.outcome]
            if status != "sent":
                await self._refund(permit)
            reason = None if status == "sent" else attempt.reason or "platform_error"
            receipt = self._receipt(msg, status, reason, _detail(attempt, tries), tries)
            receipt = receipt.model_copy(
                update={"platform_code": attempt.code, "platform_msg_id": attempt.platform_msg_id}
            )
        try:
            if receipt.status == "failed":
                headers = _dead_headers(receipt, self._source_queue)
                await self._sink.dead_letter(body, request_id=msg.request_id, headers=headers)
            await self._conclude(msg, claimed_at, receipt)
        except BaseException:
            if receipt.status != "sent":  # nothing went out: a redelivery may start afresh
                await self._release(msg.request_id, claimed_at)
            raise

    async def _admit(self, msg: OutboundMessage) -> tuple[PlatformClient, Permit] | Refusal:
        client = self._clients.get((msg.platform, msg.account))
        if msg.platform == "taobao":
            return Refusal("unsupported", TAOBAO_UNSUPPORTED)
        if client is None:
            return Refusal("invalid", f"No {msg.platform} account {msg.account!r} is configured.")
        reason = client.check(msg)
        if reason is not None:
            return Refusal("unsupported", f"Cannot send: {reason}.")
        decided = await self._guard.check(msg, self._clock())
        return decided if isinstance(decided, Refusal) else (client, decided)

    async def _deliver(
        self, client: PlatformClient, msg: OutboundMessage, permit: Permit
    ) -> tuple[Attempt, int]:
        bucket = self._limits.bucket(msg.platform, msg.account)
        attempt = Attempt("transient")
        for tries in range(1, self._backoff.attempts + 1):
            await bucket.take()
            attempt = await client.send(msg, permit.content)
            if attempt.outcome != "transient":
                return attempt, tries
            log.info(
                "outbound.retry", request_id=msg.request_id, attempt=tries, code=attempt.code,
                error=attempt.detail,
            )  # fmt: skip
            if tries < self._backoff.attempts:
                await self._sleep(self._backoff.delay(tries, self._rng))
        return attempt, self._backoff.attempts

    async def _conclude(self, msg: OutboundMessage, claimed_at: float, receipt: Receipt) -> None:
        body = receipt.to_json()
        for pause in (0.1, 0.5, 2.0, None):  # the outcome must be stored: a resend is worse
            try:
                if not await self._store.finish(msg.request_id, claimed_at, receipt.status, body):
                    log.warning("outbound.claim_lost", request_id=msg.request_id)
                break
            except StoreError:
                if pause is None:
                    raise
                await self._sleep(pause)
        await self._sink.receipt(body, status=receipt.status, request_id=msg.request_id)
        self.outcomes[receipt.status] += 1
        log.info(
            "outbound.done", request_id=msg.request_id, platform=msg.platform,
            account=msg.account, sender=msg.sender, kind=msg.kind, proactive=msg.proactive,
            status=receipt.status, reason=receipt.reason, attempts=receipt.attempts,
            code=receipt.platform_code,
        )  # fmt: skip

    async def _claim(self, request_id: str) -> RequestClaim:
        deadline = time.monotonic() + self._busy_wait
        while True:
            claim = await self._store.claim(request_id)
            if claim.state is not ClaimState.BUSY or time.monotonic() >= deadline:
                return claim
            await self._sleep(self._busy_poll)

    async def _invalid(self, body: bytes, invalid: Invalid) -> None:
        receipt = Receipt(
            request_id=invalid.request_id, status="rejected", reason="invalid",
            detail=f"The message is not a valid gateway.outbound/1: {invalid.detail}.",
            at=self._now(),
        )  # fmt: skip
        if invalid.request_id is None:
            headers = {"x-kefu-reason": "invalid", "x-kefu-error": invalid.detail[:200]}
            await self._sink.dead_letter(body, request_id=None, headers=headers)
        await self._sink.receipt(
            receipt.to_json(), status="rejected", request_id=invalid.request_id
        )
        log.info("outbound.invalid", request_id=invalid.request_id, error=invalid.detail)

    def _receipt(
        self, msg: OutboundMessage, status: str, reason: str | None, detail: str, attempts: int
    ) -> Receipt:
        return Receipt.model_validate(
            {
                "request_id": msg.request_id, "status": status, "reason": reason,
                "detail": detail, "attempts": attempts, "at": self._now(),
                "platform": msg.platform, "account": msg.account, "customer": msg.customer,
                "sender": msg.sender, "in_reply_to": msg.in_reply_to,
            }
        )  # fmt: skip

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)

    async def _refund(self, permit: Permit) -> None:
        try:
            await self._store.refund(permit.allowance)
        except StoreError as exc:  # the quota stays spent: safe, only stricter
            log.warning("outbound.refund_failed", error=str(exc))

    async def _release(self, request_id: str, claimed_at: float) -> None:
        try:
            await self._store.release(request_id, claimed_at)
        except StoreError as exc:  # the claim goes stale and is taken over later
            log.warning("outbound.release_failed", request_id=request_id, error=str(exc))


def _detail(attempt: Attempt, tries: int) -> str:
    if attempt.outcome == "sent":
        return "Sent." if tries == 1 else f"Sent after {tries} attempts."
    if attempt.outcome == "refused" and attempt.reason == "unsupported":
        return f"Cannot send: {attempt.detail}."
    if attempt.outcome == "refused":
        return f"The platform refused the message (code {attempt.code}: {attempt.detail})."
    if attempt.outcome == "failed":
        return f"Not sent: {attempt.detail}; dead-lettered for replay once fixed."
    return f"Not sent after {tries} attempts (last: {attempt.detail}); dead-lettered."


def _dead_headers(receipt: Receipt, queue: str) -> dict[str, str | int]:
    headers: dict[str, str | int] = {
        "x-kefu-error": receipt.detail[:200],
        "x-kefu-reason": receipt.reason or "platform_error",
        "x-kefu-attempts": receipt.attempts,
        "x-kefu-source-queue": queue,
    }
    if receipt.platform_code is not None:
        headers["x-kefu-platform-code"] = receipt.platform_code
    return headers
