"""Validity checks for digit strings: 身份证 checksum and birth date, Luhn, issuer prefixes.

Owns the rules that turn "a run of digits" into "an ID number" or "a bank card". Pure functions on
ASCII digit strings; the regexes that find candidates live in `detect.py`.
"""

from __future__ import annotations

import datetime

__all__ = [
    "ID_REGIONS",
    "card_prefix_ok",
    "id15_ok",
    "id18_ok",
    "is_mobile",
    "luhn_ok",
]

# First two digits of a 身份证: provinces (GB/T 2260) plus 71 Taiwan, 81 Hong Kong, 82 Macao
# (residence permits reuse the 18-digit format).
ID_REGIONS = frozenset(
    {
        *(str(n) for n in range(11, 16)),
        *(str(n) for n in range(21, 24)),
        *(str(n) for n in range(31, 38)),
        *(str(n) for n in range(41, 47)),
        *(str(n) for n in range(50, 55)),
        *(str(n) for n in range(61, 66)),
        "71",
        "81",
        "82",
    }
)
_MAINLAND_REGIONS = ID_REGIONS - {"71", "81", "82"}

# ISO 7064 MOD 11-2 as specified by GB 11643-1999.
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def _date_ok(year: int, month: int, day: int, last_year: int) -> bool:
    if not 1900 <= year <= last_year:
        return False
    try:
        datetime.date(year, month, day)
    except ValueError:
        return False
    return True


def id18_ok(value: str, last_year: int) -> bool:
    """True for an 18-character 身份证: region, birth date (1900..last_year) and check character.

    ``value`` is 17 ASCII digits followed by a digit or ``X``/``x``.
    """
    if len(value) != 18 or value[:2] not in ID_REGIONS:
        return False
    body = value[:17]
    if not (body.isascii() and body.isdigit()):
        return False
    if not _date_ok(int(value[6:10]), int(value[10:12]), int(value[12:14]), last_year):
        return False
    total = sum(int(d) * w for d, w in zip(body, _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11] == value[17].upper()


def id15_ok(value: str) -> bool:
    """True for a legacy 15-digit 身份证 (before 1999): mainland region and a 19yymmdd date."""
    if (
        len(value) != 15
        or not (value.isascii() and value.isdigit())
        or value[:2] not in _MAINLAND_REGIONS
    ):
        return False
    return _date_ok(1900 + int(value[6:8]), int(value[8:10]), int(value[10:12]), 1999)


def luhn_ok(digits: str) -> bool:
    """True when the ASCII digit string passes the Luhn (mod 10) check."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def card_prefix_ok(digits: str) -> bool:
    """True when the issuer prefix fits the length: UnionPay 62, BOC/Discover 60 and 65 (16–19),
    Visa 4 (16 or 19), Mastercard 51–55 and 2221–2720 (16), JCB 3528–3589 (16–19).

    Deliberately not accepted: 69… (Doudian order ids), 1…/2…/3… outside those ranges (Taobao tids),
    and the retired 19-digit 9558/103 domestic debit cards (a documented recall gap).
    """
    n = len(digits)
    if not 16 <= n <= 19:
        return False
    head2 = digits[:2]
    head4 = int(digits[:4])
    if head2 in ("62", "60", "65"):
        return True
    if digits[0] == "4":
        return n in (16, 19)
    if "51" <= head2 <= "55" or 2221 <= head4 <= 2720:
        return n == 16
    return 3528 <= head4 <= 3589


def is_mobile(digits: str) -> bool:
    """True for an 11-digit mainland mobile number: ``1[3-9]`` followed by nine digits."""
    return (
        len(digits) == 11
        and digits.isascii()
        and digits.isdigit()
        and digits[0] == "1"
        and digits[1] in "3456789"
    )
