"""The vocabulary of mass-send tasks: states, recipient statuses, request ids, the worker's knobs.

A task's ``request_id`` for one customer is ``mass:<task>:<customer>`` — stable, so a worker that
publishes a message again after a restart sends the same request, which the outbound sender
deduplicates (`gateway.store.outbound.OutboundStore.claim`). A customer id that does not fit the
``gateway.outbound/1`` request-id pattern (128 characters of ``A-Za-z0-9._:@=+/-``) is replaced by
``h.<sha256 prefix>``; receipts find their recipient by the stored request id either way.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any, Final, Literal

from gateway.broker.topology import DEAD, OUTBOUND, OUTBOUND_KEY, RECEIPTS

__all__ = [
    "FINAL_STATES",
    "MAX_CUSTOMERS",
    "RECEIPT_PREFIX",
    "STATUSES",
    "MassConfig",
    "State",
    "Status",
    "new_task_id",
    "pending_row",
    "request_id_for",
]

MAX_CUSTOMERS: Final = 15_000  #: an advisor's capacity, and a task's limit
RECEIPT_PREFIX: Final = "mass:"

State = Literal["pending", "running", "completed", "cancelled"]
FINAL_STATES: Final = frozenset({"completed", "cancelled"})

#: pending (not yet looked at) → queued (published, awaiting its receipt) → sent | rejected |
#: failed (the receipt's status); skipped (reason: not_bound, no_handle, recently_touched) and
#: cancelled (the task was cancelled before the customer's turn) are decided by the worker.
Status = Literal["pending", "queued", "sent", "rejected", "failed", "skipped", "cancelled"]
STATUSES: Final[tuple[Status, ...]] = (
    "pending",
    "queued",
    "sent",
    "rejected",
    "failed",
    "skipped",
    "cancelled",
)

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:@=+/-]{1,128}$")


def new_task_id(now: float | None = None) -> str:
    """``mt`` + creation time in milliseconds (11 hex digits) + 5 random hex: sorts by age."""
    millis = int((time.time() if now is None else now) * 1000)
    return f"mt{millis:011x}{secrets.token_hex(3)[:5]}"


def request_id_for(task_id: str, customer_id: str) -> str:
    """The outbound request id of one customer of one task (stable across restarts)."""
    plain = f"{RECEIPT_PREFIX}{task_id}:{customer_id}"
    if _REQUEST_ID.match(plain):
        return plain
    digest = hashlib.sha256(customer_id.encode()).hexdigest()[:32]
    return f"{RECEIPT_PREFIX}{task_id}:h.{digest}"


def pending_row(task_id: str, customer_id: str, now: float) -> dict[str, Any]:
    """A new recipient row (``mass_recipients``) awaiting its turn."""
    return {
        "task_id": task_id,
        "customer_id": customer_id,
        "request_id": request_id_for(task_id, customer_id),
        "status": "pending",
        "updated_at": now,
    }


@dataclass(frozen=True, slots=True)
class MassConfig:
    """Knobs of the mass-send worker, the receipt consumer and the dead-letter tools (the
    defaults suit production; the names are the contract topology's, tests use private ones)."""

    batch_size: int = 200  #: recipients decided and published per batch
    max_in_flight: int = 1000  #: queued messages per task awaiting receipts before pausing
    concurrency: int = 4  #: tasks one gateway process expands at the same time
    poll_interval: float = 1.0  #: seconds between looks for due tasks and receipts
    lease_seconds: float = 30.0  #: a task whose worker is silent this long is taken over
    retry_pause: float = 2.0  #: seconds after a database or broker failure
    publish_timeout: float = 5.0
    recent_hours: float = 48.0  #: skip_recent: customers touched within this many hours
    outbound_exchange: str = OUTBOUND
    outbound_routing_key: str = OUTBOUND_KEY
    receipts_exchange: str = RECEIPTS
    receipts_queue: str = "kefu.mass-receipts"
    receipts_prefetch: int = 64
    dead_queue: str = DEAD
