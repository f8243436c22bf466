"""Mainland mobile numbers in free text, including the spellings customers use to get past filters.

Owns the digit-run scanner. A *run* is a maximal stretch of digits — ASCII or Chinese
(一三八, 幺 = 1, 〇/零 = 0, capital 壹贰叁…) — joined by at most three separator characters
(space, ``-``, ``.``, ``_``, ``/``, ``·``, dashes, zero-width characters). A run is cut into
*chunks* (same-script digit groups) and every window of whole chunks holding 11 digits (13 with
``86``, 15 with ``0086``) is a candidate. A candidate is accepted when its digits are ``1[3-9]``
+ 9 digits and either

* it is written the usual way: ASCII, grouped 11 / 3-4-4 / 3-8 / 7-4 with one uniform separator, or
* it shows deliberate obfuscation: at least three Chinese digits, a zero-width separator, or
  every group of at most two digits with one uniform separator (``1 3 8 1 2 …``).

The usual spellings are found by one compiled pattern; the chunk analysis only runs where a
Chinese digit, a zero-width character or three short digit groups in a row make an obfuscated
spelling possible. A single chunk must be exactly 11 digits, so an 11-digit slice of an 18-digit
order id never is a phone, nor is a slice of a 4-4-4-4 card (no 3-4-4 grouping fits inside it).
Acceptance depends only on the window and the characters right next to it, never on what else the
text holds: that is what keeps masking idempotent (masking a neighbour cannot make a rejected
window acceptable).
"""

from __future__ import annotations

import re
from typing import NamedTuple

from .checks import is_mobile
from .kinds import Found, PiiKind
from .render import mobile_shape

__all__ = ["CN_DIGITS", "SEPARATORS", "MobileScanner", "after_letter", "digit_table"]

# Chinese spellings of 0–9 (lower-case, capital 大写, traditional, 幺 and 两 as read aloud).
_CN_DIGIT_GROUPS = (
    ("〇零○", "0"),
    ("一壹幺", "1"),
    ("二贰貳两兩", "2"),
    ("三叁參", "3"),
    ("四肆", "4"),
    ("五伍", "5"),
    ("六陆陸", "6"),
    ("七柒", "7"),
    ("八捌", "8"),
    ("九玖", "9"),
)
CN_DIGITS = "".join(chars for chars, _ in _CN_DIGIT_GROUPS)
_ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff\u00ad"
SEPARATORS = " \t.-_~/·—–" + _ZERO_WIDTH
_STANDARD_GROUPS = frozenset({(11,), (3, 4, 4), (3, 8), (7, 4)})


def digit_table() -> dict[int, str]:
    """A `str.translate` table turning every Chinese digit spelling into its ASCII digit."""
    return {ord(c): d for chars, d in _CN_DIGIT_GROUPS for c in chars}


class _Chunk(NamedTuple):
    start: int
    end: int
    digits: str  # ASCII digits
    ascii: bool
    joiner: str  # the separator text before this chunk ("" after a script change)


