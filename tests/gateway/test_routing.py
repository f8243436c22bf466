"""Routing and serialization: routing keys, the wire form of a Message, AMQP properties."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import jsonschema
import orjson
import pytest

from gateway.models import Customer, EventInfo, Kind, Message, OrderInfo, Platform, RouteTarget
from gateway.routing import route, routing_key
from gateway.serialize import envelope
from rules.engine import InboundDecision

SCHEMA = json.loads((Path(__file__).parents[2] / "docs/schemas/gateway.message.1.json").read_text())
T = datetime(2026, 1, 1, tzinfo=UTC)


def message(kind: Kind = Kind.TEXT, event: EventInfo | None = None, **kw: object) -> Message:
    return Message(
        id="0" * 32,
        platform=Platform.WECHAT,
        account="shop1",
        platform_msg_id="msg:1",
        customer=Customer("oU"),
        kind=kind,
        sent_at=T,
        received_at=T,
        event=event,
        **kw,
    )  # type: ignore[arg-type]


def test_customer_message_goes_to_bot() -> None:
    """Without advisors, a customer's text goes to bot.<platform>."""
    decided = route(message(text="hi"))
    assert decided.target is RouteTarget.BOT
    assert routing_key(message(), decided) == "bot.wechat"


@pytest.mark.parametrize(
    ("event_type", "key"),
    [
        ("subscribe", "event.wechat.subscribe"),
        ("channels_ec_order_pay", "event.wechat.channels_ec_order_pay"),
        ("weird.type*#", "event.wechat.weird_type"),
        ("", "event.wechat.unknown"),
    ],
)
def test_events_go_to_event_keys(event_type: str, key: str) -> None:
    """Events route to event.<platform>.<type>, with the type made a safe topic word."""
    msg = message(Kind.EVENT, EventInfo(event_type))
    assert routing_key(msg, route(msg)) == key


def test_orders_and_quarantine() -> None:
    """Orders are events; quarantined messages go to quarantine.<platform>."""
    order = message(Kind.ORDER, EventInfo("channels_ec_order_new"), order=OrderInfo("1"))
    assert route(order).target is RouteTarget.EVENT
    quarantined = route(message(), InboundDecision("quarantine", quarantine=True))
    assert routing_key(order, quarantined) == "quarantine.wechat"


def test_rule_actions_give_the_reason() -> None:
    """A keyword rule's action is the routing reason of a customer message."""
    for action in ("auto_reply", "route_bot", "route_human"):
        assert route(message(), InboundDecision(action, rule_id="r1")).reason == action
    assert route(message(), InboundDecision("tag", rule_id="r1")).reason == "no_advisor"


def test_envelope_is_schema_valid_with_properties() -> None:
    """The envelope body validates against the published schema; id and headers match."""
    msg = message(text="你好", extra={"Ticket": "T"})
    env = envelope(msg, route(msg))
    doc = orjson.loads(env.body)
    jsonschema.validate(doc, SCHEMA)
    assert env.message_id == doc["id"] == msg.id
    assert env.headers == {"platform": "wechat", "account": "shop1", "kind": "text", "route": "bot"}
    assert doc["sent_at"] == "2026-01-01T00:00:00Z"
