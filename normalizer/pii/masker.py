"""`PiiMasker`: the one object the gateway holds to find and mask personal data.

Owns the policy (shape or pseudonym), text masking, whole-value masking of fields the payload
names as personal, and payload masking (delegated to `fields.FieldMasker`). Everything is
compiled in ``__init__``; apart from a bounded memo of field-name classifications, a masker has
no mutable state and can be shared by every request.

Length bound of `PiiMasker.mask_text` (tested): with ``n = len(masker.detect(text))``,
``len(out) <= len(text) + n * masker.max_growth_per_span`` where ``max_growth_per_span`` is
`SHAPE_MAX_GROWTH` = 0 in shape mode (a shape is never longer than what it replaces) and
`PSEUDONYM_MAX_GROWTH` = 12 in pseudonym mode.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .detect import Detector
from .fields import FieldMasker
from .kinds import DEFAULT_POLICY, Found, MaskPolicy, PiiKind, PiiSpan
from .mobiles import digit_table
from .render import (
    ADDRESS_PREFIX,
    PSEUDONYM_MAX_GROWTH,
    SHAPE_MAX_GROWTH,
    TOKEN_PATTERN,
    Pseudonymizer,
    address_shape,
    generic_shape,
    name_shape,
)

__all__ = ["PiiMasker"]

# Digits kept by the whole-field fallback (value not recognisable as a number of its kind).
_KEEP = {
    PiiKind.PHONE: (3, 4),
    PiiKind.ID_CARD: (6, 4),
    PiiKind.BANK_CARD: (4, 4),
    PiiKind.EMAIL: (0, 0),
}
_NUMBER_KINDS = frozenset({PiiKind.PHONE, PiiKind.ID_CARD, PiiKind.BANK_CARD, PiiKind.EMAIL})


class PiiMasker:
    """Detects and masks phone numbers, 身份证, bank cards, e-mail (free text) and receiver
    name/phone/address/ID fields (payloads), following a `MaskPolicy`.

    ``detect`` and ``mask_text`` expect NFKC-normalized text, as the normalizer produces.
    """

    __slots__ = (
        "_address_prefix",
        "_detector",
        "_digit_table",
        "_fields",
        "_policy",
        "_pseudonyms",
        "_token",
    )

    def __init__(self, policy: MaskPolicy = DEFAULT_POLICY) -> None:
        self._policy = policy
        self._detector = Detector()
        self._pseudonyms = (
            Pseudonymizer(policy.key) if policy.mode == "pseudonym" and policy.key else None
        )
        self._address_prefix = re.compile(ADDRESS_PREFIX)
        self._token = re.compile(TOKEN_PATTERN)
        self._digit_table = digit_table()
        self._fields = FieldMasker(self.mask_text, self.mask_value)

    def __repr__(self) -> str:
        return f"PiiMasker({self._policy!r})"

    @property
    def policy(self) -> MaskPolicy:
        """The policy this masker applies (its key is not shown in ``repr``)."""
        return self._policy

    @property
    def max_growth_per_span(self) -> int:
        """How many characters one masked span may add to the text (0 in shape mode)."""
        return SHAPE_MAX_GROWTH if self._pseudonyms is None else PSEUDONYM_MAX_GROWTH

    def detect(self, text: str) -> list[PiiSpan]:
        """Non-overlapping PII spans in ``text``, sorted by position."""
        return [PiiSpan(f.kind, f.start, f.end) for f in self._detector.find(text)]

    def mask_text(self, text: str) -> tuple[str, frozenset[PiiKind]]:
        """``text`` with every detected span replaced, and the kinds replaced.

        Idempotent; text without PII comes back unchanged (the same object); the result is at
        most ``len(text) + len(detect(text)) * max_growth_per_span`` characters long.
        """
        found = self._detector.find(text)
        if not found:
            return text, frozenset()
        return self._apply(text, found), frozenset(f.kind for f in found)

    def mask_fields(self, data: Mapping[str, Any]) -> tuple[dict[str, Any], frozenset[PiiKind]]:
        """A masked deep copy of a platform payload and the kinds masked (see `fields.py`).

        Raises `gateway.errors.PayloadError` for payloads nested deeper than 64 levels.
        """
        return self._fields.mask(data)

    def mask_value(self, kind: PiiKind, value: str) -> str:
        """Mask a whole field value known to be of ``kind`` (a receiver name, phone, address…).

        A value that is exactly one detectable number or e-mail is masked like free text, so a
        phone field and a chat message give the same shape or pseudonym. Empty values,
        pseudonym tokens and values the platform already masked (``138****5678``, ``钱*``: a
        ``*`` and no more digits than our own shape keeps) are returned unchanged.
        """
        stripped = value.strip()
        if not stripped or self._token.fullmatch(stripped):
            return value
        head, tail = _KEEP.get(kind, (0, 0))
        if "*" in stripped and sum(c.isdigit() for c in stripped) <= head + tail:
            return value
        if kind in _NUMBER_KINDS:
            found = self._detector.find(stripped)
            if len(found) == 1 and found[0].start == 0 and found[0].end == len(stripped):
                return self._replacement(found[0])
        if self._pseudonyms is not None:
            return self._pseudonyms.token(kind, self._canonical(kind, stripped))
        if kind is PiiKind.NAME:
            return name_shape(stripped)
        if kind is PiiKind.ADDRESS:
            return address_shape(stripped, self._address_prefix)
        return generic_shape(stripped, head, tail)

    def _apply(self, text: str, found: list[Found]) -> str:
        parts: list[str] = []
        pos = 0
        for f in found:
            parts.append(text[pos : f.start])
            parts.append(self._replacement(f))
            pos = f.end
        parts.append(text[pos:])
        return "".join(parts)

    def _replacement(self, found: Found) -> str:
        if self._pseudonyms is None:
            return found.shape
        return self._pseudonyms.token(found.kind, found.canonical)

    def _canonical(self, kind: PiiKind, value: str) -> str:
        """Pseudonym input for a whole field: digits only for numbers, lower-case e-mail, and
        names/addresses without whitespace."""
        if kind in (PiiKind.PHONE, PiiKind.ID_CARD, PiiKind.BANK_CARD):
            digits = "".join(c for c in value.translate(self._digit_table) if "0" <= c <= "9")
            if kind is PiiKind.ID_CARD and value[-1:] in "Xx":
                digits += "X"
            for prefix in ("0086", "86"):
                if kind is PiiKind.PHONE and len(digits) == 11 + len(prefix):
                    digits = digits.removeprefix(prefix)
            if digits:
                return digits
        if kind is PiiKind.EMAIL:
            return value.lower()
        return "".join(value.split())
