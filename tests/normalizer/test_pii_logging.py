"""The structlog processor that masks personal data in log events."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from normalizer.pii import MaskPolicy, PiiMasker, mask_log_event
from normalizer.pii.log_processor import COMPAT_DIGIT_OR_AT, COMPAT_SEPARATORS
from normalizer.pii.mobiles import CN_DIGITS, SEPARATORS

PROCESSOR = mask_log_event(PiiMasker())


def test_event_and_values_are_masked() -> None:
    """The "event" text and every string value are masked."""
    event: dict[str, Any] = {"event": "callback from 13812345678", "remark": "邮箱abc@qq.com"}
    assert PROCESSOR(None, "info", event) == {
        "event": "callback from 138****5678",
        "remark": "邮箱a**@qq.com",
    }


def test_values_are_nfkc_normalized_before_masking() -> None:
    """Full-width digits are normalized first, so they do not slip through."""
    out = PROCESSOR(None, "info", {"event": "x", "text": "电话１３８１２３４５６７８"})
    assert out["text"] == "电话138****5678"


def test_nested_containers_are_masked_and_copied() -> None:
    """Strings inside dicts, lists and tuples are masked; the caller's objects stay unchanged."""
    payload = {"receiver": ["13812345678", ("身份证110101199003071233",)]}
    out = PROCESSOR(None, "info", {"event": "x", "payload": payload})
    assert out["payload"] == {"receiver": ["138****5678", ("身份证110101********1233",)]}
    assert payload == {"receiver": ["13812345678", ("身份证110101199003071233",)]}


def test_private_keys_are_untouched() -> None:
    """Keys starting with "_" (structlog's own) are passed through as they are."""
    record = object()
    out = PROCESSOR(None, "info", {"event": "x", "_record": record, "_raw": "13812345678"})
    assert out["_record"] is record
    assert out["_raw"] == "13812345678"


def test_big_integers_that_are_pii_are_masked() -> None:
    """An integer that reads as a phone or ID is logged as its masked string; others stay ints."""
    out = PROCESSOR(None, "info", {"event": "x", "tel": 13812345678, "order": 6919471234567891239})
    assert out["tel"] == "138****5678"
    assert out["order"] == 6919471234567891239
    assert PROCESSOR(None, "info", {"event": "x", "n": 3, "ok": True}) == {
        "event": "x",
        "n": 3,
        "ok": True,
    }


def test_clean_event_values_are_kept_identical() -> None:
    """With nothing to mask, the processor keeps the very same value objects."""
    text = "收到回调 platform=wechat account=demo"
    nested = {"sizes": [1, 2], "id": "gh_0a1b2c3d4e5f"}
    event = {"event": text, "ctx": nested}
    out = PROCESSOR(None, "info", event)
    assert out["event"] is text
    assert out["ctx"] == nested


def test_returns_the_same_event_dict() -> None:
    """Like any structlog processor it returns the event dict it was given (updated in place)."""
    event: dict[str, Any] = {"event": "13812345678"}
    assert PROCESSOR(None, "info", event) is event


def test_pseudonym_policy_in_logs() -> None:
    """With a pseudonym policy, logs carry the same stable token as messages."""
    masker = PiiMasker(MaskPolicy(mode="pseudonym", key=b"k" * 32))
    out = mask_log_event(masker)(None, "info", {"event": "13812345678"})
    assert out["event"] == masker.mask_text("13812345678")[0]


def test_very_deep_values_are_masked_via_repr() -> None:
    """Beyond 16 levels the remainder is logged as its masked repr instead of recursing on."""
    deep: Any = "13812345678"
    for _ in range(20):
        deep = [deep]
    out = PROCESSOR(None, "info", {"event": "x", "deep": deep})
    assert "13812345678" not in repr(out)
    assert "138****5678" in repr(out)


def test_digits_joined_by_full_width_hyphens_are_normalized_and_masked() -> None:
    """ASCII digits joined by full-width hyphens (－) are only a phone after NFKC; it is applied."""
    out = PROCESSOR(None, "info", {"event": "x", "text": "电话138－1234－5678"})
    assert out["text"] == "电话138****5678"


