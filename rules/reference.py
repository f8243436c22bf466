"""A naive reference matcher: the specification of `rules.matcher.Matcher`, written plainly.

It folds one character at a time with `char_image` (the definition of folding), looks for every
spelling with ``str.find`` and checks the Latin boundary rule directly on characters. It is far
too slow for production (one pass per spelling) and exists for the differential property tests,
which require ``Matcher.find`` to return exactly what `reference_find` returns.
"""

from __future__ import annotations

from collections.abc import Iterable

from rules.folding import char_image, fold
from rules.matcher import Hit, Term, terms_from_lists
from rules.variants import spellings
from rules.wordlists import WordList

__all__ = ["reference_find", "reference_find_terms", "reference_fold"]


def reference_fold(text: str) -> tuple[str, list[int]]:
    """Folded text and original index of each folded character, one character at a time."""
    out: list[str] = []
    starts: list[int] = []
    for i, ch in enumerate(text):
        image = char_image(ch)
        out.append(image)
        starts.extend([i] * len(image))
    return "".join(out), starts


def _cls(ch: str) -> str:
    if "a" <= ch <= "z":
        return "letter"
    if "0" <= ch <= "9":
        return "digit"
    return ""


def _blocked(text: str, folded: str, starts: list[int], left: int, right: int) -> bool:
    """True if folded chars ``left`` and ``right`` (= left + 1) are same-class Latin neighbours
    with nothing but non-whitespace separators between them in the original text."""
    kind = _cls(folded[left])
    if not kind or kind != _cls(folded[right]):
        return False
    between = text[starts[left] + 1 : starts[right]]
    return not any(c.isspace() for c in between)


def reference_find_terms(terms: Iterable[Term], text: str) -> tuple[Hit, ...]:
    """Every hit of every term in ``text`` (all kinds), sorted like ``Matcher.find``."""
    folded, starts = reference_fold(text)
    out: set[Hit] = set()
    for term in terms:
        literal = term.kind == "literal"
        options = spellings(
            fold(term.word), traditional=term.traditional and not literal, lookalikes=not literal
        )
        for spelling in options:
            if not spelling:
                continue
            i = folded.find(spelling)
            while i != -1:
                j = i + len(spelling)
                ok = literal or not (
                    (i > 0 and _blocked(text, folded, starts, i - 1, i))
                    or (j < len(folded) and _blocked(text, folded, starts, j - 1, j))
                )
                if ok:
                    out.add(Hit(term.word, term.owner, term.category, starts[i], starts[j - 1] + 1))
                i = folded.find(spelling, i + 1)
    return tuple(sorted(out, key=lambda h: (h.start, h.end, h.list_id, h.word)))


def reference_find(lists: Iterable[WordList], text: str) -> tuple[Hit, ...]:
    """What ``Matcher.build(lists).find(text)`` must return."""
    return reference_find_terms(terms_from_lists(lists), text)
