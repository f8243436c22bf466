"""Folding: the canonical form in which message text and listed words are compared.

Folding is defined one character at a time. The *image* of a character is:

1. its NFKD decomposition — NFKC's compatibility mappings (full-width ``ｗ`` → ``w``, ``①`` →
   ``1``, compatibility ideographs → unified ones) plus accents split off (``é`` → ``e`` + accent,
   dropped in step 3); decimal digits of any script become ASCII (``٣`` → ``3``),
2. each resulting character mapped through a conservative homoglyph table (Cyrillic and Greek
   letters that look like Latin ones: ``а`` → ``a``, ``Ο`` → ``o``, ...), case-folded, and mapped
   through the table again (small capitals such as ``ᴡᴇɪ`` from "fancy text" generators too),
3. keeping only letters (``L*``), digits and numbers (``N*``) and ``%``. Everything else —
   spaces, punctuation, symbols and emoji, zero-width characters (U+200B..U+200D, U+2060, U+FEFF),
   the soft hyphen, combining accents, control characters — has an empty image: it is a
   *separator* that may sit between the characters of a word without hiding it.

The folded text is the concatenation of the images. Because folding is per character, every
folded character comes from exactly one original character, and a match in the folded text maps
back to the original span ``[starts[i], starts[j - 1] + 1)`` (see `fold_with_map`). It also means
that if a string occurs in a text, its folding occurs in the text's folding (the regex prefilter of
`rules.prefilter` relies on that).

`fold_bytes` is the hot-path version: UTF-8 bytes of the folded text, without the index map. It
replaces each *distinct* non-plain character of a message once (``str.replace``, C speed) instead
of looking at every character in Python; `original_starts` builds the index map, only when a
message has hits and spans are needed. The property tests check both against the per-character
definition in `rules.reference`.

Look-alike digits (``0`` for ``o``, ``1`` for ``i``/``l``) are *not* folded in the text, where
they would corrupt numbers; `rules.variants` adds them to Latin words instead.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = [
    "HOMOGLYPHS",
    "char_image",
    "fold",
    "fold_bytes",
    "fold_with_map",
    "is_separator",
    "original_starts",
]

#: Characters kept by folding although they are not letters or digits.
_KEEP_SYMBOLS = frozenset("%")

#: Conservative look-alike table: only letters that render like a Latin letter in common fonts.
#: Upper-case entries are applied before case folding, so ``Η`` (Greek Eta) becomes ``h`` while
#: the lower-case ``η`` is left alone.
HOMOGLYPHS: dict[str, str] = {
    # Cyrillic upper case
    "А": "a", "В": "b", "Е": "e", "К": "k", "М": "m", "Н": "h", "О": "o", "Р": "p", "С": "c",
    "Т": "t", "Х": "x", "У": "y", "Ѕ": "s", "І": "i", "Ј": "j", "Ԛ": "q", "Ԝ": "w", "Һ": "h",
    "Ӏ": "l",
    # Cyrillic lower case
    "а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "у": "y", "х": "x", "ѕ": "s", "і": "i",
    "ј": "j", "һ": "h", "ԁ": "d", "ԛ": "q", "ԝ": "w", "ӏ": "l", "к": "k", "п": "n",
    # Greek upper case
    "Α": "a", "Β": "b", "Ε": "e", "Ζ": "z", "Η": "h", "Ι": "i", "Κ": "k", "Μ": "m", "Ν": "n",
    "Ο": "o", "Ρ": "p", "Τ": "t", "Υ": "y", "Χ": "x",
    # Greek lower case
    "α": "a", "ε": "e", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p", "υ": "u", "χ": "x",
    "ω": "w",
    # Latin letters that NFKD leaves alone, small capitals of "fancy text" generators included
    "ı": "i", "ɑ": "a", "ɡ": "g", "ᴀ": "a", "ʙ": "b", "ᴄ": "c", "ᴅ": "d", "ᴇ": "e", "ꜰ": "f",
    "ɢ": "g", "ʜ": "h", "ɪ": "i", "ᴊ": "j", "ᴋ": "k", "ʟ": "l", "ᴍ": "m", "ɴ": "n", "ᴏ": "o",
    "ᴘ": "p", "ʀ": "r", "ꜱ": "s", "ᴛ": "t", "ᴜ": "u", "ᴠ": "v", "ᴡ": "w", "ʏ": "y", "ᴢ": "z",
}  # fmt: skip


def _image_once(ch: str) -> str:
    out: list[str] = []
    for c in unicodedata.normalize("NFKD", ch):
        for d in HOMOGLYPHS.get(c, c).casefold():
            d = HOMOGLYPHS.get(d, d)
            digit = unicodedata.decimal(d, None)
            if digit is not None:  # decimal digits of every script become ASCII
                out.append(str(digit))
            elif d in _KEEP_SYMBOLS or unicodedata.category(d)[0] in "LN":
                out.append(d)
    return "".join(out)


def char_image(ch: str) -> str:
    """The folded form of one character: ``""`` for separators, else one or more characters."""
    image = _image_once(ch)
    if image == ch or image.isascii():  # already a fixed point (the common cases)
        return image
    for _ in range(4):  # iterate to a fixed point so that folding is idempotent
        again = "".join(_image_once(c) for c in image)
        if again == image:
            break
        image = again
    return image


def is_separator(ch: str) -> bool:
    """True if the character vanishes when folded (space, punctuation, emoji, zero-width...)."""
    return _IMAGES[ch] == ""


class _Images(dict[str, str]):
    """Character → image for every non-identity character; computes (and caches) the rest."""

    _MAX_EXTRA = 100_000  # bound on characters cached lazily (astral planes)

    def __missing__(self, ch: str) -> str:
        image = char_image(ch)
        if len(self) < self._MAX_EXTRA + _PRECOMPUTED:
            self[ch] = image
        return image


def _negated_class(code_points: list[int]) -> re.Pattern[str]:
    """A regex matching one character that is not among the sorted ``code_points``."""
    ranges: list[str] = []
    first = last = code_points[0]
    for cp in [*code_points[1:], -1]:
        if cp == last + 1:
            last = cp
            continue
        ranges.append(re.escape(chr(first)) + ("" if first == last else "-" + re.escape(chr(last))))
        first = last = cp
    return re.compile("[^" + "".join(ranges) + "]")


def _build() -> tuple[_Images, re.Pattern[str], re.Pattern[str]]:
    images = _Images()
    plain: list[int] = []  # code points that fold to themselves
    for cp in range(0x10000):
        if 0xD800 <= cp < 0xE000:
            continue
        ch = chr(cp)
        image = char_image(ch)
        if image != ch:
            images[ch] = image
        else:
            plain.append(cp)
    for cp in range(0x1F000, 0x1FC00):  # emoji and pictographs: precompute, they are common
        images[chr(cp)] = char_image(chr(cp))
    wide = sorted({*range(128), *plain})  # ASCII is folded at byte level by fold_bytes
    return images, _negated_class(wide), _negated_class(plain)


#: Character → image of every non-identity character; regexes of the characters that are not
#: plain, without ASCII (fold_bytes) and with it (original_starts).
_IMAGES, _NON_PLAIN, _NON_PLAIN_ANY = _build()
_PRECOMPUTED = len(_IMAGES)
_NON_PLAIN_RUN = re.compile(_NON_PLAIN.pattern + "+")
_ASCII_LOWER = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ", b"abcdefghijklmnopqrstuvwxyz")
_ASCII_SEPARATORS = bytes(c for c in range(128) if _IMAGES.get(chr(c)) == "")
_COMMON_SEPARATORS = ("，", "。", "！", "？", "、", "～", "…")
_MAX_DISTINCT = 12  # distinct non-plain characters handled by str.replace before falling back


def _image_of_run(m: re.Match[str]) -> str:
    return "".join([_IMAGES[c] for c in m.group()])


def fold_bytes(text: str) -> bytes:
    """UTF-8 bytes of ``fold(text)``: the hot path, with no index map.

    Non-ASCII characters that are not plain are replaced by their images once per distinct
    character (``str.replace``); ASCII is lower-cased and its separators are deleted in one
    ``bytes.translate`` pass at the end.
    """
    for ch in _COMMON_SEPARATORS:  # membership tests are cheaper than a regex search each
        if ch in text:
            text = text.replace(ch, "")
    search = _NON_PLAIN.search
    m = search(text)
    distinct = 0
    while m is not None:
        distinct += 1
        if distinct > _MAX_DISTINCT:
            text = _NON_PLAIN_RUN.sub(_image_of_run, text)
            break
        ch = m.group()
        image = _IMAGES[ch]
        if image == ch:  # a plain character outside the precomputed table (astral letter)
            m = search(text, m.start() + 1)
            continue
        text = text.replace(ch, image)
        m = search(text, m.start())
    return text.encode("utf-8", "surrogatepass").translate(_ASCII_LOWER, _ASCII_SEPARATORS)


def fold(text: str) -> str:
    """The folded text (see the module docstring)."""
    return fold_bytes(text).decode("utf-8", "surrogatepass")


def original_starts(text: str, upto: int | None = None) -> list[int]:
    """For each character of ``fold(text)``, the index of the original character it came from.

    With ``upto``, the list may stop once it covers folded offset ``upto`` (it is a prefix of
    the full list); hits near the start of a long message then cost less.
    """
    starts: list[int] = []
    extend = starts.extend
    images = _IMAGES
    prev = 0
    for m in _NON_PLAIN_ANY.finditer(text):  # plain runs map one to one, in bulk
        pos = m.start()
        extend(range(prev, pos))
        n = len(images[m.group()])
        if n:
            extend([pos] * n)
        prev = pos + 1
        if upto is not None and len(starts) > upto:
            return starts
    extend(range(prev, len(text)))
    return starts


def fold_with_map(text: str) -> tuple[str, list[int]]:
    """The folded text and, for each folded character, the index of its original character."""
    return fold(text), original_starts(text)
