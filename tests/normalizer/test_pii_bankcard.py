"""Bank cards: 16–19 digits, Luhn, issuer prefix, and the order-id context trade-off."""

from __future__ import annotations

import pytest

from normalizer.pii import PiiKind, PiiMasker
from normalizer.pii.checks import card_prefix_ok, luhn_ok

MASKER = PiiMasker()


def cards(text: str) -> list[str]:
    """The bank-card spans detect() finds."""
    return [text[s.start : s.end] for s in MASKER.detect(text) if s.kind is PiiKind.BANK_CARD]


@pytest.mark.parametrize(
    "number",
    [
        "6222021234567890128",  # UnionPay 19
        "6217000010012345677",  # UnionPay 19
        "6225881234567898",  # UnionPay 16
        "4111111111111111",  # Visa 16
        "4367421234567896",  # Visa 16 (CCB)
        "5187123456789019",  # Mastercard 16
        "2221123456789014",  # Mastercard 2-series
        "3568123456789013",  # JCB 16
        "6013821234567890123",  # BOC 19
    ],
)
def test_luhn_valid_cards_are_masked(number: str) -> None:
    """A Luhn-valid number with an issuer prefix keeps its first 4 and last 4 digits."""
    masked, kinds = MASKER.mask_text(f"退款请打到卡号{number}谢谢")
    assert masked == f"退款请打到卡号{number[:4]}{'*' * (len(number) - 8)}{number[-4:]}谢谢"
    assert kinds == {PiiKind.BANK_CARD}


@pytest.mark.parametrize(
    "written", ["6222 0212 3456 7890 128", "6222-0212-3456-7890-128", "4111 1111 1111 1111"]
)
def test_cards_grouped_in_fours_are_found(written: str) -> None:
    """Cards written in groups of four (space or dash) are one value."""
    assert cards(f"银行卡：{written}。") == [written]


def test_luhn_failure_is_not_a_card() -> None:
    """One wrong digit breaks the Luhn check."""
    assert not luhn_ok("6222021234567890127")
    assert cards("卡号6222021234567890127") == []


@pytest.mark.parametrize(
    "number",
    [
        "6919471234567891239",  # Doudian order id, Luhn-valid, 69 is no issuer
        "3712345678901234561",  # Taobao tid, Luhn-valid, 3712 is outside JCB's 3528–3589
        "2221123456789014004",  # Mastercard prefix but 19 digits
        "5187123456789019128",  # Mastercard prefix but 19 digits
    ],
)
def test_luhn_valid_numbers_without_issuer_prefix_are_not_cards(number: str) -> None:
    """Luhn alone passes one number in ten; the prefix has to fit the length too."""
    assert luhn_ok(number)
    assert not card_prefix_ok(number)
    assert cards(f"号码{number}") == []


@pytest.mark.parametrize(
    "context", ["订单号", "订单 ", "单号：", "售后单号", "order ", "Order no. "]
)
def test_order_word_before_the_number_suppresses_a_card(context: str) -> None:
    """After an order word a Luhn-valid 16–19-digit number is taken for an order id."""
    assert cards(f"{context}4101234567890123456") == []
    assert cards(f"{context}6222021234567890128") == []


def test_card_word_after_the_order_word_wins() -> None:
    """ "订单退款到银行卡…": the card word is nearer, so it is a card."""
    assert cards("订单退款到银行卡6222021234567890128") == ["6222021234567890128"]


def test_order_word_far_before_the_number_does_not_suppress() -> None:
    """Only the 12 characters before the number are read."""
    text = "订单已经签收了，谢谢你们的帮忙。退款打到6222021234567890128"
    assert cards(text) == ["6222021234567890128"]


def test_context_suppression_applies_to_bank_cards_only() -> None:
    """An order word does not hide a phone or an ID written after it."""
    kinds = {s.kind for s in MASKER.detect("订单号13812345678，订单110101199003071233")}
    assert kinds == {PiiKind.PHONE, PiiKind.ID_CARD}


def test_order_and_card_in_one_message() -> None:
    """The order id stays readable for the advisor, the card is masked."""
    masked, _ = MASKER.mask_text("订单6217000010012345677退款到卡6222021234567890128")
    assert masked == "订单6217000010012345677退款到卡6222***********0128"


def test_card_slice_of_a_longer_run_is_not_found() -> None:
    """Sixteen digits inside a 20-digit run are not a card."""
    assert cards("流水号41111111111111110000") == []
