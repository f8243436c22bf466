"""身份证: 18 digits with region, birth date and ISO 7064 check character; 15-digit legacy IDs."""

from __future__ import annotations

import pytest

from normalizer.pii import PiiKind, PiiMasker
from normalizer.pii.checks import id15_ok, id18_ok

MASKER = PiiMasker()

VALID = ("110101199003071233", "440305198512310026", "11010519491231002X", "310104200002290014")


def ids(text: str) -> list[str]:
    """The 身份证 spans detect() finds."""
    return [text[s.start : s.end] for s in MASKER.detect(text) if s.kind is PiiKind.ID_CARD]


@pytest.mark.parametrize("number", VALID)
def test_valid_ids_are_masked_keeping_region_and_last_four(number: str) -> None:
    """A valid 18-character ID becomes its first 6 and last 4 characters around 8 stars."""
    masked, kinds = MASKER.mask_text(f"身份证号{number}请核对")
    assert masked == f"身份证号{number[:6]}********{number[-4:]}请核对"
    assert kinds == {PiiKind.ID_CARD}


def test_lower_case_x_is_accepted_and_normalised() -> None:
    """The check character X may be written x; the shape shows it upper-case."""
    assert MASKER.mask_text("11010519491231002x")[0] == "110105********002X"


def test_grouped_id_is_found() -> None:
    """An ID written 6-8-4 with spaces is found and masked as one value."""
    assert ids("证件 110101 19900307 1233 ") == ["110101 19900307 1233"]


@pytest.mark.parametrize(
    "number",
    [
        "110101199003071234",  # wrong check digit
        "110101199013071236",  # month 13
        "110101199002301231",  # 30 February
        "110101189912311234",  # born 1899
        "990101199003071230",  # no such region
        "6919471234567891234",  # Doudian order id (19 digits)
        "202401021345001234",  # dated merchant id
    ],
)
def test_numbers_failing_a_check_are_not_ids(number: str) -> None:
    """Checksum, calendar date, year range and region must all hold."""
    assert ids(f"号码{number}") == []


def test_future_birth_year_is_rejected() -> None:
    """The birth year may not be later than the current year (here pinned to 2025)."""
    assert id18_ok("110101202501010016", 2025)
    assert not id18_ok("110101202601010013", 2025)


def test_legacy_fifteen_digit_ids() -> None:
    """A 15-digit ID has a mainland region and a valid 19yymmdd date, and no check digit."""
    assert id15_ok("110105491231002")
    assert not id15_ok("110105491331002")  # month 13
    assert not id15_ok("810105491231002")  # Hong Kong never had 15-digit mainland IDs
    assert ids("老身份证110105491231002还能用吗") == ["110105491231002"]
    assert MASKER.mask_text("110105491231002")[0] == "110105*****1002"


def test_id_wins_over_a_luhn_valid_bank_card_reading() -> None:
    """620102198808080059 passes Luhn with a UnionPay-like 62 prefix, but it is a valid ID."""
    [span] = MASKER.detect("卡号620102198808080059")
    assert span.kind is PiiKind.ID_CARD


def test_id_inside_a_longer_run_is_not_found() -> None:
    """An ID's digits followed by more digits are some other number."""
    assert ids("1101011990030712331") == []