class MobileScanner:
    """Finds mobile numbers; built once per masker (compiles its pattern in ``__init__``)."""

    __slots__ = ("_chunk", "_drop", "_hint", "_run", "_standard", "_table")

    def __init__(self) -> None:
        digits = "0-9" + CN_DIGITS
        seps = re.escape(SEPARATORS)
        visible = re.escape(SEPARATORS.rstrip(_ZERO_WIDTH))
        self._run = re.compile(f"[{digits}](?:[{seps}]{{0,3}}[{digits}]){{10,}}")
        self._chunk = re.compile(f"[0-9]+|[{CN_DIGITS}]+")
        self._table = digit_table()
        self._drop = str.maketrans("", "", SEPARATORS)
        # The usual spellings in one pattern (same acceptance as the chunk analysis below).
        self._standard = re.compile(
            f"(?<![0-9])(?:(?<![A-Za-z])(?P<cc>(?:00)?86)[{visible}]{{0,3}})?(?P<core>1[3-9][0-9]"
            f"(?:(?P<j>[{visible}]{{1,3}})[0-9]{{4}}(?P=j)[0-9]{{4}}|[{visible}]{{1,3}}[0-9]{{8}}"
            f"|[0-9]{{4}}[{visible}]{{1,3}}[0-9]{{4}}|[0-9]{{8}}))(?![0-9])"
        )
        # Only these can make an obfuscated spelling: Chinese digits, zero-width characters,
        # three groups of one or two digits in a row.
        self._hint = re.compile(
            f"[{CN_DIGITS}{_ZERO_WIDTH}]"
            f"|(?<![0-9])[0-9]{{1,2}}(?:[{seps}]{{1,3}}[0-9]{{1,2}}){{2}}(?![0-9])"
        )

    def scan(self, text: str, pos: int = 0, endpos: int | None = None) -> list[Found]:
        """Every acceptable window in ``text[pos:endpos]`` (they may overlap; the caller
        resolves that). Characters outside the slice still count as neighbours."""
        end = len(text) if endpos is None else endpos
        found: list[Found] = []
        for m in self._standard.finditer(text, pos, end):
            core = m["core"].translate(self._drop)
            start = m.start() - (
                1 if m["cc"] and m.start() > 0 and text[m.start() - 1] == "+" else 0
            )
            found.append(Found(PiiKind.PHONE, start, m.end(), core, mobile_shape(core)))
        if self._hint.search(text, pos, end) is not None:
            found.extend(self._scan_chunks(text, pos, end))
        return found

    def _scan_chunks(self, text: str, pos: int, end: int) -> list[Found]:
        """The general analysis: every window of whole chunks (see the module docstring)."""
        found: list[Found] = []
        for match in self._run.finditer(text, pos, end):
            run = match.group()
            if run.isascii() and run.isdigit():  # one plain chunk: only 11/13/15 digits can do
                if len(run) in (11, 13, 15):
                    chunk = _Chunk(match.start(), match.end(), run, True, "")
                    hit = self._window(text, [chunk], 0, 0)
                    if hit is not None:
                        found.append(hit)
                continue
            chunks = self._chunks(run, match.start())
            for i in range(len(chunks)):
                total = 0
                for j in range(i, len(chunks)):
                    total += len(chunks[j].digits)
                    if total > 15:
                        break
                    if total in (11, 13, 15):
                        hit = self._window(text, chunks, i, j)
                        if hit is not None:
                            found.append(hit)
        return found

    def _chunks(self, run: str, base: int) -> list[_Chunk]:
        chunks: list[_Chunk] = []
        prev_end = 0
        for m in self._chunk.finditer(run):
            i, j = m.span()
            is_ascii = run[i] <= "9"
            digits = m.group() if is_ascii else m.group().translate(self._table)
            chunks.append(_Chunk(base + i, base + j, digits, is_ascii, run[prev_end:i]))
            prev_end = j
        return chunks

    def _window(self, text: str, chunks: list[_Chunk], i: int, j: int) -> Found | None:
        """The phone in chunks ``i..j``, or None."""
        window = chunks[i : j + 1]
        digits = "".join(c.digits for c in window)
        cc = {13: 2, 15: 4}.get(len(digits), 0)
        if cc and digits[:cc] != ("86" if cc == 2 else "0086"):
            return None
        core = digits[cc:]
        if not is_mobile(core) or (cc and after_letter(text, window[0].start)):
            return None
        joiners = [c.joiner for c in window[1:]]
        if not (_is_standard(window, joiners, cc) or _is_obfuscated(window, joiners, cc)):
            return None
        start = window[0].start
        if cc and start > 0 and text[start - 1] == "+":
            start -= 1
        return Found(PiiKind.PHONE, start, window[-1].end, core, mobile_shape(core))


def after_letter(text: str, start: int) -> bool:
    """True when an ASCII letter precedes ``start``: ``JT8616775387689`` is a J&T tracking
    number, not ``86`` + a mobile (a country code is written ``+86``, ``0086`` or stands alone)."""
    return start > 0 and text[start - 1].isascii() and text[start - 1].isalpha()


def _core_groups(
    window: list[_Chunk], joiners: list[str], cc: int
) -> tuple[tuple[int, ...], list[str]] | None:
    """Group sizes and joiners without the country code (None when the code is split up)."""
    sizes = [len(c.digits) for c in window]
    if not cc:
        return tuple(sizes), joiners
    if sizes[0] == cc:
        return tuple(sizes[1:]), joiners[1:]
    if sizes[0] > cc:
        return (sizes[0] - cc, *sizes[1:]), joiners
    return None


def _is_standard(window: list[_Chunk], joiners: list[str], cc: int) -> bool:
    if not all(c.ascii for c in window) or any(z in j for j in joiners for z in _ZERO_WIDTH):
        return False
    groups = _core_groups(window, joiners, cc)
    if groups is None:
        return False
    sizes, inner = groups
    return sizes in _STANDARD_GROUPS and "" not in inner and len(set(inner)) <= 1


def _is_obfuscated(window: list[_Chunk], joiners: list[str], cc: int) -> bool:
    if sum(len(c.digits) for c in window if not c.ascii) >= 3:
        return True
    if any(z in j for j in joiners for z in _ZERO_WIDTH):
        return True
    groups = _core_groups(window, joiners, cc)
    if groups is None:
        return False
    sizes, inner = groups
    return len(sizes) > 1 and max(sizes) <= 2 and len(set(inner)) == 1 and "" not in inner
