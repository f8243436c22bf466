"""Small runtime checks for plain data coming from JSON, CSV or a store row.

They take ``object`` on purpose: dataclass fields are annotated with their intended types, but
the values may come from anywhere, and validation must not trust the annotations.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["is_bool", "is_id", "is_int", "is_one_of", "is_text", "str_items"]

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")


def is_text(value: object) -> bool:
    """A string with at least one non-space character."""
    return isinstance(value, str) and bool(value.strip())


def is_id(value: object) -> bool:
    """1-64 characters of ``A-Z a-z 0-9 _ . : -``, starting with a letter or digit."""
    return isinstance(value, str) and _ID.fullmatch(value) is not None


def is_int(value: object) -> bool:
    """An integer that is not a boolean."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_bool(value: object) -> bool:
    """``True`` or ``False``."""
    return isinstance(value, bool)


def is_one_of(value: object, allowed: frozenset[str]) -> bool:
    """A string among ``allowed``."""
    return isinstance(value, str) and value in allowed


def str_items(value: object) -> tuple[str, ...] | None:
    """The items of a list of strings (any iterable but a string, consumed once), else None."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        return None
    items = tuple(value)
    return items if all(isinstance(v, str) for v in items) else None
