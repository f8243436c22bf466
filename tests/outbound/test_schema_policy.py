"""The gateway.outbound/1 and gateway.receipt/1 models, policy configuration and word screening."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from gateway.errors import ConfigError
from gateway.outbound import OutboundMessage, OutboundPolicy, PolicyBook, Receipt
from gateway.outbound.policy import Refusal, screen
from gateway.outbound.process import Invalid, parse
from gateway.outbound.schema import CardContent, LinkContent, TextContent, describe_errors
from tests.outbound.conftest import RULES

BASE: dict[str, Any] = {
    "schema": "gateway.outbound/1", "request_id": "rq-1", "sender": "advisor:a1",
    "platform": "wechat", "account": "shop", "customer": "oUser", "kind": "text",
    "content": {"text": "hi"},
}  # fmt: skip


def test_a_valid_message_round_trips() -> None:
    """Parsing and serializing keeps every field; defaults fill proactive and context."""
    msg = OutboundMessage.model_validate(BASE)
    assert isinstance(msg.content, TextContent) and msg.proactive is False
    assert msg.advisor_id == "a1" and msg.lane == "wechat:shop:oUser"
    assert OutboundMessage.model_validate_json(msg.to_json()) == msg
    assert orjson.loads(msg.to_json())["schema"] == "gateway.outbound/1"


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"request_id": None}, "request_id"),
        ({"request_id": "has space"}, "request_id"),
        ({"sender": "advisor:"}, "sender"),
        ({"sender": "customer:x"}, "sender"),
        ({"platform": "weibo"}, "platform"),
        ({"kind": "image"}, "content does not match"),
        ({"content": {"text": ""}}, "content"),
        ({"content": {"text": "x", "extra": 1}}, "extra"),
        ({"schema": "gateway.outbound/2"}, "schema"),
        ({"kind": "link", "content": {"title": "t", "url": "ftp://x"}}, "url"),
        ({"kind": "card", "content": {"type": "product"}}, "product_id"),
    ],
)
def test_invalid_messages_are_refused(change: dict[str, Any], where: str) -> None:
    """Each broken field is reported by name."""
    with pytest.raises(ValidationError) as caught:
        OutboundMessage.model_validate({**BASE, **change})
    assert where in describe_errors(caught.value)


def test_content_models_by_kind() -> None:
    """link and card content validate into their models."""
    link = OutboundMessage.model_validate(
        {**BASE, "kind": "link", "content": {"title": "t", "url": "https://x.test/"}}
    )
    card = OutboundMessage.model_validate(
        {**BASE, "kind": "card", "content": {"type": "consult", "card_id": "c1"}}
    )
    assert isinstance(link.content, LinkContent) and isinstance(card.content, CardContent)


def test_parse_never_echoes_the_text_of_an_invalid_message() -> None:
    """An invalid message's detail names fields but not their values; its request_id is kept."""
    doc = {**BASE, "content": {"text": "手机13800001111", "bad": True}}
    parsed = parse(orjson.dumps(doc))
    assert isinstance(parsed, Invalid) and parsed.request_id == "rq-1"
    assert "13800001111" not in parsed.detail and "bad" in parsed.detail
    garbage = parse(b"\x00\xff")
    assert isinstance(garbage, Invalid) and garbage.request_id is None


def test_receipt_json_shape() -> None:
    """A receipt serializes with schema, status, reason, word, platform code and attempts."""
    receipt = Receipt(
        request_id="rq-1", status="rejected", reason="sensitive_word", detail="d", word="拼多多",
        at=datetime(2026, 11, 21, tzinfo=UTC), attempts=0,
    )  # fmt: skip
    doc = orjson.loads(receipt.to_json())
    assert doc["schema"] == "gateway.receipt/1" and doc["word"] == "拼多多"
    assert {"request_id", "status", "reason", "detail", "platform_code", "attempts", "at"} <= set(
        doc
    )


def test_policy_defaults_are_explicit_per_platform() -> None:
    """WeChat: 5 replies reset by each message; Douyin and Taobao: 20 per 48 h; 4 touches x 3."""
    book = PolicyBook.defaults()
    wechat, douyin = book.of("wechat", "any"), book.of("douyin", "any")
    assert (wechat.replies_per_window, wechat.reset_count_on_action) == (5, True)
    assert (douyin.replies_per_window, douyin.reset_count_on_action) == (20, False)
    assert (douyin.window_hours, douyin.monthly_touches, douyin.messages_per_touch) == (48, 4, 3)
    assert douyin.touch_seconds == 60 and book.of("taobao", "x") == OutboundPolicy()


def test_policy_overrides_by_platform_then_account() -> None:
    """An account inherits its platform's override and adds its own."""
    book = PolicyBook.from_json(
        '{"wechat:shop1": {"monthly_touches": 2}, "wechat": {"replies_per_window": 20}}'
    )
    assert book.of("wechat", "shop1").replies_per_window == 20
    assert book.of("wechat", "shop1").monthly_touches == 2
    assert book.of("wechat", "other").monthly_touches == 4
    assert PolicyBook.from_json("") == PolicyBook.defaults()


@pytest.mark.parametrize(
    "doc",
    [
        '{"weibo": {}}',
        '{"wechat": {"window_hours": 0}}',
        '{"wechat": {"nope": 1}}',
        "[",
        '{"wechat": 5}',
    ],
)
def test_bad_policy_configuration_fails_at_start(doc: str) -> None:
    """Unknown platforms, unknown keys and out-of-range values are configuration errors."""
    with pytest.raises(ConfigError):
        PolicyBook.from_json(doc)


def test_screen_blocks_or_masks_merchant_words() -> None:
    """A block-list word refuses with the word; mask-list words are starred in every text field."""
    refused = screen(TextContent(text="去拼多多买"), RULES)
    assert isinstance(refused, Refusal) and refused.word == "拼多多"
    masked = screen(LinkContent(title="加微信", description="微信领券", url="https://x/"), RULES)
    assert not isinstance(masked, Refusal)
    content, changed = masked
    assert changed and isinstance(content, LinkContent)
    assert (content.title, content.description) == ("加**", "**领券")
    assert screen(TextContent(text="你好"), RULES) == (TextContent(text="你好"), False)
