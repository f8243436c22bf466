"""What a masked value looks like: the "shape" outlines and the keyed pseudonym tokens.

Owns every replacement string the package produces and the length bounds they obey:

* a shape is never longer than the span it replaces: `SHAPE_MAX_GROWTH` is 0;
* a pseudonym token is ``⟨kind:hhhhhhhhhh⟩`` (13 + len(kind) characters); against the shortest
  span of each kind (mobile 11, landline 10, 身份证 15, card 16, e-mail 6 as in ``a@b.cn``) it
  grows by at most `PSEUDONYM_MAX_GROWTH` = 12 characters (18-character e-mail token).

Shapes contain ``*`` next to the digits they keep and tokens are bracketed, so `detect.py` can
refuse to find PII in its own output (masking is idempotent).
"""

from __future__ import annotations

import hashlib
import hmac
import re

from .kinds import PiiKind

__all__ = [
    "ADDRESS_PREFIX",
    "PSEUDONYM_MAX_GROWTH",
    "SHAPE_MAX_GROWTH",
    "TOKEN_PATTERN",
    "Pseudonymizer",
    "address_shape",
    "card_shape",
    "email_shape",
    "generic_shape",
    "id_shape",
    "landline_shape",
    "mobile_shape",
    "name_shape",
]

SHAPE_MAX_GROWTH = 0
PSEUDONYM_MAX_GROWTH = 12
HEX_CHARS = 10
TOKEN_PATTERN = "⟨(?:" + "|".join(k.value for k in PiiKind) + "):[0-9a-f]{" + str(HEX_CHARS) + "}⟩"

# Administrative prefix of a mainland address: province, then prefecture city, then district.
ADDRESS_PREFIX = (
    r"(?P<province>[^\s\d*]{2,7}?(?:省|自治区|特别行政区))?"
    r"(?P<city>[^\s\d*]{1,10}?(?:市|自治州|地区|盟))?"
    r"(?P<district>[^\s\d*]{1,8}?(?<![小社园校厂营街])(?:区|县|旗|市))?"
)


def mobile_shape(digits: str) -> str:
    """``13812345678`` → ``138****5678``: first 3 and last 4 digits, the rest hidden."""
    return digits[:3] + "****" + digits[7:]


def landline_shape(area: str, dash: bool, local: str) -> str:
    """``010-12345678`` → ``010-****5678``: area code and the local number's last 4 (or 3 of a
    7-digit number) digits. An extension (``转123``) is not part of the span and stays."""
    keep = 4 if len(local) >= 8 else 3
    return area + ("-" if dash else "") + "*" * (len(local) - keep) + local[-keep:]


def id_shape(value: str) -> str:
    """``110101199003071234`` → ``110101********1234``: region code and last 4 characters."""
    return value[:6] + "*" * (len(value) - 10) + value[-4:]


def card_shape(digits: str) -> str:
    """``6222021234567890`` → ``6222********7890``: issuer's first 4 and last 4 digits."""
    return digits[:4] + "*" * (len(digits) - 8) + digits[-4:]


def email_shape(address: str) -> str:
    """``abc.def@qq.com`` → ``a***@qq.com``: first letter of the local part and the domain.

    Never longer than the input: ``ab@qq.com`` → ``a*@qq.com``, ``a@qq.com`` → ``*@qq.com``.
    A local part starting with a digit (QQ mail: ``12345678@qq.com``) keeps no character, so no
    digit is left to join a neighbouring number; a domain with 7+ digits loses its digits too."""
    local, _, domain = address.rpartition("@")
    if sum(c.isdigit() for c in domain) >= 7:  # a phone number as domain name
        domain = "".join("*" if c.isdigit() else c for c in domain)
    head = local[0] if len(local) > 1 and local[0].isalpha() else "*"
    return head + "*" * min(3, len(local) - 1) + "@" + domain


def name_shape(value: str) -> str:
    """``张三`` → ``张*``, ``欧阳娜娜`` → ``欧***``, ``李`` → ``*``: first character, one ``*`` per
    remaining character."""
    value = value.strip()
    if len(value) <= 1:
        return "*" * len(value)
    return value[0] + "*" * (len(value) - 1)


def address_shape(value: str, prefix_re: re.Pattern[str]) -> str:
    """``广东省深圳市南山区科技园1号`` → ``广东省深圳市南山区***``: keep the province/city/district
    prefix (a district only after a province or city), hide the rest; ``***`` when there is no
    recognisable prefix. A value that is only a prefix (``深圳市``) is not personal and stays.
    ``prefix_re`` is `ADDRESS_PREFIX`, compiled once by the masker."""
    value = value.strip()
    match = prefix_re.match(value)
    prefix = ""
    if match is not None and (match["province"] or match["city"]):
        prefix = match.group(0)
    if prefix == value:
        return value
    return prefix + "***"


def generic_shape(value: str, head: int, tail: int) -> str:
    """Whole-field fallback for a phone/ID/card field whose value is not a recognisable number.

    Keeps the first ``head`` and last ``tail`` digits when at least four more digits are hidden,
    turns every other letter or digit into ``*`` and keeps punctuation.
    """
    positions = [i for i, c in enumerate(value) if c.isdigit()]
    keep: set[int] = set()
    if len(positions) >= head + tail + 4:
        keep.update(positions[:head])
        keep.update(positions[len(positions) - tail :])
    return "".join(c if i in keep or not c.isalnum() else "*" for i, c in enumerate(value))


class Pseudonymizer:
    """Stable keyed tokens: ``⟨phone:3f9a1c2b7d⟩`` = kind + first 10 hex chars of
    HMAC-SHA256(key, canonical value). The key stays inside the HMAC object, never in ``repr``."""

    __slots__ = ("_mac",)

    def __init__(self, key: bytes) -> None:
        self._mac = hmac.new(key, digestmod=hashlib.sha256)

    def __repr__(self) -> str:
        return "Pseudonymizer(key=<hidden>)"

    def token(self, kind: PiiKind, canonical: str) -> str:
        """The token for ``canonical`` (digits only, or lower-case for e-mail) of ``kind``."""
        mac = self._mac.copy()
        mac.update(canonical.encode("utf-8"))
        return f"⟨{kind.value}:{mac.hexdigest()[:HEX_CHARS]}⟩"
