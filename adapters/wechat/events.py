"""Decoded WeChat payload (XML or JSON dict) → `PlatformEvent`.

Covers Service Account / Mini Program messages (text, image, voice, video, shortvideo, location,
link, miniprogrampage) and events (subscribe incl. ``qrscene_``, SCAN, CLICK, VIEW, ...), Channels
store events (``channels_ec_order_*``, ``channels_ec_aftersale_update``, ``commkf_send_msg_to_kf``)
and keeps anything unknown as kind ``event`` with its raw fields in ``extra``.

Dedup keys (`platform_msg_id`): ``msg:<MsgId>`` for messages, ``kf:<msg_id>`` for Channels store
customer-service messages, ``evt:<Event>:<CreateTime>:<business id>`` for store order/aftersale
events, and ``evt:<FromUserName>:<CreateTime>:<Event>:<EventKey>`` for other events.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from gateway.errors import PayloadError
from gateway.models import Customer, EventInfo, Kind, OrderInfo, Platform, PlatformEvent

__all__ = ["to_event"]

_MAX_EPOCH = 253402300799  # 9999-12-31T23:59:59Z, the last second datetime can hold

_COMMON = {"ToUserName", "FromUserName", "CreateTime", "MsgType", "MsgId", "Event", "EventKey"}
# Events that count as a customer-initiated action (they open or renew the reply window).
_CUSTOMER_EVENTS = {
    "subscribe",
    "scan",
    "click",
    "scancode_push",
    "scancode_waitmsg",
    "user_enter_tempsession",
}
_KF_KINDS = {
    "text": Kind.TEXT,
    "image": Kind.IMAGE,
    "video": Kind.VIDEO,
    "voice": Kind.VOICE,
    "file": Kind.FILE,
    "product_share": Kind.CARD,
    "order_share": Kind.CARD,
}

# MsgType → kind and the fields kept under `media` (media name → WeChat field).
_MEDIA_FIELDS: Mapping[str, tuple[Kind, Mapping[str, str]]] = {
    "image": (Kind.IMAGE, {"media_id": "MediaId", "url": "PicUrl"}),
    "voice": (Kind.VOICE, {"media_id": "MediaId", "format": "Format"}),
    "video": (Kind.VIDEO, {"media_id": "MediaId", "thumb_media_id": "ThumbMediaId"}),
    "shortvideo": (Kind.VIDEO, {"media_id": "MediaId", "thumb_media_id": "ThumbMediaId"}),
    "link": (Kind.LINK, {"url": "Url", "title": "Title", "description": "Description"}),
    "miniprogrampage": (
        Kind.CARD,
        {
            "app_id": "AppId",
            "title": "Title",
            "page_path": "PagePath",
            "thumb_url": "ThumbUrl",
            "thumb_media_id": "ThumbMediaId",
        },
    ),
}


def to_event(data: Mapping[str, Any], account: str) -> PlatformEvent:
    """Map one decrypted WeChat payload to a PlatformEvent; PayloadError if it is not one."""
    msg_type = (_text(data, "MsgType") or "").lower()
    sender = _text(data, "FromUserName")
    created = _int(data, "CreateTime")
    if sender is None and msg_type == "event":
        sender = ""  # some store notifications come from the platform, not from a customer
    if not msg_type or sender is None or created is None:
        raise PayloadError("WeChat payload lacks MsgType, FromUserName or CreateTime")
    base = _Base(
        account,
        Customer(id=sender, union_id=_text(data, "UnionId") or _text(data, "unionid")),
        datetime.fromtimestamp(created, UTC),
    )
    if msg_type == "event":
        return _event(data, base, created)
    return _message(data, msg_type, base)


class _Base:
    __slots__ = ("account", "customer", "sent_at")

    def __init__(self, account: str, customer: Customer, sent_at: datetime) -> None:
        self.account, self.customer, self.sent_at = account, customer, sent_at

    def make(self, msg_id: str, kind: Kind, **fields: Any) -> PlatformEvent:
        return PlatformEvent(
            platform=Platform.WECHAT,
            account=self.account,
            platform_msg_id=msg_id,
            customer=self.customer,
            kind=kind,
            sent_at=self.sent_at,
            **fields,
        )


def _message(data: Mapping[str, Any], msg_type: str, base: _Base) -> PlatformEvent:
    msg_id = _text(data, "MsgId")
    if msg_id is None:
        raise PayloadError("WeChat message lacks MsgId")
    key = f"msg:{msg_id}"
    extra = _rest(data)
    if msg_type == "text":
        # Content is the message's `text`: not repeated in `extra` (masked a second time and
        # sent twice, it doubled the cost of the largest field).
        extra.pop("Content", None)
        return base.make(
            key, Kind.TEXT, text=_text(data, "Content") or "", customer_initiated=True, extra=extra
        )
    if msg_type in _MEDIA_FIELDS:
        kind, names = _MEDIA_FIELDS[msg_type]
        media = {k: v for k, src in names.items() if (v := _text(data, src)) is not None}
        text_from = "Recognition" if kind is Kind.VOICE else "Title"
        text = _text(data, text_from)
        return base.make(
            key,
            kind,
            text=text,
            media=media,
            customer_initiated=True,
            extra={k: v for k, v in extra.items() if k not in names.values() and k != text_from},
        )
    if msg_type == "location":
        location = {
            "latitude": _text(data, "Location_X"),
            "longitude": _text(data, "Location_Y"),
            "scale": _text(data, "Scale"),
            "label": _text(data, "Label"),
        }
        return base.make(key, Kind.LOCATION, customer_initiated=True, extra={"location": location})
    return base.make(
        key,
        Kind.EVENT,
        event=EventInfo(type=f"msgtype_{msg_type}"),
        customer_initiated=True,
        extra=extra,
    )


def _event(data: Mapping[str, Any], base: _Base, created: int) -> PlatformEvent:
    name = _text(data, "Event") or ""
    lowered = name.lower()
    key = _text(data, "EventKey") or ""
    if lowered == "commkf_send_msg_to_kf":
        return _store_kf_message(data, base)
    if lowered.startswith("channels_ec_order_") or lowered == "channels_ec_aftersale_update":
        return _store_order(data, base, lowered, created)
    if lowered in ("subscribe", "scan") and key.startswith("qrscene_"):
        key = key[len("qrscene_") :]
    dedup = f"evt:{base.customer.id}:{created}:{name}:{_text(data, 'EventKey') or ''}"
    return base.make(
        dedup,
        Kind.EVENT,
        event=EventInfo(type=lowered, key=key or None),
        customer_initiated=lowered in _CUSTOMER_EVENTS,
        extra=_rest(data),
    )


def _store_kf_message(data: Mapping[str, Any], base: _Base) -> PlatformEvent:
    msg_id = _text(data, "msg_id")
    if msg_id is None:
        raise PayloadError("commkf_send_msg_to_kf lacks msg_id")
    msg_type = (_text(data, "msg_type") or "").lower()
    kind = _KF_KINDS.get(msg_type, Kind.EVENT)
    body = data.get(msg_type)
    body = body if isinstance(body, Mapping) else {}
    text = _text(body, "content") if kind is Kind.TEXT else None
    media = {
        k: v
        for k in ("media_id", "url", "title", "product_id", "order_id")
        if (v := _text(body, k)) is not None
    }
    customer = base.customer
    open_id = _text(data, "open_id")
    if open_id:
        base = _Base(base.account, Customer(id=open_id, union_id=customer.union_id), base.sent_at)
    extra = {k: v for k, v in _rest(data).items() if k not in ("msg_id", "msg_type", msg_type)}
    return base.make(
        f"kf:{msg_id}",
        kind,
        text=text,
        media=media or None,
        event=None if kind is not Kind.EVENT else EventInfo(type=f"kf_{msg_type}"),
        customer_initiated=True,
        extra=extra,
    )


def _store_order(data: Mapping[str, Any], base: _Base, name: str, created: int) -> PlatformEvent:
    if name == "channels_ec_aftersale_update":
        info = data.get("finder_shop_aftersale_status_update")
        info = info if isinstance(info, Mapping) else {}
        business = _text(info, "after_sale_order_id") or ""
        order = OrderInfo(id=business, status=_text(info, "status"))
        kind = Kind.AFTERSALE
    else:
        info = data.get("order_info")
        info = info if isinstance(info, Mapping) else {}
        business = _text(info, "order_id") or ""
        order = OrderInfo(id=business, status=name.removeprefix("channels_ec_order_"))
        kind = Kind.ORDER
    return base.make(
        f"evt:{name}:{created}:{business}",
        kind,
        order=order,
        event=EventInfo(type=name),
        customer_initiated=name == "channels_ec_order_pay",
        extra=_rest(data),
    )


def _rest(data: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k not in _COMMON}


def _text(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        raise PayloadError(f"field {key} must be a string")
    if isinstance(value, int | float):
        return str(value)
    raise PayloadError(f"field {key} must be a string")


def _int(data: Mapping[str, Any], key: str) -> int | None:
    value = _text(data, key)
    if value is None:
        return None
    try:
        number = int(value)
    except ValueError as exc:
        raise PayloadError(f"field {key} must be an integer") from exc
    if not 0 <= number <= _MAX_EPOCH:
        raise PayloadError(f"field {key} is out of range")
    return number
