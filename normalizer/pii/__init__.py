"""Personal data never leaves the edge: PII detection, masking and pseudonyms.

Detects mainland phone numbers (mobile and landline, +86, separators, Chinese and split digits),
身份证 (checksum and birth date), bank cards (Luhn, issuer prefix, order-id context) and e-mail
in free text, and receiver name/phone/address/ID fields in Doudian, Douyin, Taobao and WeChat
payloads; masks them as readable shapes (``138****5678``) or keyed pseudonyms
(``⟨phone:3f9a1c2b7d⟩``). Pure and stdlib-only (plus `gateway.errors`).

Modules: `kinds` (value types), `checks` (checksums), `mobiles` (digit-run scanner), `detect`
(free-text detection), `render` (shapes and tokens), `fields` (payload field names),
`masker` (`PiiMasker`), `log_processor` (structlog processor). Operator notes: docs/pii.md.
"""

from __future__ import annotations

from .kinds import MaskPolicy, PiiKind, PiiSpan
from .log_processor import mask_log_event
from .masker import PiiMasker
from .render import PSEUDONYM_MAX_GROWTH, SHAPE_MAX_GROWTH

__all__ = [
    "PSEUDONYM_MAX_GROWTH",
    "SHAPE_MAX_GROWTH",
    "MaskPolicy",
    "PiiKind",
    "PiiMasker",
    "PiiSpan",
    "mask_log_event",
]
