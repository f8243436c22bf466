"""Bad Doudian push (``dd``) and Douyin open-platform (``dy``) callbacks: each is refused with its
documented status, one clean ``webhook.refused`` line, nothing published, and the endpoint keeps
serving. Both platforms sign the raw body, so most cases are correctly signed bad bodies."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from tests.badinput.callbacks import (
    DD_KEY,
    DD_SECRET,
    DY_SECRET,
    Call,
    GatewayClient,
    doudian,
    doudian_record,
    douyin,
    douyin_text,
    new_customer,
)
from tests.badinput.conftest import assert_accepted, assert_refused
from tests.conftest import InboundTap

pytestmark = [pytest.mark.rabbitmq, pytest.mark.asyncio(loop_scope="module")]

Build = Callable[[str], Call]


def nested(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth - 1):
        value = [value]
    return value


def record(customer: str, **changes: Any) -> dict[str, Any]:
    """A Doudian record from `customer` with fields replaced (a None value removes the field)."""
    base = doudian_record(customer)
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def data(customer: str, **changes: Any) -> str:
    """A record's ``data`` JSON string with fields replaced."""
    fields = {"p_id": 6919000000000000001, "buyer_id": customer, "shop_id": 1, **changes}
    return orjson.dumps(fields).decode()


def signed_elsewhere(customer: str) -> Call:
    """A push signed over one body and sent with another (the buyer changed in transit)."""
    signed = doudian([doudian_record(customer)])
    return Call(signed.path, signed.body.replace(customer.encode(), b"oOther"), (), signed.headers)


def hmac_signed(customer: str) -> Call:
    """A push signed with the unconfirmed HMAC-SHA256 variant (the account has not opted in)."""
    call = doudian([doudian_record(customer)])
    message = DD_KEY.encode() + call.body + DD_SECRET.encode()
    sign = hmac.new(DD_SECRET.encode(), message, hashlib.sha256).hexdigest()
    return call.with_headers(**{"event-sign": sign, "sign-method": "hmac-sha256"})


DOUDIAN: list[Any] = [
    # authenticity
    pytest.param(
        lambda c: doudian([doudian_record(c)]).with_headers(**{"event-sign": None}),
        401,
        id="no-event-sign",
    ),
    pytest.param(
        lambda c: doudian([doudian_record(c)]).with_headers(**{"app-id": None}), 401, id="no-app-id"
    ),
    pytest.param(
        lambda c: doudian([doudian_record(c)]).with_headers(**{"app-id": "7000000000000000002"}),
        401,
        id="other-app-id-header",
    ),
    pytest.param(
        lambda c: doudian([doudian_record(c)], secret="another-apps-secret"),
        401,
        id="other-app-secret",
    ),
    pytest.param(
        lambda c: doudian([doudian_record(c)], app_key="7000000000000000002", secret="x"),
        401,
        id="other-app",
    ),
    pytest.param(
        lambda c: doudian([doudian_record(c)], secret=DY_SECRET), 401, id="douyin-open-secret"
    ),
    pytest.param(signed_elsewhere, 401, id="body-changed-after-signing"),
    pytest.param(hmac_signed, 401, id="hmac-sha256-not-opted-in"),
    pytest.param(
        lambda c: doudian([doudian_record(c)]).with_headers(**{"sign-method": "sha512"}),
        401,
        id="unknown-sign-method",
    ),
    pytest.param(
        lambda c: doudian([record(c, tag="0", data=None)]).with_headers(**{"event-sign": None}),
        401,
        id="unsigned-verification-push",
    ),
    # signed, malformed
    pytest.param(lambda c: doudian(orjson.dumps([doudian_record(c)])[:-3]), 400, id="truncated"),
    pytest.param(
        lambda c: doudian(b'<!DOCTYPE x [<!ENTITY a "b">]><xml>%s</xml>' % c.encode()),
        400,
        id="xml-with-dtd",
    ),
    pytest.param(
        lambda c: doudian(orjson.dumps([doudian_record(c)]).replace(b'"101"', b'"\xff\xfe"')),
        400,
        id="invalid-utf8",
    ),
    pytest.param(lambda c: doudian([record(c, x=nested(33))]), 400, id="depth-33"),
    pytest.param(
        lambda c: doudian(b'[{"buyer":"%s","x":' % c.encode() + b"[" * 100_000), 400, id="depth-1e5"
    ),
    pytest.param(lambda c: doudian(b"[]  " + c.encode()[:0]), 400, id="empty-array"),
    pytest.param(lambda c: doudian(orjson.dumps([c, 1])), 400, id="records-not-objects"),
    pytest.param(lambda c: doudian([record(c, tag="abc")]), 400, id="tag-not-a-number"),
    pytest.param(lambda c: doudian([record(c, tag="1234567")]), 400, id="tag-7-digits"),
    pytest.param(lambda c: doudian([record(c, tag=None)]), 400, id="no-tag"),
    pytest.param(
        lambda c: doudian([record(c, tag="²")]),
        400,
        id="tag-superscript-digit",
    ),
    pytest.param(
        lambda c: doudian([record(c, data=data(c)[:-4])]), 400, id="data-string-truncated"
    ),
    pytest.param(lambda c: doudian([record(c, data=[c])]), 400, id="data-a-list"),
    pytest.param(
        lambda c: doudian([record(c, data=orjson.dumps({"b": c, "x": nested(40)}).decode())]),
        400,
        id="data-string-depth-40",
    ),
    pytest.param(lambda c: doudian([record(c, msg_id=1.5)]), 400, id="msg-id-float"),
    pytest.param(lambda c: doudian([record(c, msg_id="m" * 300)]), 400, id="msg-id-300-chars"),
    pytest.param(
        lambda c: doudian(
            b'[{"tag":"101","msg_id":"m%s","data":{"p_id":123456789012345678901234,"buyer_id":"%s"}}]'
            % (c.encode(), c.encode())
        ),
        400,
        id="id-beyond-64-bits",
    ),
]


