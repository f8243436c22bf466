"""Mainland phone numbers: mobiles in every spelling customers use, landlines, and look-alikes."""

from __future__ import annotations

import unicodedata

import pytest

from normalizer.pii import PiiKind, PiiMasker

MASKER = PiiMasker()


def phones(text: str) -> list[str]:
    """The phone spans detect() finds in the NFKC form of ``text``."""
    text = unicodedata.normalize("NFKC", text)
    return [text[s.start : s.end] for s in MASKER.detect(text) if s.kind is PiiKind.PHONE]


@pytest.mark.parametrize(
    "written",
    [
        "13812345678",
        "138 1234 5678",
        "138-1234-5678",
        "138.1234.5678",
        "138 12345678",
        "1381234 5678",
        "+86 13812345678",
        "+8613812345678",
        "86-138-1234-5678",
        "+86-138-1234-5678",
        "0086 13812345678",
        "１３８１２３４５６７８",
        "１３８－１２３４－５６７８",
    ],
)
def test_mobile_spellings_are_masked_to_one_shape(written: str) -> None:
    """Every usual spelling of the same mobile masks to 138****5678 and nothing else survives."""
    text = unicodedata.normalize("NFKC", f"我的电话{written}谢谢")
    masked, kinds = MASKER.mask_text(text)
    assert masked == "我的电话138****5678谢谢"
    assert kinds == {PiiKind.PHONE}


@pytest.mark.parametrize("written", ["(+86)138 1234 5678", "（+86）13812345678"])
def test_bracketed_country_code_stays_and_number_is_masked(written: str) -> None:
    """A bracketed (+86) prefix carries no digits of the number, so only the number is replaced."""
    masked, _ = MASKER.mask_text(unicodedata.normalize("NFKC", written))
    assert masked == "(+86)138****5678"


@pytest.mark.parametrize(
    "written",
    [
        "一三八一二三四五六七八",
        "幺三八幺二三四五六七八",
        "壹叁捌壹贰叁肆伍陆柒捌",
        "一三八 一二三四 五六七八",
        "138一二三四5678",
        "138 一二三四 5678",
        "1 3 8 1 2 3 4 5 6 7 8",
        "1-3-8-1-2-3-4-5-6-7-8",
        "13 81 23 45 67 8",
        "1/3/8/1/2/3/4/5/6/7/8",
        "138\u200b1234\u200b5678",
        "1\u200b3\u200b8\u200b1\u200b2\u200b3\u200b4\u200b5\u200b6\u200b7\u200b8",
    ],
)
def test_obfuscated_mobiles_are_found(written: str) -> None:
    """Chinese digits, digit-by-digit spacing and zero-width joins do not hide a mobile."""
    masked, kinds = MASKER.mask_text(f"加我{written}，备注买家")
    assert masked == "加我138****5678，备注买家"
    assert kinds == {PiiKind.PHONE}


def test_zero_digit_spellings_are_read() -> None:
    """〇 and 零 read as 0, so 一五九零〇〇零一二三四 is 159-0000-1234."""
    assert MASKER.mask_text("电话一五九零〇〇零一二三四")[0] == "电话159****1234"


def test_chinese_digit_right_after_a_mobile_does_not_hide_it() -> None:
    """ "13812345678一直打不通": the 一 of 一直 is a word, not a 12th digit."""
    assert phones("电话13812345678一直打不通") == ["13812345678"]


@pytest.mark.parametrize("prefix", ["13", "14", "15", "16", "17", "18", "19"])
def test_every_mobile_prefix_is_found(prefix: str) -> None:
    """All 1[3-9] prefixes are mobile numbers."""
    number = prefix + "012345678"[: 11 - len(prefix)]
    assert phones(f"号码{number}") == [number]


@pytest.mark.parametrize(
    "text",
    [
        "订单号6919471234567891234",
        "12345678901",
        "10012345678",
        "1381234567",
        "138123456789",
        "138 1234 567",
        "1381 234 5678",
        "13.8 12.5 14.2 16.9 11.8",
        "版本号v13.8.1234.5678",
        "一二三四五六七八九十",
        "一三五七九号发货，二四六八十号不发",
        "JT8616775387689",
        "SF1234567890123",
        "1735689600",
        "2024-01-02 13:45:00",
        "20240102134500",
        "¥138.00",
        "13812.5元",
        "共计13,812,345,678元",
    ],
)
def test_numbers_that_are_not_mobiles(text: str) -> None:
    """Order ids, short or long runs, odd groupings, prices, dates and codes are left alone."""
    assert phones(text) == []
    assert MASKER.mask_text(text) == (text, frozenset())


def test_mobile_slice_of_a_longer_run_is_not_a_phone() -> None:
    """An 11-digit slice that starts like a mobile inside an 18-digit id is no phone."""
    assert phones("单号413812345678123456") == []


def test_two_mobiles_in_one_message_are_both_masked() -> None:
    """Several numbers are each replaced, in place."""
    masked, _ = MASKER.mask_text("13812345678、13987654321都行")
    assert masked == "138****5678、139****4321都行"


@pytest.mark.parametrize(
    ("written", "shape"),
    [
        ("010-12345678", "010-****5678"),
        ("0755-1234567", "0755-****567"),
        ("(021)12345678", "021-****5678"),
        ("（021）12345678", "021-****5678"),
        ("021 1234 5678", "021-****5678"),
        ("0512 6306 772", "0512-****772"),
        ("02112345678", "021****5678"),
        ("+86 10 12345678", "010-****5678"),
        ("0086-755-12345678", "0755-****5678"),
    ],
)
def test_landlines_keep_area_code_and_last_digits(written: str, shape: str) -> None:
    """A landline with an area code keeps the area code and the last 3–4 digits."""
    masked, kinds = MASKER.mask_text(unicodedata.normalize("NFKC", f"座机{written}。"))
    assert masked == f"座机{shape}。"
    assert kinds == {PiiKind.PHONE}


def test_landline_extension_stays_readable() -> None:
    """The extension (转801) identifies a desk, not a person; the number before it is masked."""
    assert MASKER.mask_text("0755-12345678转801")[0] == "0755-****5678转801"


@pytest.mark.parametrize(
    "text", ["400-820-8820", "4008208820", "800-820-8820", "10086", "95588", "12315"]
)
def test_service_numbers_are_not_customer_pii(text: str) -> None:
    """400/800 and short service numbers belong to companies and stay readable."""
    assert MASKER.mask_text(f"客服热线{text}")[0] == f"客服热线{text}"


def test_plus_sign_is_part_of_the_span() -> None:
    """The span of +86 13812345678 starts at the plus sign, so no stray '+' is left behind."""
    [span] = MASKER.detect("电话+86 13812345678")
    assert (span.start, span.end) == (2, 17)
