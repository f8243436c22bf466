"""The masker's contract: policy, shapes, pseudonyms, length bound, idempotence, public names."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import re

import pytest

import normalizer.pii as pii
from normalizer.pii import (
    PSEUDONYM_MAX_GROWTH,
    SHAPE_MAX_GROWTH,
    MaskPolicy,
    PiiKind,
    PiiMasker,
    PiiSpan,
)

KEY = b"0123456789abcdef0123456789abcdef"
SHAPE = PiiMasker()
PSEUDO = PiiMasker(MaskPolicy(mode="pseudonym", key=KEY))
DIRTY = (
    "我的电话+86 138-1234-5678，座机010-12345678，身份证11010519491231002X，"
    "卡号6222 0212 3456 7890 128，邮箱a@b.cn，订单号6919471234567891239"
)


def test_public_interface() -> None:
    """The package exports exactly the names the gateway integrates."""
    assert set(pii.__all__) >= {"PiiKind", "PiiSpan", "MaskPolicy", "PiiMasker", "mask_log_event"}
    assert [k.value for k in PiiKind] == [
        "phone",
        "id_card",
        "bank_card",
        "email",
        "name",
        "address",
    ]
    assert PiiKind("phone") is PiiKind.PHONE


def test_detect_returns_sorted_non_overlapping_spans() -> None:
    """detect() gives PiiSpan(kind, start, end) in order, none overlapping."""
    spans = SHAPE.detect(DIRTY)
    assert [s.kind for s in spans] == [
        PiiKind.PHONE,
        PiiKind.PHONE,
        PiiKind.ID_CARD,
        PiiKind.BANK_CARD,
        PiiKind.EMAIL,
    ]
    assert all(a.end <= b.start for a, b in itertools.pairwise(spans))
    assert spans[0] == PiiSpan(PiiKind.PHONE, 4, 21)


def test_shape_mode_output() -> None:
    """Shape mode keeps a readable outline of every value and leaves the order id alone."""
    masked, kinds = SHAPE.mask_text(DIRTY)
    assert masked == (
        "我的电话138****5678，座机010-****5678，身份证110105********002X，"
        "卡号6222***********0128，邮箱*@b.cn，订单号6919471234567891239"
    )
    assert kinds == {PiiKind.PHONE, PiiKind.ID_CARD, PiiKind.BANK_CARD, PiiKind.EMAIL}


def test_pseudonym_token_is_kind_and_hmac_prefix() -> None:
    """⟨kind:hex⟩ where hex is the first 10 chars of HMAC-SHA256(key, canonical value)."""
    expected = hmac.new(KEY, b"13812345678", hashlib.sha256).hexdigest()[:10]
    assert PSEUDO.mask_text("电话13812345678")[0] == f"电话⟨phone:{expected}⟩"


@pytest.mark.parametrize(
    "spelling",
    ["13812345678", "138 1234 5678", "+86 13812345678", "138-1234-5678", "一三八一二三四五六七八"],
)
def test_pseudonym_is_stable_across_spellings(spelling: str) -> None:
    """The canonical value is digits only, so every spelling gives the same token."""
    assert PSEUDO.mask_text(spelling)[0] == PSEUDO.mask_text("13812345678")[0]


def test_pseudonym_depends_on_the_key() -> None:
    """Another key gives another token; the same key in another masker gives the same one."""
    other = PiiMasker(MaskPolicy(mode="pseudonym", key=b"another key"))
    same = PiiMasker(MaskPolicy(mode="pseudonym", key=KEY))
    text = "13812345678"
    assert other.mask_text(text)[0] != PSEUDO.mask_text(text)[0]
    assert same.mask_text(text)[0] == PSEUDO.mask_text(text)[0]


def test_pseudonym_tokens_are_never_detected_again() -> None:
    """Tokens, even with all-digit hex, are not PII to detect(), so masking is idempotent."""
    masked, _ = PSEUDO.mask_text(DIRTY)
    assert len(re.findall("⟨[a-z_]+:[0-9a-f]{10}⟩", masked)) == 5
    assert PSEUDO.detect(masked) == []
    assert PSEUDO.detect("⟨phone:0101234567⟩ ⟨id_card:1234567890⟩") == []
    assert PSEUDO.mask_text(masked)[0] == masked


def test_pseudonym_mode_needs_a_key() -> None:
    """Pseudonym mode without a key fails at construction, never at the first message."""
    with pytest.raises(ValueError, match="GATEWAY_PII_KEY"):
        MaskPolicy(mode="pseudonym")
    with pytest.raises(ValueError, match="GATEWAY_PII_KEY"):
        MaskPolicy(mode="pseudonym", key=b"")
    with pytest.raises(ValueError, match="mode"):
        MaskPolicy(mode="hash")  # type: ignore[arg-type]


def test_repr_of_policy_and_masker_hide_the_key() -> None:
    """Neither the policy nor the masker shows the key in repr or str."""
    policy = MaskPolicy(mode="pseudonym", key=b"super-secret-key")
    for shown in (repr(policy), str(policy), repr(PiiMasker(policy))):
        assert "super-secret" not in shown
        assert "pseudonym" in shown


def test_default_policy_is_shape() -> None:
    """PiiMasker() masks shapes and needs no key."""
    assert PiiMasker().policy == MaskPolicy()
    assert PiiMasker().policy.mode == "shape"


@pytest.mark.parametrize("masker", [SHAPE, PSEUDO], ids=["shape", "pseudonym"])
def test_masking_is_idempotent_on_examples(masker: PiiMasker) -> None:
    """Masking masked text changes nothing."""
    once, _ = masker.mask_text(DIRTY)
    assert masker.mask_text(once) == (once, frozenset())


def test_length_bound_constants() -> None:
    """Shape never grows; a pseudonym grows at most 12 per span (an e-mail of 6 characters)."""
    assert SHAPE.max_growth_per_span == SHAPE_MAX_GROWTH == 0
    assert PSEUDO.max_growth_per_span == PSEUDONYM_MAX_GROWTH == 12
    shortest = {"phone": "0101234567", "id_card": "110105491231002", "email": "a@b.cn"}
    for kind, value in shortest.items():
        token, _ = PSEUDO.mask_text(value)
        assert len(token) == len(kind) + 13
        assert len(token) - len(value) <= PSEUDONYM_MAX_GROWTH
    assert len(PSEUDO.mask_text("a@b.cn")[0]) - len("a@b.cn") == PSEUDONYM_MAX_GROWTH


def test_text_without_pii_is_returned_as_is() -> None:
    """Clean text comes back as the very same object with no kinds."""
    text = "您好，请问这款连衣裙还有货吗？¥138.00，订单号6919471234567891239"
    out, kinds = SHAPE.mask_text(text)
    assert out is text
    assert kinds == frozenset()


def test_stars_written_by_a_customer_do_not_hide_a_phone() -> None:
    """Only our own shape (digits, three or more stars, digits) blocks re-detection."""
    assert SHAPE.mask_text("**13812345678**")[0] == "**138****5678**"
    assert SHAPE.mask_text("电话*13812345678")[0] == "电话*138****5678"


def test_name_and_address_shapes() -> None:
    """Name: first character + one star per other character; address: district prefix + ***."""
    assert SHAPE.mask_value(PiiKind.NAME, "张三") == "张*"
    assert SHAPE.mask_value(PiiKind.NAME, "欧阳娜娜") == "欧***"
    assert SHAPE.mask_value(PiiKind.NAME, "李") == "*"
    assert SHAPE.mask_value(PiiKind.ADDRESS, "北京市朝阳区建国路88号") == "北京市朝阳区***"
    assert SHAPE.mask_value(PiiKind.ADDRESS, "内蒙古自治区呼和浩特市新城区xx路1号") == (
        "内蒙古自治区呼和浩特市新城区***"
    )
    assert SHAPE.mask_value(PiiKind.ADDRESS, "阳光小区3栋") == "***"
    assert SHAPE.mask_value(PiiKind.ADDRESS, "广东省东莞市长安镇上沙社区") == "广东省东莞市***"
    assert SHAPE.mask_value(PiiKind.ADDRESS, "深圳市") == "深圳市"