def test_full_width_letters_before_an_at_sign_are_normalized() -> None:
    """ａｂｃ@qq.com is an address only after NFKC; the "@" triggers normalization."""
    out = PROCESSOR(None, "info", {"event": "x", "text": "邮箱ａｂｃ.ｄｅｆ@qq.com"})
    assert out["text"] == "邮箱a***@qq.com"


def test_circled_ideograph_digits_are_normalized() -> None:
    """㊀㊂㊇… are Chinese digits once normalized, so they are masked as a mobile."""
    out = PROCESSOR(None, "info", {"event": "x", "text": "加我㊀㊂㊇㊀㊁㊂㊃㊄㊅㊆㊇"})
    assert out["text"] == "加我138****5678"


def test_chinese_text_that_cannot_hold_pii_is_not_normalized() -> None:
    """Full-width punctuation and scattered Chinese digits (一下, 两件) are passed through as is."""
    text = (
        "您好，请问一下这款还有货吗？我想买两件，一件红色一件蓝色（Ｍ号），七天能到吗？三四天也行！"
    )
    assert PROCESSOR(None, "info", {"event": text})["event"] is text


def test_compat_trigger_sets_match_unicodedata() -> None:
    """COMPAT_DIGIT_OR_AT and COMPAT_SEPARATORS list exactly the characters NFKC maps there."""
    digits = set("0123456789@" + CN_DIGITS)
    gaps = set(SEPARATORS + "+()")
    digit_class = re.compile(f"[{COMPAT_DIGIT_OR_AT}]")
    gap_class = re.compile(f"[{COMPAT_SEPARATORS}]")
    for code in range(0x80, 0x110000):
        char = chr(code)
        if unicodedata.category(char) in ("Cn", "Co", "Cs"):  # NFKC maps these to themselves
            assert not (digit_class.match(char) or gap_class.match(char)), hex(code)
            continue
        form = unicodedata.normalize("NFKC", char)
        is_digit = char not in CN_DIGITS and not digits.isdisjoint(form)
        is_gap = char not in gaps and bool(form) and set(form) <= gaps
        assert (bool(digit_class.match(char)), bool(gap_class.match(char))) == (
            is_digit,
            is_gap,
        ), hex(code)


def test_separators_that_only_nfkc_reveals_are_normalized() -> None:
    """一　三　八… with ideographic spaces is a phone after NFKC, so the value is normalized."""
    spaced = "\u3000".join("一三八一二三四五六七八")
    out = PROCESSOR(None, "info", {"event": "x", "text": f"加我{spaced}，谢谢"})
    assert out["text"] == "加我138****5678,谢谢"


def test_memo_of_clean_strings_never_lets_personal_data_through() -> None:
    """Clean short strings are remembered; a string with PII is masked every time, also after
    the memo filled up and was emptied."""
    processor = mask_log_event(PiiMasker())
    for round_ in range(2):
        for n in range(5000):
            assert processor(None, "info", {"event": f"e{n}"})["event"] == f"e{n}"
        for _ in range(3):
            out = processor(None, "info", {"event": "13812345678", "kind": "text"})
            assert out == {"event": "138****5678", "kind": "text"}, round_


def test_the_gateways_own_ids_are_logged_unmasked() -> None:
    """A message id (a SHA-256 prefix) or a generated request id whose hex digits happen to hold
    a run shaped like a mobile number was logged masked (≈ 0.4 % of them), and could not be
    found in the logs. Under those keys, the ids' own shape passes; anything else is masked."""
    own = "e9a5dc2a236cc2283b19408191185bcf"  # a run "19408191185" shaped like a mobile
    assert PROCESSOR(None, "info", {"event": "x", "other": own})["other"] != own
    out = PROCESSOR(None, "info", {"event": "x", "message_id": own, "request_id": own})
    assert out == {"event": "x", "message_id": own, "request_id": own}
    # not the ids' shape (a client's X-Request-Id, an integrator's request id): masked
    for foreign in ("13812345678", own.upper(), own + "0", own[:-1]):
        logged = PROCESSOR(None, "info", {"event": "x", "request_id": foreign})["request_id"]
        assert "****" in logged
    masked = PROCESSOR(None, "info", {"event": "x", "request_id": "order-13812345678"})
    assert masked["request_id"] == "order-138****5678"
