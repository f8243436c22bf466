"""Value types of the PII package: what kinds of personal data exist, where they are, how to mask.

Owns `PiiKind`, `PiiSpan`, `MaskPolicy` and the internal `Found` record. A leaf module: it
imports nothing from the project. Everything here is immutable; the HMAC key of `MaskPolicy`
never appears in `repr`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["DEFAULT_POLICY", "Found", "MaskMode", "MaskPolicy", "PiiKind", "PiiSpan"]

MaskMode = Literal["shape", "pseudonym"]


class PiiKind(str, enum.Enum):
    """A kind of personal data; the value is what `Message.pii` lists and pseudonym tokens name."""

    PHONE = "phone"  # mainland mobile and landline
    ID_CARD = "id_card"  # 身份证: 18 digits with checksum and birth date; 15-digit legacy
    BANK_CARD = "bank_card"  # 16–19 digits, Luhn-valid, plausible issuer prefix
    EMAIL = "email"
    NAME = "name"  # only from field stripping (receiver name fields)
    ADDRESS = "address"  # only from field stripping (receiver address, WeChat location Label)


@dataclass(frozen=True, slots=True)
class PiiSpan:
    """One detected value: ``text[start:end]`` is personal data of `kind`."""

    kind: PiiKind
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Found:
    """A detected value plus what masking needs: its canonical form (digits only, or lower-case
    e-mail; the pseudonym input) and its shape-mode replacement. Internal to the package."""

    kind: PiiKind
    start: int
    end: int
    canonical: str
    shape: str


@dataclass(frozen=True, slots=True)
class MaskPolicy:
    """How detected values are replaced.

    ``shape`` keeps a readable outline (``138****5678``); ``pseudonym`` replaces each value by a
    stable token ``⟨phone:3f9a1c2b7d⟩`` (kind + first 10 hex chars of HMAC-SHA256(key, canonical
    value)), so the same customer's number gives the same token in every message. The key comes
    from ``GATEWAY_PII_KEY``; it is required in pseudonym mode and hidden from ``repr``.
    """

    mode: MaskMode = "shape"
    key: bytes | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.mode not in ("shape", "pseudonym"):
            raise ValueError(f"unknown PII mask mode {self.mode!r}: use 'shape' or 'pseudonym'")
        if self.key is not None and not isinstance(self.key, bytes):
            raise ValueError("the PII key must be bytes")
        if self.mode == "pseudonym" and not self.key:
            raise ValueError("pseudonym masking needs a non-empty key (GATEWAY_PII_KEY)")


DEFAULT_POLICY = MaskPolicy()