@pytest.mark.parametrize(("build", "status"), DOUDIAN)
async def test_doudian_refusals(
    client: GatewayClient, tap: InboundTap, build: Build, status: int
) -> None:
    """Doudian pushes that are unsigned, signed by someone else or malformed are refused."""
    customer = new_customer()
    await assert_refused(client, tap, build(customer), status, customer)


def envelope(customer: str, **changes: Any) -> dict[str, Any]:
    """An ``im_receive_msg`` envelope with fields replaced (None removes a field)."""
    base = douyin_text(customer)
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def content(customer: str, **changes: Any) -> dict[str, Any]:
    """An envelope whose ``content`` fields are replaced."""
    base = douyin_text(customer)
    base["content"] = {**base["content"], **changes}
    return base


def douyin_changed_after_signing(customer: str) -> Call:
    signed = douyin(douyin_text(customer))
    return Call(signed.path, signed.body.replace(b"text", b"TEXT", 1), (), signed.headers)


DOUYIN: list[Any] = [
    # authenticity
    pytest.param(
        lambda c: douyin(douyin_text(c)).with_headers(**{"X-Douyin-Signature": None}),
        401,
        id="no-signature",
    ),
    pytest.param(lambda c: douyin(douyin_text(c), secret="nope"), 401, id="other-app-secret"),
    pytest.param(lambda c: douyin(douyin_text(c), secret=DD_SECRET), 401, id="doudian-secret"),
    pytest.param(
        lambda c: douyin(douyin_text(c, client_key="awsomebodyelse01")),
        401,
        id="other-client-key-in-body",
    ),
    pytest.param(douyin_changed_after_signing, 401, id="body-changed-after-signing"),
    # signed, malformed
    pytest.param(lambda c: douyin(orjson.dumps(douyin_text(c))[:-2]), 400, id="truncated"),
    pytest.param(lambda c: douyin(orjson.dumps([douyin_text(c)])), 400, id="array"),
    pytest.param(lambda c: douyin(orjson.dumps(c)), 400, id="json-string"),
    pytest.param(
        lambda c: douyin(b"<xml><from_user_id>%s</from_user_id></xml>" % c.encode()), 400, id="xml"
    ),
    pytest.param(
        lambda c: douyin(orjson.dumps(douyin_text(c)).replace(b"text", b"t\xc3\x28xt", 1)),
        400,
        id="invalid-utf8",
    ),
    pytest.param(lambda c: douyin(envelope(c, extra=nested(33))), 400, id="depth-33"),
    pytest.param(
        lambda c: douyin(b'{"event":"x","from_user_id":"%s","c":' % c.encode() + b"[" * 100_000),
        400,
        id="depth-1e5",
    ),
    pytest.param(lambda c: douyin(envelope(c, event=None)), 400, id="no-event"),
    pytest.param(lambda c: douyin(envelope(c, event=7)), 400, id="event-not-a-string"),
    pytest.param(lambda c: douyin(envelope(c, event="e" * 65)), 400, id="event-65-chars"),
    pytest.param(
        lambda c: douyin(envelope(c, from_user_id=None)), 400, id="message-without-sender"
    ),
    pytest.param(
        lambda c: douyin(envelope(c, from_user_id={"id": c})), 400, id="sender-not-a-string"
    ),
    pytest.param(
        lambda c: douyin(envelope(c, content='{"text": "' + c)), 400, id="content-string-truncated"
    ),
    pytest.param(lambda c: douyin(envelope(c, content=[c])), 400, id="content-a-list"),
    pytest.param(
        lambda c: douyin(douyin_text(c), msg_id="m" * 257), 400, id="msg-id-header-257-chars"
    ),
    pytest.param(
        lambda c: douyin({"event": "verify_webhook", "from_user_id": c, "content": {}}),
        400,
        id="verify-without-challenge",
    ),
    pytest.param(
        lambda c: douyin({"event": "verify_webhook", "content": {"challenge": c * 30}}),
        400,
        id="verify-challenge-too-long",
    ),
    pytest.param(
        lambda c: douyin({"event": "verify_webhook", "c": c, "content": {"challenge": True}}),
        400,
        id="verify-challenge-bool",
    ),
]


