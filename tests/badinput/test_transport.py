"""Bad input at the HTTP level, on every webhook endpoint: oversized bodies (with and without
Content-Length, compressed), broken content encodings, empty bodies, content types, unknown
accounts and platforms."""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator

import pytest

from tests.badinput.callbacks import (
    ENDPOINTS,
    Call,
    GatewayClient,
    good,
    new_customer,
    resign,
    text_xml,
    wechat_plain,
)
from tests.badinput.conftest import MAX_BODY, assert_accepted, assert_refused
from tests.conftest import InboundTap

pytestmark = [pytest.mark.rabbitmq, pytest.mark.asyncio(loop_scope="module")]


def padded(endpoint: str, customer: str, size: int) -> Call:
    """A correctly signed callback to `endpoint` whose body is exactly `size` bytes (trailing
    whitespace, which XML and JSON allow)."""
    call = good(endpoint, customer)
    assert len(call.body) <= size
    return resign(call, call.body + b" " * (size - len(call.body)))


async def chunks(body: bytes, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    """The body as a chunked upload (aiohttp sends no Content-Length for an async iterator)."""
    for start in range(0, len(body), size):
        yield body[start : start + size]


@pytest.mark.parametrize("endpoint", ENDPOINTS)
async def test_body_over_limit_with_content_length(
    client: GatewayClient, tap: InboundTap, endpoint: str
) -> None:
    """A signed body one byte over GATEWAY_MAX_BODY_BYTES is refused 413 before it is read."""
    customer = new_customer()
    call = padded(endpoint, customer, MAX_BODY + 1)
    await assert_refused(client, tap, call, 413, customer)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
async def test_body_at_limit_is_accepted(
    client: GatewayClient, tap: InboundTap, endpoint: str
) -> None:
    """A signed body of exactly GATEWAY_MAX_BODY_BYTES is accepted and published once."""
    customer = new_customer()
    await assert_accepted(client, tap, padded(endpoint, customer, MAX_BODY), customer)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
async def test_chunked_body_over_limit(
    client: GatewayClient, tap: InboundTap, endpoint: str
) -> None:
    """A 4x-over-limit chunked upload (no Content-Length) is refused 413 while streaming."""
    customer = new_customer()
    call = padded(endpoint, customer, 4 * MAX_BODY)
    await assert_refused(client, tap, call, 413, customer, data=chunks(call.body))


@pytest.mark.parametrize("endpoint", ENDPOINTS)
async def test_gzip_bomb(client: GatewayClient, tap: InboundTap, endpoint: str) -> None:
    """A small gzip body that inflates to 40x the limit is refused 413 (the limit counts inflated
    bytes)."""
    customer = new_customer()
    call = padded(endpoint, customer, 40 * MAX_BODY)
    bomb = gzip.compress(call.body)
    assert len(bomb) < MAX_BODY // 4
    await assert_refused(
        client, tap, call.with_headers(**{"Content-Encoding": "gzip"}), 413, customer, data=bomb
    )


@pytest.mark.parametrize("endpoint", ENDPOINTS)
async def test_broken_content_encoding(
    client: GatewayClient, tap: InboundTap, endpoint: str
) -> None:
    """A body labelled gzip that is not gzip is malformed: 400."""
    customer = new_customer()
    call = good(endpoint, customer).with_headers(**{"Content-Encoding": "gzip"})
    await assert_refused(client, tap, call, 400, customer)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
async def test_empty_body(client: GatewayClient, tap: InboundTap, endpoint: str) -> None:
    """An empty POST (signed where the platform signs the body) is malformed: 400."""
    customer = new_customer()
    call = resign(good(endpoint, customer), b"")
    await assert_refused(client, tap, call, 400, customer)


FORM = b"ToUserName=gh&FromUserName=%s&MsgType=text&Content=hi"
MULTIPART = b'--b\r\nContent-Disposition: form-data; name="FromUserName"\r\n\r\n%s\r\n--b--\r\n'


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize(
    ("content_type", "template"),
    [
        ("application/x-www-form-urlencoded", FORM),
        ("multipart/form-data; boundary=b", MULTIPART),
        ("text/plain; charset=utf-8", b"FromUserName %s"),
        ("application/json", b"\xef\xbb\xbf" + b'{"FromUserName": "%s"}'),
    ],
    ids=["form", "multipart", "text", "json-with-utf8-bom"],
)
async def test_body_neither_xml_nor_json(
    client: GatewayClient, tap: InboundTap, endpoint: str, content_type: str, template: bytes
) -> None:
    """A signed body that is neither XML nor JSON is malformed (400), whatever its Content-Type."""
    customer = new_customer()
    call = resign(good(endpoint, customer), template % customer.encode())
    await assert_refused(
        client, tap, call.with_headers(**{"Content-Type": content_type}), 400, customer
    )


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize(
    "content_type", ["image/png", "application/octet-stream", "text/html", None]
)
async def test_content_type_is_not_trusted(
    client: GatewayClient, tap: InboundTap, endpoint: str, content_type: str | None
) -> None:
    """The body format is sniffed, never taken from Content-Type: a good callback with a wrong
    (or no) Content-Type is accepted and published once, with no refusal logged."""
    customer = new_customer()
    call = good(endpoint, customer).with_headers(**{"Content-Type": content_type})
    await assert_accepted(client, tap, call, customer)


@pytest.mark.parametrize(
    ("path", "endpoint"),
    [
        ("wechat/nobody", "wechat/plain"),
        ("douyin/nobody", "douyin/dd"),
        ("douyin/plain", "douyin/dy"),  # a WeChat account's name under another platform
        ("wechat/dd", "wechat/safe"),
        ("taobao/plain", "wechat/store"),  # Taobao has no webhook
        ("icq/plain", "wechat/plain"),
    ],
)
async def test_unknown_account_or_platform(
    client: GatewayClient, tap: InboundTap, path: str, endpoint: str
) -> None:
    """A callback to an account or platform that is not configured is refused 404."""
    customer = new_customer()
    call = Call(path, text_xml(customer), wechat_plain("plain", b"").query)
    await assert_refused(client, tap, call, 404, customer, endpoint=endpoint)
