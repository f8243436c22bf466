"""A structlog processor that masks personal data in every log event: the last line of defence.

Owns `mask_log_event`. It needs no structlog import: a processor is any callable
``(logger, method_name, event_dict) -> event_dict``. Logs should carry ids, never message text;
this processor catches what slips through anyway.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Collection, MutableMapping
from typing import Any

from .masker import PiiMasker
from .mobiles import CN_DIGITS, SEPARATORS

__all__ = [
    "COMPAT_DIGIT_OR_AT",
    "COMPAT_SEPARATORS",
    "OPAQUE_ID_KEYS",
    "LogProcessor",
    "mask_log_event",
]

LogProcessor = Callable[[Any, str, MutableMapping[str, Any]], MutableMapping[str, Any]]

_MAX_DEPTH = 16
# Every character outside ASCII whose NFKC form contains an ASCII digit, "@" or a Chinese digit
# (Unicode 14; checked against unicodedata by tests/normalizer/test_pii_logging.py): superscripts,
# fractions, circled and parenthesised numbers and ideographs, squared units, full-width digits
# and "@", compatibility ideographs, mathematical and segmented digits.
COMPAT_DIGIT_OR_AT = (
    "\u00b2\u00b3\u00b9\u00bc-\u00be\u2070\u2074-\u2079\u2080-\u2089\u2150-\u215f\u2189"
    "\u2460-\u249b\u24ea\u2f00\u2f06\u2f0b\u2f33\u3192-\u3195\u3220-\u3228\u3251-\u325f"
    "\u3280-\u3288\u32b1-\u32cb\u3358-\u3370\u3378\u3379\u339f-\u33a6\u33a8\u33af"
    "\u33e0-\u33fe\uf96b\uf978\uf9b2\uf9d1\uf9d3\ufe6b\uff10-\uff19\uff20\uffee"
    "\U0001d7ce-\U0001d7ff\U0001f100-\U0001f10a\U0001f214\U0001f229\U0001f22a\U0001f241"
    "\U0001f242\U0001fbf0-\U0001fbf9"
)
# Every character outside ASCII whose NFKC form is made only of separators, "+", "(" or ")":
# ideographic and other spaces, "…", full-width "－．／（）＋＿～", small and vertical forms.
COMPAT_SEPARATORS = (
    "\u00a0\u0387\u2000-\u200a\u2024-\u2026\u202f\u205f\u207a\u207d\u207e\u208a\u208d"
    "\u208e\u3000\ufb29\ufe19\ufe30-\ufe36\ufe4d-\ufe4f\ufe52\ufe58-\ufe5a\ufe62\ufe63"
    "\uff08\uff09\uff0b\uff0d-\uff0f\uff3f\uff5e"
)
_SMALLEST_PII_INT = 10**9  # no detectable number has fewer than 10 digits
_MEMO_LENGTH = 24  # shorter than the ids and timestamps that differ on every line
_MEMO_SIZE = 4096
# The shape of the gateway's own ids: a message id is a SHA-256 prefix, a request id it makes
# is 128 random bits, both as 32 lowercase hex digits.
_OWN_ID = re.compile("[0-9a-f]{32}")
OPAQUE_ID_KEYS = frozenset({"message_id", "request_id"})


def mask_log_event(masker: PiiMasker, *, id_keys: Collection[str] = OPAQUE_ID_KEYS) -> LogProcessor:
    """A processor that masks every string value of the event dict, NFKC-normalizing first.

    Except ids: a value of one of `id_keys` with the shape of the gateway's own ids (32
    lowercase hex digits) is passed through. Such a value cannot hold anyone's data, and ≈ 0.4 %
    of them have a run of digits shaped like a mobile number: masked, that id could not be
    found in the logs any more. Other values of those keys (an integrator's request id, say)
    are masked as usual.

    Strings nested in dicts, lists and tuples are masked too (the containers are copied, never
    changed in place), and so are integers of 10+ digits that are PII (logged as their masked
    string). Keys starting with ``_`` (structlog's ``_record``, ``_from_structlog``…) are left
    alone. Deeper than 16 levels, a container is replaced by its masked ``repr``.

    Cheap on clean events; short strings already found clean (up to 24 characters: event
    names, platforms, kinds) are remembered, up to 4,096 of them. A string is normalized only
    when normalizing can matter: it is not NFKC already, and it holds a character whose NFKC
    form contains a digit or ``@`` (`COMPAT_DIGIT_OR_AT`: １, ①, ㊀, ＠…), or an ``@``, or ten
    digits close together with only separators between them, counting characters NFKC turns
    into separators (`COMPAT_SEPARATORS`: ``－``, ``　``, ``…``, ``（``…). Any other
    string cannot hold PII even after normalization, so it is passed through untouched:
    normalizing every log string (a full-width ``，`` is in almost every Chinese sentence)
    would cost more than everything else the processor does.
    """
    mask_text = masker.mask_text
    compat = re.compile(f"[{COMPAT_DIGIT_OR_AT}]")
    digit = f"[0-9{CN_DIGITS}]"
    gap = "[" + re.escape(SEPARATORS + "+()") + COMPAT_SEPARATORS + "]"
    cluster = re.compile(f"{digit}(?:{gap}{{0,3}}{digit}){{9,}}")

    def normalized(value: str) -> str:
        if value.isascii() or unicodedata.is_normalized("NFKC", value):
            return value
        if "@" in value or compat.search(value) or cluster.search(value):
            return unicodedata.normalize("NFKC", value)
        return value

    # Short strings found clean: event names, platforms, accounts, kinds recur on every line.
    # Bounded, and emptied when full; longer strings (ids, times, reasons) are checked each time.
    clean: dict[str, None] = {}

    def mask(value: Any, depth: int) -> Any:
        if isinstance(value, str):
            if value in clean:
                return value
            masked, _ = mask_text(normalized(value))
            if masked != value:
                return masked
            if len(value) <= _MEMO_LENGTH:
                if len(clean) >= _MEMO_SIZE:
                    clean.clear()
                clean[value] = None
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            if abs(value) < _SMALLEST_PII_INT:
                return value
            masked, kinds = mask_text(str(value))
            return masked if kinds else value
        if isinstance(value, dict | list | tuple):
            if depth >= _MAX_DEPTH:
                return mask(repr(value), 0)
            if isinstance(value, dict):
                return {k: mask(v, depth + 1) for k, v in value.items()}
            items = [mask(v, depth + 1) for v in value]
            return items if isinstance(value, list) else tuple(items)
        return value

    def processor(
        logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        for key, value in list(event_dict.items()):
            if key.startswith("_"):
                continue
            if key in id_keys and type(value) is str and _OWN_ID.fullmatch(value):
                continue
            masked = mask(value, 0)
            if masked is not value:
                event_dict[key] = masked
        return event_dict

    return processor
