"""Evasion-tolerant multi-word matching with hits mapped back to the original text.

``Matcher.build(lists)`` folds every word of the enabled lists (`rules.folding`), adds its
spellings (`rules.variants`) and compiles them once into one automaton (`rules.backend`); the
result is immutable and shared freely. ``matcher.find(text)`` folds the text, scans it once and
returns every hit as a `Hit` whose ``[start, end)`` is a span of the *original* text, separators
inside the word included (``微.信`` → the three characters), ready for masking.

Latin boundary rule: a spelling that starts (ends) with an ASCII letter does not match when the
folded character before (after) it is also an ASCII letter, unless the original text has
whitespace between the two; the same holds for digits next to digits. So ``ass`` does not match
in ``class`` or ``c.l.a.s.s`` but does in ``kiss ass``; ``top1`` does not match in ``top10``;
``vx`` matches in ``vx123``. Chinese characters need no boundary.

The engine puts keyword ``contains`` patterns and regex prefilter literals into the same
automaton as `Term`\\ s of other kinds, so one scan serves a whole message; `scan` exposes that.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from rules.backend import Automaton
from rules.folding import fold, fold_bytes, original_starts
from rules.frozen import Frozen
from rules.variants import spellings
from rules.wordlists import WordList

__all__ = ["Hit", "Matcher", "Scan", "Term", "TermKind", "terms_from_lists"]

TermKind = Literal["word", "contains", "literal"]
_WHITESPACE = re.compile(r"\s")


@dataclass(frozen=True, slots=True)
class Hit:
    """One occurrence of a listed word; ``[start, end)`` indexes the original text."""

    word: str
    list_id: str
    category: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Term:
    """One thing to look for: a listed word, a ``contains`` rule pattern or a regex literal.

    ``word`` is kept as listed; ``owner`` is the list or rule id. ``literal`` terms are exact
    substrings (no look-alike spellings, no boundary rule), used only as a regex prefilter.
    """

    word: str
    owner: str
    category: str
    kind: TermKind = "word"
    traditional: bool = False


def terms_from_lists(lists: Iterable[WordList]) -> tuple[Term, ...]:
    """The terms of the enabled lists; a word folding like an earlier one of its list is dropped."""
    terms: list[Term] = []
    for wl in lists:
        if not wl.enabled:
            continue
        seen: set[str] = set()
        traditional = "traditional" in wl.variants
        for word in wl.words:
            folded = fold(word)
            if folded not in seen:
                seen.add(folded)
                terms.append(Term(word, wl.id, wl.category, "word", traditional))
    return tuple(terms)


def _edge(ch: int) -> int:
    """Boundary class of a byte: 1 ASCII letter, 2 ASCII digit, 0 anything else."""
    if 97 <= ch <= 122:
        return 1
    if 48 <= ch <= 57:
        return 2
    return 0


@dataclass(frozen=True, slots=True)
class _Pattern:
    left: int  # boundary class of the first byte
    right: int  # boundary class of the last byte
    bounded: tuple[int, ...]  # terms subject to the boundary rule
    free: tuple[int, ...]  # literal terms: never filtered


class Scan:
    """The result of scanning one text: accepted term matches, hits computed on demand."""

    __slots__ = ("_map", "folded", "matches", "text")

    def __init__(self, text: str, folded: bytes) -> None:
        self.text = text
        self.folded = folded  #: UTF-8 of the folded text
        self.matches: list[tuple[int, int, int]] = []  #: (term index, start byte, end byte)
        self._map: list[int] | None = None

    def index_map(self, upto: int) -> list[int]:
        """``original_starts(text)``, at least up to folded offset ``upto``; computed lazily."""
        if self._map is None or len(self._map) <= upto:
            self._map = original_starts(self.text, upto)
        return self._map

    def char_offset(self, byte_offset: int) -> int:
        """Folded-text character offset of a byte offset of `folded`."""
        if self.folded.isascii():
            return byte_offset
        return len(self.folded[:byte_offset].decode("utf-8", "surrogatepass"))

    def glued(self, left_char: int) -> bool:
        """True if folded characters ``left_char`` and ``left_char + 1`` have no whitespace
        between them in the original text."""
        if not _WHITESPACE.search(self.text):
            return True
        starts = self.index_map(left_char + 1)
        a, b = starts[left_char], starts[left_char + 1]
        return not _WHITESPACE.search(self.text, a + 1, b)

    def spans(self, matches: list[tuple[int, int]]) -> list[tuple[int, int]]:
        """Original-text spans of matches given as folded byte ranges."""
        offsets = {o for match in matches for o in match}
        if self.folded.isascii():
            chars = {o: o for o in offsets}
        else:  # one incremental decode instead of one per offset
            chars, prev, count = {}, 0, 0
            for o in sorted(offsets):
                count += len(self.folded[prev:o].decode("utf-8", "surrogatepass"))
                chars[o], prev = count, o
        starts = self.index_map(max(chars.values()) - 1)
        return [(starts[chars[a]], starts[chars[b] - 1] + 1) for a, b in matches]


class Matcher(Frozen):
    """An immutable automaton over folded spellings of `Term`\\ s; build once per version."""

    __slots__ = ("_automaton", "_patterns", "terms")

    terms: tuple[Term, ...]
    _patterns: tuple[_Pattern, ...]
    _automaton: Automaton

    def __init__(self, terms: tuple[Term, ...], patterns: dict[bytes, _Pattern]) -> None:
        self._init(
            terms=terms, _patterns=tuple(patterns.values()), _automaton=Automaton(list(patterns))
        )

    @classmethod
    def build(cls, lists: Iterable[WordList]) -> Matcher:
        """A matcher for every word of the enabled lists."""
        return cls.from_terms(terms_from_lists(lists))

    @classmethod
    def from_terms(cls, terms: Iterable[Term]) -> Matcher:
        """A matcher for arbitrary terms (the engine adds keyword patterns and regex literals)."""
        terms = tuple(terms)
        table: dict[bytes, tuple[list[int], list[int]]] = {}
        for index, term in enumerate(terms):
            folded = fold(term.word)
            if not folded:
                continue
            literal = term.kind == "literal"
            for spelling in spellings(
                folded, traditional=term.traditional and not literal, lookalikes=not literal
            ):
                bounded, free = table.setdefault(spelling.encode(), ([], []))
                (free if literal else bounded).append(index)
        patterns = {
            key: _Pattern(_edge(key[0]), _edge(key[-1]), tuple(b), tuple(f))
            for key, (b, f) in table.items()
        }
        return cls(terms, patterns)

    @property
    def size(self) -> int:
        """Number of distinct spellings compiled into the automaton."""
        return len(self._patterns)

    def scan(self, text: str) -> Scan:
        """Fold and scan ``text`` once; apply the boundary rule."""
        folded = fold_bytes(text)
        scan = Scan(text, folded)
        raw = self._automaton.scan(folded)
        if not raw:
            return scan
        patterns = self._patterns
        accepted = scan.matches
        for pattern_index, start, end in raw:
            p = patterns[pattern_index]
            ok = True
            if p.bounded and (p.left or p.right):
                if p.left and start > 0 and _edge(folded[start - 1]) == p.left:
                    ok = not scan.glued(scan.char_offset(start) - 1)
                if ok and p.right and end < len(folded) and _edge(folded[end]) == p.right:
                    ok = not scan.glued(scan.char_offset(end) - 1)
            if ok:
                accepted.extend((t, start, end) for t in p.bounded)
            accepted.extend((t, start, end) for t in p.free)
        return scan

    def hits(self, scan: Scan, kinds: frozenset[str] | None = None) -> tuple[Hit, ...]:
        """The hits in a scan (of the given term kinds; None: all), sorted by position."""
        terms = self.terms
        chosen = [m for m in scan.matches if kinds is None or terms[m[0]].kind in kinds]
        if not chosen:
            return ()
        spans = scan.spans([(start, end) for _t, start, end in chosen])
        out = {
            Hit(terms[t].word, terms[t].owner, terms[t].category, a, b)
            for (t, _s, _e), (a, b) in zip(chosen, spans, strict=True)
        }
        return tuple(sorted(out, key=lambda h: (h.start, h.end, h.list_id, h.word)))

    def find(self, text: str) -> tuple[Hit, ...]:
        """Every occurrence of every listed word in ``text``, overlaps included."""
        return self.hits(self.scan(text))
