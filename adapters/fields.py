"""Field helpers shared by the JSON adapters (Douyin, Doudian, Taobao): ids, times, headers.

Platform ids are 64-bit integers that JSON consumers in JavaScript cannot hold, so ids leave the
adapters as strings: `id_text` for the ids an event is keyed by, `stringify_ids` for a payload
kept in ``extra`` (id-named fields, and any integer beyond ±2**53, become strings). `Redacted`
keeps such a payload out of ``repr`` (receiver names, phones and addresses are masked later, by
the normalizer; until then they must not show up in a log line or a traceback).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from adapters.codec import loads_json
from gateway.errors import PayloadError

__all__ = [
    "Redacted",
    "digest_matches",
    "epoch",
    "header",
    "id_text",
    "json_object",
    "stable_hash",
    "stringify_ids",
    "text",
]

_JS_SAFE = 2**53
_ID_NAMES = frozenset({"id", "ids", "tid", "oid", "iid", "pid", "sid", "dataid", "userid"})
_MAX_ID_LENGTH = 256
_MIN_EPOCH = 946_684_800  # 2000-01-01: anything earlier is not a platform timestamp
_MAX_EPOCH = 4_102_444_800  # 2100-01-01


class Redacted(dict[str, Any]):
    """A plain dict whose ``repr`` names its keys but never shows a value."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Redacted(keys={sorted(str(k) for k in self)!r})"


def text(data: Mapping[str, Any], key: str) -> str | None:
    """A string field; integers are accepted and kept exactly; other types are malformed."""
    value = data.get(key)
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise PayloadError(f"field {key} must be a string")


def id_text(data: Mapping[str, Any], key: str) -> str | None:
    """An id field as a string: integers exactly (however large), strings as sent.

    A float means the JSON number did not fit 64 bits and already lost digits: refused.
    """
    value = data.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise PayloadError(f"field {key} must be an integer or a string id")
    result = str(value)
    if len(result) > _MAX_ID_LENGTH:
        raise PayloadError(f"field {key} is too long")
    return result


def stringify_ids(value: Any, key: str = "") -> Any:
    """A copy of a decoded JSON value with id fields and unsafe integers as strings."""
    if isinstance(value, Mapping):
        return {k: stringify_ids(v, k if isinstance(k, str) else "") for k, v in value.items()}
    if isinstance(value, list):
        return [stringify_ids(v, key) for v in value]
    is_int = isinstance(value, int) and not isinstance(value, bool)
    if is_int and (_is_id_name(key) or not -_JS_SAFE <= value <= _JS_SAFE):
        return str(value)
    return value


def _is_id_name(key: str) -> bool:
    lowered = key.lower()
    return lowered in _ID_NAMES or lowered.endswith(("_id", "_ids"))


def epoch(value: Any) -> datetime | None:
    """A Unix timestamp in seconds or milliseconds (either, as int or digit string) → UTC time.

    None when absent or not a plausible timestamp, so callers fall back to their clock.
    """
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 16:
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        return None
    seconds = value / 1000 if value > _MAX_EPOCH else value
    if not _MIN_EPOCH <= seconds < _MAX_EPOCH:
        return None
    return datetime.fromtimestamp(seconds, UTC)


def json_object(value: Any, what: str, max_depth: int) -> dict[str, Any]:
    """A JSON object sent either as an object or as a string holding one (platforms do both)."""
    if isinstance(value, str):
        value = loads_json(value, max_depth)
    if not isinstance(value, dict):
        raise PayloadError(f"{what} must be a JSON object")
    return value


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A header by case-insensitive name (the gateway lower-cases them; tests may not)."""
    wanted = name.lower()
    value = headers.get(wanted)
    if value is not None:
        return value
    for key, candidate in headers.items():
        if key.lower() == wanted:
            return candidate
    return None


def digest_matches(expected_hex: str, received: str | None) -> bool:
    """Constant-time comparison of a computed hex digest with a received one (any hex case)."""
    if not received:
        return False
    return hmac.compare_digest(expected_hex.lower().encode(), received.strip().lower().encode())


def stable_hash(body: bytes) -> str:
    """A dedup key for a record that carries no id of its own: SHA-256 of the exact bytes."""
    return "sha256:" + hashlib.sha256(body).hexdigest()[:40]