@pytest.mark.parametrize(("build", "status"), DOUYIN)
async def test_douyin_open_refusals(
    client: GatewayClient, tap: InboundTap, build: Build, status: int
) -> None:
    """Douyin open-platform webhooks that are unsigned, foreign or malformed are refused."""
    customer = new_customer()
    await assert_refused(client, tap, build(customer), status, customer)


@pytest.mark.parametrize("path", ["douyin/dd", "douyin/dy"])
async def test_get_is_refused(client: GatewayClient, tap: InboundTap, path: str) -> None:
    """Both Douyin flavours verify with a signed POST; a GET is malformed (400)."""
    customer = new_customer()
    call = Call(path, b"", (("challenge", customer),), {}, "GET")
    await assert_refused(client, tap, call, 400, customer)


@pytest.mark.parametrize(
    "build",
    [
        pytest.param(
            lambda c: doudian([record(c, data=data(c, update_time="²"))]), id="doudian-update-time"
        ),
        pytest.param(lambda c: douyin(content(c, create_time="²")), id="douyin-create-time"),
    ],
)
async def test_implausible_time_falls_back_to_receipt_time(
    client: GatewayClient, tap: InboundTap, build: Build
) -> None:
    """A time field that is not a plausible timestamp is ignored (sent_at = receipt time), as
    docs/platforms.md says: the message is accepted and published once."""
    customer = new_customer()
    await assert_accepted(client, tap, build(customer), customer)


async def test_controls_are_accepted(client: GatewayClient, tap: InboundTap) -> None:
    """The controls: the builders without a fault are accepted and published once each."""
    builds: list[Build] = [
        lambda c: doudian([doudian_record(c)]),
        lambda c: doudian([record(c, tag=101, data=orjson.loads(data(c)))]),
        lambda c: douyin(douyin_text(c)),
        lambda c: douyin(envelope(c, content=orjson.dumps(douyin_text(c)["content"]).decode())),
    ]
    for build in builds:
        customer = new_customer()
        await assert_accepted(client, tap, build(customer), customer)
