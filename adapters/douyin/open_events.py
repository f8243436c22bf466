"""Douyin open platform webhook envelopes → `PlatformEvent` (reference §2.3–§2.5).

Envelope: ``{"event", "client_key", "from_user_id", "to_user_id", "content", "log_id"|"logid"}``;
``content`` is an object for some events and a JSON string for others.

* ``im_receive_msg`` / ``im_group_receive_msg``: a customer's private (group) message → kind by
  ``content.message_type`` (text, image/emoji, video, voice, file, link, location, ``*card``),
  customer = ``from_user_id`` (the sender's open_id), nickname from ``user_infos``; message types
  not in the table become kind ``event`` of type ``im_msg_<message_type>``.
* ``im_send_msg`` / ``im_group_send_msg`` (the merchant's own messages): kind ``event``,
  customer = ``to_user_id``.
* every other event: kind ``event`` of type ``<event>``, customer = ``from_user_id``.

Customer-initiated (opens the reply window): received messages, ``im_enter_direct_msg``,
``im_authorize`` and ``new_follow_action``. Dedup key: the ``Msg-Id`` header; without one
``<event>:<content.server_message_id>``; without that a SHA-256 of the body.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from adapters.base import Clock
from adapters.fields import Redacted, epoch, json_object, stable_hash, stringify_ids, text
from gateway.errors import PayloadError
from gateway.models import Customer, EventInfo, Kind, Platform, PlatformEvent

__all__ = ["VERIFY_WEBHOOK", "challenge_of", "content_of", "event_name", "to_event"]

VERIFY_WEBHOOK = "verify_webhook"
_MESSAGE_EVENTS = frozenset({"im_receive_msg", "im_group_receive_msg"})
_MERCHANT_EVENTS = frozenset({"im_send_msg", "im_group_send_msg"})
_CUSTOMER_EVENTS = _MESSAGE_EVENTS | {"im_enter_direct_msg", "im_authorize", "new_follow_action"}
_KINDS = {
    "text": Kind.TEXT,
    "image": Kind.IMAGE,
    "emoji": Kind.IMAGE,
    "video": Kind.VIDEO,
    "voice": Kind.VOICE,
    "audio": Kind.VOICE,
    "file": Kind.FILE,
    "link": Kind.LINK,
    "location": Kind.LOCATION,
}
_MEDIA_KEYS = (
    "resource_type",
    "resource_url",
    "resource_width",
    "resource_height",
    "item_id",
    "card_id",
    "card_status",
)
_ENVELOPE = frozenset({"event", "from_user_id", "content"})
_MAX_EVENT_NAME = 64


def event_name(envelope: Mapping[str, Any]) -> str:
    """The ``event`` field, which every webhook carries."""
    name = envelope.get("event")
    if not isinstance(name, str) or not name or len(name) > _MAX_EVENT_NAME:
        raise PayloadError("Douyin webhook lacks a valid event name")
    return name


def content_of(envelope: Mapping[str, Any], max_json_depth: int) -> dict[str, Any]:
    """``content`` as a dict: absent → {}, an object, or a string holding a JSON object."""
    value = envelope.get("content")
    if value is None:
        return {}
    return json_object(value, "Douyin webhook content", max_json_depth)


def challenge_of(envelope: Mapping[str, Any], max_json_depth: int) -> int | str:
    """The ``verify_webhook`` challenge, echoed back with its JSON type unchanged."""
    challenge = content_of(envelope, max_json_depth).get("challenge")
    if isinstance(challenge, bool) or not isinstance(challenge, int | str) or challenge == "":
        raise PayloadError("verify_webhook without a challenge")
    if isinstance(challenge, str) and len(challenge) > 256:
        raise PayloadError("verify_webhook challenge too long")
    return challenge


def to_event(
    envelope: Mapping[str, Any],
    *,
    account: str,
    msg_id: str | None,
    body: bytes,
    clock: Clock,
    max_json_depth: int,
) -> PlatformEvent:
    """One verified webhook envelope (not ``verify_webhook``) → its event."""
    name = event_name(envelope)
    content = content_of(envelope, max_json_depth)
    server_message_id = text(content, "server_message_id")
    if msg_id:
        key = msg_id
    elif server_message_id:
        key = f"{name}:{server_message_id}"
    else:
        key = stable_hash(body)
    who = "to_user_id" if name in _MERCHANT_EVENTS else "from_user_id"
    customer_id = text(envelope, who) or text(content, "open_id") or ""
    if name in _MESSAGE_EVENTS and not customer_id:
        raise PayloadError(f"{name} lacks from_user_id")
    rest = Redacted({k: stringify_ids(v, k) for k, v in envelope.items() if k not in _ENVELOPE})
    fields: dict[str, Any] = {
        "platform": Platform.DOUYIN,
        "account": account,
        "platform_msg_id": key,
        "customer": Customer(id=customer_id, nickname=_nickname(content, customer_id)),
        "sent_at": epoch(content.get("create_time")) or clock(),
        "customer_initiated": name in _CUSTOMER_EVENTS,
    }
    if name not in _MESSAGE_EVENTS:
        rest["content"] = stringify_ids(content)
        return PlatformEvent(kind=Kind.EVENT, event=EventInfo(type=name), extra=rest, **fields)
    message_type = (text(content, "message_type") or "").lower()
    kind = _KINDS.get(message_type) or (Kind.CARD if message_type.endswith("card") else None)
    media = {k: v for k in _MEDIA_KEYS if (v := text(content, k)) is not None}
    consumed = {*_MEDIA_KEYS, "user_infos", *(("text",) if kind is Kind.TEXT else ())}
    rest["content"] = stringify_ids({k: v for k, v in content.items() if k not in consumed})
    return PlatformEvent(
        kind=kind or Kind.EVENT,
        text=text(content, "text") if kind is Kind.TEXT else None,
        media=media or None,
        event=None if kind else EventInfo(type=f"im_msg_{message_type or 'unknown'}"),
        extra=rest,
        **fields,
    )


def _nickname(content: Mapping[str, Any], open_id: str) -> str | None:
    infos = content.get("user_infos")
    if not isinstance(infos, list) or not open_id:
        return None
    for info in infos:
        if isinstance(info, Mapping) and info.get("open_id") == open_id:
            nickname = info.get("nick_name")
            return nickname if isinstance(nickname, str) and nickname else None
    return None
