"""Taobao TMC data messages → `PlatformEvent` (reference §3.4).

* ``taobao_trade_*`` → kind ``order``: OrderInfo id = ``tid``, status = the content's ``status``
  (e.g. ``WAIT_SELLER_SEND_GOODS``) or, without one, the topic's last part (``TradeBuyerPay``);
* ``taobao_refund_*`` → kind ``aftersale``: OrderInfo id = ``refund_id``, status = the topic's
  last part (refund content has no status);
* any other topic → kind ``event``; a trade/refund message without its id is delivered as an
  ``event`` too. The event type is the topic (routing key ``event.taobao.<topic lower-cased>``).

`platform_msg_id` is the TMC message id; the customer is ``buyer_open_uid`` (the per-app buyer
id that replaced ``buyer_nick``), else the content's ``user_id``, else the seller (``userid`` of
the frame). `frame_event` is the whole step for a received frame, and never loses a message:
one whose content cannot be parsed becomes an ``event`` of type ``tmc_unparsed`` (key = the
topic; the raw content, when it is text, in ``extra``), so the client can still publish and
confirm it instead of causing a redelivery storm.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from adapters.base import Clock
from adapters.codec import loads_json
from adapters.fields import Redacted, id_text, stringify_ids, text
from adapters.taobao.tmc_frames import DEFAULT_MAX_CONTENT, Frame, TmcMessage, data_message
from gateway.errors import PayloadError
from gateway.models import Customer, EventInfo, Kind, OrderInfo, Platform, PlatformEvent

__all__ = ["UNPARSED", "FrameEvent", "frame_event", "to_event", "unparsed"]

_PAID_TOPIC = "taobao_trade_TradeBuyerPay"
UNPARSED = "tmc_unparsed"


@dataclass(frozen=True, slots=True)
class FrameEvent:
    """A data frame's message id (what to confirm) and its event; `error` names a parse failure."""

    message_id: int
    event: PlatformEvent
    error: str | None = None


def to_event(
    message: TmcMessage, *, account: str, clock: Clock, max_json_depth: int = 32
) -> PlatformEvent:
    """Map one data message; PayloadError when its content is not a JSON object."""
    content = loads_json(message.content, max_json_depth)
    if not isinstance(content, dict):
        raise PayloadError("TMC content must be a JSON object")
    topic = message.topic
    suffix = topic.rsplit("_", 1)[-1]
    kind, order = Kind.EVENT, None
    if topic.startswith("taobao_trade_") and (tid := id_text(content, "tid")):
        status = content.get("status")
        kind, order = Kind.ORDER, OrderInfo(tid, status if isinstance(status, str) else suffix)
    elif topic.startswith("taobao_refund_") and (refund_id := id_text(content, "refund_id")):
        kind, order = Kind.AFTERSALE, OrderInfo(refund_id, suffix)
    elif tid := id_text(content, "tid"):
        order = OrderInfo(tid, suffix)
    buyer = id_text(content, "buyer_open_uid")
    customer = buyer or id_text(content, "user_id") or message.user_id or ""
    nickname = text(content, "buyer_nick") if buyer else None
    return PlatformEvent(
        platform=Platform.TAOBAO,
        account=account,
        platform_msg_id=str(message.id),
        customer=Customer(id=customer, nickname=nickname or None),
        kind=kind,
        sent_at=message.time or clock(),
        event=EventInfo(type=topic),
        order=order,
        customer_initiated=topic == _PAID_TOPIC and buyer is not None,
        extra=_extra(message, stringify_ids(content)),
    )


def unparsed(
    message_id: int,
    topic: str,
    *,
    account: str,
    clock: Clock,
    error: str,
    content: str | None = None,
    seller: str | None = None,
) -> PlatformEvent:
    """An ``event`` standing in for a data message whose content could not be mapped."""
    extra: dict[str, Any] = {"topic": topic, "error": error}
    if content is not None:
        extra["content"] = content
    return PlatformEvent(
        platform=Platform.TAOBAO,
        account=account,
        platform_msg_id=str(message_id),
        customer=Customer(id=seller or ""),
        kind=Kind.EVENT,
        sent_at=clock(),
        event=EventInfo(type=UNPARSED, key=topic),
        extra=Redacted(extra),
    )


def frame_event(
    frame: Frame,
    *,
    account: str,
    clock: Clock,
    max_json_depth: int = 32,
    max_content_bytes: int = DEFAULT_MAX_CONTENT,
) -> FrameEvent | None:
    """A received data frame → what to publish and confirm; None when it has no usable id."""
    try:
        message = data_message(frame, max_content_bytes)
    except PayloadError as exc:
        message_id = frame.get("id")
        if not isinstance(message_id, int) or message_id < 0:
            return None
        topic = frame.get("topic")
        raw = frame.get("content")
        seller = frame.get("userid")
        event = unparsed(
            message_id,
            topic if isinstance(topic, str) and 0 < len(topic) <= 128 else "unknown",
            account=account,
            clock=clock,
            error=str(exc),
            content=raw if isinstance(raw, str) and len(raw) <= max_content_bytes else None,
            seller=str(seller) if isinstance(seller, int | str) else None,
        )
        return FrameEvent(message_id, event, type(exc).__name__)
    try:
        event = to_event(message, account=account, clock=clock, max_json_depth=max_json_depth)
    except PayloadError as exc:
        event = unparsed(
            message.id,
            message.topic,
            account=account,
            clock=clock,
            error=str(exc),
            content=message.content,
            seller=message.user_id,
        )
        return FrameEvent(message.id, event, type(exc).__name__)
    return FrameEvent(message.id, event)


def _extra(message: TmcMessage, content: Mapping[str, Any]) -> Redacted:
    extra = Redacted(topic=message.topic, content=content)
    optional = {
        "seller_id": message.user_id,
        "seller_nick": message.nick,
        "publisher": message.publisher,
        "data_id": message.data_id,
    }
    extra.update({k: v for k, v in optional.items() if v is not None})
    return extra
