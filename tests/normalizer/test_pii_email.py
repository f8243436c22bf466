"""E-mail addresses in Chinese text, and things with an @ that are not addresses."""

from __future__ import annotations

import unicodedata

import pytest

from normalizer.pii import MaskPolicy, PiiKind, PiiMasker

MASKER = PiiMasker()


def emails(text: str) -> list[str]:
    """The e-mail spans detect() finds."""
    return [text[s.start : s.end] for s in MASKER.detect(text) if s.kind is PiiKind.EMAIL]


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("联系我abc.def@qq.com谢谢", "abc.def@qq.com"),
        ("发票发到12345678@qq.com", "12345678@qq.com"),
        ("邮箱：Tom.Lee+shop@Company.com.cn，工作日回复", "Tom.Lee+shop@Company.com.cn"),
        ("user_name-01@sub.example.org就行", "user_name-01@sub.example.org"),
        ("email: li-na@gmail.com.", "li-na@gmail.com"),
    ],
)
def test_addresses_next_to_chinese_text_are_found(text: str, address: str) -> None:
    """The address is found without spaces around it, and trailing punctuation is not taken."""
    assert emails(text) == [address]


def test_full_width_address_is_found_after_nfkc() -> None:
    """ＡＢＣ＠１６３．ＣＯＭ is abc@163.com once the pipeline has applied NFKC."""
    text = unicodedata.normalize("NFKC", "邮箱：ＡＢＣ＠１６３．ＣＯＭ")
    assert emails(text) == ["ABC@163.COM"]


@pytest.mark.parametrize(
    ("address", "shape"),
    [
        ("abc.def@qq.com", "a***@qq.com"),
        ("ab@qq.com", "a*@qq.com"),
        ("a@qq.com", "*@qq.com"),
        ("12345678@qq.com", "****@qq.com"),
        ("x@13812345678.cn", "*@***********.cn"),
    ],
)
def test_shape_keeps_first_letter_and_domain_and_never_grows(address: str, shape: str) -> None:
    """Local part → first letter + up to 3 stars; digits never survive; never longer."""
    masked, kinds = MASKER.mask_text(address)
    assert masked == shape
    assert len(masked) <= len(address)
    assert kinds == {PiiKind.EMAIL}


def test_phone_number_as_local_part_is_one_email() -> None:
    """13812345678@163.com is masked as an e-mail, which hides the phone digits too."""
    masked, kinds = MASKER.mask_text("13812345678@163.com")
    assert masked == "****@163.com"
    assert kinds == {PiiKind.EMAIL}


@pytest.mark.parametrize(
    "text",
    [
        "在吗？@客服小美 帮我看看",
        "邮箱abc@qq不对吧",
        "微博@张三的小店",
        "价格@9.9元",
        "foo@bar.c",
    ],
)
def test_at_signs_that_are_not_addresses(text: str) -> None:
    """Mentions, missing or one-letter top-level domains are not e-mail."""
    assert emails(text) == []


def test_pseudonym_is_case_insensitive() -> None:
    """Canonical e-mail is lower-case, so ABC@QQ.COM and abc@qq.com share a pseudonym."""
    masker = PiiMasker(MaskPolicy(mode="pseudonym", key=b"k" * 32))
    assert masker.mask_text("ABC@QQ.COM")[0] == masker.mask_text("abc@qq.com")[0]
