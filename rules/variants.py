"""Spelling variants of a folded word: traditional/simplified counterparts and look-alike digits.

Variants are added on the *pattern* side, so the text is folded the same way for every list and
each list decides what it wants:

- ``traditional`` (a `WordList` option): every Chinese character may also be written as its
  one-hop traditional/simplified counterpart (``发`` ↔ ``發``/``髮``, ``后`` ↔ ``後``), mixed
  spellings included. The table ``rules/data/zh_variants.txt`` is derived from OpenCC's
  STCharacters and TSCharacters dictionaries (Apache-2.0, see its header).
- look-alike digits (always on for Latin letters): ``o`` may be written ``0`` and ``i``/``l`` may
  be written ``1`` (``we1x1n``, ``ta0bao``). Doing this in the text instead would corrupt numbers.

Each word yields at most `MAX_VARIANTS` spellings: the word itself, its all-counterpart forms,
then mixed forms in a deterministic order.
"""

from __future__ import annotations

import itertools
from functools import cache
from importlib import resources

from rules.folding import char_image

__all__ = ["LOOKALIKE_DIGITS", "MAX_VARIANTS", "spellings", "zh_counterparts"]

MAX_VARIANTS = 64

#: Latin letter → digits that are commonly typed in its place.
LOOKALIKE_DIGITS: dict[str, tuple[str, ...]] = {"o": ("0",), "i": ("1",), "l": ("1",)}


@cache
def _zh_table() -> dict[str, tuple[str, ...]]:
    edges: dict[str, list[str]] = {}
    text = resources.files("rules").joinpath("data/zh_variants.txt").read_text(encoding="utf-8")
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        src, _, targets = line.partition("\t")
        for target in targets.split():
            a, b = char_image(src), char_image(target)
            if len(a) != 1 or len(b) != 1 or a == b:
                continue
            for x, y in ((a, b), (b, a)):
                bucket = edges.setdefault(x, [])
                if y not in bucket:
                    bucket.append(y)
    return {k: tuple(v) for k, v in edges.items()}


def zh_counterparts(ch: str) -> tuple[str, ...]:
    """The traditional/simplified counterparts of one (folded) character, without itself."""
    return _zh_table().get(ch, ())


def spellings(folded_word: str, *, traditional: bool = False, lookalikes: bool = True) -> list[str]:
    """The folded spellings to look for: the word first, then its variants (deduplicated)."""
    options: list[tuple[str, ...]] = []
    for ch in folded_word:
        alternatives = [ch]
        if traditional:
            alternatives.extend(zh_counterparts(ch))
        if lookalikes and "a" <= ch <= "z":
            alternatives.extend(LOOKALIKE_DIGITS.get(ch, ()))
        options.append(tuple(alternatives))
    out: dict[str, None] = {folded_word: None}
    for pick in (1, 2):  # the all-variant forms first, so that the cap never drops them
        out.setdefault("".join(o[pick] if len(o) > pick else o[0] for o in options))
    for combo in itertools.product(*options):
        if len(out) >= MAX_VARIANTS:
            break
        out.setdefault("".join(combo))
    return list(out)[:MAX_VARIANTS]
