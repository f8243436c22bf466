"""Doudian (抖店) push records → `PlatformEvent`s (reference §1.4, §1.7).

A record is ``{"tag": "101", "msg_id": "...", "data": "<JSON string>"}``; the parser is lenient
where the SDKs disagree: a single object or an array, ``msg_id`` or ``msgId``, ``tag`` as a string
or a number, ``data`` as a JSON string or an object. Tag ``0`` is the platform's verification push
and yields no event.

Kinds: order tags 100–111 → ``order`` (OrderInfo id = ``p_id``), after-sale tags 200–218 and
224–227 → ``aftersale`` (OrderInfo id = ``aftersale_id``), everything else → ``event``. The event
type is ``doudian_<name>`` from the tag table (``doudian_<tag>`` for tags not in it), so routing
keys read ``event.douyin.doudian_trade_paid``. A record whose order or after-sale id is missing
is still delivered, as an ``event``. The customer is the buyer (``buyer_id``/``user_id``/
``open_id``) when the record names one, else the shop (``shop_id``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import orjson

from adapters.base import Clock
from adapters.fields import Redacted, epoch, id_text, json_object, stable_hash, stringify_ids
from gateway.errors import PayloadError
from gateway.models import Customer, EventInfo, Kind, OrderInfo, Platform, PlatformEvent

__all__ = ["TAG_NAMES", "event_type", "is_verification", "records", "to_event"]

VERIFICATION_TAG = "0"

TAG_NAMES: Mapping[int, str] = {
    100: "trade_create",
    101: "trade_paid",
    102: "trade_seller_ship",
    103: "trade_success",
    104: "trade_logistics_changed",
    105: "trade_address_changed",
    106: "trade_canceled",
    108: "trade_partly_seller_ship",
    109: "trade_amount_changed",
    110: "trade_pending",
    111: "trade_address_change_applied",
    113: "trade_memo_modify",
    126: "trade_ship_time_changed",
    137: "shop_material_audit",
    138: "supplier_material_audit",
    200: "refund_created",
    201: "refund_agreed",
    202: "return_apply_agreed",
    203: "buyer_return_goods",
    204: "refund_refused",
    205: "return_apply_refused",
    206: "refund_success",
    207: "refund_closed",
    208: "buyer_modify_aftersale",
    209: "aftersale_timeout_changed",
    211: "exchange_reshipped",
    212: "arbitration_212",
    213: "arbitration_213",
    214: "arbitration_214",
    215: "arbitration_215",
    216: "arbitration_216",
    217: "arbitration_217",
    218: "arbitration_218",
    224: "special_right_aftersale",
    225: "special_right_refund_success",
    226: "reship_seller_shipped",
    227: "reship_apply_agreed",
    400: "product_change",
    417: "product_content_change",
    504: "distribution_update_receiver",
}
_CUSTOMER_KEYS = ("buyer_id", "user_id", "open_id", "doudian_open_id")
_TIME_KEYS = ("update_time", "apply_time", "pay_time", "create_time", "modify_time")
_PAID = 101
_NO_DATA: tuple[Any, ...] = (None, "", "{}", {})


def records(parsed: Any) -> list[Mapping[str, Any]]:
    """The push's records: an array of objects, or one object (one SDK sends that)."""
    items = parsed if isinstance(parsed, list) else [parsed]
    if not items:
        raise PayloadError("Doudian push without records")
    if not all(isinstance(item, dict) for item in items):
        raise PayloadError("Doudian push records must be JSON objects")
    return items


def tag_of(record: Mapping[str, Any]) -> str:
    """The record's tag as a digit string (sent as a string or a number)."""
    tag = record.get("tag")
    if isinstance(tag, int) and not isinstance(tag, bool):
        tag = str(tag)
    if not isinstance(tag, str) or not (tag.isascii() and tag.isdigit()) or len(tag) > 6:
        raise PayloadError("Doudian record tag must be a number")
    return str(int(tag))


def is_verification(items: Sequence[Mapping[str, Any]]) -> bool:
    """Every record is the verification push (tag 0) and carries no business data."""
    return all(tag_of(r) == VERIFICATION_TAG and r.get("data") in _NO_DATA for r in items)


def event_type(tag: str) -> str:
    """``doudian_<name>`` for known tags, ``doudian_<tag>`` otherwise."""
    return "doudian_" + TAG_NAMES.get(int(tag), tag)


def to_event(
    record: Mapping[str, Any], *, account: str, clock: Clock, max_json_depth: int
) -> PlatformEvent | None:
    """One record → its event; None for the verification record (tag 0)."""
    tag = tag_of(record)
    if tag == VERIFICATION_TAG:
        return None
    msg_id = id_text(record, "msg_id") or id_text(record, "msgId") or _fallback_id(record)
    data = json_object(record.get("data"), "Doudian record data", max_json_depth)
    number = int(tag)
    name = event_type(tag)
    kind, order = _classify(number, name.removeprefix("doudian_"), data)
    buyer = next((value for key in _CUSTOMER_KEYS if (value := id_text(data, key))), None)
    return PlatformEvent(
        platform=Platform.DOUYIN,
        account=account,
        platform_msg_id=msg_id,
        customer=Customer(id=buyer or id_text(data, "shop_id") or ""),
        kind=kind,
        sent_at=_sent_at(data, clock),
        event=EventInfo(type=name, key=tag),
        order=order,
        customer_initiated=number == _PAID and buyer is not None,
        extra=Redacted(tag=tag, data=stringify_ids(data)),
    )


def _classify(number: int, name: str, data: Mapping[str, Any]) -> tuple[Kind, OrderInfo | None]:
    if 100 <= number <= 111:
        order_id = id_text(data, "p_id") or id_text(data, "order_id")
        if order_id:
            return Kind.ORDER, OrderInfo(id=order_id, status=name)
    elif 200 <= number <= 218 or 224 <= number <= 227:
        aftersale_id = id_text(data, "aftersale_id")
        if aftersale_id:
            return Kind.AFTERSALE, OrderInfo(id=aftersale_id, status=name)
    order_id = id_text(data, "p_id")
    return Kind.EVENT, OrderInfo(id=order_id, status=name) if order_id else None


def _sent_at(data: Mapping[str, Any], clock: Clock) -> datetime:
    for key in _TIME_KEYS:
        when = epoch(data.get(key))
        if when is not None:
            return when
    return clock()


def _fallback_id(record: Mapping[str, Any]) -> str:
    """Records without msg_id (none seen in practice) are keyed by their canonical JSON."""
    try:
        canonical = orjson.dumps(record, option=orjson.OPT_SORT_KEYS)
    except TypeError as exc:  # pragma: no cover - decoded JSON always serializes
        raise PayloadError("Doudian record cannot be keyed") from exc
    return stable_hash(canonical)
