"""Normalizer: NFKC before masking, every outgoing string masked, stable ids."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from gateway.models import Customer, Kind, Platform, PlatformEvent
from normalizer.normalize import Normalizer, message_id, nfkc

T = datetime(2026, 1, 1, tzinfo=UTC)
DIGITS = re.compile(r"1\d{10}")


class DigitsMasker:
    """A minimal masker following the Masker protocol: masks 11-digit runs starting with 1."""

    def mask_text(self, text: str) -> tuple[str, frozenset[str]]:
        masked = DIGITS.sub("1**********", text)
        return masked, frozenset({"phone"}) if masked != text else frozenset()

    def mask_fields(self, data: Mapping[str, Any]) -> tuple[dict[str, Any], frozenset[str]]:
        kinds: set[str] = set()
        out: dict[str, Any] = {}
        for key, value in data.items():
            if isinstance(value, str):
                out[key], found = self.mask_text(value)
                kinds |= found
            elif isinstance(value, Mapping):
                out[key], found = self.mask_fields(value)
                kinds |= found
            else:
                out[key] = value
        return out, frozenset(kinds)


def event(text: str | None = "hi", **kw: Any) -> PlatformEvent:
    fields: dict[str, Any] = {
        "platform": Platform.WECHAT,
        "account": "shop1",
        "platform_msg_id": "msg:1",
        "customer": Customer("oU", None, None),
        "kind": Kind.TEXT,
        "sent_at": T,
        "text": text,
    } | kw
    return PlatformEvent(**fields)


normalize = Normalizer(DigitsMasker(), lambda: T)


def test_full_width_digits_are_masked_after_nfkc() -> None:
    """Full-width digits become ASCII first, so masking catches them."""
    msg = normalize(event("电话１３８１２３４５６７８"))
    assert msg.text == "电话1**********"
    assert msg.pii == ("phone",)


def test_nickname_media_and_extra_are_masked() -> None:
    """Strings outside `text` are masked too."""
    msg = normalize(
        event(
            None,
            customer=Customer("oU", None, "阿明13812345678"),
            media={"title": "13812345678"},
            extra={"location": {"label": "13812345678"}},
        )
    )
    assert msg.customer.nickname == "阿明1**********"
    assert msg.media == {"title": "1**********"}
    assert msg.extra == {"location": {"label": "1**********"}}


def test_ids_are_stable_and_distinct() -> None:
    """Same platform/account/message id → same id; any difference → another id."""
    assert normalize(event()).id == message_id("wechat", "shop1", "msg:1")
    assert message_id("wechat", "shop1", "msg:1") != message_id("wechat", "shop2", "msg:1")
    assert message_id("wechat", "a", "b:c") != message_id("wechat", "a:b", "c")


@given(st.text(max_size=200))
def test_text_is_nfkc_normal(text: str) -> None:
    """Whatever comes in, the text that leaves is NFKC-normal (and masked)."""
    out = normalize(event(text)).text
    assert out is not None
    assert unicodedata.normalize("NFKC", out) == out


# Characters where a per-character mapping alone would be wrong: combining marks after mapped
# letters, Hangul jamo that compose, compatibility characters outside the BMP table, and text
# like the bench's (CJK with full-width punctuation and digits).
_TRICKY = st.sampled_from(
    "Ａ\u0301ｅ\u0308ᄀ\u1161\u11a8가ﬁ①㊀㍻\u3000，。？！（）：；１２＠"
    "\U0001d7ce\U0001f100\u0345\u0f73\u2126\ufb2ae\u0301订单号您好"
)


@given(st.text(st.one_of(st.characters(), _TRICKY), max_size=60))
def test_nfkc_equals_the_full_algorithm(text: str) -> None:
    """The translate fast path gives exactly what `unicodedata.normalize` gives."""
    assert nfkc(text) == unicodedata.normalize("NFKC", text)


def test_nfkc_of_typical_chinese_text() -> None:
    text = "您好，我的订单１２３号还没到！电话：１３８ ００１３ ８０００ 。"
    assert (
        nfkc(text)
        == unicodedata.normalize("NFKC", text)
        == ("您好,我的订单123号还没到!电话:138 0013 8000 。")
    )


def test_the_nfkc_table_is_built_with_the_normalizer_not_on_the_first_message() -> None:
    from normalizer import normalize as module

    module._compat_table.cache_clear()
    Normalizer(DigitsMasker(), lambda: T)
    assert module._compat_table.cache_info().currsize == 1
