"""The compiled form of a set of keyword rules, evaluated against one scanned message.

`KeywordIndex` holds, in order of precedence, the enabled rules of one rule-set version:

- ``exact`` rules in a dict keyed by the UTF-8 of the folded pattern (one lookup per message);
- ``contains`` rules and the required literals of ``regex`` rules as `Term`\\ s, which the engine
  compiles into the same automaton as the sensitive words, so one scan finds all of them;
- ``regex`` rules compiled once; a regex runs only when one of its literals was found, or, for
  patterns without literals (``\\d{11}``), when its guard class (`rules.prefilter`) occurs in the
  text; rules with the same guard share one guard search. Digit guards look for an ASCII digit
  in the folded bytes instead: folding turns the digits of every script into ASCII (and makes
  characters such as ``①`` digits too, which only runs the regex needlessly).

It is immutable after construction and holds no per-message state.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from rules.folding import fold
from rules.frozen import Frozen
from rules.keywords import KeywordRule, sort_rules
from rules.matcher import Term
from rules.prefilter import required_class
from rules.regexguard import REGEX_INPUT_CAP

__all__ = ["KeywordIndex"]


_DIGIT = re.compile(r"\d")  # marker: "some decimal digit", checked on the folded bytes
_DIGIT_SOURCES = frozenset({r"\d", r"[\d]", "[0-9]"})


def _guard(required: tuple[str, int] | None) -> re.Pattern[str] | None:
    if required is None:
        return None
    source, flags = required
    return _DIGIT if source in _DIGIT_SOURCES else re.compile(source, flags)


class KeywordIndex(Frozen):
    """Keyword rules of one version, ready to evaluate."""

    __slots__ = ("_compiled", "_exact", "_exact_max", "_guarded", "rules", "term_rules", "terms")
    rules: tuple[KeywordRule, ...]  #: enabled rules, in order of precedence
    terms: tuple[Term, ...]  #: terms to add to the message automaton
    term_rules: tuple[int, ...]  #: rule position of each term
    _exact: dict[bytes, tuple[int, ...]]
    _exact_max: int  # longest folded exact pattern, in bytes: longer messages skip the lookup
    _compiled: dict[int, re.Pattern[str]]
    _guarded: tuple[tuple[re.Pattern[str] | None, tuple[int, ...]], ...]

    def __init__(self, rules: Iterable[KeywordRule]) -> None:
        ordered = sort_rules(rules)
        exact: dict[bytes, list[int]] = {}
        terms: list[Term] = []
        term_rules: list[int] = []
        guarded: dict[tuple[str, int] | None, list[int]] = {}
        compiled: dict[int, re.Pattern[str]] = {}
        for pos, rule in enumerate(ordered):
            if rule.match == "exact":
                exact.setdefault(fold(rule.pattern).encode(), []).append(pos)
            elif rule.match == "contains":
                terms.append(Term(rule.pattern, rule.id, "keyword", "contains"))
                term_rules.append(pos)
            else:
                compiled[pos] = rule.compile()
                literals = rule.prefilter()
                if literals is None:
                    guarded.setdefault(required_class(rule.pattern), []).append(pos)
                    continue
                for literal in sorted(literals):
                    terms.append(Term(literal, rule.id, "regex", "literal"))
                    term_rules.append(pos)
        self._init(
            rules=ordered,
            terms=tuple(terms),
            term_rules=tuple(term_rules),
            _exact={k: tuple(v) for k, v in exact.items()},
            _exact_max=max(map(len, exact), default=0),
            _compiled=compiled,
            _guarded=tuple((_guard(g), tuple(p)) for g, p in guarded.items()),
        )

    @property
    def idle(self) -> bool:
        """True if no rule can ever match (no rules)."""
        return not self.rules

    def evaluate(
        self, text: str, folded: bytes, found: Iterable[int], platform: str, account: str
    ) -> list[KeywordRule]:
        """Rules matching a message, in order of precedence.

        ``found`` are positions of rules whose term the scan found: a ``contains`` rule matched,
        a ``regex`` rule is a candidate.
        """
        exact = self._exact.get(folded, ()) if len(folded) <= self._exact_max else ()
        candidates: list[int] = []
        for guard, members in self._guarded:
            if guard is None:
                candidates.extend(members)
            elif guard is _DIGIT:  # folding turns every decimal digit into ASCII
                if folded.translate(None, b"0123456789") != folded:
                    candidates.extend(members)
            elif guard.search(text, 0, REGEX_INPUT_CAP) is not None:
                candidates.extend(members)
        if not (exact or candidates or found):
            return []
        positions = set(exact)
        rules = self.rules
        for pos in found:
            if rules[pos].match == "contains":
                positions.add(pos)
            else:
                candidates.append(pos)
        for pos in dict.fromkeys(candidates):
            if (
                pos not in positions
                and rules[pos].applies_to(platform, account)
                and self._compiled[pos].search(text, 0, REGEX_INPUT_CAP) is not None
            ):
                positions.add(pos)
        return [rules[p] for p in sorted(positions) if rules[p].applies_to(platform, account)]
